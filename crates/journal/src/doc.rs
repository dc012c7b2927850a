//! The shared space as an automerge document.
//!
//! Everything lives under prefixed keys of the root map (`entry/<id>`, `person/<id>`,
//! `device/<id>`), never in nested maps that two replicas could each create: two replicas
//! that each create a nested `entries` map under one key conflict, and one map's entries
//! vanish from view. A nested map or list is only ever created together with its uniquely
//! keyed parent. Bodies are scalar strings, not automerge `Text`: loading 10k entries with
//! `Text` bodies takes seconds, and one author's concurrent edits are surfaced as conflicts
//! (`get_all`) instead of being merged character by character.

use crate::JournalError;
use crate::boundaries::{StatusChange, effective_status};
use crate::chunks::Allowance;
use crate::history::History;
use crate::listening::{Ack, Hold};
use crate::model::{Device, Endorsement, Entry, Person, Revocation, Rotation, Signatures, SignedName};
use crate::record::{Marker, insert_entry};
use crate::schema::*;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable};
use std::collections::{BTreeMap, BTreeSet};

/// The newest document schema this build understands. A document that says it is newer is
/// refused rather than half-understood. 2: sealed entry records (a seal per field, tags as a
/// set, sealed tombstones, sealing markers; see [`crate::record`]); a device writes it when
/// it begins sealing, so a duo that only knows 1 stops writing unsealed changes into it.
pub const SCHEMA_VERSION: u64 = 2;

/// What a document holds, read out into plain types (kept, with the files it reflects, as
/// the stored [`crate::View`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contents {
    pub schema: u64,
    /// The space's id: the smallest of its concurrent values (see [`SpaceDoc::space_ids`]).
    pub space_id: Option<String>,
    /// Every concurrent value of the space's id, smallest first (one, normally).
    pub space_ids: Vec<String>,
    pub persons: BTreeMap<String, Person>,
    pub devices: BTreeMap<String, Device>,
    pub entries: BTreeMap<String, Entry>,
    /// Entries with a tombstone (`deleted`), by id: not shown, except on their author's
    /// devices when the tombstone is not the author's ([`crate::check`]).
    pub deleted: BTreeMap<String, Entry>,
    /// Sealing markers (`sealing/<person>/<device>`), keyed `<person>/<device>`.
    pub markers: BTreeMap<String, Marker>,
    /// Signed endorsements (`endorse/<device>/<by>`) and revocations (`revoke/<device>/<by>`).
    pub signatures: Signatures,
    /// Acknowledgements, reflections and answers, keyed `<entry id>/<ack id>` (all that
    /// are stored; [`crate::replies`] decides what is shown).
    pub acks: BTreeMap<String, Ack>,
    /// Boundary status changes, keyed `<entry id>/<change id>`.
    pub status_changes: BTreeMap<String, StatusChange>,
    /// Every membership record ever written, from the change history (filled by
    /// [`SpaceDoc::contents_with_history`]; empty from [`SpaceDoc::contents`]).
    pub records: History,
    /// Deleted entries with a write made concurrently with their deletion (on another
    /// device, before it had the deletion): kept, offered to their author alone for
    /// `restore` (filled by [`SpaceDoc::contents_with_history`] and
    /// [`SpaceDoc::refresh_contents`]; empty from [`SpaceDoc::contents`]).
    pub restorable: BTreeSet<String>,
    /// Lifts of "no replies" (`held/<entry>/<lift>`), keyed `<entry id>/<lift id>`.
    pub holds: BTreeMap<String, Hold>,
    /// Replies a lift keeps hidden for good: `<entry id>/<ack id>` → the lifts (keys of
    /// [`Contents::holds`]) it was written neither before the switch-on of nor after
    /// (filled by [`SpaceDoc::contents_with_history`] and [`SpaceDoc::refresh_contents`];
    /// empty from [`SpaceDoc::contents`]). Whose lift counts is the reader's to decide
    /// ([`crate::View::is_held`]).
    pub held: BTreeMap<String, BTreeSet<String>>,
}

/// What a change did to the entries, by id: in the document only after it (`added`), before
/// and after it with other contents (`edited`, also a boundary's status), only before it
/// (`deleted`). Worked out from the change itself ([`SpaceDoc::entry_changes`]), never by
/// comparing counts: one entry added and another deleted is one of each, not "nothing".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryChanges {
    pub added: Vec<String>,
    pub edited: Vec<String>,
    pub deleted: Vec<String>,
}

impl EntryChanges {
    /// No entry was added, edited or deleted.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.edited.is_empty() && self.deleted.is_empty()
    }
}

/// At most this many entries present before and after a change are checked one by one for
/// edits; with more, one diff of the whole document is cheaper.
const EDIT_CHECK_EACH: usize = 64;

/// An automerge document holding one shared space (or one private notebook).
pub struct SpaceDoc {
    pub(crate) doc: AutoCommit,
}

impl Default for SpaceDoc {
    fn default() -> Self {
        Self::new()
    }
}

type Result<T> = std::result::Result<T, JournalError>;

pub(crate) fn am(e: automerge::AutomergeError) -> JournalError {
    JournalError::Document(e.to_string())
}

fn str_of(v: &Value<'_>) -> Option<String> {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Run automerge on bytes from outside. Automerge can panic on crafted or damaged input
/// (fuzzing found one loading a document); a panic becomes an error, as for any other bytes
/// that are not a document.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(JournalError::Document(
            "automerge could not read it (it panicked)".into(),
        ))
    })
}

