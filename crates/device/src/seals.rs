//! This device's side of seals: the person's keyring (held here, never handed to the CLI),
//! what it writes with, what it remembers of its person's entries, and how they check out
//! ([`audit`], for `duo doctor`).
//!
//! The marks (`duo_journal::Marks`: per entry and field, the highest version of a verified
//! seal this device has seen; whether its person's devices began sealing) are kept in
//! `local/seals.age`, age-encrypted to the device's own key like every local file, and never
//! synced. Every read and every write of a command updates them ([`Checker::remember`]).
//! Losing the file loses only that memory: a rollback to a version this device had seen is
//! then no longer told from the newest (docs/security.md, "Authenticators").

use crate::local::LocalFile;
use crate::{AgeStore, Opened, SyncError};
use duo_journal::{Judge, Keyring, Marks, Storage, View};
use serde::{Deserialize, Serialize};

/// The name of the marks file in `local/` (`local/seals.age`).
pub const MARKS_FILE: &str = "seals";

/// What `local/seals.age` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarksFile {
    pub version: u32,
    /// The person this device wrote its sealing markers for (after an own-device join it
    /// writes them again, for the person it joined).
    pub sealing_for: Option<String>,
    /// The shared space.
    pub space: Marks,
    /// The private notebook.
    pub private: Marks,
    /// For each notebook (space, private), a digest of the view last observed (the chunk
    /// files it reflects and the keys it was checked with): a read of the same view
    /// learns nothing new, and skips checking every entry again.
    #[serde(default)]
    pub observed: [Option<[u8; 16]>; 2],
}

const MARKS_VERSION: u32 = 1;

fn store(o: &Opened) -> AgeStore {
    crate::local::store(&o.home, o.identity.clone())
}

/// A new home's marks file: its documents were created with its sealing markers in them.
pub(crate) fn began(
    home: &crate::Home,
    identity: &std::sync::Arc<age::x25519::Identity>,
    person: &str,
) -> Result<(), SyncError> {
    let mut f = MarksFile {
        version: MARKS_VERSION,
        sealing_for: Some(person.to_string()),
        ..Default::default()
    };
    f.space.began = true;
    f.private.began = true;
    let bytes = postcard::to_allocvec(&f).expect("marks serialize");
    crate::local::store(home, identity.clone())
        .write(MARKS_FILE, &bytes)
        .map_err(|e| duo_journal::JournalError::from(e).into())
}

/// Read the marks file: `Ok(None)` when there is none.
pub fn load(o: &Opened) -> Result<Option<MarksFile>, SyncError> {
    Ok(load_with_added(o)?.map(|(f, _)| f))
}

/// Where [`Checker::note_appended`] leaves what one write noted (`local/seals.d/<id>.age`,
/// small files encrypted like the marks file): an `add` does not read and rewrite the
/// whole marks file, which grows with the journal. The next save of the marks file folds
/// them in and removes them.
const ADDED_DIR: &str = "seals.d";

/// The names (in the local store) of the files appends noted.
fn added_names(o: &Opened) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(o.home.root().join("local").join(ADDED_DIR)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".age")?;
            (!stem.is_empty() && stem.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("{ADDED_DIR}/{stem}"))
        })
        .collect();
    names.sort();
    names
}

/// The marks file with what appends noted since it was written folded in, and the names of
/// those notes. A note that cannot be read is skipped (it held one write's memory, no more).
fn load_with_added(o: &Opened) -> Result<Option<(MarksFile, Vec<String>)>, SyncError> {
    load_with_added_of(o, None)
}

/// [`load_with_added`], keeping only the marks of entries whose id starts with `prefix`
/// when one is given.
fn load_with_added_of(o: &Opened, prefix: Option<&str>) -> Result<Option<(MarksFile, Vec<String>)>, SyncError> {
    let local = store(o);
    let added = added_names(o);
    let base = if local.path_of(MARKS_FILE).exists() {
        Some(read_of(&local, prefix)?)
    } else {
        None
    };
    if base.is_none() && added.is_empty() {
        return Ok(None);
    }
    let mut f = base.unwrap_or_else(|| MarksFile {
        version: MARKS_VERSION,
        ..Default::default()
    });
    for name in &added {
        let Ok(note) = local.read(name) else { continue };
        let Ok(note) = postcard::from_bytes::<MarksFile>(&note) else {
            continue;
        };
        if note.version != MARKS_VERSION {
            continue;
        }
        fold(&mut f, note);
    }
    if let Some(prefix) = prefix {
        for m in [&mut f.space, &mut f.private] {
            m.seen.retain(|id, _| id.starts_with(prefix));
        }
    }
    Ok(Some((f, added)))
}

