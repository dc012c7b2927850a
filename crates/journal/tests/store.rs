//! `Journal` over `MemStorage`, and over wrappers of it that count reads or inject a crash
//! at the Nth write or remove. Real automerge documents throughout.

mod support;

use duo_journal::{
    COMPACT_AFTER, Contents, EntryPatch, Journal, JournalError, Kind, Listing, LockGuard, LockMode, MemStorage,
    NewEntry, SCHEMA_VERSION, SpaceDoc, Status, Storage, StorageError, View,
};
use sha2::Digest;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use support::{body_patch, by, init, new_entry};

// ---------------------------------------------------------------------------------------
// Helpers

/// The view's head or one of its parts.
fn is_view_file(name: &str) -> bool {
    name == "view" || name.starts_with("view-parts/")
}

fn id(n: u32) -> String {
    format!("{n:032x}")
}

/// Entry `n` of p1's, tagged `tag<n>`, written at 1,000 + `n`.
fn entry(n: u32, kind: Kind, body: &str) -> NewEntry {
    new_entry(&id(n), kind, body, vec![format!("tag{n}")], 1000 + n as i64)
}

fn reflection(n: u32) -> NewEntry {
    entry(n, Kind::Reflection, &format!("entry number {n}"))
}

/// A created store over `mem`.
fn created(mem: &MemStorage) -> Journal<&MemStorage> {
    let j = Journal::new(mem);
    j.create(init).unwrap();
    j
}

/// A store with some history: a snapshot, `adds/`, `changes/` (edits and a deletion).
fn rich(mem: &MemStorage) -> Journal<&MemStorage> {
    let j = created(mem);
    j.add(&[reflection(1), reflection(2)], &by(1)).unwrap();
    j.add(&[entry(3, Kind::Boundary, "a boundary")], &by(1)).unwrap();
    j.update(|d| d.edit_entry(&id(1), &body_patch("entry one, edited", 2000), &by(1)))
        .unwrap();
    j.add(&[entry(4, Kind::Appreciation, "thanks")], &by(1)).unwrap();
    j.update(|d| d.delete_entry(&id(2), 0, &by(1))).unwrap();
    j.update(|d| {
        d.edit_entry(
            &id(3),
            &EntryPatch {
                status: Some(Status::Revisit),
                edited_at: 2001,
                ..Default::default()
            },
            &by(1),
        )
    })
    .unwrap();
    j.add(&[reflection(5)], &by(1)).unwrap();
    j
}

fn clone_mem(mem: &MemStorage) -> MemStorage {
    let out = MemStorage::new();
    for (k, v) in mem.snapshot() {
        out.poke(&k, v);
    }
    out
}

/// The contents a view shows (everything but `covers`).
fn shown(v: &View) -> Contents {
    Contents {
        schema: v.schema,
        space_id: v.space_id.clone(),
        space_ids: v.space_ids.clone(),
        persons: v.persons.clone(),
        devices: v.devices.clone(),
        entries: v.entries.clone(),
        deleted: v.deleted.clone(),
        markers: v.markers.clone(),
        signatures: v.signatures.clone(),
        acks: v.acks.clone(),
        status_changes: v.status_changes.clone(),
        records: records_of(&v.records),
        restorable: v.restorable.clone(),
        holds: v.holds.clone(),
        held: v.held.clone(),
    }
}

/// A full rebuild of `j`'s contents, its membership records in [`records_of`]'s order.
fn full<S: Storage>(j: &Journal<S>) -> Contents {
    let mut c = j.contents().unwrap();
    c.records = records_of(&c.records);
    c
}

/// The membership records of a history, in one order (a view brought up to date sync by
/// sync holds the same records as a full rebuild, maybe in another order).
fn records_of(h: &duo_journal::History) -> duo_journal::History {
    let mut records = h.records.clone();
    records.sort_by(|a, b| (&a.key, a.change).cmp(&(&b.key, b.change)));
    let mut out = duo_journal::History::default();
    out.records = records;
    out
}

/// Read cleanly and check the fast read agrees with a full rebuild.
fn clean_state<S: Storage>(j: &Journal<S>) -> Contents {
    let read = j.read().unwrap();
    assert!(read.problems.is_empty(), "unexpected problems: {:?}", read.problems);
    let full = full(j);
    assert_eq!(shown(&read.view), full, "the view differs from a full rebuild");
    full
}

fn names_of(problems: &[duo_journal::Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.name.as_str()).collect()
}

fn blobs_named(mem: &MemStorage, dir: &str) -> Vec<String> {
    mem.snapshot().into_keys().filter(|k| k.starts_with(dir)).collect()
}

/// The `adds/` chunk that holds entry `n`.
fn adds_chunk_with(mem: &MemStorage, n: u32) -> String {
    blobs_named(mem, "adds/")
        .into_iter()
        .find(|name| {
            SpaceDoc::load(&mem.read(name).unwrap())
                .unwrap()
                .contents()
                .entries
                .contains_key(&id(n))
        })
        .unwrap_or_else(|| panic!("no adds/ chunk holds entry {n}"))
}

// ---------------------------------------------------------------------------------------
// Storage wrappers

/// Forwards to a `MemStorage`; the `fail_at`-th write or remove (counting from 0), and every
/// one after it, fails with an I/O error and changes nothing: the process "crashed" there.
struct Crashing<'a> {
    inner: &'a MemStorage,
    fail_at: usize,
    calls: Cell<usize>,
    crashed: Cell<bool>,
}

impl<'a> Crashing<'a> {
    fn new(inner: &'a MemStorage, fail_at: usize) -> Self {
        Self {
            inner,
            fail_at,
            calls: Cell::new(0),
            crashed: Cell::new(false),
        }
    }

    fn step(&self, name: &str) -> Result<(), StorageError> {
        let n = self.calls.get();
        self.calls.set(n + 1);
        if self.crashed.get() || n == self.fail_at {
            self.crashed.set(true);
            return Err(StorageError::Io {
                name: name.to_string(),
                source: std::io::Error::other("simulated crash"),
            });
        }
        Ok(())
    }
}

impl Storage for Crashing<'_> {
    fn list(&self) -> Result<Listing, StorageError> {
        self.inner.list()
    }
    fn read(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        self.inner.read(name)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.step(name)?;
        self.inner.write(name, bytes)
    }
    fn remove(&self, name: &str) -> Result<(), StorageError> {
        self.step(name)?;
        self.inner.remove(name)
    }
    fn mark(&self, name: &str) -> Result<(), StorageError> {
        self.step(name)?;
        self.inner.mark(name)
    }
    fn unmark(&self, names: &[String]) -> Result<(), StorageError> {
        self.step("marks/")?;
        self.inner.unmark(names)
    }
    fn remove_leftover(&self, name: &str) -> Result<(), StorageError> {
        self.inner.remove_leftover(name)
    }
    fn quarantine(&self, name: &str) -> Result<String, StorageError> {
        self.inner.quarantine(name)
    }
    fn lock(&self, mode: LockMode) -> Result<LockGuard, StorageError> {
        self.inner.lock(mode)
    }
    fn try_lock_exclusive(&self) -> Result<Option<LockGuard>, StorageError> {
        self.inner.try_lock_exclusive()
    }
}

/// Forwards to a `MemStorage` and records which blobs were read.
struct Counting<'a> {
    inner: &'a MemStorage,
    reads: RefCell<Vec<String>>,
}

impl Storage for Counting<'_> {
    fn list(&self) -> Result<Listing, StorageError> {
        self.inner.list()
    }
    fn read(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        self.reads.borrow_mut().push(name.to_string());
        self.inner.read(name)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.inner.write(name, bytes)
    }
    fn remove(&self, name: &str) -> Result<(), StorageError> {
        self.inner.remove(name)
    }
    fn mark(&self, name: &str) -> Result<(), StorageError> {
        self.inner.mark(name)
    }
    fn unmark(&self, names: &[String]) -> Result<(), StorageError> {
        self.inner.unmark(names)
    }
    fn remove_leftover(&self, name: &str) -> Result<(), StorageError> {
        self.inner.remove_leftover(name)
    }
    fn quarantine(&self, name: &str) -> Result<String, StorageError> {
        self.inner.quarantine(name)
    }
    fn lock(&self, mode: LockMode) -> Result<LockGuard, StorageError> {
        self.inner.lock(mode)
    }
    fn try_lock_exclusive(&self) -> Result<Option<LockGuard>, StorageError> {
        self.inner.try_lock_exclusive()
    }
}

// ---------------------------------------------------------------------------------------
// Crash at every step

