//! The journal over a [`Storage`]: chunk files, snapshots, compaction and the view.
//!
//! Layout (names are [`Storage`] names; the age layer adds `.age`):
//! - `snapshots/<sha256>`: a whole saved document.
//! - `changes/<sha256>`: changes that build on earlier ones (edits, deletions, sync).
//! - `adds/<sha256>`: append-only changes made without loading the history (new entries).
//! - `view`: the materialised [`View`], a cache that can always be rebuilt.
//! - `marks/<dir>-<sha256>`: an empty mark per chunk, made durable right after the chunk
//!   and before the write is acknowledged ([`Storage::mark`]). A chunk that is marked but
//!   gone was lost, even when no view lists it yet.
//!
//! Every file is written whole under a new name and never modified, so a crash leaves the
//! old state or the new one. Compaction writes the new snapshot and view before it removes
//! what they replace; a crash in between leaves duplicates, which automerge ignores. It
//! removes the old chunks' marks before the chunks: a crash in between leaves chunks
//! without marks (harmless), never marks of removed chunks (which would read as a loss).

use crate::JournalError;
use crate::auth::Sealer;
use crate::doc::{Contents, SpaceDoc};
use crate::history::History;
use crate::model::NewEntry;
use crate::storage::{LockMode, Storage, StorageError};
use crate::view::View;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// Compact when this many change files have piled up since the last snapshot.
pub const COMPACT_AFTER: usize = 64;

/// A read folds this many or more `adds/` chunks into the stored view.
const FOLD_AFTER: usize = 8;

type Result<T> = std::result::Result<T, JournalError>;

/// A file the journal could not use, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub name: String,
    pub reason: String,
}

/// The reason given for a file the store did not write.
const FOREIGN: &str = "a file duo did not write";

/// The reason given for a chunk the view lists but that is gone.
const MISSING_IN_VIEW: &str = "missing: the view lists it but it is gone";

/// The reason given for a chunk that has a mark but is gone.
const MISSING_MARKED: &str = "missing: marked as written but it is gone";

impl Problem {
    /// A file that is not duo's: reported, but it does not make the journal's own files
    /// untrustworthy.
    pub fn is_foreign(&self) -> bool {
        self.reason == FOREIGN
    }

    /// A problem with the view, a cache that is rebuilt from the chunks.
    pub fn is_view(&self) -> bool {
        self.name == "view"
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.reason)
    }
}

/// What a read found: everything readable, plus what was not.
#[derive(Clone, Debug)]
pub struct Read {
    pub view: View,
    /// Damaged or missing files. The view holds what the rest of the store says.
    pub problems: Vec<Problem>,
}

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Snapshot,
    Change,
    Add,
    View,
}

fn kind_of(name: &str) -> Option<FileKind> {
    if name == "view" {
        return Some(FileKind::View);
    }
    let (dir, hash) = name.split_once('/')?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    match dir {
        "snapshots" => Some(FileKind::Snapshot),
        "changes" => Some(FileKind::Change),
        "adds" => Some(FileKind::Add),
        _ => None,
    }
}

fn hash_name(dir: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("{dir}/{}", crate::hex(&digest))
}

/// Chunk files of a listing, and the files that do not belong.
struct Files {
    chunks: BTreeSet<String>,
    /// Chunks with a mark (present or not).
    marks: BTreeSet<String>,
    stamps: std::collections::BTreeMap<String, String>,
    has_view: bool,
    foreign: Vec<String>,
    leftovers: Vec<String>,
}

/// Chunks that `view` lists or that have a mark, but that are gone, by name.
fn missing(files: &Files, view: Option<&View>) -> Vec<Problem> {
    let listed = view.map(|v| &v.covers);
    let mut gone: Vec<Problem> = listed
        .into_iter()
        .flatten()
        .filter(|n| !files.chunks.contains(*n))
        .map(|n| Problem {
            name: n.clone(),
            reason: MISSING_IN_VIEW.into(),
        })
        .collect();
    gone.extend(
        files
            .marks
            .iter()
            .filter(|n| !files.chunks.contains(*n) && !listed.is_some_and(|l| l.contains(*n)))
            .map(|n| Problem {
                name: n.clone(),
                reason: MISSING_MARKED.into(),
            }),
    );
    gone
}

