//! `AgeStore`, `write_durably` and `Home` on real files in temporary directories, with real
//! age encryption, and `Journal` running on top of them (including from several threads).

use age::x25519::Identity;
use duo_device::{AgeStore, Home, SyncError, write_durably};
use duo_journal::{EntryPatch, Journal, JournalError, Kind, LockMode, NewEntry, Storage, StorageError};
use std::fs;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const MARKER: &str = "PLAINTEXT-MARKER-7f3a9c";

fn hash_name(dir: &str, n: u8) -> String {
    format!("{dir}/{}", format!("{n:02x}").repeat(32))
}

/// The keys of "p1", the author of the entries of bare stores here.
static RING: std::sync::LazyLock<duo_journal::Keyring> =
    std::sync::LazyLock::new(|| duo_journal::Keyring::for_tests("p1"));

fn by() -> duo_journal::Sealer<'static> {
    RING.sealer("d1")
}

fn new_store(dir: &Path) -> (AgeStore, Arc<Identity>) {
    let identity = Arc::new(Identity::generate());
    (AgeStore::new(dir.join("store"), identity.clone()), identity)
}

fn entry(n: u32, body: &str) -> NewEntry {
    NewEntry {
        id: format!("{n:032x}"),
        kind: Kind::Reflection,
        author: "p1".into(),
        device: "d1".into(),
        created_at: n as i64,
        edited_at: n as i64,
        body: body.into(),
        tags: vec![format!("{MARKER}-tag")],
        status: None,
        no_replies: false,
        prompt: None,
    }
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn expect_damaged(store: &AgeStore, name: &str, what: &str) -> String {
    match store.read(name) {
        Err(StorageError::Damaged { name: n, reason }) => {
            assert_eq!(n, name, "{what}: the damaged file is named");
            reason
        }
        Ok(bytes) => panic!("{what}: damaged file read as {} bytes", bytes.len()),
        Err(e) => panic!("{what}: expected Damaged, got {e:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// AgeStore

#[test]
fn round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, identity) = new_store(tmp.path());
    assert_eq!(
        store.list().unwrap(),
        Default::default(),
        "a store that does not exist yet is empty"
    );
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let blobs = [
        (hash_name("snapshots", 1), b"snapshot bytes".to_vec()),
        (hash_name("changes", 2), Vec::new()),
        (hash_name("adds", 3), big),
        ("view".to_string(), b"{}".to_vec()),
    ];
    for (name, bytes) in &blobs {
        store.write(name, bytes).unwrap();
    }
    for (name, bytes) in &blobs {
        assert_eq!(&store.read(name).unwrap(), bytes, "{name}");
        assert!(store.path_of(name).starts_with(store.root()));
        assert!(store.path_of(name).to_string_lossy().ends_with(".age"));
    }
    let mut names: Vec<String> = blobs.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    let listing = store.list().unwrap();
    assert_eq!(listing.files, names);
    assert!(
        listing.leftovers.is_empty() && listing.foreign.is_empty(),
        "{listing:?}"
    );
    // Overwrite, remove, remove again, read what is gone.
    store.write("view", b"second").unwrap();
    assert_eq!(store.read("view").unwrap(), b"second");
    store.remove(&blobs[0].0).unwrap();
    store.remove(&blobs[0].0).unwrap();
    let err = store.read(&blobs[0].0).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.name(), blobs[0].0);
    assert_eq!(store.list().unwrap().files.len(), 3);
    // Another store object with the same identity reads the same files.
    let again = AgeStore::new(store.root(), identity);
    assert_eq!(again.read("view").unwrap(), b"second");
}

#[test]
fn every_file_is_an_age_file_for_this_identity_without_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, identity) = new_store(tmp.path());
    let journal = Journal::new(store.clone());
    journal.create(|d| d.init_schema()).unwrap();
    for n in 0..5 {
        journal.add(&[entry(n, &format!("{MARKER} body {n}"))], &by()).unwrap();
    }
    journal
        .update(|d| {
            d.edit_entry(
                &format!("{:032x}", 1),
                &EntryPatch {
                    body: Some(format!("{MARKER} edited")),
                    edited_at: 9,
                    ..Default::default()
                },
                &by(),
            )
        })
        .unwrap();
    journal.read().unwrap();
    let other = Identity::generate();
    let mut checked = 0;
    let mut parts = 0;
    let mut saw_marker_in_plaintext = false;
    let mut check_all = |root: &Path| {
        for path in files_under(root) {
            if path.file_name().unwrap() == ".lock" {
                assert_eq!(fs::metadata(&path).unwrap().len(), 0, "the lock file holds nothing");
                continue;
            }
            if path.parent().unwrap().ends_with("marks") {
                // A mark holds nothing; its name is its chunk's name.
                assert_eq!(fs::metadata(&path).unwrap().len(), 0, "a mark holds nothing");
                assert_eq!(mode_of(&path), 0o600, "{}", path.display());
                let name = path.file_name().unwrap().to_string_lossy().replacen('-', "/", 1);
                assert!(
                    path.parent()
                        .unwrap()
                        .parent()
                        .unwrap()
                        .join(format!("{name}.age"))
                        .exists()
                );
                checked += 1;
                continue;
            }
            parts += usize::from(path.parent().unwrap().ends_with("view-parts"));
            let bytes = fs::read(&path).unwrap();
            assert!(
                bytes.starts_with(b"age-encryption.org/v1\n"),
                "{} is not an age file",
                path.display()
            );
            assert!(
                !contains(&bytes, MARKER.as_bytes()),
                "{} contains plaintext",
                path.display()
            );
            assert!(!contains(&bytes, b"edited"), "{} contains plaintext", path.display());
            let plain = age::decrypt(identity.as_ref(), &bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            saw_marker_in_plaintext |= contains(&plain, MARKER.as_bytes());
            assert!(
                age::decrypt(&other, &bytes).is_err(),
                "another identity must not decrypt {}",
                path.display()
            );
            assert_eq!(mode_of(&path), 0o600, "{}", path.display());
            checked += 1;
        }
    };
    check_all(store.root()); // snapshot, 5 adds, 1 change, view and its parts, a mark for each chunk
    journal.compact().unwrap();
    check_all(store.root()); // snapshot, view and its parts, the snapshot's mark
    assert!(parts >= 2, "the view's parts are checked too");
    assert_eq!(checked - parts, 18, "files checked");
    assert!(saw_marker_in_plaintext, "the marker is really in the data");
}