/// See [`SpaceDoc::check_op_counters`].
fn op_counters_follow(doc: &automerge::Automerge, since: &[automerge::ChangeHash]) -> Result<()> {
    let mut highest = std::collections::HashMap::new();
    for m in doc.get_changes_meta(since) {
        let mut expected = 1;
        for dep in &m.deps {
            let max_op = match highest.get(dep) {
                Some(max_op) => *max_op,
                None => doc.get_change_meta_by_hash(dep).map_or(0, |d| d.max_op),
            };
            expected = expected.max(max_op + 1);
        }
        if m.start_op != expected || m.max_op + 1 < m.start_op {
            return Err(JournalError::Document(format!(
                "change {} numbers its operations from {} where its history says {expected} (refused: a document holding it could not be loaded again)",
                m.hash, m.start_op
            )));
        }
        highest.insert(m.hash, m.max_op);
    }
    Ok(())
}

impl SpaceDoc {
    /// An empty document with a fresh random actor id. Every process gets its own actor:
    /// two live processes sharing one would corrupt merges.
    pub fn new() -> Self {
        Self { doc: AutoCommit::new() }
    }

    /// Load a saved document or change chunk. The bytes are untrusted.
    pub fn load(bytes: &[u8]) -> Result<Self> {
        let mut doc = Self::new();
        doc.load_more(bytes)?;
        Ok(doc)
    }