/// Run `op` on a copy of the store set up by `setup`, crashing at the Nth write/remove for
/// N = 0, 1, 2, … until it runs through. After each crash a new `Journal` is opened on the
/// same blobs; it must read exactly the old state or exactly the new one, with no problems.
/// Returns how many crash points there were.
fn crash_sweep(
    setup: impl FnOnce(&MemStorage),
    op: impl Fn(&Journal<Crashing<'_>>) -> Result<(), JournalError>,
) -> usize {
    let base = MemStorage::new();
    setup(&base);
    let old = clean_state(&Journal::new(&base));
    let new = {
        let m = clone_mem(&base);
        op(&Journal::new(Crashing::new(&m, usize::MAX))).unwrap();
        clean_state(&Journal::new(&m))
    };
    for n in 0.. {
        let mem = clone_mem(&base);
        let result = {
            let journal = Journal::new(Crashing::new(&mem, n));
            let r = op(&journal);
            let crashed = journal.storage().crashed.get();
            assert_eq!(
                r.is_err(),
                crashed,
                "crash point {n}: the error must be the injected crash: {r:?}"
            );
            r
        }; // the crashed journal is dropped here
        let reopened = Journal::new(&mem);
        let state = clean_state(&reopened);
        for (k, e) in &old.entries {
            // An acknowledged entry is never lost (unless the op itself deletes it).
            if new.entries.contains_key(k) {
                assert!(
                    state.entries.contains_key(k),
                    "crash point {n}: entry {k} ({}) lost",
                    e.body
                );
            }
        }
        assert!(
            state == old || state == new,
            "crash point {n}: a mix of old and new state:\n{state:#?}"
        );
        let report = reopened.doctor().unwrap();
        assert!(report.healthy(), "crash point {n}: {:?}", report.problems);
        assert_eq!(
            clean_state(&reopened),
            state,
            "crash point {n}: doctor changed the contents"
        );
        // The store keeps working: it accepts more, and compacts.
        reopened.add(&[reflection(900)], &by(1)).unwrap();
        reopened.compact().unwrap();
        let after = clean_state(&reopened);
        assert!(after.entries.contains_key(&id(900)));
        assert_eq!(after.entries.len(), state.entries.len() + 1);
        if result.is_ok() {
            assert_eq!(state, new);
            return n;
        }
    }
    unreachable!()
}

#[test]
fn crash_during_add_leaves_old_or_new_state() {
    let steps = crash_sweep(
        |m| {
            rich(m);
        },
        |j| j.add(&[reflection(50), entry(51, Kind::Boundary, "new boundary")], &by(1)),
    );
    assert_eq!(steps, 2, "an add is one write, then its mark");
}

#[test]
fn crash_during_add_to_a_compacted_store() {
    crash_sweep(
        |m| {
            rich(m).compact().unwrap();
        },
        |j| j.add(&[reflection(50)], &by(1)),
    );
}

#[test]
fn crash_during_update_leaves_old_or_new_state() {
    let steps = crash_sweep(
        |m| {
            rich(m);
        },
        |j| {
            j.update(|d| {
                d.edit_entry(&id(1), &body_patch("edited during the crash test", 3000), &by(1))?;
                d.delete_entry(&id(4), 0, &by(1))?;
                d.add_entry(&reflection(60), &by(1))?;
                d.edit_entry(
                    &id(3),
                    &EntryPatch {
                        status: Some(Status::Retired),
                        edited_at: 3001,
                        ..Default::default()
                    },
                    &by(1),
                )
            })
        },
    );
    assert_eq!(
        steps, 5,
        "an update writes a change chunk, its mark, then the view: the part that changed, the head, \
         and the removal of the part it replaces"
    );
}

#[test]
fn crash_during_compact_leaves_old_or_new_state() {
    let mut files = 0;
    let steps = crash_sweep(
        |m| {
            rich(m);
            files = m.list().unwrap().files.iter().filter(|k| !is_view_file(k)).count();
        },
        |j| j.compact(),
    );
    // Snapshot, its mark, the view (its one part, the head, then the removal of the part it
    // replaces), the replaced chunks' marks (one step), then one remove per replaced chunk.
    assert_eq!(steps, 6 + files, "compaction steps");
}

#[test]
fn crash_during_a_second_compact() {
    // Compacting an already compacted store: the new snapshot may replace the old one.
    crash_sweep(
        |m| {
            let j = rich(m);
            j.compact().unwrap();
            j.add(&[reflection(70)], &by(1)).unwrap();
            j.update(|d| d.delete_entry(&id(70), 0, &by(1))).unwrap();
        },
        |j| j.compact(),
    );
}

#[test]
fn crash_during_apply_leaves_old_or_new_state() {
    let mut other = SpaceDoc::new();
    other.add_entry(&reflection(80), &by(1)).unwrap();
    let bytes = other.save();
    crash_sweep(
        |m| {
            rich(m);
        },
        |j| j.apply(&bytes).map(|_| ()),
    );
}

/// What a crash during `create` may leave: nothing (and `create` can be retried), or the
/// complete new store.
fn crash_during_create(strict: bool) {
    let mut n = 0;
    loop {
        let mem = MemStorage::new();
        let result = Journal::new(Crashing::new(&mem, n)).create(init);
        let reopened = Journal::new(&mem);
        if reopened.is_empty().unwrap() {
            assert!(result.is_err());
            reopened.create(init).unwrap();
        } else if !strict {
            // The data is complete; at most the view (a cache) is reported, once.
            let read = reopened.read().unwrap();
            assert!(
                read.problems.iter().all(|p| p.name == "view"),
                "crash point {n}: {:?}",
                read.problems
            );
            assert_eq!(shown(&read.view), full(&reopened));
        }
        let state = clean_state(&reopened);
        assert_eq!(state.space_id.as_deref(), Some("space-1"));
        assert_eq!(state.persons.len(), 1);
        assert_eq!(state.schema, SCHEMA_VERSION);
        let report = reopened.doctor().unwrap();
        assert!(report.healthy(), "crash point {n}: {:?}", report.problems);
        if result.is_ok() {
            break;
        }
        n += 1;
    }
    assert_eq!(n, 3, "create writes a snapshot, its mark and a view");
}

#[test]
fn crash_during_create_leaves_an_empty_or_a_readable_store() {
    crash_during_create(false);
}

#[test]
fn crash_during_create_leaves_an_empty_or_a_complete_store() {
    crash_during_create(true);
}

// ---------------------------------------------------------------------------------------
// The view

#[test]
fn read_merges_adds_onto_the_view_without_a_rebuild() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.compact().unwrap();
    j.update(|d| d.edit_entry(&id(1), &body_patch("after compaction", 4000), &by(1)))
        .unwrap();
    for n in 100..105 {
        j.add(&[reflection(n)], &by(1)).unwrap();
    }
    j.add(&[reflection(105), reflection(106)], &by(1)).unwrap();
    let counting = Journal::new(Counting {
        inner: &mem,
        reads: RefCell::new(Vec::new()),
    });
    let read = counting.read().unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    let reads = counting.storage().reads.borrow().clone();
    assert!(
        reads.iter().all(|r| is_view_file(r) || r.starts_with("adds/")),
        "a rebuild happened: {reads:?}"
    );
    assert_eq!(reads.iter().filter(|r| r.starts_with("adds/")).count(), 6);
    assert_eq!(reads.iter().filter(|r| *r == "view").count(), 1);
    // Same result as a full rebuild, and every chunk is now covered.
    let full = full(&j);
    assert_eq!(shown(&read.view), full);
    assert_eq!(read.view.entries.len(), 4 + 7);
    let chunks: BTreeSet<String> = mem
        .list()
        .unwrap()
        .files
        .into_iter()
        .filter(|k| !is_view_file(k))
        .collect();
    assert_eq!(read.view.covers, chunks);
}

#[test]
fn read_rebuilds_when_an_add_clashes_with_the_view() {
    // An `adds/` chunk that writes an id the view already has (two devices adding the same
    // id) cannot simply be laid on top: read must rebuild and agree with the document.
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.add(&[entry(1, Kind::Appreciation, "same id, added again")], &by(1))
        .unwrap();
    let read = j.read().unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    assert_eq!(shown(&read.view), full(&j));
}

#[test]
fn read_after_changes_rebuilds_and_refreshes_the_view() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    // Make the view stale with a change chunk written behind its back.
    let mut doc = j.load().unwrap();
    let heads = doc.heads();
    doc.edit_entry(&id(1), &body_patch("behind the view's back", 5000), &by(1))
        .unwrap();
    let bytes = doc.save_after(&heads);
    let name = format!("changes/{}", duo_journal::hex(&sha2::Sha256::digest(&bytes)));
    mem.poke(&name, bytes);
    let read = j.read().unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    assert_eq!(read.view.entries[&id(1)].body, "behind the view's back");
    // The rebuilt view was stored: the next read needs only the view.
    let counting = Journal::new(Counting {
        inner: &mem,
        reads: RefCell::new(Vec::new()),
    });
    let again = counting.read().unwrap();
    let reads = counting.storage().reads.borrow().clone();
    assert_eq!(reads.iter().filter(|r| !is_view_file(r)).count(), 0, "{reads:?}");
    assert_eq!(reads[0], "view", "the head first, then its parts");
    assert_eq!(shown(&again.view), shown(&read.view));
    assert_eq!(again.view.covers, read.view.covers);
}

// ---------------------------------------------------------------------------------------
// Damage

#[test]
fn damaged_uncovered_add_is_reported_and_the_rest_listed() {
    for damage in [b"this is not automerge".to_vec(), Vec::new()] {
        let mem = MemStorage::new();
        let j = rich(&mem);
        j.doctor().unwrap(); // the view now covers every chunk
        j.add(&[reflection(200)], &by(1)).unwrap();
        let victim = adds_chunk_with(&mem, 200);
        mem.poke(&victim, damage.clone());
        let read = j.read().unwrap();
        assert_eq!(names_of(&read.problems), vec![victim.as_str()], "damage {damage:?}");
        assert!(!read.view.entries.contains_key(&id(200)));
        for n in [1, 3, 4, 5] {
            assert!(read.view.entries.contains_key(&id(n)), "entry {n} must stay listed");
        }
    }
}

