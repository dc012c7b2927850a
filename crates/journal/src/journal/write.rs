//! Writing a journal: a new store, appends made without loading the history, and
//! changes built on the whole document.

use super::*;

impl<S: Storage> Journal<S> {
    /// Create the store with a first snapshot that `init` fills in.
    pub fn create(&self, init: impl FnOnce(&mut SpaceDoc) -> Result<()>) -> Result<()> {
        let _lock = self.storage.lock(LockMode::Exclusive)?;
        if !self.is_empty()? {
            return Err(JournalError::Invalid("this store already exists".into()));
        }
        let mut doc = SpaceDoc::new();
        init(&mut doc)?;
        let bytes = doc.save();
        let name = hash_name("snapshots", &bytes);
        self.write_chunk(&name, &bytes)?;
        self.write_view(&mut doc, BTreeSet::from([name]))
    }

    /// Append new entries, each sealed by its author, without loading the history: one
    /// `adds/` chunk made in an empty document. Durable when this returns.
    pub fn add(&self, entries: &[NewEntry], by: &Sealer<'_>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.append(|doc| {
            for e in entries {
                doc.add_entry(e, by)?;
            }
            Ok(())
        })
    }

    /// Write what `f` puts into an empty document (fresh root keys only: entries, acks)
    /// as one `adds/` chunk, without loading the history. Durable when this returns.
    pub fn append(&self, f: impl FnOnce(&mut SpaceDoc) -> Result<()>) -> Result<()> {
        let mut doc = SpaceDoc::new();
        f(&mut doc)?;
        let bytes = doc.save();
        let name = hash_name("adds", &bytes);
        let _lock = self.storage.lock(LockMode::Shared)?;
        self.write_chunk(&name, &bytes)
    }

    /// Add many entries at once (an import), each sealed by its author, and compact in the
    /// same step: one load and one save instead of an `adds/` chunk that compaction would
    /// load and save again.
    pub fn add_bulk(&self, entries: &[NewEntry], by: &Sealer<'_>) -> Result<()> {
        self.compact_with(|doc| doc.add_entries(entries, by))
    }

    /// Load the whole document, let `f` change it, and store what changed. Refuses to
    /// build on a damaged store.
    pub fn update<T>(&self, f: impl FnOnce(&mut SpaceDoc) -> Result<T>) -> Result<T> {
        let _lock = self.storage.lock(LockMode::Exclusive)?;
        let files = self.files()?;
        let (mut doc, mut loaded, mut problems) = self.load_all(&files.chunks)?;
        problems.extend(self.missing_from_view(&files));
        if !problems.is_empty() {
            return Err(JournalError::Damaged { problems });
        }
        doc.check_schema()?;
        let before = doc.heads();
        let out = f(&mut doc)?;
        let bytes = doc.save_after(&before);
        if doc.heads() != before {
            let name = hash_name("changes", &bytes);
            self.write_chunk(&name, &bytes)?;
            loaded.insert(name);
            self.write_view(&mut doc, loaded)?;
        }
        Ok(out)
    }

    /// Apply saved automerge bytes from elsewhere (a peer, a bundle, a backup) as a
    /// `changes/` chunk. Returns how many entries the journal had before and after.
    pub fn apply(&self, bytes: &[u8]) -> Result<(usize, usize)> {
        self.update(|doc| {
            let before = doc.contents().entries.len();
            doc.load_checked(bytes)?;
            doc.check_schema()?;
            Ok((before, doc.contents().entries.len()))
        })
    }
}