/// Add what `from` remembers to `into` (the marks only grow: the higher version wins).
fn fold(into: &mut MarksFile, from: MarksFile) {
    for (mine, theirs) in [(&mut into.space, from.space), (&mut into.private, from.private)] {
        mine.began |= theirs.began;
        for (entry, fields) in theirs.seen {
            for (field, v) in fields.iter() {
                mine.note(&entry, field, v);
            }
        }
    }
}

/// Whom the marks file says this device seals for, reading only its first fields (the
/// file holds every entry's versions; opening a home needs just this).
fn sealing_for(o: &Opened) -> Result<Option<Option<String>>, SyncError> {
    let local = store(o);
    let path = local.path_of(MARKS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    // Only the front: the version and the person come first, and the file grows with the
    // journal (6 MB at 100k entries), which every command that opens the home would pay.
    const FRONT: usize = 1 << 10;
    let read = |most| {
        local
            .read_prefix(MARKS_FILE, most)
            .map_err(|e| LocalFile::SealMarks.storage_error(path.clone(), e))
    };
    let front = |bytes: &[u8]| postcard::take_from_bytes::<(u32, Option<String>)>(bytes).map(|(f, _)| f);
    let bytes = read(FRONT)?;
    let parsed = match front(&bytes) {
        // Longer than the first read (a person id is 32 characters): the whole file.
        Err(_) if bytes.len() == FRONT => front(&read(usize::MAX)?),
        parsed => parsed,
    };
    match parsed {
        Ok((MARKS_VERSION, person)) => Ok(Some(person)),
        Ok((version, _)) => {
            Err(LocalFile::SealMarks.damaged(path, format!("written by another duo (version {version})")))
        }
        Err(e) => Err(LocalFile::SealMarks.damaged(path, format!("not duo's seal marks: {e}"))),
    }
}

/// Read the marks file of the local store `local`; damage is a [`LocalFile::SealMarks`]
/// error (`duo doctor` names it, `--repair` sets it aside).
pub(crate) fn read(local: &AgeStore) -> Result<MarksFile, SyncError> {
    read_of(local, None)
}

/// [`read`], keeping only the marks of the entries whose id starts with `prefix` when one
/// is given (the others are decoded and dropped, without building them).
fn read_of(local: &AgeStore, prefix: Option<&str>) -> Result<MarksFile, SyncError> {
    let path = local.path_of(MARKS_FILE);
    let bytes = local
        .read(MARKS_FILE)
        .map_err(|e| LocalFile::SealMarks.storage_error(path.clone(), e))?;
    let decoded = match prefix {
        None => postcard::from_bytes(&bytes).map_err(|e| e.to_string()),
        Some(prefix) => decode_of(&bytes, prefix),
    };
    let f: MarksFile =
        decoded.map_err(|e| LocalFile::SealMarks.damaged(path.clone(), format!("not duo's seal marks: {e}")))?;
    if f.version != MARKS_VERSION {
        return Err(LocalFile::SealMarks.damaged(path, format!("written by another duo (version {})", f.version)));
    }
    Ok(f)
}

/// A marks file decoded field by field (postcard writes a struct's fields in order), with
/// only the seen marks of entries whose id starts with `prefix`.
fn decode_of(bytes: &[u8], prefix: &str) -> Result<MarksFile, String> {
    use serde::de::{DeserializeSeed, MapAccess, Visitor};
    use std::collections::BTreeMap;
    type Seen = BTreeMap<String, duo_journal::Versions>;
    /// The seen map, keeping the entries of `prefix`.
    struct SeenOf<'p>(&'p str);
    impl<'de> DeserializeSeed<'de> for SeenOf<'_> {
        type Value = Seen;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Seen, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for SeenOf<'_> {
        type Value = Seen;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("seen marks")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Seen, A::Error> {
            let mut out = Seen::new();
            while let Some(id) = m.next_key::<&'de str>()? {
                if id.starts_with(self.0) {
                    out.insert(id.to_string(), m.next_value()?);
                } else {
                    m.next_value::<Skipped>()?;
                }
            }
            Ok(out)
        }
    }
    /// An entry's fields → versions, read and dropped.
    struct Skipped;
    impl<'de> Deserialize<'de> for Skipped {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Skipped, D::Error> {
            d.deserialize_map(Skipped)
        }
    }
    impl<'de> Visitor<'de> for Skipped {
        type Value = Skipped;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("fields and versions")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Skipped, A::Error> {
            while m.next_entry::<&'de str, u64>()?.is_some() {}
            Ok(Skipped)
        }
    }
    let e = |e: postcard::Error| e.to_string();
    let (version, rest) = postcard::take_from_bytes::<u32>(bytes).map_err(e)?;
    let (sealing_for, rest) = postcard::take_from_bytes::<Option<String>>(rest).map_err(e)?;
    let mut rest = rest;
    let mut marks = [Marks::default(), Marks::default()];
    for m in &mut marks {
        let (began, after) = postcard::take_from_bytes::<bool>(rest).map_err(e)?;
        let mut de = postcard::Deserializer::from_bytes(after);
        let seen = SeenOf(prefix).deserialize(&mut de).map_err(e)?;
        rest = de.finalize().map_err(e)?;
        *m = Marks { began, seen };
    }
    // Absent in files from before it (`#[serde(default)]`).
    let observed = postcard::take_from_bytes::<[Option<[u8; 16]>; 2]>(rest)
        .map(|(o, _)| o)
        .unwrap_or_default();
    let [space, private] = marks;
    Ok(MarksFile {
        version,
        sealing_for,
        space,
        private,
        observed,
    })
}