#[test]
fn damaged_covered_chunk_is_reported_on_rebuild_and_the_rest_listed() {
    // The chunk behind the view is empty (a 0-byte file); the view is also gone, so read
    // must rebuild: the empty file is reported by name and the other entries stay listed.
    let mem = MemStorage::new();
    let j = rich(&mem);
    let victim = adds_chunk_with(&mem, 4);
    mem.poke(&victim, Vec::new());
    mem.remove("view").unwrap();
    let read = j.read().unwrap();
    assert!(
        names_of(&read.problems).contains(&victim.as_str()),
        "{:?}",
        read.problems
    );
    assert!(!read.view.entries.contains_key(&id(4)));
    for n in [1, 3, 5] {
        assert!(read.view.entries.contains_key(&id(n)), "entry {n} must stay listed");
    }
    assert!(
        mem.read(&victim).unwrap().is_empty(),
        "read must not touch the damaged file"
    );
    assert!(
        !mem.snapshot().contains_key("view"),
        "no view is written from a damaged store"
    );
}

#[test]
fn damaged_snapshot_is_reported() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    let snap = blobs_named(&mem, "snapshots/").pop().unwrap();
    let good = mem.read(&snap).unwrap();
    mem.poke(&snap, good[..good.len() / 2].to_vec());
    mem.remove("view").unwrap();
    let read = j.read().unwrap();
    assert!(names_of(&read.problems).contains(&snap.as_str()), "{:?}", read.problems);
    assert!(matches!(j.load(), Err(JournalError::Damaged { .. })));
}

/// Corrupt a non-first chunk (a change chunk, loaded after the snapshot) in `how` and
/// check the damage is reported by name, by read (rebuild), doctor, update and compact.
fn later_chunk_damage_is_detected(how: fn(Vec<u8>) -> Vec<u8>) {
    let mem = MemStorage::new();
    let j = rich(&mem);
    let victim = blobs_named(&mem, "changes/").into_iter().next().unwrap();
    let good = mem.read(&victim).unwrap();
    mem.poke(&victim, how(good));
    mem.remove("view").unwrap();
    let read = j.read().unwrap();
    assert!(
        names_of(&read.problems).contains(&victim.as_str()),
        "read: {:?}",
        read.problems
    );
    let report = j.doctor().unwrap();
    assert!(
        names_of(&report.problems).contains(&victim.as_str()),
        "doctor: {:?}",
        report.problems
    );
    let before = mem.snapshot();
    assert!(
        matches!(j.compact(), Err(JournalError::Damaged { .. })),
        "compact must refuse"
    );
    assert_eq!(mem.snapshot(), before, "compact must not remove or overwrite anything");
}

#[test]
fn empty_later_chunk_is_detected() {
    later_chunk_damage_is_detected(|_| Vec::new());
}

#[test]
fn garbage_later_chunk_is_detected() {
    later_chunk_damage_is_detected(|_| b"garbage garbage garbage garbage".to_vec());
}

#[test]
fn truncated_later_chunk_is_detected() {
    later_chunk_damage_is_detected(|mut b| {
        b.truncate(b.len() / 2);
        b
    });
}

#[test]
fn garbage_in_the_second_of_two_uncovered_adds_is_reported() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    let covered = j.read().unwrap().view.covers;
    j.add(&[reflection(300)], &by(1)).unwrap();
    j.add(&[reflection(301)], &by(1)).unwrap();
    let mut fresh: Vec<String> = blobs_named(&mem, "adds/")
        .into_iter()
        .filter(|n| !covered.contains(n))
        .collect();
    fresh.sort();
    let victim = fresh.pop().unwrap(); // the one read last
    mem.poke(&victim, b"not an automerge chunk at all".to_vec());
    let read = j.read().unwrap();
    assert_eq!(names_of(&read.problems), vec![victim.as_str()]);
}

#[test]
fn update_and_compact_refuse_a_damaged_store_and_touch_nothing() {
    for target in ["adds/", "changes/", "snapshots/"] {
        let mem = MemStorage::new();
        let j = rich(&mem);
        let victim = blobs_named(&mem, target).into_iter().next().unwrap();
        mem.poke(&victim, Vec::new());
        let before = mem.snapshot();
        match j.update(|d| d.add_entry(&reflection(400), &by(1))) {
            Err(JournalError::Damaged { problems }) => {
                assert!(names_of(&problems).contains(&victim.as_str()), "{problems:?}")
            }
            other => panic!("update on damaged {target}: {other:?}"),
        }
        assert_eq!(mem.snapshot(), before, "update wrote or removed something");
        match j.compact() {
            Err(JournalError::Damaged { problems }) => {
                assert!(names_of(&problems).contains(&victim.as_str()), "{problems:?}")
            }
            other => panic!("compact on damaged {target}: {other:?}"),
        }
        assert_eq!(mem.snapshot(), before, "compact wrote or removed something");
        assert!(matches!(
            j.apply(&SpaceDoc::new().save()),
            Err(JournalError::Damaged { .. })
        ));
        assert!(matches!(j.load(), Err(JournalError::Damaged { .. })));
        assert!(matches!(j.contents(), Err(JournalError::Damaged { .. })));
        // doctor reports it and also leaves every file alone.
        let report = j.doctor().unwrap();
        assert!(!report.healthy());
        assert!(!report.view_rebuilt);
        assert_eq!(mem.snapshot(), before, "doctor wrote or removed something");
        // Appends still work on a damaged store (they touch nothing else).
        j.add(&[reflection(401)], &by(1)).unwrap();
        assert_eq!(mem.snapshot().len(), before.len() + 2, "the chunk and its mark");
    }
}

#[test]
fn foreign_names_are_reported_and_left_alone() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    let upper = format!("adds/{}", "A".repeat(64));
    let foreign = [
        "notes.txt",
        "snapshots/short",
        "changes/xyz",
        upper.as_str(),
        "other/0000",
        "views",
    ];
    for f in foreign {
        mem.poke(f, b"hello".to_vec());
    }
    let read = j.read().unwrap();
    let mut got = names_of(&read.problems);
    got.sort();
    let mut want = foreign.to_vec();
    want.sort();
    assert_eq!(got, want);
    assert!(read.problems.iter().all(|p| p.reason.contains("did not write")));
    assert_eq!(read.view.entries.len(), 4);
    let report = j.doctor().unwrap();
    assert!(!report.healthy());
    let mut got = names_of(&report.problems);
    got.sort();
    assert_eq!(got, want);
    for f in foreign {
        assert_eq!(mem.read(f).unwrap(), b"hello", "{f} must be left alone");
    }
    // Foreign files are not chunks: update and compact proceed and keep them.
    j.update(|d| d.add_entry(&reflection(500), &by(1))).unwrap();
    j.compact().unwrap();
    for f in foreign {
        assert_eq!(mem.read(f).unwrap(), b"hello", "{f} must be left alone");
    }
    assert!(j.contents().unwrap().entries.contains_key(&id(500)));
}

#[test]
fn doctor_on_a_fresh_store_is_healthy() {
    let mem = MemStorage::new();
    let j = created(&mem);
    let before = mem.snapshot();
    let report = j.doctor().unwrap();
    assert!(report.healthy(), "{:?}", report.problems);
    assert!(!report.view_rebuilt);
    assert!(report.cleaned.is_empty());
    assert_eq!(report.entries, 0);
    assert_eq!(report.files_checked, 2);
    assert_eq!(mem.snapshot(), before);
}

#[test]
fn doctor_on_a_rich_store_is_healthy_and_refreshes_a_stale_view() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    // The last add is not covered by the view yet: doctor refreshes the view (not damage).
    let report = j.doctor().unwrap();
    assert!(report.healthy(), "{:?}", report.problems);
    assert!(report.view_rebuilt);
    assert_eq!(report.entries, 4);
    let report = j.doctor().unwrap();
    assert!(report.healthy());
    assert!(!report.view_rebuilt, "a fresh view is left alone");
    // The view counts as one file, its parts with it.
    let files = mem.list().unwrap().files;
    assert_eq!(
        report.files_checked,
        files.iter().filter(|n| !n.starts_with("view-parts/")).count()
    );
}

#[test]
fn doctor_rebuilds_a_damaged_view() {
    for damage in [b"{not json".to_vec(), Vec::new(), br#"{"format":99}"#.to_vec()] {
        let mem = MemStorage::new();
        let j = rich(&mem);
        let expected = full(&j);
        mem.poke("view", damage.clone());
        let report = j.doctor().unwrap();
        assert!(!report.healthy(), "a damaged view is reported");
        assert_eq!(names_of(&report.problems), vec!["view"]);
        assert!(report.view_rebuilt);
        assert_eq!(clean_state(&j), expected);
        assert!(j.doctor().unwrap().healthy());
    }
}

#[test]
fn read_reports_a_damaged_view_and_rebuilds_it() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    let expected = full(&j);
    mem.poke("view", b"garbage".to_vec());
    let read = j.read().unwrap();
    assert_eq!(names_of(&read.problems), vec!["view"]);
    assert_eq!(shown(&read.view), expected);
    // The rebuilt view was written back: the next read is clean.
    assert_eq!(clean_state(&j), expected);
}

#[test]
fn deleting_a_covered_chunk_is_reported_as_missing() {
    for dir in ["adds/", "changes/", "snapshots/"] {
        let mem = MemStorage::new();
        let j = rich(&mem);
        j.read().unwrap(); // make sure the view covers everything
        j.doctor().unwrap();
        let victim = blobs_named(&mem, dir).into_iter().next().unwrap();
        mem.remove(&victim).unwrap();
        let read = j.read().unwrap();
        let p = read
            .problems
            .iter()
            .find(|p| p.name == victim)
            .unwrap_or_else(|| panic!("{dir}: {:?}", read.problems));
        assert!(p.reason.contains("missing"), "{p}");
        let report = j.doctor().unwrap();
        assert!(!report.healthy());
        assert!(
            names_of(&report.problems).contains(&victim.as_str()),
            "{:?}",
            report.problems
        );
        // Reading again still reports it: nothing papered over the loss.
        assert!(names_of(&j.read().unwrap().problems).contains(&victim.as_str()));
    }
}

