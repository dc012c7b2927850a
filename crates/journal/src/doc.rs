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
use crate::listening::Ack;
use crate::model::{Device, Endorsement, Entry, EntryPatch, Kind, NewEntry, Person, Revocation, Signatures, Status};
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable};
use std::collections::{BTreeMap, BTreeSet};

/// The newest document schema this build understands. A document that says it is newer is
/// refused rather than half-understood.
pub const SCHEMA_VERSION: u64 = 1;

const ENTRY: &str = "entry/";
const PERSON: &str = "person/";
const DEVICE: &str = "device/";
const ENDORSE: &str = "endorse/";
const REVOKE: &str = "revoke/";
const ACK: &str = "ack/";
const BSTATUS: &str = "bstatus/";

/// What a document holds, read out into plain types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    pub schema: u64,
    pub space_id: Option<String>,
    pub persons: BTreeMap<String, Person>,
    pub devices: BTreeMap<String, Device>,
    pub entries: BTreeMap<String, Entry>,
    /// Signed endorsements (`endorse/<device>/<by>`) and revocations (`revoke/<device>/<by>`).
    pub signatures: Signatures,
    /// Acknowledgements, reflections and answers, keyed `<entry id>/<ack id>` (all that
    /// are stored; [`crate::replies`] decides what is shown).
    pub acks: BTreeMap<String, Ack>,
    /// Boundary status changes, keyed `<entry id>/<change id>`.
    pub status_changes: BTreeMap<String, StatusChange>,
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
    doc: AutoCommit,
}

impl Default for SpaceDoc {
    fn default() -> Self {
        Self::new()
    }
}

type Result<T> = std::result::Result<T, JournalError>;