/// Write the marks file, keeping the highest of what is there and `f` (another duo
/// process may have written meanwhile).
pub fn save(o: &Opened, f: &MarksFile) -> Result<(), SyncError> {
    write(o, f, true)
}

fn write(o: &Opened, f: &MarksFile, merge: bool) -> Result<(), SyncError> {
    let mut merged = f.clone();
    // Without `merge` the file is written as it is, and what appends noted is dropped too
    // (after a repair, only what the notebook shows now is remembered).
    let mut folded = if merge { Vec::new() } else { added_names(o) };
    if merge && let Ok(Some((there, added))) = load_with_added(o) {
        folded = added;
        merged.sealing_for = merged.sealing_for.or(there.sealing_for.clone());
        // What another process remembered is added; what this one observed stays observed
        // (the marks only grow), so `observed` stays this process's.
        fold(&mut merged, there);
    }
    merged.version = MARKS_VERSION;
    let bytes = postcard::to_allocvec(&merged).expect("marks serialize");
    let local = store(o);
    local
        .write(MARKS_FILE, &bytes)
        .map_err(|e| SyncError::from(duo_journal::JournalError::from(e)))?;
    // What the appends noted is in the file now (a note written meanwhile is not in
    // `folded`, and stays for the next save).
    for name in folded {
        let _ = local.remove(&name);
    }
    Ok(())
}

/// Checks this person's entries on this device: their keyring and this device's marks.
/// It gives out judges ([`Checker::judge`]), never the keys.
pub struct Checker {
    keyring: Keyring,
    marks: MarksFile,
    /// The marks file could not be read (it is then treated as empty, and not written over).
    pub damaged: Option<String>,
    changed: bool,
}