#[test]
fn update_refuses_when_a_covered_chunk_is_missing() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap();
    // The newest add: no later change depends on it, so automerge cannot notice it is gone
    // (an older chunk's absence shows up as missing dependencies).
    let victim = adds_chunk_with(&mem, 5);
    mem.remove(&victim).unwrap();
    assert!(names_of(&j.read().unwrap().problems).contains(&victim.as_str()));
    let r = j.update(|d| d.add_entry(&reflection(600), &by(1)));
    assert!(matches!(r, Err(JournalError::Damaged { .. })), "{r:?}");
    assert!(
        names_of(&j.read().unwrap().problems).contains(&victim.as_str()),
        "the loss is still reported"
    );
}

// ---------------------------------------------------------------------------------------
// Schema, compaction, misc

#[test]
fn a_newer_schema_is_refused_by_update() {
    use automerge::transaction::Transactable;
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.update(|d| {
        d.automerge()
            .put(automerge::ROOT, "schema", SCHEMA_VERSION + 1)
            .unwrap();
        Ok(())
    })
    .unwrap();
    let before = mem.snapshot();
    match j.update(|d| d.add_entry(&reflection(700), &by(1))) {
        Err(JournalError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mem.snapshot(), before);
    let report = j.doctor().unwrap();
    assert!(!report.healthy(), "doctor flags a document newer than this duo");
    match j.read() {
        Err(JournalError::SchemaTooNew { found, .. }) => assert_eq!(found, SCHEMA_VERSION + 1),
        other => panic!("read must refuse a newer schema: {:?}", other.map(|r| r.problems)),
    }
}

#[test]
fn applying_a_newer_schema_is_refused_and_changes_nothing() {
    use automerge::transaction::Transactable;
    let mem = MemStorage::new();
    let j = rich(&mem);
    let mut doc = j.load().unwrap();
    doc.automerge()
        .put(automerge::ROOT, "schema", SCHEMA_VERSION + 5)
        .unwrap();
    doc.add_entry(&reflection(701), &by(1)).unwrap();
    let bytes = doc.save();
    let before = mem.snapshot();
    assert!(matches!(j.apply(&bytes), Err(JournalError::SchemaTooNew { .. })));
    assert_eq!(mem.snapshot(), before);
}

#[test]
fn maybe_compact_compacts_after_enough_chunks_and_keeps_the_data() {
    let mem = MemStorage::new();
    let j = created(&mem);
    for n in 0..(COMPACT_AFTER as u32 - 1) {
        j.add(&[reflection(n)], &by(1)).unwrap();
    }
    assert_eq!(j.pending_chunks().unwrap(), COMPACT_AFTER - 1);
    assert!(!j.maybe_compact().unwrap());
    j.update(|d| d.edit_entry(&id(0), &body_patch("edited", 9000), &by(1)))
        .unwrap();
    assert_eq!(j.pending_chunks().unwrap(), COMPACT_AFTER);
    let before = clean_state(&j);
    assert!(j.maybe_compact().unwrap());
    assert_eq!(j.pending_chunks().unwrap(), 0);
    assert_eq!(clean_state(&j), before);
    let names: Vec<String> = mem
        .list()
        .unwrap()
        .files
        .into_iter()
        .filter(|n| !n.starts_with("view-parts/"))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(mem.list().unwrap().marks, names[..1], "only the snapshot is marked");
    assert!(names[0].starts_with("snapshots/") && names[1] == "view");
    assert_eq!(before.entries.len(), COMPACT_AFTER - 1);
    assert!(!j.maybe_compact().unwrap());
    // Compacting again with nothing new is harmless.
    j.compact().unwrap();
    assert_eq!(clean_state(&j), before);
    assert!(j.doctor().unwrap().healthy());
}

#[test]
fn create_refuses_an_existing_store_and_add_of_nothing_writes_nothing() {
    let mem = MemStorage::new();
    let j = created(&mem);
    assert!(!j.is_empty().unwrap());
    assert!(matches!(j.create(init), Err(JournalError::Invalid(_))));
    let before = mem.snapshot();
    j.add(&[], &by(1)).unwrap();
    assert_eq!(mem.snapshot(), before);
    // An update that changes nothing writes nothing either.
    j.update(|_| Ok(())).unwrap();
    assert_eq!(mem.snapshot(), before);
    // A failing update writes nothing.
    assert!(matches!(
        j.update(|d| d.delete_entry(&id(12345), 0, &by(1))),
        Err(JournalError::NotFound { .. })
    ));
    assert_eq!(mem.snapshot(), before);
}

#[test]
fn boundary_status_rules_hold_through_the_store() {
    let mem = MemStorage::new();
    let j = created(&mem);
    j.add(
        &[entry(1, Kind::Boundary, "b"), entry(2, Kind::Reflection, "r")],
        &by(1),
    )
    .unwrap();
    let v = j.read().unwrap().view;
    assert_eq!(v.entries[&id(1)].status, Some(Status::Active));
    assert_eq!(v.entries[&id(2)].status, None);
    let r = j.update(|d| {
        d.edit_entry(
            &id(2),
            &EntryPatch {
                status: Some(Status::Retired),
                ..Default::default()
            },
            &by(1),
        )
    });
    assert!(matches!(r, Err(JournalError::Invalid(_))));
    j.update(|d| {
        d.edit_entry(
            &id(1),
            &EntryPatch {
                status: Some(Status::Retired),
                edited_at: 7,
                ..Default::default()
            },
            &by(1),
        )
    })
    .unwrap();
    let e = &j.read().unwrap().view.entries[&id(1)];
    assert_eq!(
        (e.status, e.edited_at, e.body.as_str()),
        (Some(Status::Retired), 7, "b")
    );
}

#[test]
fn resolve_by_prefix() {
    let mut v = View::default();
    let mk = |i: &str| duo_journal::Entry {
        id: i.to_string(),
        kind: Kind::Reflection,
        author: "p".into(),
        device: "d".into(),
        created_at: 0,
        edited_at: 0,
        body: format!("body of {i}"),
        tags: vec![],
        status: None,
        conflicts: vec![],
        auth: vec![],
        no_replies: false,
        prompt: None,
        seals: Default::default(),
    };
    let ids = [
        "abc10000000000000000000000000000",
        "abc20000000000000000000000000000",
        "abd00000000000000000000000000000",
        "ff000000000000000000000000000000",
    ];
    for i in ids {
        v.entries.insert(i.to_string(), mk(i));
    }
    assert_eq!(v.resolve("abc1").unwrap().id, ids[0]);
    assert_eq!(v.resolve("abd").unwrap().id, ids[2]);
    assert_eq!(v.resolve("f").unwrap().id, ids[3]);
    assert_eq!(v.resolve(ids[1]).unwrap().id, ids[1], "a full id resolves");
    match v.resolve("abc") {
        Err(JournalError::Ambiguous { prefix, candidates }) => {
            assert_eq!(prefix, "abc");
            assert_eq!(candidates, vec![ids[0].to_string(), ids[1].to_string()]);
        }
        other => panic!("{other:?}"),
    }
    match v.resolve("ab") {
        Err(JournalError::Ambiguous { candidates, .. }) => assert_eq!(candidates.len(), 3),
        other => panic!("{other:?}"),
    }
    for missing in ["abe", "0", "ff1", "abc10000000000000000000000000000x"] {
        assert!(
            matches!(v.resolve(missing), Err(JournalError::NotFound { .. })),
            "{missing}"
        );
    }
    // Many matches: the candidate list is bounded.
    for n in 0..30u32 {
        let i = format!("c{n:031x}");
        v.entries.insert(i.clone(), mk(&i));
    }
    match v.resolve("c") {
        Err(JournalError::Ambiguous { candidates, .. }) => assert!(candidates.len() <= 10 && candidates.len() >= 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn resolve_through_the_journal_and_person_names() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    let v = j.read().unwrap().view;
    assert_eq!(v.resolve(&id(3)).unwrap().body, "a boundary");
    assert!(matches!(v.resolve("000"), Err(JournalError::Ambiguous { .. })));
    assert!(
        matches!(v.resolve(&id(2)), Err(JournalError::NotFound { .. })),
        "a deleted entry does not resolve"
    );
    assert_eq!(v.person_name("p1"), "Alice");
    assert!(v.person_name("0123456789abcdef").contains("01234567"));
}

#[test]
fn a_stored_view_reads_back_as_written() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap();
    let v = j.read().unwrap().view;
    assert_eq!(j.stored().unwrap().expect("a stored view"), v);
    assert!(!v.entries.is_empty() && !v.deleted.is_empty());
}

#[test]
fn a_big_journal_reads_entries_by_kind_and_tags() {
    // Many entries through every path: adds, updates, compaction, more adds.
    let mem = MemStorage::new();
    let j = created(&mem);
    let mut expected: BTreeMap<String, (Kind, String)> = BTreeMap::new();
    for n in 0..120u32 {
        let kind = Kind::ALL[(n % 3) as usize];
        let e = entry(n, kind, &format!("body {n}"));
        expected.insert(e.id.clone(), (kind, e.body.clone()));
        j.add(&[e], &by(1)).unwrap();
        if n % 25 == 24 {
            j.update(|d| d.edit_entry(&id(n), &body_patch("edited", n as i64), &by(1)))
                .unwrap();
            expected.get_mut(&id(n)).unwrap().1 = "edited".into();
            j.maybe_compact().unwrap();
        }
    }
    let state = clean_state(&j);
    let got: BTreeMap<String, (Kind, String)> = state
        .entries
        .iter()
        .map(|(k, e)| (k.clone(), (e.kind, e.body.clone())))
        .collect();
    assert_eq!(got, expected);
    assert!(
        state
            .entries
            .values()
            .all(|e| e.tags == vec![format!("tag{}", u32::from_str_radix(&e.id, 16).unwrap())])
    );
}

#[test]
fn a_covered_chunk_emptied_behind_the_view_is_noticed() {
    // The view is present and lists the chunk, but the chunk's fingerprint changed: read
    // must look at it again instead of trusting the cached view.
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap();
    let victim = adds_chunk_with(&mem, 4);
    mem.poke(&victim, Vec::new());
    let read = j.read().unwrap();
    assert!(
        names_of(&read.problems).contains(&victim.as_str()),
        "{:?}",
        read.problems
    );
    assert!(!read.view.entries.contains_key(&id(4)));
    assert!(read.view.entries.contains_key(&id(5)));
    // Still reported on the next read: the damaged state was not cached as healthy.
    assert!(names_of(&j.read().unwrap().problems).contains(&victim.as_str()));
}

#[test]
fn many_adds_are_folded_into_the_stored_view() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap(); // the view covers everything
    for n in 800..812 {
        j.add(&[reflection(n)], &by(1)).unwrap();
    }
    let first = j.read().unwrap();
    assert!(first.problems.is_empty(), "{:?}", first.problems);
    let before = full(&j);
    assert_eq!(shown(&first.view), before);
    // That read folded the additions into the stored view: the next read needs only the view.
    let counting = Journal::new(Counting {
        inner: &mem,
        reads: RefCell::new(Vec::new()),
    });
    let second = counting.read().unwrap();
    assert_eq!(shown(&second.view), before);
    let reads = counting.storage().reads.borrow().clone();
    assert!(
        reads.iter().all(|r| is_view_file(r)),
        "a dozen additions are folded into the stored view: {reads:?}"
    );
    // A later add is still merged on top of the folded view.
    j.add(&[reflection(900)], &by(1)).unwrap();
    let third = j.read().unwrap();
    assert!(third.view.entries.contains_key(&id(900)));
    assert_eq!(shown(&third.view), full(&j));
    assert!(j.doctor().unwrap().healthy());
}

#[test]
fn apply_refuses_corrupt_bytes() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    let mut other = SpaceDoc::new();
    other.add_entry(&reflection(990), &by(1)).unwrap();
    let good = other.save();
    let before = mem.snapshot();
    for bad in [b"definitely not automerge".to_vec(), good[..good.len() - 5].to_vec()] {
        let r = j.apply(&bad);
        assert!(r.is_err(), "corrupt input accepted: {r:?}");
        assert_eq!(mem.snapshot(), before);
    }
}

