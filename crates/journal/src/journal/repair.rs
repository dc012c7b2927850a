//! `duo doctor`: checking every file of a journal, and `--repair`: setting damaged
//! ones aside and writing a new snapshot of what still loads.

use super::compact::saved_snapshot;
use super::*;

/// What `doctor` found and did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub files_checked: usize,
    pub entries: usize,
    pub problems: Vec<Problem>,
    /// Leftovers of interrupted writes that were removed (not damage).
    pub cleaned: Vec<String>,
    /// The view was missing, stale or damaged and has been rebuilt.
    pub view_rebuilt: bool,
}

impl Report {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

impl<S: Storage> Journal<S> {
    /// Make a damaged store usable again, accepting the loss of what cannot be read: move
    /// damaged and foreign files out of the store (the storage keeps them aside), then
    /// write a new snapshot of everything that still loads and a new view. Entries that
    /// lived only in the moved files are gone from this device (a paired device that has
    /// them sends them again). Returns the moved files and where they went.
    pub fn repair(&self) -> Result<Vec<(String, String)>> {
        let _lock = self.storage.lock(LockMode::Exclusive)?;
        let files = self.files()?;
        let mut moved = Vec::new();
        for f in &files.foreign {
            moved.push((f.clone(), self.storage.quarantine(f)?));
        }
        let mut good = BTreeSet::new();
        let mut bad = Vec::new();
        for name in &files.chunks {
            match self.read_chunk(name)? {
                Ok(bytes) if SpaceDoc::validate_stored(&bytes).is_ok() => {
                    good.insert(name.clone());
                }
                _ => bad.push(name.clone()),
            }
        }
        // Marks before chunks, as always: a crash in between leaves a damaged chunk without
        // a mark, which is still found by its contents.
        self.storage.unmark(&bad)?;
        for name in bad {
            let to = self.storage.quarantine(&name)?;
            moved.push((name, to));
        }
        let (mut doc, loaded, _) = self.load_all(&good)?;
        doc.check_schema()?;
        // Changes whose earlier history is gone cannot be applied: the new snapshot keeps
        // only what can, and the files that held the rest are set aside, not deleted.
        let history_missing = doc.has_missing_deps();
        let mut fresh = if history_missing { doc.applied_only()? } else { doc };
        if fresh.heads().len() > 1 {
            fresh
                .automerge()
                .empty_change(automerge::transaction::CommitOptions::default());
        }
        let bytes = saved_snapshot(&mut fresh)?;
        let name = hash_name("snapshots", &bytes);
        self.write_chunk(&name, &bytes)?;
        self.write_view(&mut fresh, BTreeSet::from([name.clone()]))?;
        // The marks of the replaced chunks go first, and with them those of chunks that
        // were already gone: the new snapshot holds what is left, and the loss is accepted.
        let unmark: Vec<String> = loaded
            .iter()
            .filter(|n| **n != name)
            .chain(files.marks.iter().filter(|n| !files.chunks.contains(*n)))
            .cloned()
            .collect();
        self.storage.unmark(&unmark)?;
        for old in loaded.iter().filter(|n| **n != name) {
            // `adds/` chunks never depend on anything, so they are always in the new snapshot.
            if history_missing && old.starts_with("changes/") {
                moved.push((old.clone(), self.storage.quarantine(old)?));
            } else {
                self.storage.remove(old)?;
            }
        }
        Ok(moved)
    }

    /// Check every file; remove leftovers of interrupted writes; rebuild the view.
    pub fn doctor(&self) -> Result<Report> {
        let _lock = self.storage.lock(LockMode::Exclusive)?;
        let files = self.files()?;
        let mut report = Report::default();
        for l in &files.leftovers {
            self.storage.remove_leftover(l)?;
            report.cleaned.push(l.clone());
        }
        report.problems.extend(foreign(&files));
        let (mut doc, loaded, problems) = self.load_all(&files.chunks)?;
        report.files_checked = files.chunks.len() + usize::from(files.has_view);
        report.problems.extend(problems);
        if let Err(e) = doc.check_schema() {
            report.problems.push(Problem {
                name: "(document)".into(),
                reason: e.to_string(),
            });
        }
        let fresh = View::new(doc.contents_with_history(None), loaded.clone());
        report.entries = fresh.entries.len();
        let current = if files.has_view {
            self.stored_view(&mut report.problems)?
        } else {
            None
        };
        report.problems.extend(missing(&files, current.as_ref()));
        let chunk_damage = report.problems.iter().any(|p| p.name != "view");
        // Only rewrite the cache from a complete store; with damage, leave every file as it is.
        let stale = current.as_ref().is_none_or(|v| {
            v.covers != fresh.covers
                || v.entries != fresh.entries
                || v.covers.iter().any(|n| files.stamps.get(n) != v.stamps.get(n))
        });
        if !chunk_damage && stale {
            self.store_view(fresh)?;
            report.view_rebuilt = true;
        }
        Ok(report)
    }
}
