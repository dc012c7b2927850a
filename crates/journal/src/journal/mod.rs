//! The journal over a [`Storage`]: chunk files, snapshots, compaction and the view. This
//! module holds the layout, the file listing and what every phase shares (chunk and view
//! files); each phase has its own file: [`read`] (reading, loading, refreshing a document
//! kept in memory), [`write`] (new stores, appends, changes), [`compact`], [`synced`]
//! (storing what a sync brought) and [`repair`] (`doctor` and `--repair`).
//!
//! Layout (names are [`Storage`] names; the age layer adds `.age`):
//! - `snapshots/<sha256>`: a whole saved document.
//! - `changes/<sha256>`: changes that build on earlier ones (edits, deletions, sync).
//! - `adds/<sha256>`: append-only changes made without loading the history (new entries).
//! - `view` and `view-parts/<sha256>`: the materialised [`View`] (its head and its parts),
//!   a cache that can always be rebuilt.
//! - `marks/<dir>-<sha256>`: an empty mark per chunk, made durable right after the chunk
//!   and before the write is acknowledged ([`Storage::mark`]). A chunk that is marked but
//!   gone was lost, even when no view lists it yet.
//!
//! Every file is written whole under a new name and never modified, so a crash leaves the
//! old state or the new one. Compaction writes the new snapshot and view before it removes
//! what they replace; a crash in between leaves duplicates, which automerge ignores. It
//! removes the old chunks' marks before the chunks: a crash in between leaves chunks
//! without marks (harmless), never marks of removed chunks (which would read as a loss).

mod compact;
mod read;
mod repair;
mod synced;
mod write;

pub use repair::Report;
pub use synced::SyncedView;

use crate::JournalError;
use crate::doc::{Contents, SpaceDoc};
use crate::history::History;
use crate::model::NewEntry;
use crate::seal::Sealer;
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Snapshot,
    Change,
    Add,
    View,
    ViewPart,
}

fn kind_of(name: &str) -> Option<FileKind> {
    if name == "view" {
        return Some(FileKind::View);
    }
    if crate::view::is_part_name(name) {
        return Some(FileKind::ViewPart);
    }
    let (dir, hash) = name.split_once('/')?;
    if hash.len() != 64 || !crate::is_lower_hex(hash) {
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

/// Every file in the store that duo did not write, as problems.
fn foreign(files: &Files) -> Vec<Problem> {
    (files.foreign.iter())
        .map(|n| Problem {
            name: n.clone(),
            reason: FOREIGN.into(),
        })
        .collect()
}

/// The appended `adds/` files to read on top of `view`, when it is current in every other
/// way: every file it covers still there with the same fingerprint, no chunk lost, and
/// nothing uncovered but `adds/` files. `None` otherwise.
fn adds_on_top(files: &Files, view: &View) -> Option<Vec<String>> {
    let current = view
        .covers
        .iter()
        .all(|n| files.chunks.contains(n) && files.stamps.get(n) == view.stamps.get(n));
    let adds = uncovered(files, view);
    (current && missing(files, Some(view)).is_empty() && adds.iter().all(|n| kind_of(n) == Some(FileKind::Add)))
        .then_some(adds)
}

/// The chunk files `view` does not cover.
fn uncovered(files: &Files, view: &View) -> Vec<String> {
    files
        .chunks
        .iter()
        .filter(|n| !view.covers.contains(*n))
        .cloned()
        .collect()
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
                // The view's parts: named by its head, checked when read.
                Some(FileKind::ViewPart) => {}
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
            .filter(|(n, _)| !matches!(kind_of(n), Some(FileKind::View | FileKind::ViewPart)))
            .map(|(n, s)| format!("{n}={s};"))
            .collect())
    }

    /// True when the store holds nothing yet.
    pub fn is_empty(&self) -> Result<bool> {
        let f = self.files()?;
        Ok(f.chunks.is_empty() && !f.has_view && f.marks.is_empty())
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
        self.stored_head().map(|v| v.contents.records)
    }

    /// Write a view, stamped with the current fingerprints of the files it covers, durably:
    /// compaction and repair remove chunks once the view that no longer lists them is
    /// written, and an older view after a crash would name them as lost.
    fn store_view(&self, mut view: View) -> Result<()> {
        self.put_view(&mut view, true)
    }

    /// [`Journal::store_view`] after a sync, of a view the caller keeps. Written as a cache
    /// ([`Storage::write_cache`], without the fsyncs): the chunks it reflects are durable,
    /// and no chunk is removed on the strength of this view (compaction writes its own
    /// durably first), so a crash leaves an older view that reads on top of it what it
    /// lacks, or a damaged one that is rebuilt.
    fn store_view_kept(&self, view: &mut View) -> Result<()> {
        self.put_view(view, false)
    }

    /// Write a view: first the parts whose contents changed (as a cache: a part that a crash
    /// kept from the disk makes the view unreadable, and it is rebuilt), then the head that
    /// names them (`durable` or as a cache), then remove the parts no head names. Only the
    /// head and the changed parts are encoded and written: a part the view was read from or
    /// written to, still on disk and unchanged, keeps its name.
    fn put_view(&self, view: &mut View, durable: bool) -> Result<()> {
        if view.parts.partial {
            // Some parts only (`read_part_of`): storing it would drop the others.
            return Ok(());
        }
        let listing = self.storage.list()?;
        let on_disk: BTreeSet<&String> = listing.files.iter().filter(|n| crate::view::is_part_name(n)).collect();
        view.stamps = view
            .covers
            .iter()
            .filter_map(|n| listing.stamps.get(n).map(|s| (n.clone(), s.clone())))
            .collect();
        let crate::view::Encoded { head, names, parts } =
            view.encode_split(|b| view.parts.unchanged(b).filter(|n| on_disk.contains(n)).cloned());
        let known: BTreeSet<&String> = view.parts.names.values().filter(|n| on_disk.contains(n)).collect();
        for (name, bytes) in &parts {
            // The same bytes under the same name, read or written before: already there.
            if !known.contains(name) {
                self.storage.write_cache(name, bytes)?;
            }
        }
        if durable {
            self.storage.write("view", &head)?;
        } else {
            self.storage.write_cache("view", &head)?;
        }
        let named: BTreeSet<&String> = names.values().collect();
        for old in on_disk.iter().filter(|n| !named.contains(*n)) {
            self.storage.remove_cache(old)?;
        }
        view.parts = crate::view::Parts {
            names,
            changed: Some(BTreeSet::new()),
            ..Default::default()
        };
        Ok(())
    }
}
