//! Storing what a sync brought: durable first, the view brought up to date after.

use super::compact::saved_snapshot;
use super::*;

/// What [`Journal::store_synced_changes`] leaves for [`Journal::refresh_synced_view`]: the
/// files before and after the sync, and the heads before it.
#[derive(Clone, Debug)]
pub struct SyncedView {
    before: BTreeSet<String>,
    after: BTreeSet<String>,
    heads: Vec<automerge::ChangeHash>,
}

impl<S: Storage> Journal<S> {
    /// Store what a sync added to `doc` (loaded from the chunk files `loaded`, with
    /// [`Journal::load_tracked`] or [`Journal::refresh`]) since `heads`: one `changes/`
    /// chunk, and a fresh view when no other process wrote in the meantime (otherwise the
    /// next read rebuilds it). Afterwards `loaded` names the files `doc` now reflects.
    /// The changes came through the sync session, which checked them as it applied them,
    /// so they are not loaded a second time.
    ///
    /// `whole` is the saved document the peer sent, when it sent one (a first sync); the
    /// session loaded it strictly and merged it into `doc`. It is kept as it came, as a
    /// snapshot beside the files `doc` was loaded from (which hold whatever this device
    /// had that the peer lacked), and the view is left to the next read to rebuild: the
    /// sync is durable without saving the whole document again or reading it out.
    pub fn store_synced(
        &self,
        doc: &mut SpaceDoc,
        heads: &[automerge::ChangeHash],
        loaded: &mut BTreeSet<String>,
        whole: Option<&[u8]>,
    ) -> Result<()> {
        match self.store_synced_changes(doc, heads, loaded, whole)? {
            Some(view) => self.refresh_synced_view(doc, view),
            None => Ok(()),
        }
    }

    /// The durable half of [`Journal::store_synced`]: what arrived is on disk when this
    /// returns. The view is left to [`Journal::refresh_synced_view`] (which the caller can
    /// run once the peer is no longer waiting), when there is one to bring up to date.
    pub fn store_synced_changes(
        &self,
        doc: &mut SpaceDoc,
        heads: &[automerge::ChangeHash],
        loaded: &mut BTreeSet<String>,
        whole: Option<&[u8]>,
    ) -> Result<Option<SyncedView>> {
        doc.check_schema()?;
        let _lock = self.storage.lock(LockMode::Exclusive)?;
        if let Some(bytes) = whole {
            let name = hash_name("snapshots", bytes);
            self.write_chunk(&name, bytes)?;
            loaded.insert(name);
            return Ok(None);
        }
        let received = doc.automerge().get_changes_meta(heads).len();
        let unchanged = self.files()?.chunks == *loaded;
        if unchanged && received > 4 * COMPACT_AFTER && received * 2 >= doc.change_count() {
            // Most of the document is new (a first sync): one snapshot loads much faster
            // than thousands of changes, and it replaces the chunks it was loaded from.
            let bytes = saved_snapshot(doc)?;
            let name = hash_name("snapshots", &bytes);
            self.write_chunk(&name, &bytes)?;
            let known = self.known_records();
            self.store_view(View::new(
                doc.contents_with_history(known),
                BTreeSet::from([name.clone()]),
            ))?;
            self.remove_chunks(loaded.iter().filter(|n| **n != name))?;
            *loaded = BTreeSet::from([name]);
            return Ok(None);
        }
        let bytes = doc.save_after(heads);
        let name = hash_name("changes", &bytes);
        self.write_chunk(&name, &bytes)?;
        let before = loaded.clone();
        loaded.insert(name);
        // When another process wrote meanwhile, the next read rebuilds the view.
        Ok(unchanged.then(|| SyncedView {
            before,
            after: loaded.clone(),
            heads: heads.to_vec(),
        }))
    }

    /// Bring the view up to date after [`Journal::store_synced_changes`], unless another
    /// process wrote in between (then the next read rebuilds it). The stored view is
    /// refreshed by reading only what changed since the state it shows: since the sync's
    /// start when it shows exactly what was loaded, else since the heads it records (it may
    /// lack new entries appended by `journal add`, which are read with the sync's changes).
    /// Only a view that cannot be read or placed in the history means reading everything.
    pub fn refresh_synced_view(&self, doc: &mut SpaceDoc, v: SyncedView) -> Result<()> {
        self.refresh_synced_view_kept(doc, v, None).map(drop)
    }

    /// [`Journal::refresh_synced_view`] for a process that keeps the view in memory between
    /// syncs (a watcher): `kept` is a view it had before (any view of this document, stored
    /// or not: what changed since the heads it records is read on top of it), so the stored
    /// one is not decrypted and decoded again. Returns the view to keep next time.
    pub fn refresh_synced_view_kept(
        &self,
        doc: &mut SpaceDoc,
        v: SyncedView,
        kept: Option<View>,
    ) -> Result<Option<View>> {
        let _lock = self.storage.lock(LockMode::Exclusive)?;
        if self.files()?.chunks != v.after {
            return Ok(kept);
        }
        // The base: the kept view when it has a place in the document's history, else the
        // stored one.
        let kept = kept.filter(|k| k.records.heads_within(doc.automerge().document()).is_some());
        let base = match kept {
            Some(k) => Some(k),
            None => self.stored_view(&mut Vec::new()).ok().flatten(),
        };
        let (contents, parts) = match base {
            Some(view) => {
                let since = if view.covers == v.before {
                    Some(v.heads)
                } else {
                    view.records.heads_within(doc.automerge().document())
                };
                match since {
                    Some(since) => {
                        let mut c = view.contents;
                        let touched = doc.refresh_contents(&mut c, &since);
                        (c, view.parts.after(touched))
                    }
                    None => (
                        doc.contents_with_history(Some(view.contents.records)),
                        Default::default(),
                    ),
                }
            }
            None => (doc.contents_with_history(None), Default::default()),
        };
        let mut view = View::new(contents, v.after);
        view.parts = parts;
        self.store_view_kept(&mut view)?;
        Ok(Some(view))
    }
}
