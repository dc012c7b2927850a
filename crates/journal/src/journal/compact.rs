//! Compaction: every chunk folded into one snapshot, written before what it replaces is
//! removed.

use super::*;

impl<S: Storage> Journal<S> {
    /// How many chunk files are waiting to be compacted.
    pub fn pending_chunks(&self) -> Result<usize> {
        Ok(self
            .files()?
            .chunks
            .iter()
            .filter(|n| !n.starts_with("snapshots/"))
            .count())
    }

    /// Compact if enough change files have piled up. Returns whether it did.
    pub fn maybe_compact(&self) -> Result<bool> {
        if self.pending_chunks()? < COMPACT_AFTER {
            return Ok(false);
        }
        self.compact()?;
        Ok(true)
    }

    /// Fold every chunk into one snapshot. Writes the snapshot and view first, then
    /// removes what they replace. Refuses to compact a damaged store (that would throw
    /// the damaged file's siblings away with it).
    pub fn compact(&self) -> Result<()> {
        self.compact_with(|_| Ok(()))
    }

    pub(super) fn compact_with(&self, change: impl FnOnce(&mut SpaceDoc) -> Result<()>) -> Result<()> {
        let _lock = self.storage.lock(LockMode::Exclusive)?;
        let files = self.files()?;
        let (mut doc, loaded, mut problems) = self.load_all(&files.chunks)?;
        problems.extend(self.missing_from_view(&files));
        if !problems.is_empty() {
            return Err(JournalError::Damaged { problems });
        }
        doc.check_schema()?;
        change(&mut doc)?;
        // Every `add` made without history is a head of its own, and every sync message
        // carries the heads: one empty change that depends on all of them folds them into one.
        if doc.heads().len() > 1 {
            doc.automerge()
                .empty_change(automerge::transaction::CommitOptions::default());
        }
        let bytes = saved_snapshot(&mut doc)?;
        let name = hash_name("snapshots", &bytes);
        self.write_chunk(&name, &bytes)?;
        self.write_view(&mut doc, BTreeSet::from([name.clone()]))?;
        self.remove_chunks(loaded.iter().filter(|n| **n != name))
    }
}

/// `doc` saved as a snapshot that replaces other files, checked first to load back with the
/// same heads: old files are removed only after it, so a document automerge could not write
/// back faithfully (see [`SpaceDoc::check_canonical`]) must never get that far.
pub(super) fn saved_snapshot(doc: &mut SpaceDoc) -> Result<Vec<u8>> {
    let bytes = doc.save();
    let mut heads = doc.heads();
    let again = SpaceDoc::load_stored(&bytes).map_err(|e| {
        JournalError::Document(format!(
            "the new snapshot does not load back ({e}); nothing was replaced"
        ))
    });
    let mut again_heads = again?.heads();
    heads.sort();
    again_heads.sort();
    if again_heads != heads {
        return Err(JournalError::Document(
            "the new snapshot loads back with other heads; nothing was replaced".into(),
        ));
    }
    Ok(bytes)
}
