//! The shared space as an automerge document.
//!
//! Everything lives under prefixed keys of the root map (`entry/<id>`, `person/<id>`,
//! `device/<id>`), never in nested maps that two replicas could each create: two replicas
//! that each create a nested `entries` map under one key conflict, and one map's entries
//! vanish from view. A nested map or list is only ever created together with its uniquely
//! keyed parent. Bodies are scalar strings, not automerge `Text`: loading 10k entries with
//! `Text` bodies takes seconds, and one author's concurrent edits are surfaced as conflicts
//! (`get_all`) instead of being merged character by character.
//!
//! This module holds the types and what every phase shares; loading bytes from outside
//! with its checks is in [`load`], reading the document out in [`read`], writing the
//! space's records in [`write`] (entries and replies are written by [`crate::record`]).

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

mod load;
mod read;
mod write;

/// The newest document schema this build understands. A document that says it is newer is
/// refused rather than half-understood. 2: sealed entry records (a seal per field, tags as a
/// set, sealed tombstones, sealing markers; see [`crate::record`]); a device writes it when
/// it begins sealing, so a duo that only knows 1 stops writing unsealed changes into it.
pub const SCHEMA_VERSION: u64 = 2;

/// What a document holds, read out into plain types (kept, with the files it reflects, as
/// the stored [`crate::View`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contents {
    // Membership first (postcard writes fields in this order): [`crate::View::decode_members`]
    // reads only these from the front of the stored view.
    pub schema: u64,
    /// The space's id: the smallest of its concurrent values (see [`SpaceDoc::space_ids`]).
    pub space_id: Option<String>,
    /// Every concurrent value of the space's id, smallest first (one, normally).
    pub space_ids: Vec<String>,
    pub persons: BTreeMap<String, Person>,
    pub devices: BTreeMap<String, Device>,
    /// Sealing markers (`sealing/<person>/<device>`), keyed `<person>/<device>`.
    pub markers: BTreeMap<String, Marker>,
    /// Signed endorsements (`endorse/<device>/<by>`) and revocations (`revoke/<device>/<by>`).
    pub signatures: Signatures,
    /// Every membership record ever written, from the change history (filled by
    /// [`SpaceDoc::contents_with_history`]; empty from [`SpaceDoc::contents`]).
    pub records: History,
    // What people wrote.
    pub entries: BTreeMap<String, Entry>,
    /// Entries with a tombstone (`deleted`), by id: not shown, except on their author's
    /// devices when the tombstone is not the author's ([`crate::check`]).
    pub deleted: BTreeMap<String, Entry>,
    /// Acknowledgements, reflections and answers, keyed `<entry id>/<ack id>` (all that
    /// are stored; [`crate::replies`] decides what is shown).
    pub acks: BTreeMap<String, Ack>,
    /// Boundary status changes, keyed `<entry id>/<change id>`.
    pub status_changes: BTreeMap<String, StatusChange>,
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

impl SpaceDoc {
    /// An empty document with a fresh random actor id. Every process gets its own actor:
    /// two live processes sharing one would corrupt merges.
    pub fn new() -> Self {
        Self { doc: AutoCommit::new() }
    }

    /// How many changes the document holds.
    pub fn change_count(&mut self) -> usize {
        self.doc.get_changes_meta(&[]).len()
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

    pub(crate) fn get_str(&self, obj: &ObjId, prop: &str) -> Option<String> {
        self.doc.get(obj, prop).ok().flatten().and_then(|(v, _)| str_of(&v))
    }

    pub(crate) fn get_i64(&self, obj: &ObjId, prop: &str) -> Option<i64> {
        self.doc.get(obj, prop).ok().flatten().and_then(|(v, _)| v.as_i64())
    }
}
