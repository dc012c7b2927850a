//! Loading automerge bytes: the checks every byte from outside (a peer, a bundle, a
//! backup, a damaged file) passes before and while automerge reads it.

use super::*;

/// Run automerge on bytes from outside. Automerge can panic on crafted or damaged input
/// (fuzzing found one loading a document); a panic becomes an error, as for any other bytes
/// that are not a document.
pub(super) fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(JournalError::Document(
            "automerge could not read it (it panicked)".into(),
        ))
    })
}

/// See [`SpaceDoc::check_op_counters`].
pub(super) fn op_counters_follow(doc: &automerge::Automerge, since: &[automerge::ChangeHash]) -> Result<()> {
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

    pub(super) fn validate_with(bytes: &[u8], allowance: Option<&mut Allowance>) -> Result<()> {
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
    pub(super) fn check_with(bytes: &[u8], allowance: Option<&mut Allowance>) -> Result<()> {
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

    pub(super) fn load_strict(bytes: &[u8], allowance: Option<&mut Allowance>) -> Result<SpaceDoc> {
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
}