#[test]
fn flipped_bytes_are_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = new_store(tmp.path());
    let name = hash_name("changes", 7);
    store.write(&name, b"a small secret chunk").unwrap();
    let path = store.path_of(&name);
    let good = fs::read(&path).unwrap();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0xff;
        fs::write(&path, &bad).unwrap();
        let reason = expect_damaged(&store, &name, &format!("byte {i} flipped"));
        assert!(reason.contains("decrypt"), "{reason}");
    }
    // A single flipped bit in the payload (the last bytes: the tag) too.
    for i in [good.len() - 1, good.len() - 17, good.len() / 2] {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        fs::write(&path, &bad).unwrap();
        expect_damaged(&store, &name, &format!("bit flipped at {i}"));
    }
    fs::write(&path, &good).unwrap();
    assert_eq!(store.read(&name).unwrap(), b"a small secret chunk");
}

#[test]
fn truncation_and_empty_files_are_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = new_store(tmp.path());
    let name = "view";
    let plain: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect(); // more than one age chunk
    store.write(name, &plain).unwrap();
    let path = store.path_of(name);
    let good = fs::read(&path).unwrap();
    let mut cuts: Vec<usize> = (0..200.min(good.len())).collect();
    cuts.extend([65_536, 65_536 + 200, good.len() - 17, good.len() - 16, good.len() - 1]);
    for cut in cuts {
        fs::write(&path, &good[..cut]).unwrap();
        let reason = expect_damaged(&store, name, &format!("truncated to {cut}"));
        if cut == 0 {
            assert!(reason.contains("empty"), "{reason}");
        }
    }
    // Extra bytes after the end are damage too.
    let mut longer = good.clone();
    longer.extend_from_slice(b"trailing");
    fs::write(&path, &longer).unwrap();
    expect_damaged(&store, name, "trailing bytes");
}

#[test]
fn files_for_someone_else_or_not_encrypted_are_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = new_store(tmp.path());
    let name = hash_name("adds", 9);
    store.write(&name, b"mine").unwrap();
    let path = store.path_of(&name);
    let other = Identity::generate();
    fs::write(&path, age::encrypt(&other.to_public(), b"theirs").unwrap()).unwrap();
    expect_damaged(&store, &name, "encrypted to another identity");
    fs::write(&path, b"plain automerge bytes, not age").unwrap();
    expect_damaged(&store, &name, "not encrypted");
    fs::write(&path, b"").unwrap();
    expect_damaged(&store, &name, "empty");
}

#[test]
fn leftovers_and_foreign_files_are_listed_and_doctor_cleans_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = new_store(tmp.path());
    let journal = Journal::new(store.clone());
    journal.create(|d| d.init_schema()).unwrap();
    journal.add(&[entry(1, "one")], &by()).unwrap();
    let root = store.root().to_path_buf();
    fs::write(root.join("snapshots/.abc.age.0123.tmp"), b"half").unwrap();
    fs::write(root.join(".view.age.99.tmp"), b"half").unwrap();
    fs::write(root.join("notes.txt"), b"mine").unwrap();
    fs::write(root.join("snapshots/README"), b"mine").unwrap();
    fs::write(root.join("changes/nothex.age"), b"mine").unwrap();
    fs::write(root.join(".hidden"), b"mine").unwrap();
    fs::create_dir(root.join("junk")).unwrap();
    fs::create_dir(root.join("adds/sub")).unwrap();
    let listing = store.list().unwrap();
    assert_eq!(
        listing.leftovers,
        vec![".view.age.99.tmp", "snapshots/.abc.age.0123.tmp"]
    );
    assert_eq!(
        listing.foreign,
        vec![".hidden", "adds/sub", "junk/", "notes.txt", "snapshots/README"]
    );
    assert!(
        listing.files.contains(&"changes/nothex".to_string()),
        "a .age file is listed as a file"
    );
    assert!(
        !listing
            .files
            .iter()
            .chain(&listing.foreign)
            .any(|f| f.contains(".lock")),
        "{listing:?}"
    );

    // The journal reports foreign files (and a .age file with a name it never writes), not leftovers.
    let read = journal.read().unwrap();
    let mut problems: Vec<&str> = read.problems.iter().map(|p| p.name.as_str()).collect();
    problems.sort();
    assert_eq!(
        problems,
        vec![
            ".hidden",
            "adds/sub",
            "changes/nothex",
            "junk/",
            "notes.txt",
            "snapshots/README"
        ]
    );
    assert_eq!(read.view.entries.len(), 1);

    let report = journal.doctor().unwrap();
    assert_eq!(report.cleaned, vec![".view.age.99.tmp", "snapshots/.abc.age.0123.tmp"]);
    assert!(!root.join(".view.age.99.tmp").exists());
    assert!(!root.join("snapshots/.abc.age.0123.tmp").exists());
    assert!(
        root.join("notes.txt").exists() && root.join("junk").is_dir(),
        "foreign files are left alone"
    );
    assert!(store.list().unwrap().leftovers.is_empty());
}

#[test]
fn a_leftover_alone_is_not_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = new_store(tmp.path());
    let journal = Journal::new(store.clone());
    journal.create(|d| d.init_schema()).unwrap();
    journal.add(&[entry(1, "one")], &by()).unwrap();
    // What a crash in the middle of write_durably leaves: a hidden temp file.
    fs::write(
        store
            .root()
            .join("adds")
            .join(format!(".{}.age.{}.tmp", "ab".repeat(32), "0".repeat(32))),
        b"partial",
    )
    .unwrap();
    let read = journal.read().unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    let report = journal.doctor().unwrap();
    assert!(report.healthy(), "{:?}", report.problems);
    assert_eq!(report.cleaned.len(), 1);
}