/// Refuse to show a journal a newer duo wrote: half-understood data is worse than none.
fn checked(read: Read) -> Result<Read> {
    if read.view.schema > crate::SCHEMA_VERSION {
        return Err(JournalError::SchemaTooNew {
            found: read.view.schema,
            supported: crate::SCHEMA_VERSION,
        });
    }
    Ok(read)
}

/// What [`Journal::store_synced_changes`] leaves for [`Journal::refresh_synced_view`]: the
/// files before and after the sync, and the heads before it.
#[derive(Clone, Debug)]
pub struct SyncedView {
    before: BTreeSet<String>,
    after: BTreeSet<String>,
    heads: Vec<automerge::ChangeHash>,
}

/// A journal (a shared space or a private notebook) kept in a [`Storage`].
pub struct Journal<S> {
    storage: S,
}

impl<S: Storage> Journal<S> {
    pub fn new(storage: S) -> Self {
        Self { storage }
    }

    pub fn storage(&self) -> &S {
        &self.storage
    }

    fn files(&self) -> Result<Files> {
        let listing = self.storage.list()?;
        let mut files = Files {
            chunks: BTreeSet::new(),
            marks: listing.marks.into_iter().collect(),
            stamps: listing.stamps,
            has_view: false,
            foreign: listing.foreign,
            leftovers: listing.leftovers,
        };
        for name in listing.files {
            match kind_of(&name) {
                Some(FileKind::View) => files.has_view = true,
                Some(_) => {
                    files.chunks.insert(name);
                }
                None => files.foreign.push(name),
            }
        }
        Ok(files)
    }

    /// A cheap fingerprint of the store's files (names and stamps): it changes whenever
    /// any process writes to the store (the network allowlist's live check compares it to
    /// know when to work out the members again).
    pub fn storage_fingerprint(&self) -> Result<String> {
        let l = self.storage.list()?;
        Ok(l.stamps
            .iter()
            .filter(|(n, _)| n.as_str() != "view")
            .map(|(n, s)| format!("{n}={s};"))
            .collect())
    }

    /// True when the store holds nothing yet.
    pub fn is_empty(&self) -> Result<bool> {
        let f = self.files()?;
        Ok(f.chunks.is_empty() && !f.has_view && f.marks.is_empty())
    }

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

    /// Write a chunk, then its mark: both are durable when this returns.
    fn write_chunk(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.storage.write(name, bytes)?;
        self.storage.mark(name)?;
        Ok(())
    }

    /// Remove chunks that a new snapshot replaces: their marks first, then the files.
    fn remove_chunks<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> Result<()> {
        let names: Vec<String> = names.into_iter().cloned().collect();
        self.storage.unmark(&names)?;
        for old in &names {
            self.storage.remove(old)?;
        }
        Ok(())
    }

    /// The view of `doc`, its membership records read only where the stored view's end.
    fn write_view(&self, doc: &mut SpaceDoc, covers: BTreeSet<String>) -> Result<()> {
        let known = self.known_records();
        self.store_view(View::new(doc.contents_with_history(known), covers))
    }

    /// The membership records of the stored view, when it can be read: a history of the
    /// same document that only needs what came since (see [`History::brought_up_to`]).
    fn known_records(&self) -> Option<History> {
        self.stored_view(&mut Vec::new()).ok().flatten().map(|v| v.records)
    }

    /// Write a view, stamped with the current fingerprints of the files it covers.
    fn store_view(&self, mut view: View) -> Result<()> {
        let stamps = self.storage.list()?.stamps;
        view.stamps = view
            .covers
            .iter()
            .filter_map(|n| stamps.get(n).map(|s| (n.clone(), s.clone())))
            .collect();
        self.storage.write("view", &view.encode())?;
        Ok(())
    }

