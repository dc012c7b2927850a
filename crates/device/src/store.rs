//! [`AgeStore`]: the journal's [`Storage`] as age-encrypted files in a directory.
//!
//! Every file is a standard age file encrypted to this device's X25519 recipient, so
//! `age -d -i keys/age.key FILE` reads any of them. Writes go to a temporary file that is
//! fsynced, renamed over the final name and followed by an fsync of the directory: a crash
//! at any instant leaves the old state or the new one, plus at most a `.tmp` leftover that
//! `duo doctor` removes.
//!
//! Each chunk also gets a mark once it is durable: an empty file `marks/<dir>-<hash>`
//! (no `.age`: it holds nothing), created and followed by an fsync of `marks/`.

use age::x25519::{Identity, Recipient};
use duo_journal::{Listing, LockGuard, LockMode, MARKS_DIR, Storage, StorageError, mark_file_name, marked_chunk};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const DIRS: [&str; 4] = ["snapshots", "changes", "adds", duo_journal::PARTS_DIR];
const SUFFIX: &str = ".age";
const LOCK: &str = ".lock";

/// A directory of age-encrypted blobs.
#[derive(Clone)]
pub struct AgeStore {
    root: PathBuf,
    identity: Arc<Identity>,
    recipient: Recipient,
    faults: Option<Arc<FaultPlan>>,
    /// A journal's store (chunk directories made on first write), not a home's `local/`.
    chunks: bool,
    /// Told of every chunk made durable (a running watcher's socket).
    notice: Option<Arc<Notice>>,
}

/// Where [`AgeStore::notifying`] sends its notices, and the writer id they carry.
struct Notice {
    socket: PathBuf,
    writer: String,
}

/// One step of the store's file operations that reaches the disk, in the order a write
/// makes them. [`FaultPlan`] counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the temporary file (`O_EXCL`), or a chunk's empty mark.
    Create,
    /// Write the bytes into it.
    Write,
    /// `fsync` the file.
    SyncFile,
    /// `rename` it over the final name (also: move a file to the quarantine).
    Rename,
    /// `fsync` a directory.
    SyncDir,
    /// Remove a file (a replaced chunk, its mark, a leftover).
    Remove,
}

/// What happens at the chosen step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The process dies here: this step and every later one do nothing and fail, and no
    /// clean-up runs, so the disk stays exactly as the crash left it. A crash at
    /// [`Step::Write`] first writes half of the bytes (a torn write).
    Crash,
    /// The operating system refuses this one step with this `errno` (`libc::EIO`,
    /// `libc::ENOSPC`); the code's own error handling runs as usual.
    Fail(i32),
}

/// Fault injection for tests: count every [`Step`] of an [`AgeStore`] (see
/// [`AgeStore::with_faults`]) and make step number `at` (0-based) crash or fail. A plan
/// with no `at` only counts, to learn how many steps an operation makes.
#[derive(Debug, Default)]
pub struct FaultPlan {
    at: Option<usize>,
    fault: Option<Fault>,
    count: AtomicUsize,
    crashed: AtomicBool,
    log: Mutex<Vec<(Step, String)>>,
}

impl FaultPlan {
    /// Only count and record the steps.
    pub fn count_only() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// `fault` at step `at`.
    pub fn at(at: usize, fault: Fault) -> Arc<Self> {
        Arc::new(Self {
            at: Some(at),
            fault: Some(fault),
            ..Self::default()
        })
    }

    /// Steps made (or attempted) so far.
    pub fn steps(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Every step so far and the file it was about.
    pub fn log(&self) -> Vec<(Step, String)> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Whether the simulated crash has happened.
    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// Called before each step: `Ok(None)` to go ahead, `Ok(Some(Fault::Crash))` when the
    /// step is the crash (the caller may do a partial step, then must stop without clean-up),
    /// `Err` to fail the step.
    fn before(&self, step: Step, path: &Path) -> std::io::Result<Option<Fault>> {
        if self.crashed() {
            return Err(crash_error());
        }
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut l) = self.log.lock() {
            l.push((step, path.display().to_string()));
        }
        if self.at != Some(n) {
            return Ok(None);
        }
        match self.fault {
            Some(Fault::Crash) => {
                self.crashed.store(true, Ordering::SeqCst);
                Ok(Some(Fault::Crash))
            }
            Some(Fault::Fail(errno)) => Err(std::io::Error::from_raw_os_error(errno)),
            None => Ok(None),
        }
    }
}