impl Checker {
    /// The judge of one notebook.
    pub fn judge(&self, private: bool) -> Judge<'_> {
        Judge::new(
            &self.keyring,
            if private {
                &self.marks.private
            } else {
                &self.marks.space
            },
        )
    }

    /// What identifies `view` for [`MarksFile::observed`].
    fn digest(&self, view: &View) -> [u8; 16] {
        self.digest_of(&view.covers)
    }

    /// What identifies a view that covers `covers` for [`MarksFile::observed`].
    fn digest_of(&self, covers: &std::collections::BTreeSet<String>) -> [u8; 16] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for name in covers {
            h.update(name.as_bytes());
            h.update([0]);
        }
        for (k, _) in self.keyring.keys() {
            h.update(k.id().to_string().as_bytes());
        }
        let d = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }

    /// Whether this device last observed exactly `view` (the same files, with the same
    /// keys): then [`Checker::observe`] would learn nothing from it, and a read that looks at
    /// a part of it ([`duo_journal::Journal::read_part_of`]) misses nothing the marks need.
    pub fn has_observed(&self, view: &View, private: bool) -> bool {
        self.marks.observed[usize::from(private)] == Some(self.digest(view))
    }

    /// Remember what `view` (of the private notebook when `private`) shows verified.
    pub fn observe(&mut self, view: &View, private: bool) {
        let digest = self.digest(view);
        let slot = usize::from(private);
        if self.marks.observed[slot] == Some(digest) {
            return;
        }
        self.marks.observed[slot] = Some(digest);
        self.changed = true;
        let after = self.judge(private).observe(view);
        let slot = if private {
            &mut self.marks.private
        } else {
            &mut self.marks.space
        };
        if *slot != after {
            *slot = after;
            self.changed = true;
        }
    }

    /// [`Checker::observe`] of `now`, a view that differs from one this device observed
    /// only by appended `adds/` (a head read with them on top, [`View::pending`]): when
    /// the view last observed covered what `now` covers but some of the `pending` files,
    /// only what those files add (`appended`, all of them: what was observed already is not
    /// checked again) is checked, and `now` is taken as observed. The same marks as a whole
    /// observe, since nothing else changed. False (and nothing changed) otherwise.
    pub fn observe_appended(
        &mut self,
        pending: &std::collections::BTreeSet<String>,
        appended: &View,
        now: &View,
        private: bool,
    ) -> bool {
        // The adds pile up to 8 before a read folds them into the stored view: which of
        // them the last observed view covered is found by trying each subset.
        const MOST: usize = 10;
        let slot = usize::from(private);
        let Some(observed) = self.marks.observed[slot] else {
            return false;
        };
        let pending: Vec<&String> = pending.iter().collect();
        if pending.len() > MOST || pending.iter().any(|p| !now.covers.contains(*p)) {
            return false;
        }
        let base: std::collections::BTreeSet<String> =
            (now.covers.iter()).filter(|c| !pending.contains(c)).cloned().collect();
        let seen = (0u32..1 << pending.len()).any(|subset| {
            let mut covers = base.clone();
            covers.extend(
                (0..pending.len())
                    .filter(|i| subset & 1 << i != 0)
                    .map(|i| pending[i].clone()),
            );
            self.digest_of(&covers) == observed
        });
        if !seen {
            return false;
        }
        let after = self.judge(private).observe(appended);
        self.marks.observed[slot] = Some(self.digest(now));
        if private {
            self.marks.private = after;
        } else {
            self.marks.space = after;
        }
        self.changed = true;
        true
    }

    /// [`Checker::observe`], then write the marks file if anything changed. A failure to
    /// write is returned, and loses nothing but memory.
    pub fn remember(&mut self, o: &Opened, view: &View, private: bool) -> Result<(), SyncError> {
        self.observe(view, private);
        self.save(o)
    }

    /// Remember what was just appended (`appended`: a view of the new chunk alone, such as
    /// one `duo journal add` wrote) without reading the notebook or the marks file: a small
    /// note beside the marks file, folded in by the next save. The view last observed is
    /// not changed, so the next read checks what came since, this append included.
    pub fn note_appended(&self, o: &Opened, appended: &View, private: bool) -> Result<(), SyncError> {
        let noted = Judge::new(&self.keyring, &Marks::default()).observe(appended);
        let mut f = MarksFile {
            version: MARKS_VERSION,
            ..Default::default()
        };
        if private {
            f.private.seen = noted.seen;
        } else {
            f.space.seen = noted.seen;
        }
        let bytes = postcard::to_allocvec(&f).expect("marks serialize");
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| SyncError::Io {
            path: o.home.root().join("local").join(ADDED_DIR),
            source: std::io::Error::other(e.to_string()),
        })?;
        store(o)
            .write(&format!("{ADDED_DIR}/{}", duo_journal::hex(&id)), &bytes)
            .map_err(|e| duo_journal::JournalError::from(e).into())
    }

    /// Remember a notebook as `view` shows it now, and nothing higher (after `duo doctor
    /// --repair` set damaged files aside: what they held is accepted as lost, not taken
    /// for a device's doing), and write the marks file.
    pub fn accept_current(&mut self, o: &Opened, view: &View, private: bool) -> Result<(), SyncError> {
        let slot = if private {
            &mut self.marks.private
        } else {
            &mut self.marks.space
        };
        let fresh = Marks {
            began: slot.began,
            ..Default::default()
        };
        *slot = Judge::new(&self.keyring, &fresh).observe(view);
        self.marks.observed[usize::from(private)] = None;
        if self.damaged.is_none() {
            write(o, &self.marks, false)?;
        }
        Ok(())
    }

    /// Write the marks file if anything changed (never over a damaged one).
    pub fn save(&mut self, o: &Opened) -> Result<(), SyncError> {
        if self.changed && self.damaged.is_none() {
            save(o, &self.marks)?;
            self.changed = false;
        }
        Ok(())
    }
}