fn am(e: automerge::AutomergeError) -> JournalError {
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
            self.doc.put(ROOT, "space", crate::new_id().as_str()).map_err(am)?;
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
            .get_all(ROOT, "schema")
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
        self.doc.put(ROOT, "schema", SCHEMA_VERSION).map_err(am)?;
        self.doc.put(ROOT, "space", space_id).map_err(am)?;
        self.put_person(person)?;
        self.put_device(device)?;
        Ok(())
    }

    /// Write the schema version only (a private notebook has no people).
    pub fn init_schema(&mut self) -> Result<()> {
        self.doc.put(ROOT, "schema", SCHEMA_VERSION).map_err(am)?;
        Ok(())
    }

    fn put_person(&mut self, p: &Person) -> Result<()> {
        let o = self
            .doc
            .put_object(ROOT, format!("{PERSON}{}", p.id), ObjType::Map)
            .map_err(am)?;
        self.doc.put(&o, "name", p.name.as_str()).map_err(am)?;
        Ok(())
    }

    fn put_device(&mut self, d: &Device) -> Result<()> {
        let o = self
            .doc
            .put_object(ROOT, format!("{DEVICE}{}", d.id), ObjType::Map)
            .map_err(am)?;
        self.doc.put(&o, "person", d.person.as_str()).map_err(am)?;
        self.doc.put(&o, "label", d.label.as_str()).map_err(am)?;
        self.doc
            .put(&o, "added_at", ScalarValue::Timestamp(d.added_at))
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

    /// Attribute everything of person `old` to person `new` (a device that joins as one of
    /// its owner's devices brings entries written under its own first name).
    pub fn reassign_person(&mut self, old: &str, new: &str) -> Result<()> {
        if old == new {
            return Ok(());
        }
        let items: Vec<(String, ObjId)> = self
            .doc
            .map_range(ROOT, ..)
            .map(|i| (i.key.to_string(), i.id()))
            .collect();
        for (key, obj) in items {
            if key.starts_with(ENTRY) && self.get_str(&obj, "author").as_deref() == Some(old) {
                self.doc.put(&obj, "author", new).map_err(am)?;
            }
            if key.starts_with(DEVICE) && self.get_str(&obj, "person").as_deref() == Some(old) {
                self.doc.put(&obj, "person", new).map_err(am)?;
            }
        }
        let old_key = format!("{PERSON}{old}");
        if self.doc.get(ROOT, old_key.as_str()).map_err(am)?.is_some() {
            self.doc.delete(ROOT, old_key.as_str()).map_err(am)?;
        }
        Ok(())
    }

    /// Add an entry under its own root key. This needs no history: it can be done in an
    /// empty document and merged later without conflict.
    pub fn add_entry(&mut self, e: &NewEntry) -> Result<()> {
        let o = self
            .doc
            .put_object(ROOT, format!("{ENTRY}{}", e.id), ObjType::Map)
            .map_err(am)?;
        self.doc.put(&o, "kind", e.kind.as_str()).map_err(am)?;
        self.doc.put(&o, "author", e.author.as_str()).map_err(am)?;
        self.doc.put(&o, "device", e.device.as_str()).map_err(am)?;
        self.doc
            .put(&o, "created_at", ScalarValue::Timestamp(e.created_at))
            .map_err(am)?;
        self.doc
            .put(&o, "edited_at", ScalarValue::Timestamp(e.edited_at.max(e.created_at)))
            .map_err(am)?;
        self.doc.put(&o, "body", e.body.as_str()).map_err(am)?;
        self.put_tags(&o, &e.tags)?;
        if e.kind == Kind::Boundary {
            let status = e.status.unwrap_or(Status::Active);
            self.doc.put(&o, "status", status.as_str()).map_err(am)?;
        }
        Ok(())
    }

    fn put_tags(&mut self, o: &ObjId, tags: &[String]) -> Result<()> {
        let list = self.doc.put_object(o, "tags", ObjType::List).map_err(am)?;
        for (i, t) in tags.iter().enumerate() {
            self.doc.insert(&list, i, t.as_str()).map_err(am)?;
        }
        Ok(())
    }

    fn entry_obj(&self, id: &str) -> Result<ObjId> {
        match self.doc.get(ROOT, format!("{ENTRY}{id}")).map_err(am)? {
            Some((Value::Object(ObjType::Map), o)) => Ok(o),
            _ => Err(JournalError::NotFound { prefix: id.to_string() }),
        }
    }

    /// Change an entry. Setting the body replaces every concurrent version of it.
    pub fn edit_entry(&mut self, id: &str, patch: &EntryPatch) -> Result<()> {
        let o = self.entry_obj(id)?;
        if let Some(status) = patch.status {
            let kind = self.doc.get(&o, "kind").map_err(am)?.and_then(|(v, _)| str_of(&v));
            if kind.as_deref() != Some(Kind::Boundary.as_str()) {
                return Err(JournalError::Invalid(format!(
                    "entry {id} is not a boundary: only boundaries have a status"
                )));
            }
            self.doc.put(&o, "status", status.as_str()).map_err(am)?;
        }
        if let Some(body) = &patch.body {
            self.doc.put(&o, "body", body.as_str()).map_err(am)?;
        }
        if let Some(tags) = &patch.tags {
            self.put_tags(&o, tags)?;
        }
        self.doc
            .put(&o, "edited_at", ScalarValue::Timestamp(patch.edited_at))
            .map_err(am)?;
        Ok(())
    }

    /// Delete an entry. Its earlier text stays in the document history.
    pub fn delete_entry(&mut self, id: &str) -> Result<()> {
        self.entry_obj(id)?;
        self.doc.delete(ROOT, format!("{ENTRY}{id}")).map_err(am)?;
        Ok(())
    }

    /// Read everything out into plain types. Entries that a foreign or damaged replica
    /// wrote without the required fields are left out rather than guessed at.
    pub fn contents(&self) -> Contents {
        let mut c = Contents {
            schema: self.schema(),
            ..Default::default()
        };
        c.space_id = self.doc.get(ROOT, "space").ok().flatten().and_then(|(v, _)| str_of(&v));
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
        let was = ids(self.doc.map_range_at(ROOT, ENTRY.to_string().., before));
        let is = ids(self.doc.map_range(ROOT, ENTRY.to_string()..));
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

    /// Bring `c`, the contents of this document at `before` (an earlier state of it), up to
    /// date by reading only the root keys that changed since: after a sync brought one new
    /// entry, this is a few reads instead of the whole journal.
    pub fn refresh_contents(&mut self, c: &mut Contents, before: &[automerge::ChangeHash]) {
        use automerge::{PatchAction, Prop};
        let after = self.doc.get_heads();
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
                    *c = self.contents();
                    return;
                }
            };
            keys.insert(key);
        }
        c.schema = self.schema();
        c.space_id = self.doc.get(ROOT, "space").ok().flatten().and_then(|(v, _)| str_of(&v));
        // A boundary's shown status depends on its changes: re-read the entry with them.
        let touched: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(BSTATUS)?.split_once('/'))
            .map(|(entry, _)| format!("{ENTRY}{entry}"))
            .collect();
        keys.extend(touched);
        let mut boundaries = Vec::new();
        for key in keys {
            if let Some((kind, id)) = key.split_once('/') {
                match kind {
                    "entry" => c.entries.remove(id).map(|_| ()),
                    "person" => c.persons.remove(id).map(|_| ()),
                    "device" => c.devices.remove(id).map(|_| ()),
                    "endorse" => c.signatures.endorsements.remove(id).map(|_| ()),
                    "revoke" => c.signatures.revocations.remove(id).map(|_| ()),
                    "ack" => c.acks.remove(id).map(|_| ()),
                    "bstatus" => c.status_changes.remove(id).map(|_| ()),
                    _ => None,
                };
                if kind == "entry" {
                    boundaries.push(id.to_string());
                }
            }
            if let Ok(Some((Value::Object(_), obj))) = self.doc.get(ROOT, key.as_str()) {
                self.read_item(c, &key, &obj);
            }
        }
        for id in boundaries {
            overlay_status(c, &id);
        }
    }

    /// Read one root item (`entry/…`, `person/…`, `device/…`) into `c`.
    fn read_item(&self, c: &mut Contents, key: &str, obj: &ObjId) {
        let Some((kind, id)) = key.split_once('/') else {
            return;
        };
        match kind {
            "entry" => {
                if let Some(e) = self.read_entry(id, obj) {
                    c.entries.insert(id.to_string(), e);
                }
            }
            "person" => {
                if let Some(name) = self.get_str(obj, "name") {
                    c.persons.insert(
                        id.to_string(),
                        Person {
                            id: id.to_string(),
                            name,
                        },
                    );
                }
            }
            "device" => {
                if let (Some(person), Some(label)) = (self.get_str(obj, "person"), self.get_str(obj, "label")) {
                    let added_at = self.get_i64(obj, "added_at").unwrap_or(0);
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
            "endorse" | "revoke" => {
                let (Some((device, by)), Some(sig), Some(at)) =
                    (id.split_once('/'), self.get_str(obj, "sig"), self.get_i64(obj, "at"))
                else {
                    return;
                };
                let (device, by) = (device.to_string(), by.to_string());
                if kind == "endorse" {
                    let e = Endorsement { device, by, sig, at };
                    c.signatures.endorsements.insert(id.to_string(), e);
                } else {
                    let r = Revocation { device, by, sig, at };
                    c.signatures.revocations.insert(id.to_string(), r);
                }
            }
            "ack" => {
                if let Some(a) = self.read_ack(id, obj) {
                    c.acks.insert(id.to_string(), a);
                }
            }
            "bstatus" => {
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

    fn put_signed(&mut self, prefix: &str, device: &str, by: &str, sig: &str, at: i64) -> Result<()> {
        let bad = |s: &str| s.is_empty() || s.contains('/');
        if bad(device) || bad(by) {
            return Err(JournalError::Invalid(format!("'{device}/{by}' is not a device pair")));
        }
        let o = self
            .doc
            .put_object(ROOT, format!("{prefix}{device}/{by}"), ObjType::Map)
            .map_err(am)?;
        self.doc.put(&o, "sig", sig).map_err(am)?;
        self.doc.put(&o, "at", ScalarValue::Timestamp(at)).map_err(am)?;
        Ok(())
    }

    /// Record a device under a person without touching the person (tests of forged records
    /// and re-recording use it; pairing uses [`SpaceDoc::add_member`]).
    pub fn put_device_record(&mut self, d: &Device) -> Result<()> {
        self.put_device(d)
    }

    /// Record an acknowledgement, reflection or answer under its own root key. Like
    /// [`SpaceDoc::add_entry`], this needs no history.
    pub fn put_ack(&mut self, a: &Ack) -> Result<()> {
        let o = self
            .doc
            .put_object(ROOT, format!("{ACK}{}/{}", a.entry, a.id), ObjType::Map)
            .map_err(am)?;
        self.doc.put(&o, "by", a.by.as_str()).map_err(am)?;
        self.doc.put(&o, "device", a.device.as_str()).map_err(am)?;
        self.doc.put(&o, "kind", a.kind.as_str()).map_err(am)?;
        self.doc.put(&o, "at", ScalarValue::Timestamp(a.at)).map_err(am)?;
        if let Some(text) = &a.text {
            self.doc.put(&o, "text", text.as_str()).map_err(am)?;
        }
        if let Some(of) = &a.of {
            self.doc.put(&o, "of", of.as_str()).map_err(am)?;
        }
        Ok(())
    }

    /// Mark an entry "no replies — just hold this" (or lift that).
    pub fn set_no_replies(&mut self, id: &str, on: bool) -> Result<()> {
        let o = self.entry_obj(id)?;
        self.doc.put(&o, "no_replies", on).map_err(am)?;
        Ok(())
    }

    /// Change a boundary's status: the change is kept under its own root key (the
    /// boundary's history), and the entry's `status` follows it.
    pub fn set_boundary_status(&mut self, change: &StatusChange) -> Result<()> {
        let o = self.entry_obj(&change.entry)?;
        let kind = self.get_str(&o, "kind");
        if kind.as_deref() != Some(Kind::Boundary.as_str()) {
            return Err(JournalError::Invalid(format!(
                "entry {} is not a boundary: only boundaries have a status",
                change.entry
            )));
        }
        let c = self
            .doc
            .put_object(ROOT, format!("{BSTATUS}{}/{}", change.entry, change.id), ObjType::Map)
            .map_err(am)?;
        self.doc.put(&c, "by", change.by.as_str()).map_err(am)?;
        self.doc.put(&c, "device", change.device.as_str()).map_err(am)?;
        self.doc.put(&c, "status", change.status.as_str()).map_err(am)?;
        self.doc.put(&c, "at", ScalarValue::Timestamp(change.at)).map_err(am)?;
        self.doc.put(&o, "status", change.status.as_str()).map_err(am)?;
        Ok(())
    }

    fn read_ack(&self, key: &str, obj: &ObjId) -> Option<Ack> {
        let (entry, id) = key.split_once('/')?;
        Some(Ack {
            id: id.to_string(),
            entry: entry.to_string(),
            by: self.get_str(obj, "by")?,
            device: self.get_str(obj, "device").unwrap_or_default(),
            kind: self.get_str(obj, "kind")?.parse().ok()?,
            at: self.get_i64(obj, "at")?,
            text: self.get_str(obj, "text"),
            of: self.get_str(obj, "of"),
        })
    }

    fn read_status_change(&self, key: &str, obj: &ObjId) -> Option<StatusChange> {
        let (entry, id) = key.split_once('/')?;
        Some(StatusChange {
            id: id.to_string(),
            entry: entry.to_string(),
            by: self.get_str(obj, "by")?,
            device: self.get_str(obj, "device").unwrap_or_default(),
            status: self.get_str(obj, "status")?.parse().ok()?,
            at: self.get_i64(obj, "at")?,
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

    fn get_str(&self, obj: &ObjId, prop: &str) -> Option<String> {
        self.doc.get(obj, prop).ok().flatten().and_then(|(v, _)| str_of(&v))
    }

    fn get_i64(&self, obj: &ObjId, prop: &str) -> Option<i64> {
        self.doc.get(obj, prop).ok().flatten().and_then(|(v, _)| v.as_i64())
    }

    fn read_entry(&self, id: &str, obj: &ObjId) -> Option<Entry> {
        use automerge::{ScalarValueRef as S, ValueRef as V};
        // One pass over the entry's fields (a lookup per field costs a seek each; at 10k
        // entries reading them one by one took most of a full read).
        let (mut kind, mut body, mut author, mut device, mut status) = (None, None, None, None, None);
        let (mut created_at, mut edited_at, mut tags_obj) = (None, None, None);
        let mut body_conflict = false;
        let mut no_replies = false;
        for item in self.doc.map_range(obj, ..) {
            let int = |v: &V<'_>| match v {
                V::Scalar(S::Int(n) | S::Counter(n) | S::Timestamp(n)) => Some(*n),
                V::Scalar(S::Uint(n)) => Some(*n as i64),
                V::Scalar(S::F64(n)) => Some(*n as i64),
                _ => None,
            };
            let text = |v: &V<'_>| match v {
                V::Scalar(S::Str(s)) => Some(s.to_string()),
                _ => None,
            };
            match item.key.as_ref() {
                "kind" => kind = text(&item.value),
                "body" => {
                    body = text(&item.value);
                    body_conflict = item.conflict;
                }
                "author" => author = text(&item.value),
                "device" => device = text(&item.value),
                "status" => status = text(&item.value),
                "no_replies" => no_replies = matches!(item.value, V::Scalar(S::Boolean(true))),
                "created_at" => created_at = int(&item.value),
                "edited_at" => edited_at = int(&item.value),
                "tags" if matches!(item.value, V::Object(ObjType::List)) => tags_obj = Some(item.id()),
                _ => {}
            }
        }
        let kind: Kind = kind?.parse().ok()?;
        let body = body?;
        let conflicts = if body_conflict {
            self.doc
                .get_all(obj, "body")
                .ok()?
                .iter()
                .filter_map(|(v, _)| str_of(v))
                .filter(|v| *v != body)
                .collect()
        } else {
            Vec::new()
        };
        let created_at = created_at?;
        let tags = match tags_obj {
            Some(list) => self
                .doc
                .list_range(&list, ..)
                .filter_map(|i| match i.value {
                    V::Scalar(S::Str(s)) => Some(s.to_string()),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        let status = if kind == Kind::Boundary {
            Some(status.and_then(|s| s.parse().ok()).unwrap_or(Status::Active))
        } else {
            None
        };
        Some(Entry {
            id: id.to_string(),
            kind,
            author: author?,
            device: device.unwrap_or_default(),
            created_at,
            edited_at: edited_at.unwrap_or(created_at),
            body,
            tags,
            status,
            conflicts,
            no_replies,
            auth: self.auth_values(obj),
        })
    }

    /// Every concurrent value of an entry's `auth` field.
    fn auth_values(&self, obj: &ObjId) -> Vec<String> {
        self.doc
            .get_all(obj, "auth")
            .unwrap_or_default()
            .iter()
            .filter_map(|(v, _)| str_of(v))
            .collect()
    }

    /// Store the authenticator of entry `id` as it now reads, under the author's person key
    /// (call after [`SpaceDoc::add_entry`] or [`SpaceDoc::edit_entry`] in the same change).
    /// Replaces every concurrent authenticator: what the author sees now is what they vouch for.
    pub fn seal_entry(&mut self, id: &str, key: &[u8; 32]) -> Result<()> {
        let o = self.entry_obj(id)?;
        let entry = self
            .read_entry(id, &o)
            .ok_or_else(|| JournalError::Invalid(format!("entry {id} lacks required fields")))?;
        let auth = crate::auth::seal(key, &entry);
        self.doc.put(&o, "auth", auth.as_str()).map_err(am)?;
        Ok(())
    }
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