    /// Read a chunk file and check that its contents are what its name (their SHA-256)
    /// says. `Ok(Err(problem))` for a damaged or missing file; `Err` only when the store
    /// itself fails.
    fn read_chunk(&self, name: &str) -> Result<std::result::Result<Vec<u8>, Problem>> {
        let problem = |reason: String| {
            Ok(Err(Problem {
                name: name.to_string(),
                reason,
            }))
        };
        match self.storage.read(name) {
            Ok(bytes) => {
                let expected = name.rsplit('/').next().unwrap_or_default();
                if crate::hex(&Sha256::digest(&bytes)) != expected {
                    return problem("its contents do not match its name (altered or truncated)".into());
                }
                Ok(Ok(bytes))
            }
            Err(e) if e.is_not_found() => problem("missing (removed while reading?)".into()),
            Err(StorageError::Damaged { reason, .. }) => problem(reason),
            Err(e) => Err(e.into()),
        }
    }

    /// The stored view. `Ok(None)` when there is none or it has another duo's layout (both
    /// are simply rebuilt); a view that is not a view is reported in `problems`.
    fn stored_view(&self, problems: &mut Vec<Problem>) -> Result<Option<View>> {
        let damaged = |reason| Problem {
            name: "view".into(),
            reason,
        };
        match self.storage.read("view") {
            Ok(bytes) => match View::decode(&bytes) {
                Ok(v) => Ok(Some(v)),
                Err(None) => Ok(None),
                Err(Some(reason)) => {
                    problems.push(damaged(reason));
                    Ok(None)
                }
            },
            Err(StorageError::Damaged { reason, .. }) => {
                problems.push(damaged(reason));
                Ok(None)
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Chunks the current view lists, or that have a mark, but that are gone: a lost
    /// `adds/` chunk is otherwise invisible (nothing depends on it), and building on the
    /// store would make the loss permanent.
    fn missing_from_view(&self, files: &Files) -> Vec<Problem> {
        let view = self.stored_view(&mut Vec::new()).ok().flatten();
        missing(files, view.as_ref())
    }

    /// Load every chunk into one document, collecting the files that could not be used.
    fn load_all(&self, chunks: &BTreeSet<String>) -> Result<(SpaceDoc, BTreeSet<String>, Vec<Problem>)> {
        let mut doc = SpaceDoc::new();
        let mut loaded = BTreeSet::new();
        let mut problems = Vec::new();
        // Snapshots first: loading the bulk in one go is much faster than change by change.
        let ordered = chunks
            .iter()
            .filter(|n| n.starts_with("snapshots/"))
            .chain(chunks.iter().filter(|n| !n.starts_with("snapshots/")));
        for name in ordered {
            match self.read_chunk(name)? {
                Ok(bytes) => match doc.load_more(&bytes) {
                    Ok(()) => {
                        loaded.insert(name.clone());
                    }
                    Err(e) => problems.push(Problem {
                        name: name.clone(),
                        reason: format!("not a valid automerge chunk ({e})"),
                    }),
                },
                Err(p) => problems.push(p),
            }
        }
        if !chunks.iter().any(|n| n.starts_with("snapshots/")) {
            problems.push(Problem {
                name: "snapshots/".into(),
                reason: "no snapshot: the store's base file is missing".into(),
            });
        }
        if doc.has_missing_deps() {
            problems.push(Problem {
                name: "(history)".into(),
                reason: "some changes refer to earlier changes that are missing from the store".into(),
            });
        }
        Ok((doc, loaded, problems))
    }

    /// The stored view as it is, when it is readable and reflects every chunk of the store
    /// except appended `adds/` files (which hold new entries only): never rebuilt, repaired
    /// or written, so a look at the membership records (a new person key, when a home is
    /// opened) leaves damage for `doctor` and the reads to find. `None` otherwise.
    pub fn peek_view(&self) -> Result<Option<View>> {
        let _lock = self.storage.lock(LockMode::Shared)?;
        let files = self.files()?;
        let Some(view) = self.stored_view(&mut Vec::new())? else {
            return Ok(None);
        };
        let whole = files
            .chunks
            .iter()
            .all(|n| view.covers.contains(n) || kind_of(n) == Some(FileKind::Add))
            && view
                .covers
                .iter()
                .all(|n| files.chunks.contains(n) && files.stamps.get(n) == view.stamps.get(n));
        Ok(whole.then_some(view))
    }

    /// Read the journal. Damaged files are reported in [`Read::problems`]; everything else
    /// is still returned. Only an I/O failure of the store itself is an error.
    pub fn read(&self) -> Result<Read> {
        let lock = self.storage.lock(LockMode::Shared)?;
        let files = self.files()?;
        let mut problems: Vec<Problem> = files
            .foreign
            .iter()
            .map(|n| Problem {
                name: n.clone(),
                reason: FOREIGN.into(),
            })
            .collect();
        // A missing view (a crash between a new store's first two writes, or a user who
        // removed the cache) is simply rebuilt: it holds nothing the chunks do not.
        let view = if files.has_view {
            self.stored_view(&mut problems)?
        } else {
            None
        };
        // Chunks the view lists or that are marked, but that are gone.
        let missing = missing(&files, view.as_ref());
        let known = view.as_ref().map(|v| v.records.clone());
        let any_missing = !missing.is_empty();
        problems.extend(missing);
        if let Some(mut view) = view {
            let uncovered: Vec<String> = files
                .chunks
                .iter()
                .filter(|n| !view.covers.contains(*n))
                .cloned()
                .collect();
            // A covered file that changed since the view was written (truncated, emptied,
            // overwritten) must be read again: only a rebuild notices what is wrong with it.
            let changed = view.covers.iter().any(|n| files.stamps.get(n) != view.stamps.get(n));
            let additive = !any_missing && !changed && uncovered.iter().all(|n| kind_of(n) == Some(FileKind::Add));
            if additive {
                if uncovered.is_empty() {
                    return checked(Read { view, problems });
                }
                let mut extra = SpaceDoc::new();
                let mut names = Vec::new();
                for name in &uncovered {
                    match self.read_chunk(name)? {
                        Ok(bytes) => match extra.load_more(&bytes) {
                            Ok(()) => names.push(name.clone()),
                            Err(e) => problems.push(Problem {
                                name: name.clone(),
                                reason: format!("not a valid automerge chunk ({e})"),
                            }),
                        },
                        Err(p) => problems.push(p),
                    }
                }
                if !extra.has_missing_deps() && view.merge_additions(extra.contents(), names) {
                    // Fold the additions into the stored view once enough have piled up, so
                    // later reads do not load them again (only when nobody else holds the store).
                    if uncovered.len() >= FOLD_AFTER && problems.is_empty() {
                        drop(lock);
                        if let Ok(Some(_x)) = self.storage.try_lock_exclusive()
                            && self.files().is_ok_and(|f| f.chunks == files.chunks)
                        {
                            let _ = self.store_view(view.clone());
                        }
                    }
                    return checked(Read { view, problems });
                }
            }
        }
        // Rebuild from the chunks.
        let (mut doc, loaded, load_problems) = self.load_all(&files.chunks)?;
        for p in load_problems {
            if !problems.iter().any(|q| q.name == p.name) {
                problems.push(p);
            }
        }
        let view = View::new(doc.contents_with_history(known), loaded.clone());
        drop(lock);
        // Foreign files do not make the chunks untrustworthy; damaged chunks do.
        if problems
            .iter()
            .all(|p| p.name == "view" || files.foreign.contains(&p.name))
        {
            // Refresh the cache when nobody else holds the store; a busy store just
            // means the next reader rebuilds again.
            if let Ok(Some(_x)) = self.storage.try_lock_exclusive()
                && self.files().map(|f| f.chunks == loaded).unwrap_or(false)
            {
                let _ = self.store_view(view.clone());
            }
        }
        checked(Read { view, problems })
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

    fn compact_with(&self, change: impl FnOnce(&mut SpaceDoc) -> Result<()>) -> Result<()> {
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

    /// The whole document (for export of history, sync and backups).
    pub fn load(&self) -> Result<SpaceDoc> {
        Ok(self.load_tracked()?.0)
    }

    /// The whole document and the chunk files it was loaded from (for [`Journal::store_synced`]).
    pub fn load_tracked(&self) -> Result<(SpaceDoc, BTreeSet<String>)> {
        let _lock = self.storage.lock(LockMode::Shared)?;
        let files = self.files()?;
        let (doc, loaded, problems) = self.load_all(&files.chunks)?;
        if !problems.is_empty() {
            return Err(JournalError::Damaged { problems });
        }
        Ok((doc, loaded))
    }

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
    /// process wrote in between (then the next read rebuilds it). A view of exactly what
    /// was loaded is refreshed by reading only what the sync changed; otherwise the whole
    /// document is read out.
    pub fn refresh_synced_view(&self, doc: &mut SpaceDoc, v: SyncedView) -> Result<()> {
        let _lock = self.storage.lock(LockMode::Exclusive)?;
        if self.files()?.chunks != v.after {
            return Ok(());
        }
        let contents = match self.stored_view(&mut Vec::new()) {
            Ok(Some(view)) if view.covers == v.before => {
                let mut c = Contents {
                    schema: view.schema,
                    space_id: view.space_id,
                    space_ids: view.space_ids,
                    persons: view.persons,
                    devices: view.devices,
                    entries: view.entries,
                    deleted: view.deleted,
                    markers: view.markers,
                    signatures: view.signatures,
                    acks: view.acks,
                    status_changes: view.status_changes,
                    records: view.records,
                    restorable: view.restorable,
                    holds: view.holds,
                    held: view.held,
                };
                doc.refresh_contents(&mut c, &v.heads);
                c
            }
            _ => doc.contents_with_history(None),
        };
        self.store_view(View::new(contents, v.after))
    }

    /// Bring a document kept in memory (by a long-running process such as a sync watcher)
    /// up to date with the store: load only the chunk files that appeared since (each
    /// checked against its name, as every load does); when a file it was loaded from is
    /// gone (compaction, repair), load everything again. `None` is loaded from scratch.
    pub fn refresh(&self, cached: &mut Option<(SpaceDoc, BTreeSet<String>)>) -> Result<()> {
        let current = {
            let _lock = self.storage.lock(LockMode::Shared)?;
            let files = self.files()?;
            match cached.as_mut() {
                Some((doc, loaded)) if loaded.is_subset(&files.chunks) => {
                    let new: Vec<String> = files.chunks.difference(loaded).cloned().collect();
                    let mut problems = Vec::new();
                    for name in new {
                        match self.read_chunk(&name)? {
                            Ok(bytes) => match doc.load_more(&bytes) {
                                Ok(()) => {
                                    loaded.insert(name);
                                }
                                Err(e) => problems.push(Problem {
                                    name,
                                    reason: format!("not a valid automerge chunk ({e})"),
                                }),
                            },
                            Err(p) => problems.push(p),
                        }
                    }
                    if !problems.is_empty() {
                        *cached = None;
                        return Err(JournalError::Damaged { problems });
                    }
                    true
                }
                _ => false,
            }
        };
        if !current {
            *cached = None;
            *cached = Some(self.load_tracked()?);
        }
        Ok(())
    }

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
        for f in &files.foreign {
            report.problems.push(Problem {
                name: f.clone(),
                reason: FOREIGN.into(),
            });
        }
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

    /// Contents of the whole document (slow path; for tests and checks).
    pub fn contents(&self) -> Result<Contents> {
        Ok(self.load()?.contents_with_history(None))
    }
}

/// `doc` saved as a snapshot that replaces other files, checked first to load back with the
/// same heads: old files are removed only after it, so a document automerge could not write
/// back faithfully (see [`SpaceDoc::check_canonical`]) must never get that far.
fn saved_snapshot(doc: &mut SpaceDoc) -> Result<Vec<u8>> {
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