#[test]
fn write_durably_creates_private_files_and_leaves_no_temp() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("secret.txt");
    write_durably(&path, b"first").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"first");
    assert_eq!(mode_of(&path), 0o600);
    // Replacing a world-readable file leaves a private one.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    write_durably(&path, b"second").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"second");
    assert_eq!(mode_of(&path), 0o600);
    let names: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("secret.txt")], "no temp file left");
    // A failing write (no such directory) fails and leaves nothing.
    assert!(write_durably(&tmp.path().join("missing/x"), b"x").is_err());
    // A failing rename (the target is a directory) leaves no temp file behind.
    fs::create_dir(tmp.path().join("adir")).unwrap();
    fs::write(tmp.path().join("adir/inside"), b"keep").unwrap();
    assert!(write_durably(&tmp.path().join("adir"), b"x").is_err());
    let mut names: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("adir"), std::ffi::OsString::from("secret.txt")]
    );
    assert!(
        write_durably(Path::new("/"), b"x").is_err(),
        "a path without a parent is refused"
    );
}

#[test]
fn locks_exclude_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, identity) = new_store(tmp.path());
    let other = AgeStore::new(store.root(), identity);
    let shared1 = store.lock(LockMode::Shared).unwrap();
    let shared2 = other.lock(LockMode::Shared).unwrap();
    assert!(
        other.try_lock_exclusive().unwrap().is_none(),
        "shared locks block an exclusive one"
    );
    drop(shared1);
    assert!(store.try_lock_exclusive().unwrap().is_none());
    drop(shared2);
    let excl = store.try_lock_exclusive().unwrap().expect("free store");
    assert!(
        other.try_lock_exclusive().unwrap().is_none(),
        "one exclusive holder at a time"
    );
    drop(excl);
    assert!(other.try_lock_exclusive().unwrap().is_some());
    assert_eq!(mode_of(&store.root().join(".lock")), 0o600);
}

// ---------------------------------------------------------------------------------------
// Journal over AgeStore

#[test]
fn damage_on_disk_is_reported_by_the_journal_and_blocks_rewrites() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = new_store(tmp.path());
    let journal = Journal::new(store.clone());
    journal.create(|d| d.init_schema()).unwrap();
    journal.add(&[entry(1, "one")], &by()).unwrap();
    journal.add(&[entry(2, "two")], &by()).unwrap();
    journal.doctor().unwrap();
    journal.add(&[entry(3, "three")], &by()).unwrap();
    // Damage one covered and one uncovered chunk in different ways.
    let adds: Vec<String> = store
        .list()
        .unwrap()
        .files
        .into_iter()
        .filter(|f| f.starts_with("adds/"))
        .collect();
    let holder = |n: u32| {
        adds.iter()
            .find(|a| {
                duo_journal::SpaceDoc::load(&store.read(a).unwrap())
                    .unwrap()
                    .contents()
                    .entries
                    .contains_key(&format!("{n:032x}"))
            })
            .unwrap()
            .clone()
    };
    let (covered, uncovered) = (holder(1), holder(3));
    let path = store.path_of(&uncovered);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, &bytes).unwrap();
    let read = journal.read().unwrap();
    assert_eq!(
        read.problems.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        vec![uncovered.as_str()]
    );
    assert_eq!(read.view.entries.len(), 2);

    fs::write(store.path_of(&covered), b"").unwrap();
    fs::remove_file(store.path_of("view")).unwrap();
    let read = journal.read().unwrap();
    let names: Vec<&str> = read.problems.iter().map(|p| p.name.as_str()).collect();
    assert!(
        names.contains(&covered.as_str()) && names.contains(&uncovered.as_str()),
        "{names:?}"
    );
    assert_eq!(
        read.view.entries.keys().collect::<Vec<_>>(),
        vec![&format!("{:032x}", 2)]
    );

    let before: Vec<(PathBuf, Vec<u8>)> = files_under(store.root())
        .into_iter()
        .map(|p| (p.clone(), fs::read(&p).unwrap()))
        .collect();
    assert!(matches!(journal.compact(), Err(JournalError::Damaged { .. })));
    assert!(matches!(
        journal.update(|d| d.init_schema()),
        Err(JournalError::Damaged { .. })
    ));
    assert!(!journal.doctor().unwrap().healthy());
    let after: Vec<(PathBuf, Vec<u8>)> = files_under(store.root())
        .into_iter()
        .map(|p| (p.clone(), fs::read(&p).unwrap()))
        .collect();
    assert_eq!(before, after, "refusing must leave every file as it was");
}

#[test]
fn journal_flow_on_age_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = new_store(tmp.path());
    let journal = Journal::new(store.clone());
    journal.create(|d| d.init_schema()).unwrap();
    let ids: Vec<String> = (0..10).map(|n| format!("{n:032x}")).collect();
    for n in 0..10 {
        journal.add(&[entry(n, &format!("body {n}"))], &by()).unwrap();
    }
    journal
        .update(|d| {
            d.edit_entry(
                &ids[3],
                &EntryPatch {
                    body: Some("three".into()),
                    edited_at: 50,
                    ..Default::default()
                },
                &by(),
            )
        })
        .unwrap();
    journal.update(|d| d.delete_entry(&ids[4], 0, &by())).unwrap();
    let read = journal.read().unwrap();
    assert!(read.problems.is_empty());
    assert_eq!(read.view.entries.len(), 9);
    assert_eq!(read.view.resolve(&ids[3]).unwrap().body, "three");
    let full = journal.contents().unwrap();
    assert_eq!(read.view.entries, full.entries);
    journal.compact().unwrap();
    assert_eq!(journal.pending_chunks().unwrap(), 0);
    let listing = store.list().unwrap();
    let files: Vec<&String> = listing.files.iter().filter(|n| !n.starts_with("view-parts/")).collect();
    assert_eq!(files.len(), 2, "{listing:?}");
    let report = journal.doctor().unwrap();
    assert!(report.healthy(), "{:?}", report.problems);
    assert!(!report.view_rebuilt);
    assert_eq!(report.entries, 9);
    // A new journal object (a new process) on the same directory reads the same.
    let reopened = Journal::new(store.clone());
    assert_eq!(reopened.read().unwrap().view.entries, full.entries);
    assert_eq!(reopened.contents().unwrap(), full);
}