impl Opened {
    /// A checker of this person's entries with no marks loaded: enough to note what an
    /// append wrote ([`Checker::note_appended`]), not to judge what a notebook shows.
    pub fn checker_keys(&self) -> Checker {
        Checker {
            keyring: self.keyring.clone(),
            marks: MarksFile::default(),
            damaged: None,
            changed: false,
        }
    }

    /// A checker of this person's entries: their keyring and this device's marks.
    pub fn checker(&self) -> Checker {
        self.checker_of(None)
    }

    /// [`Opened::checker`] for the entries whose id starts with `prefix` alone (what
    /// `journal show` judges): the marks of the other entries are not kept, so loading them
    /// costs little at 100k entries. What it saves is merged into the file as always (the
    /// marks only grow), so nothing of the others is lost.
    pub fn checker_for(&self, prefix: &str) -> Checker {
        self.checker_of(Some(prefix))
    }

    fn checker_of(&self, prefix: Option<&str>) -> Checker {
        let loaded = load_with_added_of(self, prefix).map(|f| f.map(|(f, _)| f));
        let (marks, damaged) = match loaded {
            Ok(f) => (f.unwrap_or_default(), None),
            Err(e) => (MarksFile::default(), Some(e.to_string())),
        };
        Checker {
            keyring: self.keyring.clone(),
            marks,
            damaged,
            changed: false,
        }
    }

    /// What this device writes with: every entry and record written through the library
    /// with it is sealed with the person's current key.
    pub fn sealer(&self) -> duo_journal::Sealer<'_> {
        self.keyring.sealer(&self.config.device_id)
    }

    /// The public short name of the key this device seals with now.
    pub fn key_id(&self) -> duo_journal::KeyId {
        self.keyring.current().id()
    }

    /// This person's practices on this device (prompts, `today`, the check-in), writing
    /// with [`Opened::sealer`] and showing through `checker`.
    pub fn practices<'a>(&'a self, checker: &'a Checker) -> duo_journal::practice::Practices<'a, AgeStore> {
        duo_journal::practice::Practices::new(&self.space, &self.private, self.sealer(), checker.judge(false))
    }
}

/// This device begins sealing, once: in both notebooks, its sealing marker (and the person's
/// first-format entries its keys confirm, sealed again), then the marks file, which says it
/// was done. A notebook that cannot be changed now (damaged, or written by a newer duo) is
/// left for the next time the home is opened.
pub(crate) fn begin(o: &Opened, now: i64) -> Result<(), SyncError> {
    match sealing_for(o) {
        Ok(Some(person)) if person.as_ref() == Some(&o.config.person_id) => return Ok(()),
        // A damaged marks file is reported by `duo doctor`, and not written over.
        Err(_) => return Ok(()),
        _ => {}
    }
    let by = o.sealer();
    let mut f = MarksFile {
        sealing_for: Some(o.config.person_id.clone()),
        ..Default::default()
    };
    for (journal, marks) in [(&o.space, &mut f.space), (&o.private, &mut f.private)] {
        if journal.update(|doc| doc.begin_sealing(&by, now)).is_err() {
            return Ok(());
        }
        marks.began = true;
    }
    save(o, &f)
}

/// How this person's entries in a notebook check out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Audit {
    pub authentic: usize,
    /// Written before authenticators: neither confirmed nor refuted.
    pub unsealed: usize,
    /// Ids of entries covered only by seals this device cannot confirm yet.
    pub unsettled: Vec<String>,
    /// Ids of entries claiming this person that are not theirs.
    pub not_yours: Vec<String>,
    /// Why each of them is not theirs.
    pub why: std::collections::BTreeMap<String, duo_journal::Why>,
    /// Ids of this person's entries that were removed, or given another author, by a device
    /// that is not theirs (no sealed deletion).
    pub removed: Vec<String>,
}