fn crash_error() -> std::io::Error {
    std::io::Error::other("simulated crash (fault injection)")
}

/// Run `op` as step `step` on `path` under `faults`: a crash at this step fails without
/// running it.
fn step<T>(
    faults: Option<&FaultPlan>,
    step: Step,
    path: &Path,
    op: impl FnOnce() -> std::io::Result<T>,
) -> std::io::Result<T> {
    match faults.map(|f| f.before(step, path)).transpose()?.flatten() {
        Some(_) => Err(crash_error()),
        None => op(),
    }
}

fn io(name: &str, source: std::io::Error) -> StorageError {
    StorageError::Io {
        name: name.to_string(),
        source,
    }
}

/// Write `bytes` to `path` durably: temp file, fsync, rename, fsync the directory.
/// The file is created with mode 0600.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_durably_with(path, bytes, None)
}

fn write_durably_with(path: &Path, bytes: &[u8], faults: Option<&FaultPlan>) -> std::io::Result<()> {
    replace_file(path, bytes, faults, true)
}

/// Write `bytes` to `path` through a temp file and a rename (mode 0600); `durable` adds
/// the fsyncs of the file and of its directory.
fn replace_file(path: &Path, bytes: &[u8], faults: Option<&FaultPlan>, durable: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("a file path needs a directory"))?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{file_name}.{}.tmp", duo_journal::new_id()));
    let result = (|| {
        let mut f = step(faults, Step::Create, &tmp, || {
            OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)
        })?;
        if let Some(Fault::Crash) = faults.map(|p| p.before(Step::Write, &tmp)).transpose()?.flatten() {
            // A torn write: half of the bytes reached the file when the process died.
            f.write_all(&bytes[..bytes.len() / 2])?;
            return Err(crash_error());
        }
        f.write_all(bytes)?;
        if durable {
            step(faults, Step::SyncFile, &tmp, || f.sync_all())?;
        }
        drop(f);
        step(faults, Step::Rename, path, || fs::rename(&tmp, path))?;
        if durable {
            step(faults, Step::SyncDir, dir, || File::open(dir)?.sync_all())?;
        }
        Ok(())
    })();
    // A crashed process cleans nothing up.
    if result.is_err() && !faults.is_some_and(FaultPlan::crashed) {
        // Best effort: a failed write must not leave a half-written file under the real
        // name (the rename is atomic) and should not leave a leftover either.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Decrypt an age file, reading the ciphertext as it goes (a file is never held twice in
/// memory, ciphertext and plaintext: a 100k-entry view is ~90 MB) into a buffer sized up
/// front from `size`. With `most`, stop after that many bytes: age checks each 64 KiB chunk
/// as it is read, so what is returned is authentic (only the check that the file goes on to
/// its end is skipped).
fn decrypt_up_to(
    identity: &Identity,
    ciphertext: impl std::io::BufRead,
    size: usize,
    most: Option<usize>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    use std::io::Read;
    out.clear();
    let decryptor = age::Decryptor::new_buffered(ciphertext).map_err(|e| e.to_string())?;
    let reader = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| e.to_string())?;
    out.reserve(most.unwrap_or(size).min(size));
    (reader.take(most.map_or(u64::MAX, |n| n as u64)))
        .read_to_end(out)
        .map_err(|e| e.to_string())?;
    Ok(())
}

impl AgeStore {
    /// Read and decrypt a file, whole or its first `most` bytes. Age authenticates every
    /// chunk: nothing is returned unless all of it (or all of the prefix) decrypted.
    fn read_up_to(&self, name: &str, most: Option<usize>) -> Result<Vec<u8>, StorageError> {
        let mut out = Vec::new();
        self.read_up_to_into(name, most, &mut out)?;
        Ok(out)
    }

    /// [`AgeStore::read_up_to`] of a whole file into `out` (its old contents replaced).
    fn read_into(&self, name: &str, out: &mut Vec<u8>) -> Result<(), StorageError> {
        self.read_up_to_into(name, None, out)
    }

