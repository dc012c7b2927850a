//! The materialised view: the document's contents read out once and kept (encrypted, like
//! everything else) beside the chunks, so that listing 100k entries does not mean loading
//! 100k entries' automerge history. It records which chunk files it reflects; any other
//! chunk is either merged on top (an append-only `adds/` chunk) or triggers a rebuild.

use crate::doc::Contents;
use crate::model::{Device, Entry, Person};
use crate::JournalError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Bump when the view's layout changes; an older or newer view is rebuilt, not trusted.
pub const VIEW_FORMAT: u32 = 1;

/// Everything a read command needs, without automerge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub format: u32,
    /// The chunk files this view reflects.
    pub covers: BTreeSet<String>,
    pub schema: u64,
    pub space_id: Option<String>,
    pub persons: BTreeMap<String, Person>,
    pub devices: BTreeMap<String, Device>,
    pub entries: BTreeMap<String, Entry>,
}

impl View {
    /// A view of `contents`, reflecting the chunk files `covers`.
    pub fn new(contents: Contents, covers: BTreeSet<String>) -> Self {
        View {
            format: VIEW_FORMAT,
            covers,
            schema: contents.schema,
            space_id: contents.space_id,
            persons: contents.persons,
            devices: contents.devices,
            entries: contents.entries,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a view always serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let v: View = serde_json::from_slice(bytes).map_err(|e| format!("not a duo view: {e}"))?;
        if v.format != VIEW_FORMAT {
            return Err(format!("view format {} (this duo writes {VIEW_FORMAT})", v.format));
        }
        Ok(v)
    }

    /// Add the contents of append-only chunks. Returns false (and changes nothing) when
    /// they touch anything the view already has: then only a rebuild is right.
    pub fn merge_additions(&mut self, extra: Contents, names: impl IntoIterator<Item = String>) -> bool {
        let clash = extra.entries.keys().any(|k| self.entries.contains_key(k))
            || extra.persons.keys().any(|k| self.persons.contains_key(k))
            || extra.devices.keys().any(|k| self.devices.contains_key(k))
            || (extra.space_id.is_some() && self.space_id.is_some());
        if clash {
            return false;
        }
        self.schema = self.schema.max(extra.schema);
        if extra.space_id.is_some() {
            self.space_id = extra.space_id;
        }
        self.persons.extend(extra.persons);
        self.devices.extend(extra.devices);
        self.entries.extend(extra.entries);
        self.covers.extend(names);
        true
    }

    /// The entry with this id or unique id prefix.
    pub fn resolve(&self, prefix: &str) -> Result<&Entry, JournalError> {
        let mut hits = self
            .entries
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, e)| e);
        match (hits.next(), hits.next()) {
            (None, _) => Err(JournalError::NotFound { prefix: prefix.to_string() }),
            (Some(e), None) => Ok(e),
            (Some(a), Some(b)) => {
                let mut candidates = vec![a.id.clone(), b.id.clone()];
                candidates.extend(hits.take(8).map(|e| e.id.clone()));
                Err(JournalError::Ambiguous { prefix: prefix.to_string(), candidates })
            }
        }
    }

    /// A person's display name, or a short form of the id when unknown.
    pub fn person_name(&self, id: &str) -> String {
        self.persons
            .get(id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| format!("unknown ({})", &id[..id.len().min(8)]))
    }
}