#[test]
fn two_writers_and_a_compactor_land_every_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, identity) = new_store(tmp.path());
    Journal::new(store.clone()).create(|d| d.init_schema()).unwrap();
    let root = store.root().to_path_buf();
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let (root, identity) = (root.clone(), identity.clone());
            std::thread::spawn(move || {
                let journal = Journal::new(AgeStore::new(root, identity));
                for i in 0..50u32 {
                    journal
                        .add(&[entry(w * 1000 + i, &format!("writer {w} entry {i}"))], &by())
                        .unwrap();
                }
            })
        })
        .collect();
    // A third thread compacts (and checks the store) again and again while they write.
    let compactor = {
        let (root, identity, done) = (root.clone(), identity.clone(), done.clone());
        std::thread::spawn(move || {
            let journal = Journal::new(AgeStore::new(root, identity));
            let mut rounds = 0;
            while !done.load(Ordering::SeqCst) {
                journal.compact().unwrap();
                rounds += 1;
                if rounds % 4 == 0 {
                    // Doctor must not mistake a write in progress for a leftover or damage.
                    let report = journal.doctor().unwrap();
                    assert!(report.healthy(), "doctor during writes: {:?}", report.problems);
                    assert!(
                        report.cleaned.is_empty(),
                        "doctor removed a write in progress: {:?}",
                        report.cleaned
                    );
                }
            }
            rounds
        })
    };
    // And a reader never sees a file vanish under it, nor an entry disappear.
    let reader = {
        let (root, identity, done) = (root.clone(), identity.clone(), done.clone());
        std::thread::spawn(move || {
            let journal = Journal::new(AgeStore::new(root, identity));
            let mut last = 0;
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) {
                let read = journal.read().unwrap();
                assert!(
                    read.problems.is_empty(),
                    "a concurrent read saw problems: {:?}",
                    read.problems
                );
                assert!(
                    read.view.entries.len() >= last,
                    "entries went from {last} to {}",
                    read.view.entries.len()
                );
                last = read.view.entries.len();
                reads += 1;
            }
            reads
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let rounds = compactor.join().unwrap();
    let reads = reader.join().unwrap();
    assert!(rounds >= 1 && reads >= 1, "compactions {rounds}, reads {reads}");
    let journal = Journal::new(AgeStore::new(&root, identity));
    let read = journal.read().unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    assert_eq!(read.view.entries.len(), 100);
    for w in 0..2u32 {
        for i in 0..50u32 {
            let e = &read.view.entries[&format!("{:032x}", w * 1000 + i)];
            assert_eq!(e.body, format!("writer {w} entry {i}"));
        }
    }
    assert_eq!(journal.contents().unwrap().entries, read.view.entries);
    assert!(journal.doctor().unwrap().healthy());
    assert!(
        AgeStore::new(&root, Arc::new(Identity::generate()))
            .list()
            .unwrap()
            .leftovers
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Home

#[test]
fn home_init_then_open() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("alice"));
    assert!(!home.is_initialized());
    assert!(matches!(home.open(), Err(SyncError::NotInitialized { .. })));
    let opened = home.init("  Alice  ", "laptop", 1234).unwrap();
    assert!(home.is_initialized());
    assert_eq!(opened.config.name, "Alice");
    assert_eq!(opened.config.device_label, "laptop");
    assert_eq!(opened.config.created_at, 1234);
    assert_eq!(opened.config.device_id, opened.public_key().to_string());
    for p in [home.age_key_path(), home.device_key_path()] {
        assert_eq!(mode_of(&p), 0o600, "{}", p.display());
    }
    assert_eq!(mode_of(home.root()) & 0o077, 0, "home is private");
    assert_eq!(mode_of(&home.root().join("keys")) & 0o077, 0, "keys dir is private");
    // The config holds no secrets.
    let config = fs::read_to_string(home.config_path()).unwrap();
    assert!(!config.contains("AGE-SECRET-KEY"));

    let space = opened.space.read().unwrap();
    assert!(space.problems.is_empty(), "{:?}", space.problems);
    assert_eq!(space.view.persons[&opened.config.person_id].name, "Alice");
    assert_eq!(space.view.devices[&opened.config.device_id].label, "laptop");
    assert_eq!(space.view.devices[&opened.config.device_id].added_at, 1234);
    assert!(space.view.space_id.is_some());
    let private = opened.private.read().unwrap();
    assert!(private.problems.is_empty(), "{:?}", private.problems);
    assert!(private.view.persons.is_empty() && private.view.entries.is_empty());

    let again = home.open().unwrap();
    assert_eq!(again.config, opened.config);
    assert_eq!(again.public_key(), opened.public_key());
    assert_eq!(again.space.read().unwrap().view, space.view);
    assert_eq!(again.space.storage().root(), home.space_dir());
    assert_eq!(again.private.storage().root(), home.private_dir());
}

#[test]
fn the_key_file_is_a_standard_age_identity_file() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("h"));
    let opened = home.init("Alice", "laptop", 1).unwrap();
    let mine = NewEntry {
        author: opened.config.person_id.clone(),
        ..entry(1, MARKER)
    };
    opened.space.add(&[mine], &opened.sealer()).unwrap();
    // What `age -d -i keys/age.key FILE` does: parse the identity file, decrypt.
    let identities = age::IdentityFile::from_file(home.age_key_path().to_string_lossy().into_owned())
        .unwrap()
        .into_identities()
        .unwrap();
    assert_eq!(identities.len(), 1);
    let files = files_under(&home.space_dir());
    let mut found = false;
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "age")) {
        let bytes = fs::read(path).unwrap();
        let decryptor = age::Decryptor::new_buffered(&bytes[..]).unwrap();
        let mut reader = decryptor
            .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .unwrap();
        let mut plain = Vec::new();
        reader.read_to_end(&mut plain).unwrap();
        found |= contains(&plain, MARKER.as_bytes());
        // Decrypted chunks are standard automerge (the view is JSON).
        if path.file_name().unwrap() != "view.age" {
            duo_journal::SpaceDoc::load(&plain).unwrap();
        }
    }
    assert!(found);
}

