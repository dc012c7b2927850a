//! What is on disk: encrypted, readable with stock age, damage detected by name.

use crate::harness::*;

#[test]
fn no_plaintext_on_disk() {
    let d = Device::new("Alice");
    let marker = "MARKER-7f3a9c-shared";
    let private_marker = "MARKER-7f3a9c-private";
    let id = d.add(&format!("{marker} body"), &["--tag", "marker7f3a9ctag"]);
    d.add(&format!("{private_marker} body"), &["--private"]);
    d.run(&["journal", "edit", &id, &format!("{marker} edited")]).ok();
    assert_eq!(any_file_contains(&d.home(), "MARKER-7f3a9c"), None);
    assert_eq!(any_file_contains(&d.home(), "marker7f3a9ctag"), None);
    for f in files_under(&d.home().join("space"))
        .iter()
        .chain(files_under(&d.home().join("private")).iter())
    {
        let name = f.file_name().unwrap().to_string_lossy();
        if name == ".lock" {
            continue;
        }
        if f.parent().unwrap().ends_with("marks") {
            // A mark is empty: only its name, which is its chunk's name, says anything.
            assert_eq!(std::fs::metadata(f).unwrap().len(), 0, "{} is empty", f.display());
            continue;
        }
        let head = std::fs::read(f).unwrap();
        assert!(
            head.starts_with(b"age-encryption.org/v1\n"),
            "{} is not an age file",
            f.display()
        );
    }
}

#[test]
fn stock_age_reads_the_data() {
    if !have_tool("age") {
        return;
    }
    let d = Device::new("Alice");
    d.add("readable with age", &[]);
    for f in files_under(&d.home().join("space")) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name == ".lock" || f.parent().unwrap().ends_with("marks") {
            continue;
        }
        let out = age_decrypt(&d, &f);
        assert!(
            out.status.success(),
            "age -d {}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        if name == "view.age" {
            // The view is a cache in duo's own compact encoding; it must decrypt too.
            assert!(!out.stdout.is_empty());
        } else {
            // Standard automerge bytes start with automerge's magic number.
            assert_eq!(&out.stdout[..4], &[0x85, 0x6f, 0x4a, 0x83], "{name} is automerge");
        }
    }
}

/// A store with a few entries; returns (device, ids).
fn store_with_entries() -> (Device, Vec<String>) {
    let d = Device::new("Alice");
    let ids = (0..4).map(|i| d.add(&format!("entry {i}"), &[])).collect();
    (d, ids)
}

#[test]
fn corrupted_chunk_is_named_and_the_rest_stays_readable() {
    let (d, _) = store_with_entries();
    let adds = files_under(&d.home().join("space/adds"));
    assert_eq!(adds.len(), 4);
    let victim = &adds[1];
    let mut bytes = std::fs::read(victim).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 0x40;
    std::fs::write(victim, &bytes).unwrap();
    let siblings: Vec<(std::path::PathBuf, Vec<u8>)> = files_under(&d.home().join("space"))
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();

    let r = d.run(&["journal", "list", "--json"]);
    assert_eq!(r.code, 11, "damage makes list exit 11 (FILE_DAMAGED)");
    let victim_name = victim.file_name().unwrap().to_string_lossy().into_owned();
    let stem = victim_name.trim_end_matches(".age");
    assert!(r.stderr.contains(stem), "the damaged file is named: {}", r.stderr);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(listed.len(), 3, "the undamaged entries are still listed");

    let r = d.run(&["doctor"]);
    assert_eq!(r.code, 11);
    assert!(r.stdout.contains(stem) && r.stdout.contains("DAMAGED"), "{}", r.stdout);
    let j = d.run(&["doctor", "--json"]);
    assert_eq!(j.code, 11);

    // Writes that would build on the damaged store refuse; nothing is overwritten.
    let id = listed[0]["id"].as_str().unwrap();
    let err = d.run(&["journal", "edit", id, "new"]).fails(11).to_string();
    assert!(err.contains("damaged") && err.contains("duo doctor"), "{err}");
    for (p, b) in &siblings {
        if p.file_name().unwrap() == ".lock" {
            continue;
        }
        assert_eq!(&std::fs::read(p).unwrap(), b, "{} unchanged", p.display());
    }
}

