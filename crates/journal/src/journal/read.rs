//! Reading a journal: its view (rebuilt from the chunks when stale or damaged), the
//! whole document, and a document kept in memory brought up to date.

use super::*;
use crate::view::{Part, Parts};
use std::collections::BTreeMap;

impl<S: Storage> Journal<S> {
    /// Read a chunk file and check that its contents are what its name (their SHA-256)
    /// says. `Ok(Err(problem))` for a damaged or missing file; `Err` only when the store
    /// itself fails.
    pub(super) fn read_chunk(&self, name: &str) -> Result<std::result::Result<Vec<u8>, Problem>> {
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
    /// are simply rebuilt); a view that is not a view (its head or a part) is reported in
    /// `problems`.
    pub(super) fn stored_view(&self, problems: &mut Vec<Problem>) -> Result<Option<View>> {
        let Some(view) = self.read_head(problems)? else {
            return Ok(None);
        };
        self.with_parts(view, problems)
    }

    /// `view`, a stored view's head, with its parts read in.
    fn with_parts(&self, mut view: View, problems: &mut Vec<Problem>) -> Result<Option<View>> {
        match self.read_parts(view.part_names())? {
            Ok(parts) => {
                view.join(parts);
                Ok(Some(view))
            }
            // A part that is gone: a cache removed, rebuilt without comment like the head.
            Err(None) => Ok(None),
            Err(Some(reason)) => {
                problems.push(Problem {
                    name: "view".into(),
                    reason,
                });
                Ok(None)
            }
        }
    }

    /// The stored view's head alone: what it covers and its membership part, without
    /// what its parts hold. `None` when it cannot be read.
    pub(super) fn stored_head(&self) -> Option<View> {
        self.read_head(&mut Vec::new()).ok().flatten()
    }

    /// The stored view's head ([`View::decode_head`]); `Ok(None)` as for [`Journal::stored_view`].
    fn read_head(&self, problems: &mut Vec<Problem>) -> Result<Option<View>> {
        let damaged = |reason| Problem {
            name: "view".into(),
            reason,
        };
        match self.storage.read("view") {
            Ok(bytes) => match View::decode_head(&bytes) {
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

    /// Read and decode the parts `names` (by bucket), each checked against its name (the
    /// SHA-256 of its bytes) and its bucket, several at once where the store can.
    /// `Ok(Err(Some(why)))` names the first part that is damaged, `Ok(Err(None))` says one
    /// is gone; `Err` only when the store fails.
    fn read_parts(&self, names: &BTreeMap<u8, String>) -> Result<std::result::Result<Vec<Part>, Option<String>>> {
        self.read_parts_with(names, &|_, part| part)
    }

    /// [`Journal::read_parts`], each part handed to `then` with its bucket as soon as it is
    /// decoded (on the thread that read it), and what `then` made of it kept instead.
    fn read_parts_with<T: Send>(
        &self,
        names: &BTreeMap<u8, String>,
        then: &(dyn Fn(u8, Part) -> T + Sync),
    ) -> Result<std::result::Result<Vec<T>, Option<String>>> {
        use std::sync::Mutex;
        let (buckets, names): (Vec<u8>, Vec<String>) = names.iter().map(|(b, n)| (*b, n.clone())).unzip();
        type Slot<T> = Option<std::result::Result<std::result::Result<T, String>, StorageError>>;
        let slots: Vec<Mutex<Slot<T>>> = names.iter().map(|_| Mutex::new(None)).collect();
        self.storage.read_each(&names, &|i, read| {
            let part = read.map(|bytes| {
                let expected = names[i].rsplit('/').next().unwrap_or_default();
                if crate::hex(&Sha256::digest(bytes)) != expected {
                    return Err("its contents do not match its name (altered or truncated)".to_string());
                }
                Part::decode(bytes, buckets[i]).map(|part| then(buckets[i], part))
            });
            if let Ok(mut slot) = slots[i].lock() {
                *slot = Some(part);
            }
        });
        let mut parts = Vec::with_capacity(names.len());
        for (name, slot) in names.iter().zip(slots) {
            let why = match slot.into_inner().ok().flatten() {
                Some(Ok(Ok(part))) => {
                    parts.push(part);
                    continue;
                }
                Some(Ok(Err(reason))) => reason,
                Some(Err(e)) if e.is_not_found() => return Ok(Err(None)),
                Some(Err(StorageError::Damaged { reason, .. })) => reason,
                Some(Err(e)) => return Err(e.into()),
                None => "not read".to_string(),
            };
            return Ok(Err(Some(format!("its part {name} cannot be used: {why}"))));
        }
        Ok(Ok(parts))
    }

    /// The stored view as it is (its head and its parts), neither checked against the files
    /// nor brought up to date: `None` when there is none or it cannot be read. For tests and
    /// diagnostics; a read uses [`Journal::read`].
    pub fn stored(&self) -> Result<Option<View>> {
        let _lock = self.storage.lock(LockMode::Shared)?;
        self.stored_view(&mut Vec::new())
    }

    /// Chunks the current view lists, or that have a mark, but that are gone: a lost
    /// `adds/` chunk is otherwise invisible (nothing depends on it), and building on the
    /// store would make the loss permanent.
    pub(super) fn missing_from_view(&self, files: &Files) -> Vec<Problem> {
        missing(files, self.stored_head().as_ref())
    }

    /// Load these chunk files into `doc`, each checked against its name: the names loaded,
    /// and the files that could not be used. `Err` only when the store itself fails.
    fn load_into<'a>(
        &self,
        doc: &mut SpaceDoc,
        names: impl IntoIterator<Item = &'a String>,
    ) -> Result<(Vec<String>, Vec<Problem>)> {
        let (mut loaded, mut problems) = (Vec::new(), Vec::new());
        for name in names {
            match self.read_chunk(name)? {
                Ok(bytes) => match doc.load_more(&bytes) {
                    Ok(()) => loaded.push(name.clone()),
                    Err(e) => problems.push(Problem {
                        name: name.clone(),
                        reason: format!("not a valid automerge chunk ({e})"),
                    }),
                },
                Err(p) => problems.push(p),
            }
        }
        Ok((loaded, problems))
    }

    /// Load every chunk into one document, collecting the files that could not be used.
    pub(super) fn load_all(&self, chunks: &BTreeSet<String>) -> Result<(SpaceDoc, BTreeSet<String>, Vec<Problem>)> {
        let mut doc = SpaceDoc::new();
        // Snapshots first: loading the bulk in one go is much faster than change by change.
        let ordered = chunks
            .iter()
            .filter(|n| n.starts_with("snapshots/"))
            .chain(chunks.iter().filter(|n| !n.starts_with("snapshots/")));
        let (loaded, mut problems) = self.load_into(&mut doc, ordered)?;
        let loaded: BTreeSet<String> = loaded.into_iter().collect();
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
        let Some(view) = self.read_head(&mut Vec::new())? else {
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
        if !whole {
            return Ok(None);
        }
        self.with_parts(view, &mut Vec::new())
    }

    /// [`Journal::peek_view`] of the membership part only ([`View::decode_members`]: its
    /// entries, replies and boundaries' changes are empty), read from the front of the
    /// stored view without decrypting the rest. What a running watcher and the opening of a
    /// home ask for after every write and sync, at a cost that does not grow with the entries.
    pub fn peek_members(&self) -> Result<Option<View>> {
        let _lock = self.storage.lock(LockMode::Shared)?;
        let files = self.files()?;
        Ok(self.front_of_view(&files).map(|(view, _)| view))
    }

    /// The membership part of the journal, as [`Journal::read`] would give it but with
    /// entries, replies and boundaries' changes left out: from the front of the stored view
    /// when it reflects every file but appended `adds/` (read on top of it), else from a
    /// whole read.
    pub fn read_members(&self) -> Result<View> {
        let quick = {
            let _lock = self.storage.lock(LockMode::Shared)?;
            let files = self.files()?;
            match self.front_of_view(&files) {
                Some((view, adds)) if adds.is_empty() => Some(view),
                Some((mut view, adds)) => {
                    let mut extra = SpaceDoc::new();
                    let (loaded, problems) = self.load_into(&mut extra, &adds)?;
                    (problems.is_empty() && !extra.has_missing_deps())
                        .then(|| {
                            let mut c = extra.contents();
                            c.entries.clear();
                            c.deleted.clear();
                            c.acks.clear();
                            view.merge_additions(c, loaded).then_some(view)
                        })
                        .flatten()
                }
                None => None,
            }
        };
        match quick {
            Some(view) if view.schema <= crate::SCHEMA_VERSION => Ok(view),
            _ => Ok(self.read()?.view),
        }
    }

    /// What [`Journal::read`] would report in [`Read::problems`], without reading the entries
    /// when the stored view is current (its front says which files it covers): foreign
    /// files, and appended `adds/` files it does not cover that cannot be read. Otherwise
    /// (the view is behind, damaged, or lists a file that is gone) a whole read answers.
    pub fn problems(&self) -> Result<Vec<Problem>> {
        let quick = {
            let _lock = self.storage.lock(LockMode::Shared)?;
            let files = self.files()?;
            match self.front_of_view(&files) {
                Some((_, adds)) => {
                    let mut problems = foreign(&files);
                    problems.extend(self.load_into(&mut SpaceDoc::new(), &adds)?.1);
                    Some(problems)
                }
                None => None,
            }
        };
        match quick {
            Some(problems) => Ok(problems),
            None => Ok(self.read()?.problems),
        }
    }

    /// The front of the stored view ([`View::decode_members`]) when it is there, current in
    /// the files it covers (none gone or changed, nothing lost), readable, and reflects every
    /// file but appended `adds/`; with those `adds/` files.
    fn front_of_view(&self, files: &Files) -> Option<(View, Vec<String>)> {
        const FRONT: usize = 1 << 16;
        if !files.has_view {
            return None;
        }
        let bytes = self.storage.read_prefix("view", FRONT).ok()?;
        let view = match View::decode_members(&bytes) {
            Some(v) => v,
            // A membership part longer than the first read: the whole file.
            None if bytes.len() == FRONT => View::decode_members(&self.storage.read("view").ok()?)?,
            None => return None,
        };
        let adds = adds_on_top(files, &view)?;
        Some((view, adds))
    }

    /// [`Journal::read`] of the entries whose id starts with `prefix` (two or more lowercase
    /// hex digits) alone, with their replies, status changes and lifts, and everything the
    /// head of the view holds (the membership part, which files it reflects): the head and
    /// the one part of that prefix, and the appended `adds/` files the view does not cover
    /// yet read on top, as a whole read would. What `journal show` needs, at a cost that
    /// does not grow with the journal ([`Journal::current_head`], then that one part). `None`
    /// when that is not enough: the stored view is missing, damaged or behind (a whole read
    /// brings it up to date), or `prefix` is not hex. The view returned is partial: it is
    /// never stored.
    pub fn read_part_of(&self, prefix: &str) -> Result<Option<Read>> {
        if prefix.len() < 2 || !crate::is_lower_hex(prefix) {
            return Ok(None);
        }
        let Some(head) = self.current_head()? else {
            return Ok(None);
        };
        let bucket = crate::view::bucket(prefix);
        let view = match head.view.part_names().get(&bucket) {
            Some(name) => {
                let _lock = self.storage.lock(LockMode::Shared)?;
                let names = BTreeMap::from([(bucket, name.clone())]);
                match self.read_parts_with(&names, &|bucket, part| head.view.with_part(bucket, Some(part)))? {
                    Ok(mut views) => views.pop().flatten(),
                    Err(_) => None,
                }
            }
            // No part yet: what the appended `adds/` put in it, if anything.
            None => head.view.with_part(bucket, None),
        };
        Ok(view.map(|view| Read {
            view,
            problems: head.problems,
        }))
    }

    /// The stored view's head, when the stored view is exactly current: it covers every
    /// chunk file as it is now, and no `adds/` file is appended on top. What
    /// [`Journal::each_part`] reads the journal part by part from; its problems are the
    /// foreign files a whole read names. `None` otherwise: a whole [`Journal::read`] brings
    /// the view up to date.
    pub fn current_head(&self) -> Result<Option<Read>> {
        let _lock = self.storage.lock(LockMode::Shared)?;
        let files = self.files()?;
        if !files.has_view {
            return Ok(None);
        }
        let Some(mut view) = self.read_head(&mut Vec::new())? else {
            return Ok(None);
        };
        let Some(adds) = adds_on_top(&files, &view) else {
            return Ok(None);
        };
        view.parts.partial = true;
        if !adds.is_empty() {
            let mut extra = SpaceDoc::new();
            let (loaded, damaged) = self.load_into(&mut extra, &adds)?;
            if !damaged.is_empty() || extra.has_missing_deps() || !view.merge_pending(extra.contents(), loaded) {
                return Ok(None);
            }
        }
        checked(Read {
            view,
            problems: foreign(&files),
        })
        .map(Some)
    }

    /// Every part of the stored view whose head is `head` (from [`Journal::current_head`],
    /// as the caller may have annotated it), each handed to `each` as `head` with that
    /// part's contents: what a reader of every entry (`journal list`, `search`) needs,
    /// without ever holding more than a few parts' entries in memory. Parts are read on
    /// several threads, so `each` runs on several at once; what it returns comes back in
    /// the order of the parts. `None` when a part is missing or damaged (a whole read
    /// rebuilds the view, and names the damage).
    pub fn each_part<T: Send>(&self, head: &View, each: &(dyn Fn(&View) -> T + Sync)) -> Result<Option<Vec<T>>> {
        let _lock = self.storage.lock(LockMode::Shared)?;
        let Ok(done) = self.read_parts_with(head.part_names(), &|bucket, part| {
            head.with_part(bucket, Some(part)).map(|view| each(&view))
        })?
        else {
            return Ok(None);
        };
        let Some(mut done) = done.into_iter().collect::<Option<Vec<T>>>() else {
            return Ok(None);
        };
        // What the `adds/` on top put in buckets with no part yet.
        for bucket in head.pending_buckets() {
            if !head.part_names().contains_key(&bucket) {
                let Some(view) = head.with_part(bucket, None) else {
                    return Ok(None);
                };
                done.push(each(&view));
            }
        }
        Ok(Some(done))
    }

    /// Read the journal. Damaged files are reported in [`Read::problems`]; everything else
    /// is still returned. Only an I/O failure of the store itself is an error.
    pub fn read(&self) -> Result<Read> {
        let lock = self.storage.lock(LockMode::Shared)?;
        let files = self.files()?;
        let mut problems = foreign(&files);
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
        // A view that is whole but behind: read on top of it only what changed since.
        let mut behind = None;
        if let Some(mut view) = view {
            let uncovered = uncovered(&files, &view);
            // A covered file that changed since the view was written (truncated, emptied,
            // overwritten) must be read again: only a rebuild notices what is wrong with it.
            let changed = view.covers.iter().any(|n| files.stamps.get(n) != view.stamps.get(n));
            let additive = !any_missing && !changed && uncovered.iter().all(|n| kind_of(n) == Some(FileKind::Add));
            if additive {
                if uncovered.is_empty() {
                    return checked(Read { view, problems });
                }
                let mut extra = SpaceDoc::new();
                let (names, damaged) = self.load_into(&mut extra, &uncovered)?;
                problems.extend(damaged);
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
            if !any_missing && !changed {
                behind = Some((view.contents, view.parts));
            }
        }
        // Rebuild from the chunks.
        let (mut doc, loaded, load_problems) = self.load_all(&files.chunks)?;
        for p in load_problems {
            if !problems.iter().any(|q| q.name == p.name) {
                problems.push(p);
            }
        }
        let since = behind
            .as_ref()
            .and_then(|(c, _)| c.records.heads_within(doc.automerge().document()));
        let (contents, parts) = match (behind, since) {
            (Some((mut c, parts)), Some(since)) if problems.is_empty() => {
                let touched = doc.refresh_contents(&mut c, &since);
                (c, parts.after(touched))
            }
            _ => (doc.contents_with_history(known), Parts::default()),
        };
        let mut view = View::new(contents, loaded.clone());
        view.parts = parts;
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
                    let (fresh, problems) = self.load_into(doc, &new)?;
                    loaded.extend(fresh);
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

    /// Contents of the whole document (slow path; for tests and checks).
    pub fn contents(&self) -> Result<Contents> {
        Ok(self.load()?.contents_with_history(None))
    }
}
