//! The storage seam: the journal reads and writes named byte blobs through [`Storage`],
//! which knows nothing of automerge. `duo-device` implements it with age-encrypted files;
//! [`MemStorage`] keeps blobs in memory for tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Why a blob could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The blob exists but is not what this device wrote: truncated, altered, empty,
    /// encrypted to someone else, or not an age file at all.
    #[error("{name} is damaged: {reason}")]
    Damaged { name: String, reason: String },
    /// The operating system refused (disk full, permissions, I/O error).
    #[error("{name}: {source}")]
    Io {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// The blob's name.
    pub fn name(&self) -> &str {
        match self {
            StorageError::Damaged { name, .. } | StorageError::Io { name, .. } => name,
        }
    }

    /// True when the blob does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// What a store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Blobs in the store's own format, by name (`snapshots/<hash>`, `changes/<hash>`, `view`, …).
    pub files: Vec<String>,
    /// Leftovers of writes that were interrupted (safe to remove under an exclusive lock).
    pub leftovers: Vec<String>,
    /// Files that the store did not write.
    pub foreign: Vec<String>,
    /// A cheap fingerprint of each file but the view's parts (which are checked against
    /// their names when read), size and modification time, say: when it
    /// changes, the file changed, and cached reads of it are not trusted.
    pub stamps: BTreeMap<String, String>,
    /// The chunks that have a mark ([`Storage::mark`]), by chunk name (`adds/<hash>`).
    /// A mark whose name is not a chunk's, or that is not empty, is listed in `foreign`.
    pub marks: Vec<String>,
}

/// The directory that holds the marks.
pub const MARKS_DIR: &str = "marks";

/// The file name of a chunk's mark: `adds-<hash>` for `adds/<hash>` (inside [`MARKS_DIR`]).
pub fn mark_file_name(chunk: &str) -> Option<String> {
    let file = chunk.replacen('/', "-", 1);
    (marked_chunk(&file).as_deref() == Some(chunk)).then_some(file)
}

/// The chunk a mark file names: `adds/<hash>` for `adds-<hash>`; `None` for any other name.
pub fn marked_chunk(file_name: &str) -> Option<String> {
    let (dir, hash) = file_name.split_once('-')?;
    let hex = hash.len() == 64 && crate::is_lower_hex(hash);
    (hex && ["snapshots", "changes", "adds"].contains(&dir)).then(|| format!("{dir}/{hash}"))
}

/// How a command holds the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Readers and appenders: many at once.
    Shared,
    /// Compaction, edits and repairs: one at a time, no readers.
    Exclusive,
}

/// A held lock; released on drop.
pub type LockGuard = Box<dyn std::any::Any>;

/// What [`Storage::read_each`] hands each blob read to: its index, and its bytes (lent).
pub type EachRead<'a> = dyn Fn(usize, Result<&[u8], StorageError>) + Sync + 'a;