#[test]
fn empty_truncated_and_foreign_files_are_detected() {
    for damage in ["empty", "truncate", "foreign", "delete-snapshot", "view-garbage"] {
        let (d, _) = store_with_entries();
        d.run(&["journal", "edit", d.list(&[])[0]["id"].as_str().unwrap(), "edited"])
            .ok();
        let space = d.home().join("space");
        match damage {
            "empty" => std::fs::write(&files_under(&space.join("changes"))[0], b"").unwrap(),
            "truncate" => {
                let f = &files_under(&space.join("snapshots"))[0];
                let b = std::fs::read(f).unwrap();
                std::fs::write(f, &b[..b.len() / 2]).unwrap();
            }
            "foreign" => std::fs::write(space.join("adds/holiday-photo.jpg"), b"\xff\xd8\xff").unwrap(),
            "delete-snapshot" => std::fs::remove_file(&files_under(&space.join("snapshots"))[0]).unwrap(),
            "view-garbage" => std::fs::write(space.join("view.age"), b"garbage").unwrap(),
            _ => unreachable!(),
        }
        let r = d.run(&["doctor"]);
        assert_eq!(r.code, 11, "{damage}: doctor finds it\n{}", r.stdout);
        if damage == "view-garbage" {
            // The view is a cache: doctor rebuilt it, and the next check is clean.
            d.run(&["doctor"]).ok();
            assert_eq!(d.list(&[]).len(), 4);
        } else {
            assert_ne!(d.run(&["journal", "list"]).code, 0, "{damage}: list reports it");
        }
    }
}

#[test]
fn doctor_cleans_leftovers_of_interrupted_writes() {
    let d = Device::new("Alice");
    d.add("kept", &[]);
    let leftover = d.home().join("space/adds/.abc.age.0123.tmp");
    std::fs::write(&leftover, b"half a write").unwrap();
    let r = d.run(&["doctor"]);
    assert_eq!(r.code, 0, "leftovers are not damage: {}", r.stdout);
    assert!(r.stdout.contains("leftover"), "{}", r.stdout);
    assert!(!leftover.exists());
    assert_eq!(d.bodies(&[]), vec!["kept"]);
}

#[test]
fn many_adds_compact_and_nothing_is_lost() {
    let d = Device::new("Alice");
    let n = duo_compact_after() + 6;
    let mut ids: Vec<String> = (0..n).map(|i| d.add(&format!("note {i}"), &[])).collect();
    let snapshots = files_under(&d.home().join("space/snapshots"));
    assert_eq!(snapshots.len(), 1, "compaction leaves one snapshot");
    assert!(
        files_under(&d.home().join("space/adds")).len() < 10,
        "compaction removed the folded chunks"
    );
    let mut listed: Vec<String> = d
        .list(&[])
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    listed.sort();
    assert_eq!(ids, listed);
    d.run(&["doctor"]).ok();
}

fn duo_compact_after() -> usize {
    64
}