#[test]
fn apply_refuses_empty_bytes_and_accepts_good_ones() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    let before = mem.snapshot();
    assert!(j.apply(b"").is_err());
    assert_eq!(mem.snapshot(), before);
    let mut other = SpaceDoc::new();
    other.add_entry(&reflection(991), &by(1)).unwrap();
    assert_eq!(j.apply(&other.save()).unwrap(), (4, 5));
    // Applying the same bytes again adds nothing and writes nothing.
    let after = mem.snapshot();
    assert_eq!(j.apply(&other.save()).unwrap(), (5, 5));
    assert_eq!(mem.snapshot(), after);
}

// ---------------------------------------------------------------------------------------
// A document kept in memory between syncs

#[test]
fn a_cached_document_follows_the_store_through_adds_edits_compaction_and_damage() {
    let mem = MemStorage::new();
    let j = created(&mem);
    let mut cached = None;
    j.refresh(&mut cached).unwrap();
    let same = |cached: &Option<(SpaceDoc, BTreeSet<String>)>| {
        assert_eq!(cached.as_ref().unwrap().0.contents(), j.load().unwrap().contents());
    };
    same(&cached);

    // New files (an add, an edit) are loaded on top; nothing is loaded twice.
    j.add(&[reflection(1)], &by(1)).unwrap();
    j.update(|d| d.edit_entry(&id(1), &body_patch("edited", 2000), &by(1)))
        .unwrap();
    j.refresh(&mut cached).unwrap();
    same(&cached);
    assert_eq!(cached.as_ref().unwrap().0.contents().entries[&id(1)].body, "edited");

    // A sync stores into the cached document and its file list follows.
    let (doc, loaded) = cached.as_mut().unwrap();
    let heads = doc.heads();
    doc.add_entry(&reflection(2), &by(1)).unwrap();
    j.store_synced(doc, &heads, loaded, None).unwrap();
    assert_eq!(*loaded, j.load_tracked().unwrap().1);
    j.refresh(&mut cached).unwrap();
    same(&cached);

    // Compaction removes the files it was loaded from: loaded again from scratch.
    j.compact().unwrap();
    j.add(&[reflection(3)], &by(1)).unwrap();
    j.refresh(&mut cached).unwrap();
    same(&cached);
    assert_eq!(cached.as_ref().unwrap().1, j.load_tracked().unwrap().1);

    // A damaged new file is reported, and the cached document is dropped.
    j.add(&[reflection(4)], &by(1)).unwrap();
    let newest = mem
        .list()
        .unwrap()
        .files
        .into_iter()
        .find(|n| n.starts_with("adds/") && !cached.as_ref().unwrap().1.contains(n))
        .unwrap();
    mem.write(&newest, b"not automerge at all").unwrap();
    let err = j.refresh(&mut cached).unwrap_err();
    assert!(matches!(err, JournalError::Damaged { .. }), "{err}");
    assert!(cached.is_none());
}

/// The view a full rebuild from the chunks gives (what every incremental path must equal).
fn rebuilt(j: &Journal<&MemStorage>) -> duo_journal::Contents {
    let mut c = j.contents().unwrap();
    c.records = Default::default();
    c
}

fn stored_contents(j: &Journal<&MemStorage>) -> duo_journal::Contents {
    let mut c = j.stored().unwrap().expect("a stored view").contents;
    c.records = Default::default();
    c
}

#[test]
fn a_view_behind_the_store_is_brought_up_to_date_with_only_what_changed_and_equals_a_rebuild() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap(); // a view of everything so far
    // Entries appended by `journal add` that the stored view does not cover yet.
    j.add(&[reflection(10)], &by(1)).unwrap();
    j.add(&[entry(11, Kind::Boundary, "an hour alone")], &by(1)).unwrap();
    let view = j.stored().unwrap().expect("a stored view");
    assert!(
        mem.list()
            .unwrap()
            .files
            .iter()
            .any(|n| n.starts_with("adds/") && !view.covers.contains(n))
    );

    // A sync brings a new entry, an edit, a deletion and a boundary's new status: the view
    // is refreshed from the heads it records (its files are not the ones loaded).
    let (mut doc, mut loaded) = j.load_tracked().unwrap();
    let heads = doc.heads();
    doc.add_entry(&reflection(12), &by(1)).unwrap();
    doc.edit_entry(&id(5), &body_patch("entry five, edited elsewhere", 3000), &by(1))
        .unwrap();
    doc.delete_entry(&id(4), 3001, &by(1)).unwrap();
    let status = duo_journal::StatusChange {
        id: "c1".into(),
        entry: id(11),
        by: "p1".into(),
        device: "d1".into(),
        status: duo_journal::Status::Retired,
        at: 3002,
        seals: Default::default(),
    };
    doc.set_boundary_status(&status, &by(1)).unwrap();
    j.store_synced(&mut doc, &heads, &mut loaded, None).unwrap();
    let stored = stored_contents(&j);
    assert_eq!(stored, rebuilt(&j));
    assert_eq!(stored.entries[&id(5)].body, "entry five, edited elsewhere");
    assert_eq!(stored.entries[&id(11)].status, Some(duo_journal::Status::Retired));
    assert!(stored.entries.contains_key(&id(10)) && stored.entries.contains_key(&id(12)));
    assert!(!stored.entries.contains_key(&id(4)));

    // A sync stored without its view (the process ended first), then an add: the next read
    // reads on top of the stored view what changed since its heads.
    let (mut doc, mut loaded) = j.load_tracked().unwrap();
    let heads = doc.heads();
    doc.edit_entry(&id(1), &body_patch("entry one, edited again", 4000), &by(1))
        .unwrap();
    j.store_synced_changes(&mut doc, &heads, &mut loaded, None).unwrap();
    j.add(&[reflection(13)], &by(1)).unwrap();
    let read = j.read().unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    let mut shown = read.view.contents.clone();
    shown.records = Default::default();
    assert_eq!(shown, rebuilt(&j));
    assert_eq!(shown.entries[&id(1)].body, "entry one, edited again");
    assert!(shown.entries.contains_key(&id(13)));
    assert_eq!(stored_contents(&j), rebuilt(&j), "and stored for the next read");
}

/// The membership part of what a whole read gives.
fn members_of(v: &View) -> duo_journal::Contents {
    v.members()
}