/// A small synchronous blob store. Writes must be atomic and durable: after `write`
/// returns, a crash leaves the new blob; a crash during it leaves no blob of that name
/// (at most a leftover).
pub trait Storage {
    fn list(&self) -> Result<Listing, StorageError>;
    fn read(&self, name: &str) -> Result<Vec<u8>, StorageError>;
    /// The first `most` bytes of a blob (all of it when shorter), checked as [`Storage::read`]
    /// checks them; for reading the front of the view without decrypting all of it.
    fn read_prefix(&self, name: &str, most: usize) -> Result<Vec<u8>, StorageError> {
        let mut bytes = self.read(name)?;
        bytes.truncate(most);
        Ok(bytes)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError>;
    /// Write a cache (the view), replaced as atomically as [`Storage::write`] but not made
    /// durable: after a crash it may be the old one, or damaged. Both are safe for a cache
    /// that says which files it reflects and is rebuilt when it cannot be read.
    fn write_cache(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.write(name, bytes)
    }
    fn remove(&self, name: &str) -> Result<(), StorageError>;
    /// Remove a cache's blob (a part of the view that no view names), without making the
    /// removal durable: after a crash it may still be there, to be removed by the next write.
    fn remove_cache(&self, name: &str) -> Result<(), StorageError> {
        self.remove(name)
    }
    /// Read the blobs `names`, passing each result to `each` with its index: from several
    /// threads at once where the store can (decrypting is most of a read's cost), so `each`
    /// may run concurrently and in any order. The bytes are lent: a store may read the next
    /// blob into the same buffer.
    fn read_each(&self, names: &[String], each: &EachRead<'_>) {
        for (i, name) in names.iter().enumerate() {
            match self.read(name) {
                Ok(bytes) => each(i, Ok(&bytes)),
                Err(e) => each(i, Err(e)),
            }
        }
    }
    /// Durably record that chunk `name` (already written) exists: an empty file
    /// `marks/<dir>-<hash>`. A chunk that is marked but gone was lost, even when no view
    /// lists it. Returns only once the mark survives a crash.
    fn mark(&self, name: &str) -> Result<(), StorageError>;
    /// Durably remove the marks of these chunks (before the chunks themselves are removed:
    /// a mark without its chunk reads as a lost chunk). Marks that are not there are fine.
    fn unmark(&self, names: &[String]) -> Result<(), StorageError>;
    /// Remove a leftover listed by [`Storage::list`].
    fn remove_leftover(&self, name: &str) -> Result<(), StorageError>;
    /// Move a damaged blob or foreign file (a name from [`Storage::list`]) out of the store,
    /// keeping it for the user; returns where it went.
    fn quarantine(&self, name: &str) -> Result<String, StorageError>;
    fn lock(&self, mode: LockMode) -> Result<LockGuard, StorageError>;
    /// Take the exclusive lock only if nobody holds the store.
    fn try_lock_exclusive(&self) -> Result<Option<LockGuard>, StorageError>;
}

impl<S: Storage + ?Sized> Storage for &S {
    fn list(&self) -> Result<Listing, StorageError> {
        (**self).list()
    }
    fn read(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        (**self).read(name)
    }
    fn read_prefix(&self, name: &str, most: usize) -> Result<Vec<u8>, StorageError> {
        (**self).read_prefix(name, most)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        (**self).write(name, bytes)
    }
    fn write_cache(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        (**self).write_cache(name, bytes)
    }
    fn remove(&self, name: &str) -> Result<(), StorageError> {
        (**self).remove(name)
    }
    fn remove_cache(&self, name: &str) -> Result<(), StorageError> {
        (**self).remove_cache(name)
    }
    fn read_each(&self, names: &[String], each: &EachRead<'_>) {
        (**self).read_each(names, each)
    }
    fn mark(&self, name: &str) -> Result<(), StorageError> {
        (**self).mark(name)
    }
    fn unmark(&self, names: &[String]) -> Result<(), StorageError> {
        (**self).unmark(names)
    }
    fn remove_leftover(&self, name: &str) -> Result<(), StorageError> {
        (**self).remove_leftover(name)
    }
    fn quarantine(&self, name: &str) -> Result<String, StorageError> {
        (**self).quarantine(name)
    }
    fn lock(&self, mode: LockMode) -> Result<LockGuard, StorageError> {
        (**self).lock(mode)
    }
    fn try_lock_exclusive(&self) -> Result<Option<LockGuard>, StorageError> {
        (**self).try_lock_exclusive()
    }
}

/// Blobs in memory, for tests. Locks are no-ops (one process). Marks are empty blobs
/// named `marks/<dir>-<hash>`, listed as the disk store lists them.
#[derive(Debug, Default)]
pub struct MemStorage {
    blobs: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replace a blob's bytes directly (to simulate damage).
    pub fn poke(&self, name: &str, bytes: Vec<u8>) {
        self.blobs.lock().unwrap().insert(name.to_string(), bytes);
    }

    /// A copy of all blobs.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.blobs.lock().unwrap().clone()
    }
}

impl Storage for MemStorage {
    fn list(&self) -> Result<Listing, StorageError> {
        let blobs = self.blobs.lock().unwrap();
        let mut out = Listing::default();
        // Quarantined blobs are out of the store, as on disk.
        for (k, v) in blobs.iter().filter(|(k, _)| !k.starts_with("quarantine:")) {
            if let Some(file) = k.strip_prefix(MARKS_DIR).and_then(|f| f.strip_prefix('/')) {
                match marked_chunk(file) {
                    Some(chunk) if v.is_empty() => out.marks.push(chunk),
                    _ => out.foreign.push(k.clone()),
                }
            } else {
                out.stamps.insert(k.clone(), format!("{}:{:x}", v.len(), fnv(v)));
                out.files.push(k.clone());
            }
        }
        Ok(out)
    }
    fn read(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        self.blobs
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or_else(|| StorageError::Io {
                name: name.to_string(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            })
    }
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.blobs.lock().unwrap().insert(name.to_string(), bytes.to_vec());
        Ok(())
    }
    fn remove(&self, name: &str) -> Result<(), StorageError> {
        self.blobs.lock().unwrap().remove(name);
        Ok(())
    }
    fn mark(&self, name: &str) -> Result<(), StorageError> {
        let file = mark_file_name(name).ok_or_else(|| StorageError::Io {
            name: name.to_string(),
            source: std::io::Error::other("not a chunk name"),
        })?;
        self.blobs
            .lock()
            .unwrap()
            .insert(format!("{MARKS_DIR}/{file}"), Vec::new());
        Ok(())
    }
    fn unmark(&self, names: &[String]) -> Result<(), StorageError> {
        let mut blobs = self.blobs.lock().unwrap();
        for file in names.iter().filter_map(|n| mark_file_name(n)) {
            blobs.remove(&format!("{MARKS_DIR}/{file}"));
        }
        Ok(())
    }
    fn remove_leftover(&self, _name: &str) -> Result<(), StorageError> {
        Ok(())
    }
    fn quarantine(&self, name: &str) -> Result<String, StorageError> {
        let mut blobs = self.blobs.lock().unwrap();
        if let Some(b) = blobs.remove(name) {
            blobs.insert(format!("quarantine:{name}"), b);
        }
        Ok(format!("quarantine:{name}"))
    }
    fn lock(&self, _mode: LockMode) -> Result<LockGuard, StorageError> {
        Ok(Box::new(()))
    }
    fn try_lock_exclusive(&self) -> Result<Option<LockGuard>, StorageError> {
        Ok(Some(Box::new(())))
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}