    /// Apply more saved bytes (a snapshot or change chunk) to this document.
    pub fn load_more(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Err(JournalError::Document("empty chunk".into()));
        }
        crate::chunks::check(bytes)?;
        guarded(|| self.doc.load_incremental(bytes).map_err(am))?;
        Ok(())
    }

    /// Check that bytes from outside (a peer, a bundle, a backup) are whole automerge
    /// chunks. `load_more` alone is lenient: automerge skips what it cannot parse after a
    /// valid first chunk, which would make damage look like "nothing new".
    pub fn validate(bytes: &[u8]) -> Result<()> {
        Self::validate_with(bytes, Some(&mut Allowance::default()))
    }

    /// [`SpaceDoc::validate`] for a file this device stored itself: without the bound on
    /// what outside bytes may describe ([`crate::chunks::MAX_ITEMS`]), which a large
    /// journal of this device's own must never fail.
    pub fn validate_stored(bytes: &[u8]) -> Result<()> {
        Self::validate_with(bytes, None)
    }

    fn validate_with(bytes: &[u8], allowance: Option<&mut Allowance>) -> Result<()> {
        if bytes.is_empty() {
            return Err(JournalError::Document("empty chunk".into()));
        }
        Self::check_with(bytes, allowance)?;
        let options = automerge::LoadOptions::new().on_partial_load(automerge::OnPartialLoad::Error);
        guarded(|| match automerge::Automerge::load_with_options(bytes, options) {
            Ok(doc) => op_counters_follow(&doc, &[]),
            Err(automerge::AutomergeError::MissingDeps) => Ok(()),
            Err(e) => Err(am(e)),
        })
    }

    /// Refuse a change automerge accepts but cannot write back the same way. Automerge 0.12
    /// rebuilds changes from its operations when it saves; a change sent in another encoding
    /// then gets another hash, and the saved document no longer loads ("mismatching heads"):
    /// the next compaction would have replaced the store with a snapshot nobody can read.
    /// Fuzzing found one (`fuzz/corpus/document/crash-resave-mismatching-heads`).
    pub fn check_canonical(change: &automerge::Change) -> Result<()> {
        guarded(|| {
            let again = automerge::Change::from(change.decode());
            if again.hash() == change.hash() {
                Ok(())
            } else {
                Err(JournalError::Document(format!(
                    "change {} is not encoded the way automerge writes it back (refused: storing it would make the journal unreadable after the next compaction)",
                    change.hash()
                )))
            }
        })
    }

    /// Refuse changes made since `since` whose operation counters do not follow from their
    /// dependencies: a change's first operation is numbered one past the highest of the
    /// changes it depends on (1 with none), as automerge numbers them. Automerge accepts a
    /// change that breaks this, but a document saved with it no longer loads ("missing
    /// ops", "mismatching heads"). Fuzzing found such changes (an empty first change
    /// starting at operation 6 or 70: `fuzz/corpus/document/crash-resave-*`).
    pub fn check_op_counters(&mut self, since: &[automerge::ChangeHash]) -> Result<()> {
        op_counters_follow(self.doc.document(), since)
    }

    /// Bytes from outside (a peer, a bundle, a backup) before automerge parses them:
    /// [`crate::chunks::check_counted`], then [`SpaceDoc::check_canonical_chunks`].
    pub fn check_outside(bytes: &[u8]) -> Result<()> {
        Self::check_outside_within(bytes, &mut Allowance::default())
    }

    /// [`SpaceDoc::check_outside`], taking what the bytes describe from `allowance` (one
    /// allowance for everything a peer sends in one session).
    pub fn check_outside_within(bytes: &[u8], allowance: &mut Allowance) -> Result<()> {
        Self::check_with(bytes, Some(allowance))
    }

    /// Outside bytes with an allowance; this device's own files without one.
    fn check_with(bytes: &[u8], allowance: Option<&mut Allowance>) -> Result<()> {
        match allowance {
            Some(a) => crate::chunks::check_counted(bytes, a)?,
            None => crate::chunks::check(bytes)?,
        }
        Self::check_canonical_chunks(bytes)
    }

    /// [`SpaceDoc::check_canonical`] for every change chunk in `bytes` (documents are
    /// checked by automerge itself: their heads must match the changes rebuilt from them).
    pub fn check_canonical_chunks(bytes: &[u8]) -> Result<()> {
        for chunk in crate::chunks::change_chunks(bytes) {
            let change =
                guarded(|| automerge::Change::try_from(chunk).map_err(|e| JournalError::Document(e.to_string())))?;
            Self::check_canonical(&change)?;
        }
        Ok(())
    }

    /// Load a whole document from outside (a peer) in one pass, strictly: a chunk that
    /// does not parse is an error, not a partial load.
    pub fn load_untrusted(bytes: &[u8]) -> Result<SpaceDoc> {
        Self::load_strict(bytes, Some(&mut Allowance::default()))
    }

    /// [`SpaceDoc::load_untrusted`], taking what the document describes from `allowance`.
    pub fn load_untrusted_within(bytes: &[u8], allowance: &mut Allowance) -> Result<SpaceDoc> {
        Self::load_strict(bytes, Some(allowance))
    }

    /// [`SpaceDoc::load_untrusted`] for a snapshot this device saved itself (see
    /// [`SpaceDoc::validate_stored`]).
    pub fn load_stored(bytes: &[u8]) -> Result<SpaceDoc> {
        Self::load_strict(bytes, None)
    }

    fn load_strict(bytes: &[u8], allowance: Option<&mut Allowance>) -> Result<SpaceDoc> {
        if bytes.is_empty() {
            return Err(JournalError::Document("empty document".into()));
        }
        Self::check_with(bytes, allowance)?;
        let options = automerge::LoadOptions::new().on_partial_load(automerge::OnPartialLoad::Error);
        let doc = guarded(|| AutoCommit::load_with_options(bytes, options).map_err(am))?;
        let mut doc = SpaceDoc { doc };
        guarded(|| doc.check_op_counters(&[]))?;
        Ok(doc)
    }

    /// How many changes the document holds.
    pub fn change_count(&mut self) -> usize {
        self.doc.get_changes_meta(&[]).len()
    }

    /// [`SpaceDoc::validate`], then [`SpaceDoc::load_more`].
    pub fn load_checked(&mut self, bytes: &[u8]) -> Result<()> {
        Self::validate(bytes)?;
        self.load_more(bytes)
    }

    /// A copy holding only the changes that could be applied: changes waiting for history
    /// that is missing are left out (automerge would otherwise keep them in every save).
    pub fn applied_only(&mut self) -> Result<SpaceDoc> {
        let changes = self.doc.get_changes(&[]);
        let mut fresh = AutoCommit::new();
        fresh.apply_changes(changes).map_err(am)?;
        Ok(SpaceDoc { doc: fresh })
    }

    /// Put back this device's own person and device (and a schema and space id) if the
    /// document lost them, e.g. after a damaged snapshot was set aside. Returns whether
    /// anything was missing.
    pub fn restore_identity(&mut self, person: &Person, device: &Device) -> Result<bool> {
        let c = self.contents();
        let mut changed = false;
        if c.schema == 0 {
            self.init_schema()?;
            changed = true;
        }
        if c.space_id.is_none() {
            self.doc.put(ROOT, SPACE, crate::new_id().as_str()).map_err(am)?;
            changed = true;
        }
        if !c.persons.contains_key(&person.id) {
            self.put_person(person)?;
            changed = true;
        }
        if !c.devices.contains_key(&device.id) {
            self.put_device(device)?;
            changed = true;
        }
        Ok(changed)
    }

    /// The underlying automerge document (for sync).
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// Write `value` to `key` of `obj` as a write of its own, even when that value is
    /// already there. Automerge records nothing for a put of the value a key already holds
    /// (and, over concurrent values, only deletes the others): a setting made again on one
    /// device would then not count as made there, so it could not stand beside a concurrent
    /// write from another device, a concurrent deletion would not see it, and a seal written
    /// with it would cover a value whose write is older than the seal. A delete first makes
    /// the put a new operation whose predecessors are every value this device saw.
    pub fn put_anew(&mut self, obj: &ObjId, key: &str, value: impl Into<ScalarValue>) -> Result<()> {
        let value = value.into();
        let holds = self
            .doc
            .get_all(obj, key)
            .unwrap_or_default()
            .iter()
            .any(|(v, _)| matches!(v, Value::Scalar(s) if s.as_ref() == &value));
        if holds {
            self.doc.delete(obj, key).map_err(am)?;
        }
        self.doc.put(obj, key, value).map_err(am)?;
        Ok(())
    }

    /// True when some loaded change refers to a change this document does not have.
    pub fn has_missing_deps(&mut self) -> bool {
        !self.doc.get_missing_deps(&[]).is_empty()
    }

    /// Current heads.
    pub fn heads(&mut self) -> Vec<automerge::ChangeHash> {
        self.doc.get_heads()
    }

    /// The whole document, compacted. Columns are not deflated: the file is encrypted
    /// anyway, and at 10k entries deflate was the largest single cost of a compaction.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save_nocompress()
    }

    /// The changes made since `heads`, as one chunk.
    pub fn save_after(&mut self, heads: &[automerge::ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Merge another document into this one.
    pub fn merge(&mut self, other: &mut SpaceDoc) -> Result<()> {
        self.doc.merge(&mut other.doc).map_err(am)?;
        Ok(())
    }

    /// The highest schema version any replica wrote.
    pub fn schema(&self) -> u64 {
        self.doc
            .get_all(ROOT, SCHEMA)
            .unwrap_or_default()
            .iter()
            .filter_map(|(v, _)| v.as_i64())
            .map(|v| v.max(0) as u64)
            .max()
            .unwrap_or(0)
    }

    /// Refuse documents written by a newer duo.
    pub fn check_schema(&self) -> Result<()> {
        let found = self.schema();
        if found > SCHEMA_VERSION {
            return Err(JournalError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(())
    }

    /// Write what a new space starts with: the schema version, its id, its first person and device.
    pub fn init(&mut self, space_id: &str, person: &Person, device: &Device) -> Result<()> {
        self.doc.put(ROOT, SCHEMA, SCHEMA_VERSION).map_err(am)?;
        self.doc.put(ROOT, SPACE, space_id).map_err(am)?;
        self.put_person(person)?;
        self.put_device(device)?;
        Ok(())
    }

    /// Write the schema version only (a private notebook has no people).
    pub fn init_schema(&mut self) -> Result<()> {
        self.doc.put(ROOT, SCHEMA, SCHEMA_VERSION).map_err(am)?;
        Ok(())
    }

    fn put_person(&mut self, p: &Person) -> Result<()> {
        let o = self
            .doc
            .put_object(ROOT, format!("{PERSON}{}", p.id), ObjType::Map)
            .map_err(am)?;
        self.doc.put(&o, NAME, p.name.as_str()).map_err(am)?;
        Ok(())
    }

    fn put_device(&mut self, d: &Device) -> Result<()> {
        let o = self
            .doc
            .put_object(ROOT, format!("{DEVICE}{}", d.id), ObjType::Map)
            .map_err(am)?;
        self.doc.put(&o, PERSON_FIELD, d.person.as_str()).map_err(am)?;
        self.doc.put(&o, LABEL, d.label.as_str()).map_err(am)?;
        self.doc
            .put(&o, ADDED_AT, ScalarValue::Timestamp(d.added_at))
            .map_err(am)?;
        Ok(())
    }

    /// Record a person (if new) and one of their devices (pairing).
    pub fn add_member(&mut self, person: &Person, device: &Device) -> Result<()> {
        if !self.contents().persons.contains_key(&person.id) {
            self.put_person(person)?;
        }
        self.put_device(device)
    }

    /// Read everything out into plain types. Entries that a foreign or damaged replica
    /// wrote without the required fields are left out rather than guessed at.
    pub fn contents(&self) -> Contents {
        let mut c = Contents {
            schema: self.schema(),
            ..Default::default()
        };
        c.space_ids = self.space_ids();
        c.space_id = c.space_ids.first().cloned();
        for item in self.doc.map_range(ROOT, ..) {
            let key = item.key.as_ref();
            self.read_item(&mut c, key, &item.id());
        }
        let boundaries: Vec<String> = c.status_changes.values().map(|s| s.entry.clone()).collect();
        for id in boundaries {
            overlay_status(&mut c, &id);
        }
        c
    }

    /// The entries that changed between `before` (earlier heads of this document) and now.
    /// Which ids exist before and after gives what was added and deleted; an entry in both
    /// counts as edited when the change touched it (its fields, its tags, or its boundary
    /// status), found by an automerge diff: of each such entry when few were there before
    /// (a first sync), else of the whole document (cost proportional to the document).
    pub fn entry_changes(&mut self, before: &[automerge::ChangeHash]) -> EntryChanges {
        let mut after = self.doc.get_heads();
        let mut sorted = before.to_vec();
        sorted.sort();
        after.sort();
        if sorted == after {
            return EntryChanges::default();
        }
        fn ids<'a>(keys: impl Iterator<Item = automerge::iter::MapRangeItem<'a>>) -> BTreeSet<String> {
            keys.map_while(|i| i.key.strip_prefix(ENTRY).map(str::to_string))
                .collect()
        }
        // A deletion is a sealed tombstone (`deleted`): an entry that has one is gone.
        let tombstoned = |doc: &AutoCommit, id: &str, at: Option<&[automerge::ChangeHash]>| -> bool {
            let key = format!("{ENTRY}{id}");
            let obj = match at {
                Some(h) => doc.get_at(ROOT, &key, h),
                None => doc.get(ROOT, &key),
            };
            let Ok(Some((Value::Object(_), obj))) = obj else {
                return false;
            };
            let flag = match at {
                Some(h) => doc.get_at(&obj, DELETED, h),
                None => doc.get(&obj, DELETED),
            };
            matches!(flag, Ok(Some((Value::Scalar(v), _))) if matches!(v.as_ref(), ScalarValue::Boolean(true)))
        };
        let was: BTreeSet<String> = ids(self.doc.map_range_at(ROOT, ENTRY.to_string().., before))
            .into_iter()
            .filter(|id| !tombstoned(&self.doc, id, Some(before)))
            .collect();
        let is: BTreeSet<String> = ids(self.doc.map_range(ROOT, ENTRY.to_string()..))
            .into_iter()
            .filter(|id| !tombstoned(&self.doc, id, None))
            .collect();
        let both: Vec<&String> = was.intersection(&is).collect();
        let edited: Vec<String> = if both.len() <= EDIT_CHECK_EACH {
            both.into_iter()
                .filter(|id| {
                    let Ok(Some((_, obj))) = self.doc.get(ROOT, format!("{ENTRY}{id}")) else {
                        return false;
                    };
                    // An entry object that did not exist before (the key was put again) is
                    // an edit too; otherwise, did anything inside it change?
                    self.doc
                        .diff_obj(&obj, before, &after, true)
                        .map_or(true, |patches| !patches.is_empty())
                })
                .cloned()
                .collect()
        } else {
            let touched = self.touched_entries(before, &after);
            both.into_iter().filter(|id| touched.contains(*id)).cloned().collect()
        };
        EntryChanges {
            added: is.difference(&was).cloned().collect(),
            edited,
            deleted: was.difference(&is).cloned().collect(),
        }
    }

    /// The ids of entries whose root key, fields or boundary status changed between the two
    /// heads (one diff of the whole document).
    fn touched_entries(
        &mut self,
        before: &[automerge::ChangeHash],
        after: &[automerge::ChangeHash],
    ) -> BTreeSet<String> {
        use automerge::{PatchAction, Prop};
        let mut ids = BTreeSet::new();
        for p in self.doc.diff(before, after) {
            let key = match (p.path.first(), &p.action) {
                (Some((_, Prop::Map(k))), _) => k.as_str(),
                (None, PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key }) => key.as_str(),
                (
                    None,
                    PatchAction::Conflict {
                        prop: Prop::Map(key), ..
                    },
                ) => key.as_str(),
                _ => continue,
            };
            if let Some(id) = key.strip_prefix(ENTRY) {
                ids.insert(id.to_string());
            } else if let Some((id, _)) = key.strip_prefix(BSTATUS).and_then(|k| k.split_once('/')) {
                ids.insert(id.to_string());
            }
        }
        ids
    }

    /// [`SpaceDoc::contents`] with the membership records of the whole history
    /// ([`crate::history`]). `known`, a history read earlier from this document (e.g. the
    /// stored view's), spares reading again the changes it covers.
    pub fn contents_with_history(&mut self, known: Option<History>) -> Contents {
        let mut c = self.contents();
        c.records = known.unwrap_or_default().brought_up_to(self.doc.document());
        self.judge_history(&mut c);
        c
    }

    /// Fill in what only the change graph says, for the whole of `c`: the restorable
    /// entries and the replies a lift holds.
    fn judge_history(&mut self, c: &mut Contents) {
        let deleted: Vec<String> = c.deleted.keys().cloned().collect();
        c.restorable = self.restorable_among(&deleted);
        let lifted: BTreeSet<String> = c.holds.values().map(|h| h.entry.clone()).collect();
        c.held = self.held_among(c, &lifted);
    }

    /// The replies to the entries `ids` that a lift of "no replies" keeps hidden for good
    /// (keyed `<entry>/<ack>`, each with the lifts that hold it). A reply is held by a lift
    /// `held/<entry>/<lift>` when, for one of the switch-on writes the lift names, the
    /// reply's change is neither an ancestor of the switch-on's (written before it was on)
    /// nor the lift's or a descendant of it (written after it was lifted): it was written
    /// concurrently with the switch-on, or while it was on. Cost: nothing for entries
    /// without both a lift and a reply; otherwise one read of the change graph and one pass
    /// over it for all of them together ([`crate::causal::Causal::order_of`], O(n · k / 64)
    /// for n changes and k changes of replies, switch-ons and lifts), then one bit test per
    /// reply, lift and switch-on of the same entry. [`SpaceDoc::refresh_contents`] asks this
    /// only for the entries a reply or a lift arrived for.
    pub fn held_among(&mut self, c: &Contents, ids: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        fn keys_of<V>(map: &BTreeMap<String, V>, id: &str) -> Vec<String> {
            let prefix = format!("{id}/");
            map.range(prefix.clone()..)
                .map(|(k, _)| k)
                .take_while(|k| k.starts_with(&prefix))
                .cloned()
                .collect()
        }
        let mut todo: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        for id in ids {
            let (holds, acks) = (keys_of(&c.holds, id), keys_of(&c.acks, id));
            if !holds.is_empty() && !acks.is_empty() {
                todo.push((holds, acks));
            }
        }
        if todo.is_empty() {
            return out;
        }
        let graph = crate::causal::Causal::new(self.doc.document());
        let change = |doc: &AutoCommit, key: String| match doc.get(ROOT, key.as_str()) {
            Ok(Some((Value::Object(_), o))) => graph.change_of(&o),
            _ => None,
        };
        // (reply key, its change), (lift key, its change, its switch-ons' changes).
        type Reply = (String, automerge::ChangeHash);
        type Lift = (String, automerge::ChangeHash, Vec<automerge::ChangeHash>);
        let mut cases: Vec<(Vec<Reply>, Vec<Lift>)> = Vec::new();
        let mut all = Vec::new();
        for (holds, acks) in todo {
            let replies: Vec<Reply> = acks
                .into_iter()
                .filter_map(|k| Some((k.clone(), change(&self.doc, format!("{ACK}{k}"))?)))
                .collect();
            let lifts: Vec<Lift> = holds
                .into_iter()
                .filter_map(|k| {
                    let lift = change(&self.doc, format!("{HELD}{k}"))?;
                    let ons = c
                        .holds
                        .get(&k)?
                        .ended
                        .iter()
                        .filter_map(|op| graph.change_of_text(op))
                        .collect();
                    Some((k, lift, ons))
                })
                .collect();
            all.extend(replies.iter().map(|(_, h)| *h));
            for (_, lift, ons) in &lifts {
                all.push(*lift);
                all.extend(ons.iter().copied());
            }
            cases.push((replies, lifts));
        }
        let order = graph.order_of(&all);
        let index: std::collections::HashMap<[u8; 32], usize> =
            order.changes.iter().enumerate().map(|(i, h)| (*h, i)).collect();
        let at = |h: &automerge::ChangeHash| index.get(&h.0).copied();
        let before = |a: &automerge::ChangeHash, b: &automerge::ChangeHash| match (at(a), at(b)) {
            (Some(a), Some(b)) => order.before(a, b),
            _ => false,
        };
        for (replies, lifts) in cases {
            for (reply, r) in &replies {
                for (lift, l, ons) in &lifts {
                    // A reply in the lift's own change was written knowing it.
                    let after_lift = r == l || before(l, r);
                    if !after_lift && ons.iter().any(|s| !before(r, s)) {
                        out.entry(reply.clone()).or_default().insert(lift.clone());
                    }
                }
            }
        }
        out
    }

    /// Every concurrent value of the space's id, smallest first, without repeats. Two
    /// values are only ever present in a space paired by an older duo (a joining device
    /// now takes the inviter's id first, [`SpaceDoc::adopt_space_id`]); every device then
    /// takes the smallest, so all agree once they hold the same changes.
    pub fn space_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .doc
            .get_all(ROOT, SPACE)
            .unwrap_or_default()
            .iter()
            .filter_map(|(v, _)| str_of(v))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Take `id` as this space's id (a device joining another's space, before anything of
    /// its own reaches it): written over every value this document holds, so that once
    /// merged every value anyone wrote is the same. Returns whether anything changed.
    pub fn adopt_space_id(&mut self, id: &str) -> Result<bool> {
        if self.space_ids() == [id.to_string()] {
            return Ok(false);
        }
        self.doc.put(ROOT, SPACE, id).map_err(am)?;
        Ok(true)
    }

    /// Among the deleted entries `ids`, those with a write (their body, status, "no
    /// replies" or a tag) that the deletion did not know of: made concurrently with it, on
    /// a device that had not received it. Those are kept for their author to restore.
    /// Cost: one read of the change graph when any deleted entry has a write that is not
    /// in the deletion's own change, then a walk back from each such deletion.
    pub fn restorable_among(&mut self, ids: &[String]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut causal: Option<crate::causal::Causal> = None;
        for id in ids {
            let Ok(obj) = self.entry_obj(id) else { continue };
            let deletions: Vec<ObjId> = self
                .doc
                .get_all(&obj, DELETED)
                .unwrap_or_default()
                .into_iter()
                .filter(|(v, _)| matches!(v, Value::Scalar(s) if s.as_ref() == &ScalarValue::Boolean(true)))
                .map(|(_, op)| op)
                .collect();
            if deletions.is_empty() {
                continue;
            }
            let mut writes: Vec<ObjId> = [BODY, STATUS, NO_REPLIES]
                .iter()
                .flat_map(|f| self.doc.get_all(&obj, *f).unwrap_or_default())
                .map(|(_, op)| op)
                .collect();
            let sets: Vec<ObjId> = self
                .doc
                .get_all(&obj, TAGSET)
                .unwrap_or_default()
                .into_iter()
                .filter(|(v, _)| matches!(v, Value::Object(ObjType::Map)))
                .map(|(_, o)| o)
                .collect();
            for set in &sets {
                let tags: Vec<String> = self.doc.keys(set).collect();
                for t in tags {
                    writes.extend(
                        self.doc
                            .get_all(set, t.as_str())
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(_, op)| op),
                    );
                }
            }
            let graph = causal.get_or_insert_with(|| crate::causal::Causal::new(self.doc.document()));
            let changes = |ops: &[ObjId]| -> Vec<automerge::ChangeHash> {
                ops.iter().filter_map(|o| graph.change_of(o)).collect()
            };
            let (dels, edits) = (changes(&deletions), changes(&writes));
            let unseen = edits
                .iter()
                .any(|e| dels.iter().any(|d| e != d && !graph.is_ancestor(e, d)));
            if unseen {
                out.insert(id.clone());
            }
        }
        out
    }

    /// Bring `c`, the contents of this document at `before` (an earlier state of it), up to
    /// date by reading only the root keys that changed since: after a sync brought one new
    /// entry, this is a few reads instead of the whole journal.
    pub fn refresh_contents(&mut self, c: &mut Contents, before: &[automerge::ChangeHash]) {
        use automerge::{PatchAction, Prop};
        let after = self.doc.get_heads();
        c.records = std::mem::take(&mut c.records).brought_up_to(self.doc.document());
        let mut keys = std::collections::BTreeSet::new();
        for p in self.doc.diff(before, &after) {
            let key = match (p.path.first(), &p.action) {
                (Some((_, Prop::Map(k))), _) => k.clone(),
                (None, PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key }) => key.clone(),
                (
                    None,
                    PatchAction::Conflict {
                        prop: Prop::Map(key), ..
                    },
                ) => key.clone(),
                _ => {
                    let records = std::mem::take(&mut c.records);
                    *c = self.contents();
                    c.records = records;
                    self.judge_history(c);
                    return;
                }
            };
            keys.insert(key);
        }
        c.schema = self.schema();
        c.space_ids = self.space_ids();
        c.space_id = c.space_ids.first().cloned();
        // A boundary's shown status depends on its changes: re-read the entry with them.
        let touched: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(BSTATUS)?.split_once('/'))
            .map(|(entry, _)| format!("{ENTRY}{entry}"))
            .collect();
        keys.extend(touched);
        // A reply or a lift of "no replies" that arrived: the entry's replies are judged again.
        let lifted: BTreeSet<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(ACK).or_else(|| k.strip_prefix(HELD))?.split_once('/'))
            .map(|(entry, _)| entry.to_string())
            .collect();
        let mut boundaries = Vec::new();
        for key in keys {
            if let Some((kind, id)) = split_root_key(&key) {
                match kind {
                    ENTRY => c.entries.remove(id).or_else(|| c.deleted.remove(id)).map(|_| ()),
                    SEALING => c.markers.remove(id).map(|_| ()),
                    PERSON => c.persons.remove(id).map(|_| ()),
                    DEVICE => c.devices.remove(id).map(|_| ()),
                    ENDORSE => c.signatures.endorsements.remove(id).map(|_| ()),
                    REVOKE => c.signatures.revocations.remove(id).map(|_| ()),
                    ACK => c.acks.remove(id).map(|_| ()),
                    BSTATUS => c.status_changes.remove(id).map(|_| ()),
                    HELD => c.holds.remove(id).map(|_| ()),
                    _ => None,
                };
                if kind == ENTRY {
                    boundaries.push(id.to_string());
                }
            }
            if let Ok(Some((Value::Object(_), obj))) = self.doc.get(ROOT, key.as_str()) {
                self.read_item(c, &key, &obj);
            }
        }
        let touched: Vec<String> = boundaries
            .iter()
            .filter(|id| c.deleted.contains_key(*id))
            .cloned()
            .collect();
        for id in &boundaries {
            c.restorable.remove(id);
        }
        c.restorable.extend(self.restorable_among(&touched));
        for id in boundaries {
            overlay_status(c, &id);
        }
        c.held
            .retain(|k, _| k.split_once('/').is_none_or(|(entry, _)| !lifted.contains(entry)));
        let again = self.held_among(c, &lifted);
        c.held.extend(again);
    }

    /// Read one root item (`entry/…`, `person/…`, `device/…`) into `c`.
    fn read_item(&self, c: &mut Contents, key: &str, obj: &ObjId) {
        let Some((kind, id)) = split_root_key(key) else {
            return;
        };
        match kind {
            ENTRY => {
                if let Some(e) = self.read_entry_full(id, obj) {
                    insert_entry(c, e);
                }
            }
            SEALING => {
                if let Some(m) = self.read_marker(id, obj) {
                    c.markers.insert(id.to_string(), m);
                }
            }
            PERSON => {
                if let Some(name) = self.get_str(obj, NAME) {
                    c.persons.insert(
                        id.to_string(),
                        Person {
                            id: id.to_string(),
                            name,
                        },
                    );
                }
            }
            DEVICE => {
                if let (Some(person), Some(label)) = (self.get_str(obj, PERSON_FIELD), self.get_str(obj, LABEL)) {
                    let added_at = self.get_i64(obj, ADDED_AT).unwrap_or(0);
                    c.devices.insert(
                        id.to_string(),
                        Device {
                            id: id.to_string(),
                            person,
                            label,
                            added_at,
                        },
                    );
                }
            }
            ENDORSE | REVOKE => {
                let (Some((device, by)), Some(sig), Some(at)) =
                    (id.split_once('/'), self.get_str(obj, SIG), self.get_i64(obj, AT))
                else {
                    return;
                };
                let (device, by) = (device.to_string(), by.to_string());
                if kind == ENDORSE {
                    let e = Endorsement { device, by, sig, at };
                    c.signatures.endorsements.insert(id.to_string(), e);
                } else {
                    let r = Revocation { device, by, sig, at };
                    c.signatures.revocations.insert(id.to_string(), r);
                }
            }
            ACK => {
                if let Some(a) = self.read_ack(id, obj) {
                    c.acks.insert(id.to_string(), a);
                }
            }
            HELD => {
                if let Some(h) = self.read_hold(id, obj) {
                    c.holds.insert(id.to_string(), h);
                }
            }
            BSTATUS => {
                if let Some(s) = self.read_status_change(id, obj) {
                    c.status_changes.insert(id.to_string(), s);
                }
            }
            _ => {}
        }
    }

    /// Record a signed endorsement of a device (under its own root key `endorse/<device>/<by>`).
    pub fn put_endorsement(&mut self, e: &Endorsement) -> Result<()> {
        self.put_signed(ENDORSE, &e.device, &e.by, &e.sig, e.at)
    }

    /// Record a signed revocation (under its own root key `revoke/<device>/<by>`).
    pub fn put_revocation(&mut self, r: &Revocation) -> Result<()> {
        self.put_signed(REVOKE, &r.device, &r.by, &r.sig, r.at)
    }

    /// Record a person's name as one of their devices signed it (under its own root key
    /// `name/<person>/<by>`), and show it as the person's name.
    pub fn put_name(&mut self, n: &SignedName) -> Result<()> {
        let o = self.record_map(NAMES, &n.person, &n.by)?;
        self.doc.put(&o, NAME, n.name.as_str()).map_err(am)?;
        self.doc.put(&o, SIG, n.sig.as_str()).map_err(am)?;
        self.doc.put(&o, AT, ScalarValue::Timestamp(n.at)).map_err(am)?;
        let current = self.doc.get(ROOT, format!("{PERSON}{}", n.person)).map_err(am)?;
        let name_now = match &current {
            Some((Value::Object(ObjType::Map), p)) => self.get_str(p, NAME),
            _ => None,
        };
        if name_now.as_deref() != Some(n.name.as_str()) {
            self.put_person(&Person {
                id: n.person.clone(),
                name: n.name.clone(),
            })?;
        }
        Ok(())
    }

    /// Record a person-key rotation (under its own root key `rotate/<person>/<key>`).
    pub fn put_rotation(&mut self, r: &Rotation) -> Result<()> {
        let o = self.record_map(ROTATE, &r.person, &r.key)?;
        self.doc.put(&o, BY, r.by.as_str()).map_err(am)?;
        self.doc.put(&o, RETIRES, r.retires.as_str()).map_err(am)?;
        self.doc.put(&o, AT, ScalarValue::Timestamp(r.at)).map_err(am)?;
        self.doc.put(&o, SIG, r.sig.as_str()).map_err(am)?;
        for (device, blob) in &r.keys {
            self.doc
                .put(&o, format!("{KEY_FOR}{device}"), ScalarValue::Bytes(blob.clone()))
                .map_err(am)?;
        }
        Ok(())
    }

    /// A new map for a record under `<prefix><a>/<b>` (each part non-empty, without `/`):
    /// a record is the map and the fields written with it in one change (see
    /// [`crate::history`]).
    fn record_map(&mut self, prefix: &str, a: &str, b: &str) -> Result<ObjId> {
        let bad = |s: &str| s.is_empty() || s.contains('/');
        if bad(a) || bad(b) {
            return Err(JournalError::Invalid(format!(
                "'{a}/{b}' is not a key of a {prefix} record"
            )));
        }
        self.doc
            .put_object(ROOT, format!("{prefix}{a}/{b}"), ObjType::Map)
            .map_err(am)
    }

    fn put_signed(&mut self, prefix: &str, device: &str, by: &str, sig: &str, at: i64) -> Result<()> {
        let o = self.record_map(prefix, device, by)?;
        self.doc.put(&o, SIG, sig).map_err(am)?;
        self.doc.put(&o, AT, ScalarValue::Timestamp(at)).map_err(am)?;
        Ok(())
    }

    /// Record a device under a person without touching the person (tests of forged records
    /// and re-recording use it; pairing uses [`SpaceDoc::add_member`]).
    pub fn put_device_record(&mut self, d: &Device) -> Result<()> {
        self.put_device(d)
    }

    fn read_ack(&self, key: &str, obj: &ObjId) -> Option<Ack> {
        let (entry, id) = key.split_once('/')?;
        Some(Ack {
            id: id.to_string(),
            entry: entry.to_string(),
            by: self.get_str(obj, BY)?,
            device: self.get_str(obj, DEVICE_FIELD).unwrap_or_default(),
            kind: self.get_str(obj, KIND)?.parse().ok()?,
            at: self.get_i64(obj, AT)?,
            text: self.get_str(obj, TEXT),
            of: self.get_str(obj, OF),
            seals: self.record_seals(obj),
        })
    }

    fn read_hold(&self, key: &str, obj: &ObjId) -> Option<Hold> {
        let (entry, id) = key.split_once('/')?;
        Some(Hold {
            id: id.to_string(),
            entry: entry.to_string(),
            by: self.get_str(obj, BY)?,
            device: self.get_str(obj, DEVICE_FIELD).unwrap_or_default(),
            at: self.get_i64(obj, AT)?,
            ended: self
                .get_str(obj, ENDED)?
                .split('\n')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            seals: self.record_seals(obj),
        })
    }

    fn read_status_change(&self, key: &str, obj: &ObjId) -> Option<StatusChange> {
        let (entry, id) = key.split_once('/')?;
        Some(StatusChange {
            id: id.to_string(),
            entry: entry.to_string(),
            by: self.get_str(obj, BY)?,
            device: self.get_str(obj, DEVICE_FIELD).unwrap_or_default(),
            status: self.get_str(obj, STATUS)?.parse().ok()?,
            at: self.get_i64(obj, AT)?,
            seals: self.record_seals(obj),
        })
    }

    /// The root keys of entries in this document (cheap; for collision checks).
    pub fn entry_ids(&self) -> Vec<String> {
        self.doc
            .map_range(ROOT, ENTRY.to_string()..)
            .take_while(|i| i.key.starts_with(ENTRY))
            .map(|i| i.key[ENTRY.len()..].to_string())
            .collect()
    }

    pub(crate) fn get_str(&self, obj: &ObjId, prop: &str) -> Option<String> {
        self.doc.get(obj, prop).ok().flatten().and_then(|(v, _)| str_of(&v))
    }

    pub(crate) fn get_i64(&self, obj: &ObjId, prop: &str) -> Option<i64> {
        self.doc.get(obj, prop).ok().flatten().and_then(|(v, _)| v.as_i64())
    }
}

/// A root key split into its prefix (with the slash, e.g. [`ENTRY`]) and the rest.
fn split_root_key(key: &str) -> Option<(&str, &str)> {
    let slash = key.find('/')?;
    Some(key.split_at(slash + 1))
}

/// Show a boundary with the status its author's newest change gave it.
fn overlay_status(c: &mut Contents, id: &str) {
    if let Some(e) = c.entries.get(id)
        && let Some(s) = effective_status(&c.status_changes, e)
    {
        let s = Some(s);
        if let Some(e) = c.entries.get_mut(id) {
            e.status = s;
        }
    }
}