#[test]
fn the_membership_part_read_from_the_front_of_the_view_is_what_a_whole_read_gives() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap(); // a view of every file
    let whole = j.read().unwrap().view;
    let front = j.read_members().unwrap();
    assert_eq!(members_of(&front), members_of(&whole));
    assert!(!members_of(&whole).persons.is_empty() && !members_of(&whole).devices.is_empty());
    assert!(front.entries.is_empty(), "entries are not read");
    assert_eq!(
        j.peek_members().unwrap().map(|v| members_of(&v)),
        Some(members_of(&whole))
    );

    // The front of the stored bytes is enough: everything after the membership part cut off.
    let bytes = mem.read("view").unwrap();
    let cut = View::decode_members(&bytes[..bytes.len() - 1]).expect("decoded from the front");
    assert_eq!(members_of(&cut), members_of(&whole));
    assert!(
        View::decode_members(&bytes[..20]).is_none(),
        "too short: not guessed at"
    );

    // Appended entries on top: still from the front. A new member that a sync stored (a
    // `changes/` file the view does not cover yet): read_members gives it too.
    j.add(&[reflection(30)], &by(1)).unwrap();
    assert_eq!(
        members_of(&j.read_members().unwrap()),
        members_of(&j.read().unwrap().view)
    );
    let bob = duo_journal::Person {
        id: "p2".into(),
        name: "Bob".into(),
    };
    let phone = duo_journal::Device {
        id: "d2".into(),
        person: "p2".into(),
        label: "phone".into(),
        added_at: 7,
    };
    let (mut doc, mut loaded) = j.load_tracked().unwrap();
    let heads = doc.heads();
    doc.add_member(&bob, &phone).unwrap();
    j.store_synced_changes(&mut doc, &heads, &mut loaded, None).unwrap();
    assert!(
        j.peek_members().unwrap().is_none(),
        "the stored view is behind a change"
    );
    let members = members_of(&j.read_members().unwrap());
    assert_eq!(members.persons["p2"].name, "Bob");
    assert_eq!(members, members_of(&j.read().unwrap().view));
}

/// `problems()` (what `duo sync` checks before it goes online) says what a read says, in
/// each case: healthy, a foreign file, a damaged appended chunk, a chunk the view lists
/// that is gone.
#[test]
fn the_problems_without_the_entries_are_what_a_read_reports() {
    let names = |p: Vec<duo_journal::Problem>| {
        let mut v: Vec<String> = p.into_iter().map(|p| p.to_string()).collect();
        v.sort();
        v
    };
    let same = |j: &Journal<&MemStorage>| {
        let quick = names(j.problems().unwrap());
        assert_eq!(quick, names(j.read().unwrap().problems));
        quick
    };
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap();
    assert!(same(&j).is_empty());
    mem.write("notes.txt", b"someone else's file").unwrap();
    assert_eq!(same(&j), vec!["notes.txt: a file duo did not write".to_string()]);
    mem.remove("notes.txt").unwrap();

    // An appended entry whose chunk was overwritten: damaged.
    j.add(&[reflection(40)], &by(1)).unwrap();
    let victim = adds_chunk_with(&mem, 40);
    let good = mem.read(&victim).unwrap();
    mem.write(&victim, b"not automerge").unwrap();
    assert_eq!(same(&j).len(), 1);
    mem.write(&victim, &good).unwrap();
    assert!(same(&j).is_empty());

    // A chunk the view lists, gone.
    j.doctor().unwrap();
    let listed = adds_chunk_with(&mem, 40);
    mem.remove(&listed).unwrap();
    assert_eq!(
        same(&j),
        vec![format!("{listed}: missing: the view lists it but it is gone")]
    );
}

#[test]
fn a_view_kept_in_memory_from_an_earlier_sync_is_brought_up_to_date_like_a_stored_one() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap();
    let sync = |j: &Journal<&MemStorage>, n: u32, kept| {
        let (mut doc, mut loaded) = j.load_tracked().unwrap();
        let heads = doc.heads();
        doc.add_entry(&reflection(n), &by(1)).unwrap();
        doc.edit_entry(
            &id(1),
            &body_patch(&format!("entry one, edit {n}"), 5000 + n as i64),
            &by(1),
        )
        .unwrap();
        let v = j
            .store_synced_changes(&mut doc, &heads, &mut loaded, None)
            .unwrap()
            .unwrap();
        j.refresh_synced_view_kept(&mut doc, v, kept).unwrap()
    };
    let kept = sync(&j, 20, None).expect("the stored view is returned to keep");
    assert_eq!(kept.contents.entries.len(), rebuilt(&j).entries.len());
    // Meanwhile other processes wrote: an add, and a view of their own (a read folds it).
    j.add(&[reflection(21)], &by(1)).unwrap();
    j.update(|d| d.delete_entry(&id(5), 6000, &by(1))).unwrap();
    j.read().unwrap();
    // The kept view is older than the store: what changed since its heads is read on top.
    let kept = sync(&j, 22, Some(kept)).unwrap();
    let mut shown = kept.contents.clone();
    shown.records = Default::default();
    assert_eq!(shown, rebuilt(&j));
    assert!(shown.entries.contains_key(&id(21)) && shown.entries.contains_key(&id(22)));
    assert!(!shown.entries.contains_key(&id(5)));
    assert_eq!(shown.entries[&id(1)].body, "entry one, edit 22");
    assert_eq!(stored_contents(&j), rebuilt(&j));
}

#[test]
fn a_whole_document_from_a_peer_is_kept_as_it_came_and_the_next_read_rebuilds_the_view() {
    let mem = MemStorage::new();
    let j = created(&mem);
    // The peer has this space's beginning and much more; this device has one entry the
    // peer lacks.
    let mut peer = j.load().unwrap();
    for n in 10..400 {
        peer.add_entry(&reflection(n), &by(1)).unwrap();
    }
    let whole = peer.save();
    j.add(&[reflection(1)], &by(1)).unwrap();
    assert_eq!(j.read().unwrap().view.entries.len(), 1);

    // What a session does with a document that arrived, then stores it.
    let (mut doc, mut loaded) = j.load_tracked().unwrap();
    let heads = doc.heads();
    let mut theirs = SpaceDoc::load_untrusted(&whole).unwrap();
    doc.merge(&mut theirs).unwrap();
    let before: BTreeSet<String> = loaded.clone();
    j.store_synced(&mut doc, &heads, &mut loaded, Some(&whole)).unwrap();

    // Kept byte for byte as one snapshot, beside the files this device had.
    let kept: Vec<String> = loaded.difference(&before).cloned().collect();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].starts_with("snapshots/"));
    assert_eq!(mem.read(&kept[0]).unwrap(), whole);
    assert_eq!(loaded, j.load_tracked().unwrap().1);

    // The next read sees both sides' entries and stores a view that covers everything.
    let read = j.read().unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    assert_eq!(read.view.entries, doc.contents().entries);
    assert_eq!(read.view.entries.len(), 391);
    assert!(read.view.entries.contains_key(&id(1)));
    assert_eq!(read.view.covers, loaded);
    assert!(j.doctor().unwrap().healthy());
}

/// A change automerge accepts but writes back with another hash (found by fuzzing; a
/// session refuses it, see `SpaceDoc::check_canonical`). Should one reach a store anyway,
/// compaction must not replace the store with a snapshot that does not load back: it
/// refuses, every file stays, and the journal still reads.
#[test]
fn compaction_never_replaces_the_store_with_a_snapshot_that_does_not_load_back() {
    let crafted = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/document/crash-resave-mismatching-heads"
    ))
    .unwrap();
    let change = duo_journal::chunks::with_valid_checksums(&crafted);
    let err = SpaceDoc::load_untrusted(&change).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("not encoded the way automerge writes it back"), "{err}");

    let mem = MemStorage::new();
    let j = created(&mem);
    j.add(&[reflection(1)], &by(1)).unwrap();
    let name = format!("changes/{:x}", sha2::Sha256::digest(&change));
    mem.write(&name, &change).unwrap();
    let before: Vec<String> = mem.snapshot().into_keys().collect();
    let err = j.compact().unwrap_err().to_string();
    assert!(err.contains("nothing was replaced"), "{err}");
    let after: Vec<String> = mem.snapshot().into_keys().collect();
    assert_eq!(before, after, "every file stays");
    assert!(
        j.read().unwrap().view.resolve(&id(1)[..8]).is_ok(),
        "the journal still reads"
    );
}

// ---------------------------------------------------------------------------------------
// Marks: a chunk that has a mark but is gone is named, even when no view lists it.

fn marks_of(mem: &MemStorage) -> Vec<String> {
    mem.list().unwrap().marks
}

/// The names of a store's problems, as a read and as doctor report them.
fn reported(j: &Journal<&MemStorage>) -> (Vec<String>, Vec<String>) {
    let read = j.read().unwrap();
    let report = j.doctor().unwrap();
    let own = |p: &[duo_journal::Problem]| p.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    (own(&read.problems), own(&report.problems))
}

#[test]
fn every_chunk_written_has_a_mark() {
    let mem = MemStorage::new();
    rich(&mem);
    let chunks: Vec<String> = mem
        .list()
        .unwrap()
        .files
        .into_iter()
        .filter(|n| !is_view_file(n))
        .collect();
    assert_eq!(marks_of(&mem), chunks);
    assert!(
        blobs_named(&mem, "marks/")
            .iter()
            .all(|m| mem.read(m).unwrap().is_empty())
    );
}