    fn read_up_to_into(&self, name: &str, most: Option<usize>, out: &mut Vec<u8>) -> Result<(), StorageError> {
        let file = File::open(self.path_of(name)).map_err(|e| io(name, e))?;
        let len = file.metadata().map_err(|e| io(name, e))?.len() as usize;
        let reader = std::io::BufReader::with_capacity(1 << 16, file);
        decrypt_up_to(self.identity.as_ref(), reader, len, most, out).map_err(|e| StorageError::Damaged {
            name: name.to_string(),
            reason: if len == 0 {
                "the file is empty".to_string()
            } else {
                format!("cannot decrypt ({e})")
            },
        })
    }

    fn write_sealed(&self, name: &str, bytes: &[u8], durable: bool) -> Result<(), StorageError> {
        let sealed =
            age::encrypt(&self.recipient, bytes).map_err(|e| io(name, std::io::Error::other(e.to_string())))?;
        self.ensure_dirs().map_err(|e| io(name, e))?;
        let path = self.path_of(name);
        if let Some(dir) = path.parent() {
            private_dirs(dir).map_err(|e| io(name, e))?;
        }
        replace_file(&path, &sealed, self.faults(), durable).map_err(|e| io(name, e))
    }

    /// A store in `root` (created on first write) readable with `identity`.
    pub fn new(root: impl Into<PathBuf>, identity: Arc<Identity>) -> Self {
        let recipient = identity.to_public();
        Self {
            root: root.into(),
            identity,
            recipient,
            faults: None,
            chunks: true,
            notice: None,
        }
    }

    /// A directory of named blobs that is not a journal (a home's `local/`): no chunk
    /// directories.
    pub fn blobs(root: impl Into<PathBuf>, identity: Arc<Identity>) -> Self {
        Self {
            chunks: false,
            ..Self::new(root, identity)
        }
    }

    /// The same store, telling a running watcher of every chunk it makes durable (a
    /// datagram to `socket`, [`crate::handoff::notify_written`]): the shared space's store
    /// does, so a write by any command reaches the partner's watcher at once. The notices
    /// carry a writer id, the process id and a count of the stores opened so far in this
    /// process (see [`AgeStore::writer`]), and nothing else.
    pub fn notifying(mut self, socket: PathBuf) -> Self {
        static OPENED: AtomicUsize = AtomicUsize::new(0);
        let writer = format!("{}.{}", std::process::id(), OPENED.fetch_add(1, Ordering::Relaxed));
        self.notice = Some(Arc::new(Notice { socket, writer }));
        self
    }

    /// The writer id this store's notices carry (and its clones'), if it sends any: a
    /// watcher knows its own stores by it.
    pub fn writer(&self) -> Option<&str> {
        self.notice.as_ref().map(|n| n.writer.as_str())
    }

    /// The same store with fault injection (tests): every write, fsync, rename and removal
    /// is counted, and the plan's step crashes or fails.
    pub fn with_faults(mut self, plan: Arc<FaultPlan>) -> Self {
        self.faults = Some(plan);
        self
    }

    fn faults(&self) -> Option<&FaultPlan> {
        self.faults.as_deref()
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds blob `name`.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}{SUFFIX}"))
    }

    /// Where a name from a listing or a problem report is on disk (foreign files keep
    /// their own names; the store's blobs carry the `.age` suffix).
    pub fn display_path(&self, name: &str) -> PathBuf {
        let raw = self.root.join(name.trim_end_matches('/'));
        if raw.exists() || name.starts_with('(') {
            raw
        } else {
            self.path_of(name)
        }
    }

    fn ensure_dirs(&self) -> std::io::Result<()> {
        if !self.chunks {
            return private_dirs(&self.root);
        }
        for d in DIRS {
            private_dirs(&self.root.join(d))?;
        }
        Ok(())
    }

    /// The directory of marks.
    fn marks_dir(&self) -> PathBuf {
        self.root.join(MARKS_DIR)
    }

    fn lock_file(&self) -> Result<File, StorageError> {
        open_lock_file(&self.root.join(LOCK)).map_err(|e| io(LOCK, e))
    }
}

