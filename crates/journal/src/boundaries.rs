//! Boundaries as living agreements: every change of a boundary's status is kept as its own
//! root key `bstatus/<entry id>/<change id>` (who, when, to what), so the history survives
//! and two devices changing it at once both land. Only the boundary's author changes it: a
//! change by anyone else (only a modified client could write one) is ignored on read.

use crate::model::{Entry, Kind, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One change of a boundary's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// Its own id (32 hex characters).
    pub id: String,
    /// The boundary.
    pub entry: String,
    /// The person who made it.
    pub by: String,
    /// The device it was made on.
    pub device: String,
    /// The status it set.
    pub status: Status,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// Its seals as stored (written by [`crate::SpaceDoc::set_boundary_status`]; ignored
    /// when writing).
    #[serde(default)]
    pub seals: Vec<String>,
}

/// The changes stored for `entry_id` (keys of `changes` are `<entry id>/<change id>`).
pub(crate) fn changes_of<'a>(
    changes: &'a BTreeMap<String, StatusChange>,
    entry_id: &str,
) -> impl Iterator<Item = &'a StatusChange> {
    let prefix = format!("{entry_id}/");
    changes
        .range(prefix.clone()..)
        .take_while(move |(k, _)| k.starts_with(&prefix))
        .map(|(_, c)| c)
}

/// The history of a boundary: its author's status changes, oldest first.
pub fn history<'a>(changes: &'a BTreeMap<String, StatusChange>, entry: &Entry) -> Vec<&'a StatusChange> {
    if entry.kind != Kind::Boundary {
        return Vec::new();
    }
    let mut h: Vec<&StatusChange> = changes_of(changes, &entry.id)
        .filter(|c| c.by == entry.author)
        .collect();
    h.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
    h
}

/// Where a boundary stands: the newest change by its author, else the status it was
/// written with. The same on every replica, whatever order changes arrived in.
pub fn effective_status(changes: &BTreeMap<String, StatusChange>, entry: &Entry) -> Option<Status> {
    if entry.kind != Kind::Boundary {
        return None;
    }
    history(changes, entry).last().map(|c| c.status).or(entry.status)
}

/// Why a status change was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatusRefusal {
    #[error("only boundaries have a status")]
    NotABoundary,
    #[error("this boundary is {name}'s: only the person who set a boundary can mark it for revisiting or retire it")]
    NotAuthor { name: String },
}

/// May `me` change the status of `entry`?
pub fn may_change_status(entry: &Entry, me: &str, author_name: &str) -> Result<(), StatusRefusal> {
    if entry.kind != Kind::Boundary {
        return Err(StatusRefusal::NotABoundary);
    }
    if entry.author != me {
        return Err(StatusRefusal::NotAuthor {
            name: author_name.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(entry: &str, id: &str, by: &str, status: Status, at: i64) -> StatusChange {
        StatusChange {
            id: id.into(),
            entry: entry.into(),
            by: by.into(),
            device: "d".into(),
            status,
            at,
            seals: Vec::new(),
        }
    }

    #[test]
    fn only_the_authors_changes_count_and_history_is_kept() {
        let (j, id) = crate::testing::journal_with_entry(Kind::Boundary, "No phones at dinner", false);
        let ring = crate::Keyring::for_tests("pa");
        let by = ring.sealer("da");
        j.update(|d| d.set_boundary_status(&change(&id, "c1", "pa", Status::Revisit, 10), &by))
            .unwrap();
        // Someone else's change: the library refuses to write it...
        let bob = crate::Keyring::for_tests("pb");
        let err = j.update(|d| d.set_boundary_status(&change(&id, "c2", "pb", Status::Retired, 20), &bob.sealer("db")));
        assert!(err.is_err());
        // ...and a modified client's, written raw, is ignored.
        j.update(|d| {
            use crate::schema::*;
            use automerge::transaction::Transactable;
            let am = d.automerge();
            let o = am
                .put_object(automerge::ROOT, format!("{BSTATUS}{id}/c2"), automerge::ObjType::Map)
                .unwrap();
            am.put(&o, BY, "pb").unwrap();
            am.put(&o, STATUS, "retired").unwrap();
            am.put(&o, AT, automerge::ScalarValue::Timestamp(20)).unwrap();
            Ok(())
        })
        .unwrap();
        let read = j.read().unwrap();
        let e = &read.view.entries[&id];
        assert_eq!(e.status, Some(Status::Revisit));
        assert_eq!(
            read.view.history(e).iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["c1"]
        );
        j.update(|d| d.set_boundary_status(&change(&id, "c3", "pa", Status::Active, 30), &by))
            .unwrap();
        let read = j.read().unwrap();
        let e = &read.view.entries[&id];
        assert_eq!(e.status, Some(Status::Active));
        assert_eq!(read.view.history(e).len(), 2);
        assert_eq!(j.contents().unwrap().entries[&id], *e);
        assert_eq!(
            may_change_status(e, "pb", "Alice"),
            Err(StatusRefusal::NotAuthor { name: "Alice".into() })
        );
        assert_eq!(may_change_status(e, "pa", "Alice"), Ok(()));
    }
}