#[test]
fn home_refuses_readable_key_files() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("h"));
    home.init("Alice", "laptop", 1).unwrap();
    for (key, mode) in [
        (home.age_key_path(), 0o644),
        (home.device_key_path(), 0o644),
        (home.age_key_path(), 0o640),
    ] {
        fs::set_permissions(&key, fs::Permissions::from_mode(mode)).unwrap();
        match home.open() {
            Err(SyncError::KeyPermissions { path, mode: m }) => {
                assert_eq!(path, key);
                assert_eq!(m, mode);
            }
            Err(e) => panic!("{}: expected KeyPermissions, got {e}", key.display()),
            Ok(_) => panic!("{}: opened with mode {mode:o}", key.display()),
        }
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        home.open().unwrap();
    }
    // A key file that is not a key is a clear error too, naming which key file it is.
    use duo_device::local::LocalFile;
    write_durably(&home.device_key_path(), b"# nothing here\n").unwrap();
    assert!(matches!(
        home.open(),
        Err(SyncError::LocalDamaged {
            file: LocalFile::DeviceKey,
            ..
        })
    ));
    write_durably(&home.age_key_path(), b"AGE-SECRET-KEY-1NOTAKEY\n").unwrap();
    assert!(matches!(
        home.open(),
        Err(SyncError::LocalDamaged {
            file: LocalFile::AgeKey,
            ..
        })
    ));
}

#[test]
fn home_refuses_double_init_and_bad_names() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("h"));
    for bad in [
        "",
        "   ",
        "tab\there",
        "line\nbreak",
        &"x".repeat(65),
        "Bob\u{202e}",
        "Bob\u{9b}2J",
    ] {
        assert!(
            matches!(home.init(bad, "laptop", 1), Err(SyncError::InvalidName)),
            "{bad:?}"
        );
        assert!(!home.root().join("keys").exists(), "a refused init leaves nothing");
    }
    // A device label is shown to the partner too: the same rule.
    for bad in ["", "lap\x1b[2Jtop", "lap\u{2066}top", &"x".repeat(65)] {
        assert!(
            matches!(home.init("Alice", bad, 1), Err(SyncError::InvalidLabel)),
            "{bad:?}"
        );
        assert!(!home.root().join("keys").exists(), "a refused init leaves nothing");
    }
    home.init(&"é".repeat(64), "laptop", 1).unwrap();
    let key_before = fs::read(home.age_key_path()).unwrap();
    assert!(matches!(
        home.init("Alice", "laptop", 2),
        Err(SyncError::AlreadyInitialized { .. })
    ));
    assert_eq!(
        fs::read(home.age_key_path()).unwrap(),
        key_before,
        "the key is not replaced"
    );

    // A setup interrupted before its config was written is refused, not overwritten.
    let half = Home::new(tmp.path().join("half"));
    fs::create_dir_all(half.root().join("keys")).unwrap();
    assert!(matches!(
        half.init("Bob", "phone", 1),
        Err(SyncError::IncompleteSetup { .. })
    ));
    assert!(matches!(half.open(), Err(SyncError::NotInitialized { .. })));

    // A config from a newer duo is refused.
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(home.config_path()).unwrap()).unwrap();
    config["version"] = 99.into();
    fs::write(home.config_path(), serde_json::to_vec(&config).unwrap()).unwrap();
    assert!(matches!(home.open(), Err(SyncError::BadFile { .. })));
}

#[test]
fn home_journal_flow_add_edit_compact_doctor() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("h"));
    let opened = home.init("Alice", "laptop", 1).unwrap();
    let me = opened.config.person_id.clone();
    let mk = |n: u32, kind: Kind| NewEntry {
        id: format!("{n:032x}"),
        kind,
        author: me.clone(),
        device: opened.config.device_id.clone(),
        created_at: n as i64,
        edited_at: n as i64,
        body: format!("entry {n}"),
        tags: vec![],
        status: None,
        no_replies: false,
        prompt: None,
    };
    for n in 0..20 {
        opened
            .space
            .add(&[mk(n, Kind::ALL[n as usize % 3])], &opened.sealer())
            .unwrap();
    }
    opened
        .private
        .add(&[mk(100, Kind::Reflection)], &opened.sealer())
        .unwrap();
    opened
        .space
        .update(|d| {
            d.edit_entry(
                &format!("{:032x}", 1),
                &EntryPatch {
                    status: Some(duo_journal::Status::Retired),
                    edited_at: 5,
                    ..Default::default()
                },
                &opened.sealer(),
            )
        })
        .unwrap();
    opened
        .space
        .update(|d| {
            d.edit_entry(
                &format!("{:032x}", 2),
                &EntryPatch {
                    body: Some("edited".into()),
                    tags: Some(vec!["t".into()]),
                    edited_at: 6,
                    ..Default::default()
                },
                &opened.sealer(),
            )
        })
        .unwrap();
    opened
        .space
        .update(|d| d.delete_entry(&format!("{:032x}", 3), 0, &opened.sealer()))
        .unwrap();
    let before = opened.space.contents().unwrap();
    assert_eq!(before.entries.len(), 19);
    opened.space.compact().unwrap();
    opened.private.compact().unwrap();
    for j in [&opened.space, &opened.private] {
        let report = j.doctor().unwrap();
        assert!(report.healthy(), "{:?}", report.problems);
    }

    drop(opened);
    let opened = home.open().unwrap();
    let read = opened.space.read().unwrap();
    assert!(read.problems.is_empty());
    assert_eq!(read.view.entries, before.entries);
    assert_eq!(
        read.view.entries[&format!("{:032x}", 1)].status,
        Some(duo_journal::Status::Retired)
    );
    assert_eq!(read.view.entries[&format!("{:032x}", 2)].tags, vec!["t"]);
    let private = opened.private.read().unwrap();
    assert_eq!(private.view.entries.len(), 1, "the private notebook is separate");
    assert!(!read.view.entries.contains_key(&format!("{:032x}", 100)));
    assert_eq!(opened.space.contents().unwrap(), before);
}