/// Create `dir` and any missing parent with mode 0700: every directory of a home is
/// private (an existing one keeps its mode; [`crate::Home::open`] tightens those).
pub(crate) fn private_dirs(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Open (creating it and its directory if needed, mode 0600) a file used only for `flock`.
pub(crate) fn open_lock_file(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        private_dirs(dir)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

fn classify(dir_label: Option<&str>, entry: &fs::DirEntry, out: &mut Listing) {
    let file_name = entry.file_name().to_string_lossy().into_owned();
    let shown = match dir_label {
        Some(d) => format!("{d}/{file_name}"),
        None => file_name.clone(),
    };
    if file_name.starts_with('.') && file_name.ends_with(".tmp") {
        out.leftovers.push(shown);
    } else if dir_label == Some(duo_journal::PARTS_DIR)
        && let Some(stem) = file_name.strip_suffix(SUFFIX)
        && entry.file_type().is_ok_and(|t| t.is_file())
    {
        // A part of the view is checked against its name when read: no fingerprint, so a
        // listing does not stat its 256 parts (the directory's own entries say it is a file).
        out.files.push(format!("{}/{stem}", duo_journal::PARTS_DIR));
    } else if let Some(stem) = file_name.strip_suffix(SUFFIX)
        && let Ok(meta) = entry.metadata()
        && meta.is_file()
    {
        let name = match dir_label {
            Some(d) => format!("{d}/{stem}"),
            None => stem.to_string(),
        };
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        out.stamps.insert(
            name.clone(),
            format!(
                "{}:{}:{}",
                meta.len(),
                mtime,
                std::os::unix::fs::MetadataExt::ino(&meta)
            ),
        );
        out.files.push(name);
    } else {
        out.foreign.push(shown);
    }
}

impl Storage for AgeStore {
    fn list(&self) -> Result<Listing, StorageError> {
        let mut out = Listing::default();
        let top = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(&self.root.display().to_string(), e)),
        };
        // Marks first: a mark is made only once its chunk is in place, so a chunk whose
        // mark this listing sees is in the chunk directories read after it (an add running
        // meanwhile is not mistaken for a lost chunk; removals need the exclusive lock).
        match fs::read_dir(self.marks_dir()) {
            Ok(rd) => {
                for sub in rd {
                    let sub = sub.map_err(|e| io(MARKS_DIR, e))?;
                    let file_name = sub.file_name().to_string_lossy().into_owned();
                    let empty_file = sub.metadata().is_ok_and(|m| m.is_file() && m.len() == 0);
                    match marked_chunk(&file_name) {
                        Some(chunk) if empty_file => out.marks.push(chunk),
                        _ => out.foreign.push(format!("{MARKS_DIR}/{file_name}")),
                    }
                }
            }
            // No `marks/` yet (a store from before marks), or a file of that name (foreign).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) => {}
            Err(e) => return Err(io(MARKS_DIR, e)),
        }
        for entry in top {
            let entry = entry.map_err(|e| io("(store)", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == LOCK {
                continue;
            }
            let is_marks = name == MARKS_DIR && entry.file_type().is_ok_and(|t| t.is_dir());
            if is_marks {
                continue;
            }
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir && DIRS.contains(&name.as_str()) {
                for sub in fs::read_dir(entry.path()).map_err(|e| io(&name, e))? {
                    let sub = sub.map_err(|e| io(&name, e))?;
                    classify(Some(&name), &sub, &mut out);
                }
            } else if is_dir {
                out.foreign.push(format!("{name}/"));
            } else {
                classify(None, &entry, &mut out);
            }
        }
        out.files.sort();
        out.leftovers.sort();
        out.foreign.sort();
        out.marks.sort();
        Ok(out)
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        self.read_up_to(name, None)
    }

    fn read_prefix(&self, name: &str, most: usize) -> Result<Vec<u8>, StorageError> {
        self.read_up_to(name, Some(most))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.write_sealed(name, bytes, true)
    }

    /// The view: encrypted like every file, but without the fsyncs (a view that a crash
    /// left old or damaged is read again from the chunks, which are durable).
    fn write_cache(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.write_sealed(name, bytes, false)
    }

    fn remove(&self, name: &str) -> Result<(), StorageError> {
        let path = self.path_of(name);
        match step(self.faults(), Step::Remove, &path, || fs::remove_file(&path)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(name, e)),
        }
        if let Some(dir) = path.parent() {
            step(self.faults(), Step::SyncDir, dir, || File::open(dir)?.sync_all()).map_err(|e| io(name, e))?;
        }
        Ok(())
    }

    /// A part of the view that no view names any more: removed without the fsync of its
    /// directory (after a crash it may be back, and the next view written removes it).
    fn remove_cache(&self, name: &str) -> Result<(), StorageError> {
        let path = self.path_of(name);
        match step(self.faults(), Step::Remove, &path, || fs::remove_file(&path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(name, e)),
            _ => Ok(()),
        }
    }

    /// Several threads ([`duo_journal::worker_threads`]) each take the next name, read and
    /// decrypt it into the thread's one buffer (a fresh buffer per blob was most of a
    /// 100k-entry list's page faults) and pass it on.
    fn read_each(&self, names: &[String], each: &duo_journal::EachRead<'_>) {
        let threads = duo_journal::worker_threads().min(names.len());
        let next = AtomicUsize::new(0);
        let work = || {
            let mut buffer = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(i) else { break };
                each(i, self.read_into(name, &mut buffer).map(|()| buffer.as_slice()));
            }
        };
        if threads <= 1 {
            return work();
        }
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(work);
            }
            work();
        });
    }

    fn mark(&self, name: &str) -> Result<(), StorageError> {
        let file = mark_file_name(name).ok_or_else(|| io(name, std::io::Error::other("not a chunk name")))?;
        let dir = self.marks_dir();
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            // A new `marks/` must itself survive a crash.
            Ok(()) => step(self.faults(), Step::SyncDir, &self.root, || {
                File::open(&self.root)?.sync_all()
            })
            .map_err(|e| io(name, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(name, e)),
        }
        let path = dir.join(file);
        step(self.faults(), Step::Create, &path, || {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
        })
        .map_err(|e| io(name, e))?;
        step(self.faults(), Step::SyncDir, &dir, || File::open(&dir)?.sync_all()).map_err(|e| io(name, e))?;
        // The chunk and its mark are durable: a running watcher can pass it on now.
        if let Some(n) = &self.notice {
            crate::handoff::notify_written(&n.socket, &n.writer);
        }
        Ok(())
    }

    fn unmark(&self, names: &[String]) -> Result<(), StorageError> {
        let dir = self.marks_dir();
        let mut removed = false;
        for name in names {
            let Some(file) = mark_file_name(name) else { continue };
            let path = dir.join(file);
            match step(self.faults(), Step::Remove, &path, || fs::remove_file(&path)) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(name, e)),
            }
        }
        // One fsync for all of them, before any chunk is removed.
        if removed {
            step(self.faults(), Step::SyncDir, &dir, || File::open(&dir)?.sync_all()).map_err(|e| io(MARKS_DIR, e))?;
        }
        Ok(())
    }

    fn remove_leftover(&self, name: &str) -> Result<(), StorageError> {
        let path = self.root.join(name);
        match step(self.faults(), Step::Remove, &path, || fs::remove_file(&path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(name, e)),
            _ => Ok(()),
        }
    }

    fn quarantine(&self, name: &str) -> Result<String, StorageError> {
        // Beside the store, not in it: `<home>/quarantine/<store>/<dir>-<file>.<time>.<random>`.
        let from = self.display_path(name);
        let store = self.root.file_name().and_then(|n| n.to_str()).unwrap_or("store");
        let dir = self.root.parent().unwrap_or(&self.root).join("quarantine").join(store);
        private_dirs(&dir).map_err(|e| io(name, e))?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let leaf = from.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let parent = name
            .trim_end_matches('/')
            .split('/')
            .next()
            .filter(|p| DIRS.contains(p) || *p == MARKS_DIR);
        let prefix = parent.map(|p| format!("{p}-")).unwrap_or_default();
        let to = dir.join(format!("{prefix}{leaf}.{stamp}.{}", &duo_journal::new_id()[..8]));
        step(self.faults(), Step::Rename, &to, || fs::rename(&from, &to)).map_err(|e| io(name, e))?;
        for d in [from.parent(), Some(dir.as_path())].into_iter().flatten() {
            step(self.faults(), Step::SyncDir, d, || File::open(d)?.sync_all()).map_err(|e| io(name, e))?;
        }
        Ok(to.display().to_string())
    }

    fn lock(&self, mode: LockMode) -> Result<LockGuard, StorageError> {
        let f = self.lock_file()?;
        match mode {
            LockMode::Shared => f.lock_shared(),
            LockMode::Exclusive => f.lock(),
        }
        .map_err(|e| io(LOCK, e))?;
        Ok(Box::new(f))
    }

    fn try_lock_exclusive(&self) -> Result<Option<LockGuard>, StorageError> {
        let f = self.lock_file()?;
        match f.try_lock() {
            Ok(()) => Ok(Some(Box::new(f))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io(LOCK, e)),
        }
    }
}