#[test]
fn parallel_adds_all_land() {
    let d = Device::new("Alice");
    let d = std::sync::Arc::new(d);
    let handles: Vec<_> = (0..8)
        .map(|p| {
            let d = d.clone();
            std::thread::spawn(move || {
                (0..15)
                    .map(|i| d.add(&format!("writer {p} entry {i}"), &[]))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    ids.sort();
    let mut listed: Vec<String> = d
        .list(&[])
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed.len(), 120);
    assert_eq!(ids, listed, "every acknowledged entry is present exactly once");
    d.run(&["doctor"]).ok();
}

#[test]
fn repair_sets_damage_aside_and_the_journal_works_again() {
    let (d, ids) = store_with_entries();
    let adds = files_under(&d.home().join("space/adds"));
    // One chunk altered, one removed, one foreign file.
    let mut bytes = std::fs::read(&adds[0]).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&adds[0], &bytes).unwrap();
    std::fs::remove_file(&adds[1]).unwrap();
    std::fs::write(d.home().join("space/notes.txt"), b"not duo's").unwrap();
    let damaged_list = d.run(&["journal", "list", "--json"]);
    assert_eq!(damaged_list.code, 11);
    let survivor: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&damaged_list.stdout)
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(survivor.len(), 2);
    let err = d
        .run(&["journal", "edit", &survivor[0], "changed"])
        .fails(11)
        .to_string();
    assert!(err.contains("--repair"), "{err}");

    let r = d.run(&["doctor", "--repair", "--json"]);
    assert_eq!(r.code, 0, "healthy after repair: {}", r.stdout);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let moved = report["stores"][0]["moved_aside"].as_array().unwrap();
    assert_eq!(moved.len(), 2, "the damaged chunk and the foreign file: {moved:?}");
    for m in moved {
        assert!(
            std::path::Path::new(m["to"].as_str().unwrap()).exists(),
            "kept for the user: {m}"
        );
        assert!(m["to"].as_str().unwrap().contains("/quarantine/"));
    }
    d.run(&["doctor"]).ok();
    let listed = d.run(&["journal", "list", "--json"]);
    assert_eq!(listed.code, 0);
    let mut now: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    now.sort();
    let mut expected = survivor.clone();
    expected.sort();
    assert_eq!(now, expected);
    assert!(ids.iter().filter(|i| !expected.contains(i)).count() == 2);
    d.run(&["journal", "edit", &survivor[0], "changed"]).ok();
    d.add("and life goes on", &[]);
    assert_eq!(d.list(&[]).len(), 3);
}

#[test]
fn repair_handles_missing_history_and_a_lost_snapshot() {
    // Two edits, the second building on the first; the first is damaged.
    let (d, ids) = store_with_entries();
    d.run(&["journal", "edit", &ids[0], "first edit"]).ok();
    let first_edit = files_under(&d.home().join("space/changes"));
    assert_eq!(first_edit.len(), 1);
    d.run(&["journal", "edit", &ids[0], "second edit"]).ok();
    let mut bytes = std::fs::read(&first_edit[0]).unwrap();
    bytes[50] ^= 1;
    std::fs::write(&first_edit[0], &bytes).unwrap();
    d.run(&["doctor"]).fails(11);
    let r = d.run(&["doctor", "--repair", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        report["stores"][0]["moved_aside"].as_array().unwrap().len(),
        2,
        "the damaged edit and the one built on it"
    );
    d.run(&["doctor"]).ok();
    assert_eq!(d.list(&[]).len(), 4);
    d.run(&["journal", "edit", &ids[0], "third edit"]).ok();
    assert_eq!(
        d.run(&["journal", "show", &ids[0], "--json"]).json()["body"],
        "third edit"
    );

    // The snapshot (with this person and device in it) is damaged: repair restores them.
    let snap = files_under(&d.home().join("space/snapshots"));
    std::fs::write(&snap[0], b"not age").unwrap();
    d.run(&["journal", "list"]).fails(11);
    d.run(&["doctor", "--repair"]).ok();
    let status = d.run(&["status", "--json"]).json();
    assert_eq!(status["people"], serde_json::json!(["Alice"]));
    assert_eq!(status["devices"], 1);
    assert!(d.list(&[]).iter().all(|e| e["author"] == "Alice"));
}

#[test]
fn a_view_from_another_duo_version_is_rebuilt_not_reported() {
    let d = Device::new("Alice");
    d.add("kept", &[]);
    // An age file whose plaintext is an older view layout: the magic, format 1, then anything.
    let key = std::fs::read_to_string(d.home().join("keys/age.key")).unwrap();
    let identity: age::x25519::Identity = key
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY"))
        .unwrap()
        .parse()
        .unwrap();
    let sealed = age::encrypt(&identity.to_public(), b"duo-view\n\x01{\"old\":\"layout\"}").unwrap();
    std::fs::write(d.home().join("space/view.age"), sealed).unwrap();
    d.run(&["doctor"]).ok();
    assert_eq!(d.bodies(&[]), vec!["kept"]);
}