/// An own-device join is recorded in config.json before any of its steps; a crash after
/// that (here: the record, and no step done) is finished by the next open, so the space,
/// the private notebook and the config agree on whose device this is.
#[test]
fn an_interrupted_own_device_join_is_finished_on_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("phone"));
    let phone = home.init("Ali", "phone", 1).unwrap();
    let old_person = phone.config.person_id.clone();
    let mine = NewEntry {
        author: old_person.clone(),
        ..entry(1, "written on the phone before pairing")
    };
    phone.space.add(std::slice::from_ref(&mine), &phone.sealer()).unwrap();
    phone
        .private
        .add(
            &[NewEntry {
                author: old_person.clone(),
                ..entry(2, "private, before pairing")
            }],
            &phone.sealer(),
        )
        .unwrap();

    let alice = duo_journal::Person {
        id: "a".repeat(32),
        name: "Alice".into(),
    };
    let laptop = duo_journal::Device {
        id: "b".repeat(64),
        person: alice.id.clone(),
        label: "laptop".into(),
        added_at: 5,
    };
    // The crash: the join is recorded, nothing else happened.
    let path = dir.path().join("phone/config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    config["pending_join"] = serde_json::json!({
        "old_person": old_person,
        "person": alice,
        "inviter": laptop,
    });
    write_durably(&path, &serde_json::to_vec(&config).unwrap()).unwrap();

    let opened = home.open().unwrap();
    assert_eq!(opened.config.person_id, alice.id);
    assert_eq!(opened.config.name, "Alice");
    assert!(opened.config.pending_join.is_none());
    let view = opened.space.read().unwrap().view;
    assert_eq!(view.entries[&mine.id].author, alice.id, "entries re-attributed");
    assert_eq!(view.devices[&opened.config.device_id].person, alice.id);
    assert!(view.devices.contains_key(&laptop.id));
    let private = opened.private.read().unwrap().view;
    assert!(private.entries.values().all(|e| e.author == alice.id));
    // The record is gone from disk too; opening again changes nothing.
    let on_disk: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert!(on_disk.get("pending_join").is_none(), "{on_disk}");
    assert_eq!(home.open().unwrap().config, opened.config);
}

// ---------------------------------------------------------------------------------------
// Step-through crashes and failed steps: a fault-injecting `AgeStore` (the real store, with
// every create / write / fsync / rename / remove counted) crashes or fails at step k, for
// every k of an operation; then the real code reopens the directory and must find the old
// state or the new one, never anything broken.

use duo_device::{Fault, FaultPlan, Step};

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A store with `adds` entries in `adds/` chunks, one of them edited (a `changes/` file),
/// and the ids, with the edited entry's body.
fn base_store(dir: &Path, identity: &Arc<Identity>, adds: u32) -> Vec<String> {
    let journal = Journal::new(AgeStore::new(dir, identity.clone()));
    journal.create(|d| d.init_schema()).unwrap();
    for n in 0..adds {
        journal.add(&[entry(n, &format!("body {n}"))], &by()).unwrap();
    }
    let first = format!("{:032x}", 0);
    journal
        .update(|d| {
            d.edit_entry(
                &first,
                &EntryPatch {
                    body: Some("edited before the crash".into()),
                    edited_at: 99,
                    ..Default::default()
                },
                &by(),
            )
        })
        .unwrap();
    (0..adds).map(|n| format!("{n:032x}")).collect()
}

/// What one step-through run found.
#[derive(Default, Debug)]
struct Tally {
    runs: usize,
    acknowledged: usize,
    unacknowledged_but_present: usize,
    leftovers_cleaned: usize,
}

/// The check after each recovery: the reopened journal, whether the operation returned
/// Ok, the step that crashed or failed, the steps made, the running tally.
type Check<'a> = dyn Fn(&Journal<AgeStore>, bool, usize, &[(Step, String)], &mut Tally) + 'a;

/// For every step k of `op` on a copy of `base`, crash (or fail) at k, then reopen the
/// directory with the real code and check it with `check(journal, acknowledged, k)`.
fn step_through(
    base: &Path,
    identity: &Arc<Identity>,
    fault: Fault,
    op: &dyn Fn(&Journal<AgeStore>) -> Result<(), JournalError>,
    check: &Check<'_>,
) -> (usize, Tally) {
    let probe_dir = tempfile::tempdir().unwrap();
    copy_dir(base, probe_dir.path());
    let probe = FaultPlan::count_only();
    op(&Journal::new(
        AgeStore::new(probe_dir.path(), identity.clone()).with_faults(probe.clone()),
    ))
    .unwrap();
    let steps = probe.steps();
    let mut tally = Tally::default();
    for k in 0..steps {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(base, tmp.path());
        let plan = FaultPlan::at(k, fault);
        let faulty = Journal::new(AgeStore::new(tmp.path(), identity.clone()).with_faults(plan.clone()));
        let result = op(&faulty);
        if let Fault::Crash = fault {
            assert!(plan.crashed(), "the crash at step {k} happened");
        }
        // A new process: the real store, no faults.
        let store = AgeStore::new(tmp.path(), identity.clone());
        let journal = Journal::new(store.clone());
        if let Fault::Fail(_) = fault {
            let leftovers = store.list().unwrap().leftovers;
            assert!(
                leftovers.is_empty(),
                "a failed step {k} cleans up after itself: {leftovers:?}"
            );
        }
        // Reads see no damage before any clean-up...
        let read = journal.read().unwrap();
        assert!(
            read.problems.is_empty(),
            "{fault:?} at step {k} ({:?}): a read reports {:?}",
            plan.log().last(),
            read.problems
        );
        // ... and doctor finds a healthy store (it may remove leftovers of the write).
        let report = journal.doctor().unwrap();
        assert!(
            report.healthy(),
            "{fault:?} at step {k} ({:?}): doctor reports {:?}",
            plan.log().last(),
            report.problems
        );
        tally.leftovers_cleaned += report.cleaned.len();
        tally.runs += 1;
        tally.acknowledged += usize::from(result.is_ok());
        check(&journal, result.is_ok(), k, &plan.log(), &mut tally);
        assert!(journal.doctor().unwrap().healthy());
    }
    (steps, tally)
}

