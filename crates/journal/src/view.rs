//! The materialised view: the document's contents read out once and kept (encrypted, like
//! everything else) beside the chunks, so that listing 100k entries does not mean loading
//! 100k entries' automerge history. It records which chunk files it reflects; any other
//! chunk is either merged on top (an append-only `adds/` chunk) or triggers a rebuild.

use crate::JournalError;
use crate::boundaries::StatusChange;
use crate::doc::Contents;
use crate::listening::{Ack, Hold, Replies};
use crate::model::Entry;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Bump when the view's layout changes; an older or newer view is rebuilt, not trusted.
pub const VIEW_FORMAT: u32 = 9;

/// What every stored view starts with.
const MAGIC: &[u8] = b"duo-view\n";

/// Everything a read command needs, without automerge: a document's [`Contents`] as they
/// were read out, and which chunk files they reflect. A view derefs to its contents
/// (`view.entries` is `view.contents.entries`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub format: u32,
    /// The chunk files this view reflects.
    pub covers: BTreeSet<String>,
    /// Their fingerprints when the view was written ([`crate::Listing::stamps`]): a
    /// covered file whose fingerprint changed is read again, so damage is noticed.
    pub stamps: BTreeMap<String, String>,
    /// What the document holds (postcard writes a nested struct's fields in place, so the
    /// stored layout is the fields of [`Contents`] after these three).
    pub contents: Contents,
    /// Marks for what is shown (never stored): `person/<id>` or `device/<id>` → why the
    /// name or record shown is not what the document holds now (duo-device's membership
    /// rules fill it in; [`View::person_name`] shows it).
    #[serde(skip)]
    pub notes: BTreeMap<String, String>,
}

impl std::ops::Deref for View {
    type Target = Contents;
    fn deref(&self) -> &Contents {
        &self.contents
    }
}

impl std::ops::DerefMut for View {
    fn deref_mut(&mut self) -> &mut Contents {
        &mut self.contents
    }
}

impl View {
    /// A view of `contents`, reflecting the chunk files `covers`.
    pub fn new(contents: Contents, covers: BTreeSet<String>) -> Self {
        View {
            format: VIEW_FORMAT,
            covers,
            stamps: BTreeMap::new(),
            contents,
            notes: BTreeMap::new(),
        }
    }

    /// The view's bytes: a magic string, then the view in postcard (compact binary serde),
    /// whose first field is the format number. At 10k entries this decodes several times
    /// faster than JSON, and `list` decodes it on every run.
    pub fn encode(&self) -> Vec<u8> {
        let out = MAGIC.to_vec();
        postcard::to_extend(self, out).expect("a view always serializes")
    }