/// Check every entry of `view` that claims this person as author.
pub fn audit(judge: &duo_journal::Judge<'_>, view: &duo_journal::View) -> Audit {
    use duo_journal::Authenticity as A;
    let mut a = Audit::default();
    for s in judge.shown(view) {
        match s.check {
            Some(A::Authentic) => a.authentic += 1,
            Some(A::Unsealed) => a.unsealed += 1,
            Some(A::Unsettled) => a.unsettled.push(s.entry.id.clone()),
            Some(A::NotYours(why)) => {
                a.not_yours.push(s.entry.id.clone());
                a.why.insert(s.entry.id.clone(), why);
            }
            None => {}
        }
    }
    a.removed = judge.removed(view);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(observed: bool) -> MarksFile {
        let mut f = MarksFile {
            version: MARKS_VERSION,
            sealing_for: Some("p1".into()),
            ..Default::default()
        };
        f.space.began = true;
        for (id, field, v) in [
            ("a7c0", "body", 3),
            ("a7c0", "tag:walks", 1),
            ("a7ff", "body", 2),
            ("b1", "body", 9),
        ] {
            f.space.note(id, field, v);
            f.private.note(&format!("{id}0"), field, v + 1);
        }
        if observed {
            f.observed = [Some([7; 16]), None];
        }
        f
    }

    #[test]
    fn a_marks_file_read_for_one_prefix_keeps_that_prefix_and_everything_else_but_other_entries() {
        for observed in [true, false] {
            let whole = file(observed);
            let bytes = postcard::to_allocvec(&whole).unwrap();
            let mut want = whole.clone();
            for m in [&mut want.space, &mut want.private] {
                m.seen.retain(|id, _| id.starts_with("a7"));
            }
            assert_eq!(decode_of(&bytes, "a7").unwrap(), want);
            assert_eq!(decode_of(&bytes, "a7").unwrap().space.seen.len(), 2);
            assert_eq!(decode_of(&bytes, "").unwrap(), whole, "every id starts with \"\"");
            assert!(decode_of(&bytes, "ff").unwrap().space.seen.is_empty());
        }
        // A file from before `observed` was added: read as none observed.
        let whole = file(false);
        let mut bytes = postcard::to_allocvec(&whole).unwrap();
        bytes.truncate(bytes.len() - 2);
        assert_eq!(decode_of(&bytes, "a7").unwrap().observed, [None, None]);
        // Damage is an error, never a panic.
        for cut in [0, 1, 5, 12] {
            assert!(decode_of(&bytes[..cut.min(bytes.len())], "a7").is_err(), "{cut}");
        }
    }

    /// A view observed, then `adds/` appended on top: the next read observes what they add
    /// alone when the view it last observed lacked only some of them, and not otherwise.
    #[test]
    fn what_adds_appended_on_top_of_an_observed_view_add_is_observed_alone() {
        use std::collections::BTreeSet;
        let checker = |observed: &[&str]| {
            let mut c = Checker {
                keyring: duo_journal::Keyring::new("p1", duo_journal::SealKey::from_bytes([7; 32])),
                marks: MarksFile::default(),
                damaged: None,
                changed: false,
            };
            let covers: BTreeSet<String> = observed.iter().map(|s| s.to_string()).collect();
            c.marks.observed[0] = Some(c.digest_of(&covers));
            c
        };
        let view = |covers: &[&str]| {
            let mut v = View::default();
            v.covers = covers.iter().map(|s| s.to_string()).collect();
            v
        };
        let set = |names: &[&str]| -> BTreeSet<String> { names.iter().map(|s| s.to_string()).collect() };
        let appended = View::default();

        // Observed before either add, or after the first: both are observed now.
        for observed in [&["s1", "c1"][..], &["s1", "c1", "a1"]] {
            let mut c = checker(observed);
            let now = view(&["s1", "c1", "a1", "a2"]);
            assert!(c.observe_appended(&set(&["a1", "a2"]), &appended, &now, false));
            assert!(c.has_observed(&now, false) && c.changed);
        }
        // Something else changed too (a file the observed view did not cover that is not
        // pending), the other notebook, a pending file the view does not cover, or nothing
        // observed: a whole read.
        let now = view(&["s1", "c1", "c2", "a1"]);
        let mut c = checker(&["s1", "c1"]);
        assert!(!c.observe_appended(&set(&["a1"]), &appended, &now, false));
        assert!(!c.observe_appended(&set(&["a1", "c2"]), &appended, &now, true));
        assert!(!c.observe_appended(&set(&["a9"]), &appended, &view(&["s1", "c1"]), false));
        assert!(!c.has_observed(&now, false) && !c.changed, "nothing changed");
        let mut none = checker(&[]);
        none.marks.observed[0] = None;
        assert!(!none.observe_appended(&set(&["a1"]), &appended, &view(&["a1"]), false));
    }
}