#[test]
fn a_deleted_add_newer_than_the_view_is_named() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap(); // the view covers everything so far
    j.add(&[reflection(600)], &by(1)).unwrap();
    let victim = adds_chunk_with(&mem, 600);
    let stored = j.stored().unwrap().expect("a stored view");
    assert!(!stored.covers.contains(&victim), "written after the view");
    mem.remove(&victim).unwrap();
    let want = format!("{victim}: missing: marked as written but it is gone");
    let (read, doctor) = reported(&j);
    assert_eq!(read, vec![want.clone()]);
    assert_eq!(doctor, vec![want]);
    // Building on the store would make the loss permanent: refused.
    assert!(matches!(j.compact(), Err(JournalError::Damaged { .. })));
    assert!(matches!(
        j.update(|d| d.add_entry(&reflection(601), &by(1))),
        Err(JournalError::Damaged { .. })
    ));
}

#[test]
fn a_deleted_changes_chunk_stored_without_a_view_is_named() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap(); // the view covers everything so far
    // A sync that stores a `changes/` file and leaves the view to a later read.
    let (mut doc, mut loaded) = j.load_tracked().unwrap();
    let heads = doc.heads();
    doc.add_entry(&reflection(700), &by(1)).unwrap();
    j.store_synced_changes(&mut doc, &heads, &mut loaded, None).unwrap();
    let view = j.stored().unwrap().expect("a stored view");
    let victim = loaded.iter().find(|n| !view.covers.contains(*n)).cloned().unwrap();
    assert!(victim.starts_with("changes/"), "{victim}");
    mem.remove(&victim).unwrap();
    let want = format!("{victim}: missing: marked as written but it is gone");
    let (read, doctor) = reported(&j);
    assert_eq!(read, vec![want.clone()]);
    assert_eq!(doctor, vec![want]);
}

#[test]
fn a_chunk_both_listed_and_marked_is_named_once() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap();
    let victim = adds_chunk_with(&mem, 5); // the last add: nothing builds on it
    mem.remove(&victim).unwrap();
    let want = format!("{victim}: missing: the view lists it but it is gone");
    let (read, doctor) = reported(&j);
    assert_eq!(read, vec![want.clone()]);
    assert_eq!(doctor, vec![want]);
}

#[test]
fn foreign_and_damaged_marks_are_named() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    let a_mark = blobs_named(&mem, "marks/adds-").into_iter().next().unwrap();
    let bad = [
        "marks/notes.txt".to_string(),
        format!("marks/adds-{}", "A".repeat(64)),
        format!("marks/view-{}", "a".repeat(64)),
        "marks/adds-0123".to_string(),
        a_mark.clone(), // a real mark that is not empty
    ];
    for b in &bad {
        mem.poke(b, b"x".to_vec());
    }
    let mut want: Vec<String> = bad.iter().map(|b| format!("{b}: a file duo did not write")).collect();
    want.sort();
    let (mut read, mut doctor) = reported(&j);
    read.sort();
    doctor.sort();
    assert_eq!(read, want);
    assert_eq!(doctor, want);
    assert_eq!(j.read().unwrap().view.entries.len(), 4, "the journal is still read");
    // Repair sets them aside and ends healthy.
    let moved = j.repair().unwrap();
    assert_eq!(moved.len(), bad.len(), "{moved:?}");
    assert!(j.doctor().unwrap().healthy());
    assert_eq!(j.read().unwrap().view.entries.len(), 4);
}

#[test]
fn a_deleted_mark_loses_nothing() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    let before = clean_state(&j);
    for m in blobs_named(&mem, "marks/") {
        mem.remove(&m).unwrap();
    }
    assert_eq!(clean_state(&j), before);
    assert!(j.doctor().unwrap().healthy());
    // A store from before marks: it works as it did, and gains marks as it is written to.
    j.add(&[reflection(800)], &by(1)).unwrap();
    assert_eq!(marks_of(&mem), vec![adds_chunk_with(&mem, 800)]);
    j.compact().unwrap();
    assert!(j.doctor().unwrap().healthy());
}

#[test]
fn compaction_leaves_no_marks_of_removed_chunks() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.compact().unwrap();
    let listing = mem.list().unwrap();
    let chunks: Vec<String> = listing.files.into_iter().filter(|n| !is_view_file(n)).collect();
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    assert_eq!(listing.marks, chunks, "only the new snapshot is marked");
    assert!(j.doctor().unwrap().healthy());
}

#[test]
fn repair_of_a_store_with_a_missing_marked_chunk_ends_healthy() {
    for damaged_too in [false, true] {
        let mem = MemStorage::new();
        let j = rich(&mem);
        j.doctor().unwrap();
        j.add(&[reflection(900)], &by(1)).unwrap();
        j.add(&[reflection(901)], &by(1)).unwrap();
        mem.remove(&adds_chunk_with(&mem, 900)).unwrap();
        if damaged_too {
            let other = adds_chunk_with(&mem, 901);
            mem.poke(&other, b"garbage".to_vec());
        }
        assert!(!j.doctor().unwrap().healthy());
        j.repair().unwrap();
        let report = j.doctor().unwrap();
        assert!(report.healthy(), "{:?}", report.problems);
        let entries = clean_state(&j).entries;
        assert!(!entries.contains_key(&id(900)));
        assert_eq!(entries.contains_key(&id(901)), !damaged_too);
        assert_eq!(entries.len(), 4 + usize::from(!damaged_too));
        let listing = mem.list().unwrap();
        let chunks: Vec<String> = listing.files.into_iter().filter(|n| !is_view_file(n)).collect();
        assert_eq!(listing.marks, chunks, "no dangling marks, the new snapshot marked");
    }
}

#[test]
fn a_crash_between_unmarking_and_removing_leaves_no_false_damage() {
    // Compaction: every crash point, including those between the marks' removal and the
    // chunks', reads cleanly (crash_sweep checks for problems).
    let points = crash_sweep(
        |m| {
            let j = rich(m);
            j.doctor().unwrap();
            j.add(&[reflection(950)], &by(1)).unwrap();
        },
        |j| j.compact(),
    );
    assert!(points >= 4, "{points}");
}

// ---------------------------------------------------------------------------------------
// The view in parts

/// Entry `n` with an id whose first two hex digits are `n % 256`: entries spread over the
/// view's parts.
fn spread(n: u32) -> NewEntry {
    new_entry(
        &spread_id(n),
        Kind::Reflection,
        &format!("spread entry {n}"),
        vec![],
        1000 + n as i64,
    )
}

fn spread_id(n: u32) -> String {
    format!("{:02x}{n:030x}", n % 256)
}

fn part_files(mem: &MemStorage) -> BTreeSet<String> {
    mem.list()
        .unwrap()
        .files
        .into_iter()
        .filter(|n| n.starts_with("view-parts/"))
        .collect()
}

/// A sync that edits entry `edit` and adds entry `new` (through the durable half and the
/// view's refresh, as a watcher does), keeping the view `kept`.
fn sync_edit_and_add(j: &Journal<&MemStorage>, edit: u32, new: u32, kept: Option<View>) -> Option<View> {
    let (mut doc, mut loaded) = j.load_tracked().unwrap();
    let heads = doc.heads();
    doc.edit_entry(
        &spread_id(edit),
        &body_patch(&format!("edited by sync {new}"), 9000 + new as i64),
        &by(1),
    )
    .unwrap();
    doc.add_entry(&spread(new), &by(1)).unwrap();
    let v = j
        .store_synced_changes(&mut doc, &heads, &mut loaded, None)
        .unwrap()
        .unwrap();
    j.refresh_synced_view_kept(&mut doc, v, kept).unwrap()
}

#[test]
fn the_view_is_stored_in_parts_and_a_sync_rewrites_only_the_part_it_changed() {
    let mem = MemStorage::new();
    let j = created(&mem);
    j.add(&(0..40).map(spread).collect::<Vec<_>>(), &by(1)).unwrap();
    j.doctor().unwrap();
    let before = part_files(&mem);
    assert_eq!(before.len(), 40, "one part per bucket in use: {before:?}");

    // An edit and a new entry in bucket 7: its part is replaced, the 39 others stay.
    let kept = sync_edit_and_add(&j, 7, 7 + 256, None).expect("a view to keep");
    let after = part_files(&mem);
    assert_eq!(
        before.difference(&after).count(),
        1,
        "the old part of bucket 7 is removed"
    );
    assert_eq!(after.difference(&before).count(), 1, "one new part");
    assert_eq!(stored_contents(&j), rebuilt(&j));
    assert_eq!(j.read().unwrap().view.entries[&spread_id(7)].body, "edited by sync 263");

    // From the view kept in memory: an edit in bucket 9, a new entry in a bucket not used yet.
    sync_edit_and_add(&j, 9, 40 + 256, Some(kept)).expect("a view to keep");
    let last = part_files(&mem);
    assert_eq!(after.difference(&last).count(), 1, "only bucket 9's part is replaced");
    assert_eq!(last.difference(&after).count(), 2, "bucket 9's and bucket 40's");
    assert_eq!(stored_contents(&j), rebuilt(&j));
    let read = j.read().unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    assert_eq!(shown(&read.view), full(&j));
}