    /// Decode a stored view. `Err(None)` for a view of another format (written by an older
    /// or newer duo: stale, not damaged); `Err(Some(reason))` for bytes that are not a view.
    pub fn decode(bytes: &[u8]) -> Result<Self, Option<String>> {
        let body = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| Some("not a duo view".to_string()))?;
        // The format comes first, so another layout is recognised before decoding.
        let (format, _) = postcard::take_from_bytes::<u32>(body).map_err(|e| Some(format!("not a duo view: {e}")))?;
        if format != VIEW_FORMAT {
            return Err(None);
        }
        postcard::from_bytes(body).map_err(|e| Some(format!("not a duo view: {e}")))
    }

    /// Decode only the front of a stored view: its header and the membership part of its
    /// contents (people, devices, sealing markers, signatures, records), which come before
    /// what people wrote; entries, replies and boundaries' changes are left empty. `bytes`
    /// may stop anywhere after that part. `None` when they do not hold it (too short, another
    /// format, not a view).
    pub fn decode_members(bytes: &[u8]) -> Option<View> {
        #[derive(Deserialize)]
        struct Front {
            format: u32,
            covers: BTreeSet<String>,
            stamps: BTreeMap<String, String>,
            schema: u64,
            space_id: Option<String>,
            space_ids: Vec<String>,
            persons: BTreeMap<String, crate::Person>,
            devices: BTreeMap<String, crate::Device>,
            markers: BTreeMap<String, crate::Marker>,
            signatures: crate::Signatures,
            records: crate::History,
        }
        let body = bytes.strip_prefix(MAGIC)?;
        let (format, _) = postcard::take_from_bytes::<u32>(body).ok()?;
        if format != VIEW_FORMAT {
            return None;
        }
        let (f, _) = postcard::take_from_bytes::<Front>(body).ok()?;
        Some(View {
            format: f.format,
            covers: f.covers,
            stamps: f.stamps,
            contents: Contents {
                schema: f.schema,
                space_id: f.space_id,
                space_ids: f.space_ids,
                persons: f.persons,
                devices: f.devices,
                markers: f.markers,
                signatures: f.signatures,
                records: f.records,
                ..Default::default()
            },
            notes: BTreeMap::new(),
        })
    }

    /// The membership part of the view (people, devices, signatures) as [`Contents`]
    /// without entries: what duo-device's membership rules read.
    pub fn members(&self) -> Contents {
        Contents {
            schema: self.schema,
            space_id: self.space_id.clone(),
            space_ids: self.space_ids.clone(),
            persons: self.persons.clone(),
            devices: self.devices.clone(),
            entries: BTreeMap::new(),
            deleted: BTreeMap::new(),
            markers: BTreeMap::new(),
            acks: BTreeMap::new(),
            status_changes: BTreeMap::new(),
            signatures: self.signatures.clone(),
            records: self.records.clone(),
            restorable: BTreeSet::new(),
            holds: BTreeMap::new(),
            held: BTreeMap::new(),
        }
    }

    /// Add the contents of append-only chunks. Returns false (and changes nothing) when
    /// they touch anything the view already has: then only a rebuild is right.
    pub fn merge_additions(&mut self, extra: Contents, names: impl IntoIterator<Item = String>) -> bool {
        let known = |k: &String| self.entries.contains_key(k) || self.deleted.contains_key(k);
        let clash = extra.entries.keys().chain(extra.deleted.keys()).any(known)
            || extra.markers.keys().any(|k| self.markers.contains_key(k))
            || extra.persons.keys().any(|k| self.persons.contains_key(k))
            || extra.devices.keys().any(|k| self.devices.contains_key(k))
            || extra.acks.keys().any(|k| self.acks.contains_key(k))
            || (extra.space_id.is_some() && self.space_id.is_some())
            || (extra.signatures.endorsements.keys()).any(|k| self.signatures.endorsements.contains_key(k))
            || (extra.signatures.revocations.keys()).any(|k| self.signatures.revocations.contains_key(k))
            // A status change decides how an entry is shown, and a membership record's
            // order is the whole history's: only a rebuild gets those right.
            || !extra.status_changes.is_empty()
            || !extra.records.records.is_empty()
            // Whether a reply is held is the change graph's answer: a lift, or a reply to
            // an entry that was lifted, needs a rebuild.
            || !extra.holds.is_empty()
            || extra.acks.values().any(|a| {
                let prefix = format!("{}/", a.entry);
                self.holds.range(prefix.clone()..).next().is_some_and(|(h, _)| h.starts_with(&prefix))
            })
            || extra.entries.keys().chain(extra.deleted.keys()).any(|k| {
                let prefix = format!("{k}/");
                self.status_changes.range(prefix.clone()..).next().is_some_and(|(c, _)| c.starts_with(&prefix))
            });
        if clash {
            return false;
        }
        self.schema = self.schema.max(extra.schema);
        if extra.space_id.is_some() {
            self.space_id = extra.space_id;
            self.space_ids = extra.space_ids;
        }
        self.persons.extend(extra.persons);
        self.devices.extend(extra.devices);
        self.entries.extend(extra.entries);
        self.deleted.extend(extra.deleted);
        self.markers.extend(extra.markers);
        self.signatures.endorsements.extend(extra.signatures.endorsements);
        self.signatures.revocations.extend(extra.signatures.revocations);
        self.acks.extend(extra.acks);
        self.covers.extend(names);
        true
    }

    /// Entries whose id starts with `prefix`.
    pub fn matching(&self, prefix: &str) -> impl Iterator<Item = &Entry> + '_ {
        let prefix = prefix.to_string();
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, e)| e)
    }

    /// The entry with this id or unique id prefix.
    pub fn resolve(&self, prefix: &str) -> Result<&Entry, JournalError> {
        let mut hits = self.matching(prefix);
        match (hits.next(), hits.next()) {
            (None, _) => Err(JournalError::NotFound {
                prefix: prefix.to_string(),
            }),
            (Some(e), None) => Ok(e),
            (Some(a), Some(b)) => {
                let mut candidates = vec![a.id.clone(), b.id.clone()];
                candidates.extend(hits.take(8).map(|e| e.id.clone()));
                Err(JournalError::Ambiguous {
                    prefix: prefix.to_string(),
                    candidates,
                })
            }
        }
    }

    /// What may be shown under `entry` (see [`crate::replies`]), without the replies a lift
    /// of "no replies" by its author keeps hidden (whose seal only the author's devices can
    /// check: [`crate::Judge::replies`]).
    pub fn replies(&self, entry: &Entry) -> Replies<'_> {
        crate::listening::replies_except(&self.acks, entry, |a| self.is_held(a, |h| h.by == entry.author))
    }

    /// Is reply `a` held by a lift of "no replies" that `counts` (see [`Contents::held`])?
    pub fn is_held(&self, a: &Ack, counts: impl Fn(&Hold) -> bool) -> bool {
        self.held.get(&format!("{}/{}", a.entry, a.id)).is_some_and(|lifts| {
            lifts
                .iter()
                .any(|k| self.holds.get(k).is_some_and(|h| h.entry == a.entry && counts(h)))
        })
    }

    /// A boundary's history of status changes by its author, oldest first.
    pub fn history(&self, entry: &Entry) -> Vec<&StatusChange> {
        crate::boundaries::history(&self.status_changes, entry)
    }

    /// A person's name as stored (for `--json`), with its note if the signatures show
    /// another name than the document holds; a short form of the id when unknown.
    pub fn person_name(&self, id: &str) -> String {
        let name = self
            .persons
            .get(id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| format!("unknown ({})", crate::text::short(id, 8)));
        match self.person_note(id) {
            Some(note) => format!("{name} ({note})"),
            None => name,
        }
    }

    /// A person's name as a terminal shows it: escaped and marked when not valid (see
    /// [`crate::text::field`]), and with its note; a short form of the id when unknown.
    pub fn shown_name(&self, id: &str) -> String {
        let name = match self.persons.get(id) {
            Some(p) => crate::text::field(crate::text::Field::Name, &p.name).into_owned(),
            None => format!("unknown ({})", crate::text::short(id, 8)),
        };
        match self.person_note(id) {
            Some(note) => format!("{name} ({note})"),
            None => name,
        }
    }

    /// Why person `id`'s name is shown as it is, when it is not what the document holds.
    pub fn person_note(&self, id: &str) -> Option<&str> {
        if self.notes.is_empty() {
            return None;
        }
        self.notes.get(&format!("person/{id}")).map(String::as_str)
    }

    /// Why device `id`'s record is shown as it is, when it is not what the document holds.
    pub fn device_note(&self, id: &str) -> Option<&str> {
        if self.notes.is_empty() {
            return None;
        }
        self.notes.get(&format!("device/{id}")).map(String::as_str)
    }
}