fn fresh_entry() -> NewEntry {
    entry(0xfeed, "the entry being written when the crash came")
}

/// The entries after recovery: every earlier one, the earlier edit, and the new one when
/// its `add` returned Ok (it may be there when it did not: the file was renamed into place
/// before a later step failed).
fn check_add(journal: &Journal<AgeStore>, ids: &[String], acked: bool, k: usize, tally: &mut Tally) {
    let entries = journal.read().unwrap().view.contents.entries;
    for id in ids {
        assert!(entries.contains_key(id), "step {k}: entry {id} written earlier is lost");
    }
    assert_eq!(
        entries[&ids[0]].body, "edited before the crash",
        "step {k}: an earlier edit is lost"
    );
    let new_id = fresh_entry().id;
    let present = entries.contains_key(&new_id);
    assert!(!acked || present, "step {k}: an acknowledged entry is lost");
    tally.unacknowledged_but_present += usize::from(!acked && present);
    assert_eq!(
        entries.len(),
        ids.len() + usize::from(present),
        "step {k}: nothing else appears"
    );
    // The full load agrees with the view.
    assert_eq!(journal.contents().unwrap().entries, entries, "step {k}");
}

/// `duo journal add` followed by the compaction it starts when it is due (here always, so
/// that every step of a compaction is crashed at too: snapshot, view, removal of each old
/// file). A failed compaction does not undo the add, as in the CLI.
fn add_then_compact(j: &Journal<AgeStore>) -> Result<(), JournalError> {
    j.add(&[fresh_entry()], &by())?;
    // Acknowledged: every chunk on disk, the new one included, has its mark by now (the
    // base store was written with marks too), so its loss would be named.
    let on_disk = j.storage().list().unwrap();
    let chunks: Vec<&String> = (on_disk.files.iter())
        .filter(|n| *n != "view" && !n.starts_with("view-parts/"))
        .collect();
    let marked: Vec<&String> = on_disk.marks.iter().collect();
    assert_eq!(chunks, marked, "an acknowledged add has its mark");
    let _ = j.compact();
    Ok(())
}