#[test]
fn a_kept_view_whose_parts_another_process_replaced_writes_them_again() {
    let mem = MemStorage::new();
    let j = created(&mem);
    j.add(&(0..20).map(spread).collect::<Vec<_>>(), &by(1)).unwrap();
    j.doctor().unwrap();
    let kept = sync_edit_and_add(&j, 3, 3 + 256, None).expect("a view to keep");
    // Another process rewrites the whole view (an edit: every part of the new view is
    // written, the old ones removed), so parts the kept view names may be gone.
    j.update(|d| d.delete_entry(&spread_id(5), 7000, &by(1))).unwrap();
    for name in part_files(&mem) {
        mem.remove(&name).unwrap();
    }
    j.read().unwrap(); // the view is rebuilt and stored again, in parts
    let kept = sync_edit_and_add(&j, 4, 4 + 256, Some(kept)).expect("a view to keep");
    assert!(kept.entries.contains_key(&spread_id(4 + 256)));
    let read = j.read().unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    assert_eq!(shown(&read.view), full(&j));
    assert_eq!(stored_contents(&j), rebuilt(&j));
}

#[test]
fn a_damaged_swapped_or_missing_part_of_the_view_is_rebuilt_and_damage_is_named() {
    let mem = MemStorage::new();
    let j = created(&mem);
    j.add(&(0..12).map(spread).collect::<Vec<_>>(), &by(1)).unwrap();
    j.doctor().unwrap();
    let parts: Vec<String> = part_files(&mem).into_iter().collect();
    let other = mem.read(&parts[1]).unwrap();
    for (what, damage) in [
        ("garbage", Some(b"garbage".to_vec())),
        ("another part's bytes under this name", Some(other)),
        ("an empty file", Some(Vec::new())),
        ("gone", None),
    ] {
        match damage {
            Some(bytes) => mem.poke(&parts[0], bytes),
            None => mem.remove(&parts[0]).unwrap(),
        }
        let read = j.read().unwrap();
        if what == "gone" {
            // Like a missing head: a cache that is gone is rebuilt without comment.
            assert!(read.problems.is_empty(), "{what}: {:?}", read.problems);
        } else {
            assert_eq!(names_of(&read.problems), vec!["view"], "{what}");
            assert!(
                read.problems[0].reason.contains(&parts[0]),
                "{what}: {:?}",
                read.problems
            );
        }
        assert_eq!(shown(&read.view), full(&j), "{what}: the rebuilt view shows everything");
        let again = j.read().unwrap();
        assert!(
            again.problems.is_empty(),
            "{what}: the rebuilt view was stored: {:?}",
            again.problems
        );
        assert!(
            part_files(&mem).contains(&parts[0]),
            "{what}: the part is written again"
        );
    }
    // doctor names a damaged part as the view and rebuilds it.
    mem.poke(&parts[2], b"garbage".to_vec());
    let report = j.doctor().unwrap();
    assert_eq!(names_of(&report.problems), vec!["view"]);
    assert!(report.view_rebuilt);
    assert!(j.doctor().unwrap().healthy());
}

#[test]
fn parts_no_view_names_are_removed_by_the_next_view_written_and_are_not_damage() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.doctor().unwrap();
    // A part left by a crash between writing it and writing the head that names it.
    let orphan = format!("view-parts/{}", "ab".repeat(32));
    mem.poke(&orphan, b"a part no view names".to_vec());
    let report = j.doctor().unwrap();
    assert!(report.healthy(), "{:?}", report.problems);
    assert!(j.read().unwrap().problems.is_empty());
    j.update(|d| d.add_entry(&reflection(70), &by(1))).unwrap();
    assert!(!part_files(&mem).contains(&orphan), "removed by the next view written");
    assert_eq!(clean_state(&j).entries.len(), 5);
}

#[test]
fn a_part_read_gives_the_entries_of_one_prefix_as_a_whole_read_does_or_nothing() {
    let mem = MemStorage::new();
    let j = created(&mem);
    j.add(&(0..40).map(spread).collect::<Vec<_>>(), &by(1)).unwrap();
    j.doctor().unwrap();
    // An add the view does not cover yet is read on top, as a whole read does.
    j.add(&[spread(7 + 256)], &by(1)).unwrap();
    let whole = j.read().unwrap().view;
    let part = j.read_part_of("07").unwrap().expect("a current view").view;
    let of_07 = |v: &View| -> Vec<String> { v.entries.keys().filter(|k| k.starts_with("07")).cloned().collect() };
    assert_eq!(part.entries.keys().cloned().collect::<Vec<_>>(), of_07(&whole));
    assert_eq!(of_07(&part), vec![spread_id(7), spread_id(7 + 256)]);
    assert_eq!(part.covers, whole.covers, "it reflects the same files");
    assert_eq!(part.persons, whole.persons);
    assert_eq!(part.devices, whole.devices);
    // It is never stored: the stored view still holds every entry it held.
    assert_eq!(j.stored().unwrap().unwrap().entries.len(), 40);

    // Not a prefix of hex digits: nothing.
    for odd in ["", "7", "zz", "0G"] {
        assert!(j.read_part_of(odd).unwrap().is_none(), "{odd:?}");
    }
    // A damaged part: nothing (a whole read rebuilds the view).
    let saved: Vec<(String, Vec<u8>)> = part_files(&mem)
        .into_iter()
        .map(|n| (n.clone(), mem.read(&n).unwrap()))
        .collect();
    for (name, _) in &saved {
        mem.poke(name, b"garbage".to_vec());
    }
    assert!(j.read_part_of("07").unwrap().is_none());
    for (name, bytes) in saved {
        mem.poke(&name, bytes);
    }
    assert!(j.read_part_of("07").unwrap().is_some());
    // A view behind the store (a sync stored a `changes/` file and left the view): nothing.
    let (mut doc, mut loaded) = j.load_tracked().unwrap();
    let heads = doc.heads();
    doc.add_entry(&spread(9 + 256), &by(1)).unwrap();
    j.store_synced_changes(&mut doc, &heads, &mut loaded, None).unwrap();
    assert!(j.read_part_of("09").unwrap().is_none());
    j.read().unwrap(); // brings the view up to date
    let part = j.read_part_of("09").unwrap().expect("current again").view;
    assert_eq!(of_07(&part), Vec::<String>::new());
    assert!(part.entries.contains_key(&spread_id(9 + 256)));
}

#[test]
fn reading_part_by_part_gives_what_a_whole_read_does_and_only_from_a_current_view() {
    let mem = MemStorage::new();
    let j = rich(&mem);
    j.add(&(0..40).map(spread).collect::<Vec<_>>(), &by(1)).unwrap();
    j.doctor().unwrap();
    let whole = j.read().unwrap().view;
    let head = j.current_head().unwrap().expect("a current view").view;
    assert!(head.entries.is_empty(), "a head holds no entries");
    assert_eq!(
        (&head.covers, &head.persons, &head.restorable),
        (&whole.covers, &whole.persons, &whole.restorable)
    );
    // Each part is seen with the head's membership; together they hold every entry once.
    let seen = j
        .each_part(&head, &|part: &View| {
            assert_eq!(part.persons, head.persons);
            assert_eq!(part.covers, head.covers);
            let buckets: BTreeSet<&str> = part.entries.keys().map(|k| &k[..2]).collect();
            assert!(buckets.len() <= 1, "one part at a time: {buckets:?}");
            (part.entries.clone(), part.deleted.clone(), part.status_changes.clone())
        })
        .unwrap()
        .expect("every part is there");
    let (mut entries, mut deleted, mut changes) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for (e, d, c) in seen {
        let n = entries.len() + e.len();
        entries.extend(e);
        assert_eq!(entries.len(), n, "no entry in two parts");
        deleted.extend(d);
        changes.extend(c);
    }
    assert_eq!(
        (entries, deleted, changes),
        (
            whole.entries.clone(),
            whole.deleted.clone(),
            whole.status_changes.clone()
        )
    );

    // A part gone (another process rewrote the view meanwhile): nothing, a whole read then.
    let name = part_files(&mem).into_iter().next().unwrap();
    let bytes = mem.read(&name).unwrap();
    mem.remove(&name).unwrap();
    assert!(j.each_part(&head, &|_: &View| ()).unwrap().is_none());
    mem.poke(&name, bytes);
    assert!(j.each_part(&head, &|_: &View| ()).unwrap().is_some());

    // Adds appended on top (one to a bucket with a part, one to a bucket with none) are
    // put into the parts they belong to, as a whole read puts them in.
    j.add(&[spread(7 + 256)], &by(1)).unwrap();
    j.add(&[spread(200)], &by(1)).unwrap();
    let head = j
        .current_head()
        .unwrap()
        .expect("adds on top are read with the parts")
        .view;
    let whole = j.read().unwrap().view;
    assert_eq!(head.covers, whole.covers, "the head covers the adds too");
    let keys = j
        .each_part(&head, &|part: &View| part.entries.keys().cloned().collect::<Vec<_>>())
        .unwrap()
        .expect("every part is there");
    let mut keys: Vec<String> = keys.into_iter().flatten().collect();
    keys.sort();
    assert_eq!(keys, whole.entries.keys().cloned().collect::<Vec<_>>());
    assert!(keys.contains(&spread_id(7 + 256)) && keys.contains(&spread_id(200)));

    // Not current: a view behind the store, or no view at all.
    let (mut doc, mut loaded) = j.load_tracked().unwrap();
    let heads = doc.heads();
    doc.add_entry(&spread(9 + 256), &by(1)).unwrap();
    j.store_synced_changes(&mut doc, &heads, &mut loaded, None).unwrap();
    assert!(j.current_head().unwrap().is_none(), "behind the store");
    j.read().unwrap(); // brings the view up to date
    assert!(j.current_head().unwrap().is_some());
    mem.remove("view").unwrap();
    assert!(j.current_head().unwrap().is_none());
}