/// Which entries to list, and in what order.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Only these kinds (all when empty).
    pub kinds: Vec<crate::Kind>,
    /// Entries carrying every one of these tags.
    pub tags: Vec<String>,
    /// Created at or after (ms since the epoch).
    pub since: Option<i64>,
    /// Created before (ms since the epoch).
    pub until: Option<i64>,
    /// Case-insensitive text that the body or a tag must contain.
    pub text: Option<String>,
}

impl Query {
    pub fn matches(&self, e: &Entry) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&e.kind))
            && self
                .tags
                .iter()
                .all(|t| e.tags.iter().any(|et| et.eq_ignore_ascii_case(t)))
            && self.since.is_none_or(|s| e.created_at >= s)
            && self.until.is_none_or(|u| e.created_at < u)
            && self.text.as_ref().is_none_or(|t| e.matches(&t.to_lowercase()))
    }
}

/// The order entries are listed in: newest first; when only boundaries are listed,
/// active ones come first, then those to revisit, then retired ones.
pub fn entry_order(a: &Entry, b: &Entry, boundaries_by_status: bool) -> std::cmp::Ordering {
    let rank = |e: &Entry| {
        if boundaries_by_status {
            e.status.map(|s| s as u8).unwrap_or(0)
        } else {
            0
        }
    };
    rank(a)
        .cmp(&rank(b))
        .then(b.created_at.cmp(&a.created_at))
        .then(a.id.cmp(&b.id))
}