/// How many entries (one `adds/` chunk each) the stepped-through store holds: every one
/// is a file the compaction removes, two steps each. `DUO_TEST_STEP_ADDS` (default 6;
/// `just soak`: 62, a store one add away from compacting by itself).
fn step_adds() -> u32 {
    std::env::var("DUO_TEST_STEP_ADDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

#[test]
fn a_crash_at_every_step_of_an_add_and_its_compaction_leaves_old_or_new() {
    let tmp = tempfile::tempdir().unwrap();
    let identity = Arc::new(Identity::generate());
    let base = tmp.path().join("base");
    let ids = base_store(&base, &identity, step_adds());
    let started = std::time::Instant::now();
    let (steps, tally) = step_through(
        &base,
        &identity,
        Fault::Crash,
        &add_then_compact,
        &|j, acked, k, _, t| check_add(j, &ids, acked, k, t),
    );
    assert!(
        steps > 20,
        "the add and the compaction were both stepped through: {steps}"
    );
    assert!(tally.acknowledged > 0 && tally.acknowledged < steps);
    eprintln!(
        "step-through crash of add + compaction: {steps} steps, {} crashes, {} recovered \
         (100 %), {} after the entry was acknowledged, {} unacknowledged but present, {} \
         leftovers removed by doctor, in {:.1?}",
        tally.runs,
        tally.runs,
        tally.acknowledged,
        tally.unacknowledged_but_present,
        tally.leftovers_cleaned,
        started.elapsed()
    );
}

#[test]
fn a_crash_at_every_step_of_an_edit_and_of_a_repair_leaves_old_or_new() {
    let tmp = tempfile::tempdir().unwrap();
    let identity = Arc::new(Identity::generate());
    let base = tmp.path().join("base");
    let ids = base_store(&base, &identity, 6);
    let target = ids[2].clone();
    let edit = |j: &Journal<AgeStore>| {
        j.update(|d| {
            d.edit_entry(
                &target,
                &EntryPatch {
                    body: Some("the new text".into()),
                    edited_at: 100,
                    ..Default::default()
                },
                &by(),
            )
        })
    };
    let (steps, tally) = step_through(&base, &identity, Fault::Crash, &edit, &|j, acked, k, _, _| {
        let body = j.read().unwrap().view.entries[&target].body.clone();
        assert!(
            body == "the new text" || (!acked && body == "body 2"),
            "step {k}: {body}"
        );
        assert_eq!(j.read().unwrap().view.entries.len(), ids.len());
    });
    eprintln!(
        "step-through crash of an edit: {steps} steps, {} recovered (100 %)",
        tally.runs
    );

    // A repair: a truncated chunk and a foreign file, crashed at every step of the
    // repair. Running `doctor --repair` again (what the docs tell the user) finishes it.
    let damaged_base = tmp.path().join("damaged");
    copy_dir(&base, &damaged_base);
    let victim = fs::read_dir(damaged_base.join("adds"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = fs::read(&victim).unwrap();
    fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    fs::write(damaged_base.join("notes.txt"), "not duo's").unwrap();
    let reference = {
        let t = tempfile::tempdir().unwrap();
        copy_dir(&damaged_base, t.path());
        let j = Journal::new(AgeStore::new(t.path(), identity.clone()));
        j.repair().unwrap();
        j.read().unwrap().view.contents.entries
    };
    assert_eq!(reference.len(), ids.len() - 1, "the truncated chunk held one entry");
    let probe = FaultPlan::count_only();
    {
        let t = tempfile::tempdir().unwrap();
        copy_dir(&damaged_base, t.path());
        Journal::new(AgeStore::new(t.path(), identity.clone()).with_faults(probe.clone()))
            .repair()
            .unwrap();
    }
    for k in 0..probe.steps() {
        let t = tempfile::tempdir().unwrap();
        copy_dir(&damaged_base, t.path());
        let faulty =
            Journal::new(AgeStore::new(t.path(), identity.clone()).with_faults(FaultPlan::at(k, Fault::Crash)));
        assert!(faulty.repair().is_err());
        let j = Journal::new(AgeStore::new(t.path(), identity.clone()));
        let first = j.doctor().unwrap();
        if !first.healthy() {
            j.repair().unwrap();
        }
        let report = j.doctor().unwrap();
        assert!(
            report.healthy(),
            "repair crashed at step {k}, then repaired again: {:?}",
            report.problems
        );
        assert_eq!(j.read().unwrap().view.entries, reference, "repair crashed at step {k}");
    }
    eprintln!("step-through crash of a repair: {} steps, all recovered", probe.steps());
}

/// The step-through sees the mark: an add is the chunk's five steps, then the mark's
/// create and the fsync of `marks/`, all before it returns.
#[test]
fn an_add_makes_its_mark_durable_before_it_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let identity = Arc::new(Identity::generate());
    let base = tmp.path().join("base");
    base_store(&base, &identity, 1);
    let probe = FaultPlan::count_only();
    let j = Journal::new(AgeStore::new(&base, identity.clone()).with_faults(probe.clone()));
    j.add(&[fresh_entry()], &by()).unwrap();
    let log = probe.log();
    let steps: Vec<Step> = log.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        steps,
        [
            Step::Create,
            Step::Write,
            Step::SyncFile,
            Step::Rename,
            Step::SyncDir,
            Step::Create,
            Step::SyncDir
        ],
        "{log:?}"
    );
    assert!(log[3].1.contains("/adds/"), "{log:?}");
    assert!(log[5].1.contains("/marks/adds-"), "{log:?}");
    assert!(log[6].1.ends_with("/marks"), "{log:?}");
    // A store from before marks: the first mark also makes `marks/` itself durable.
    fs::remove_dir_all(base.join("marks")).unwrap();
    let probe = FaultPlan::count_only();
    let j = Journal::new(AgeStore::new(&base, identity.clone()).with_faults(probe.clone()));
    j.add(&[entry(0xbeef, "after marks were gone")], &by()).unwrap();
    let steps: Vec<Step> = probe.log().iter().map(|(s, _)| *s).collect();
    assert_eq!(steps.len(), 8, "{:?}", probe.log());
    assert_eq!(steps[5], Step::SyncDir, "the store directory, for the new marks/");
    assert!(j.doctor().unwrap().healthy());
}

#[test]
fn a_failed_step_write_fsync_or_rename_is_never_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let identity = Arc::new(Identity::generate());
    let base = tmp.path().join("base");
    let ids = base_store(&base, &identity, step_adds());
    for (errno, what) in [(libc_eio(), "EIO"), (libc_enospc(), "ENOSPC")] {
        let (steps, tally) = step_through(
            &base,
            &identity,
            Fault::Fail(errno),
            &add_then_compact,
            &|j, acked, k, log, t| {
                check_add(j, &ids, acked, k, t);
                // The add's own file: create, write, fsync, rename, fsync dir. A failure at
                // any of the first four means the entry was not saved and must not be
                // acknowledged (the CLI prints "Saved." only after Ok).
                let (step, path) = log.last().unwrap();
                if log.len() <= 4 && path.contains("/adds/") {
                    assert!(!acked, "{what} at {step:?} of the add, yet it was acknowledged");
                    assert!(
                        !j.read().unwrap().view.entries.contains_key(&fresh_entry().id),
                        "{what} at {step:?}: the entry must not be there"
                    );
                }
                if *step == Step::SyncFile && log.len() <= 4 {
                    assert!(!acked, "{what} on the fsync of the entry's file is an error");
                }
            },
        );
        eprintln!(
            "{what} at each of {steps} steps of add + compaction: {} acknowledged (the failure \
             came after the entry was durable), {} refused, 0 acknowledged but missing",
            tally.acknowledged,
            tally.runs - tally.acknowledged
        );
    }
}

fn libc_eio() -> i32 {
    5
}

fn libc_enospc() -> i32 {
    28
}

/// The front of a file (what the membership part of the view is read from) is the start of
/// what was written, checked chunk by chunk: a flipped byte in the chunks it reads is
/// damage, and the view written after a sync (without the fsyncs) reads back the same.
#[test]
fn the_front_of_a_file_is_read_authenticated_without_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = new_store(tmp.path());
    // Three age chunks (64 KiB each) and a bit.
    let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    store.write_cache("view", &plain).unwrap();
    assert_eq!(store.read("view").unwrap(), plain);
    assert_eq!(store.read_prefix("view", 100).unwrap(), &plain[..100]);
    assert_eq!(store.read_prefix("view", 70_000).unwrap(), &plain[..70_000]);
    assert_eq!(
        store.read_prefix("view", 1 << 20).unwrap(),
        plain,
        "a file shorter than asked: all of it"
    );

    let path = store.path_of("view");
    let good = fs::read(&path).unwrap();
    // A flipped byte near the start of the payload (the first chunk): the front is damaged.
    let mut bad = good.clone();
    let at = good.len() - plain.len() - 3 * 16 + 10;
    bad[at] ^= 0x40;
    fs::write(&path, &bad).unwrap();
    let err = store.read_prefix("view", 100).unwrap_err();
    assert!(matches!(err, StorageError::Damaged { .. }), "{err}");
    // A flipped byte in the last chunk: the front is still authentic; the whole is not.
    let mut bad = good.clone();
    let last = good.len() - 5;
    bad[last] ^= 0x40;
    fs::write(&path, &bad).unwrap();
    assert_eq!(store.read_prefix("view", 100).unwrap(), &plain[..100]);
    expect_damaged(&store, "view", "a flipped byte in the last chunk");
}
