//! A home's own files are checked like the space (issue 12, item 10): `duo doctor` names a
//! damaged trust file, peer table, sync record, key or settings file with a hint that says
//! what to do, every command that needs one gives the same hint, `--repair` rebuilds what can
//! be rebuilt; every directory of a home is 0700, an older home's too.

use crate::harness::*;
use crate::hostile_partner::Hostile;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Damage {
    /// One byte near the end (in the key line of a key file, in the payload of an age file).
    Flip,
    Truncate,
    Garbage,
    Remove,
}

fn damage(path: &Path, how: Damage) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match how {
        Damage::Flip => {
            let mut b = bytes;
            let at = b.len() - 10;
            b[at] ^= 0x01;
            std::fs::write(path, b).unwrap();
        }
        Damage::Truncate => std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap(),
        Damage::Garbage => std::fs::write(path, b"\xff\xfe not what duo wrote \x00\x01\x02 garbage").unwrap(),
        Damage::Remove => std::fs::remove_file(path).unwrap(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type().unwrap();
        if t.is_dir() {
            copy_dir(&src, &dst);
        } else if t.is_file() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

fn dirs_under(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        for e in std::fs::read_dir(&out[i]).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(e.path());
            }
        }
        i += 1;
    }
    out
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[track_caller]
fn all_private(home: &Path) {
    for d in dirs_under(home) {
        assert_eq!(mode(&d), 0o700, "{} is {:o}", d.display(), mode(&d));
    }
}

/// A local-file error as every command must give it: exit 11 (FILE_DAMAGED), the file named, the hint
/// that fits it, never the hint about a full disk.
#[track_caller]
fn names_it(r: &Run, what: &str, path: &Path, hint: &str, context: &str) {
    let err = r.fails(11);
    assert!(
        err.contains(what) && err.contains(&path.display().to_string()),
        "{context}: {err}"
    );
    assert!(err.contains(hint), "{context}: the hint {hint:?}: {err}");
    assert!(!err.contains("disk has space"), "{context}: {err}");
}

/// Alice joined Bob and synced with him: her home has every local file.
fn paired() -> (Device, Device, String) {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&bob, &alice, &[]);
    alice.add("Written before anything was damaged", &[]);
    let bob_id = bob.run(&["status", "--json"]).json()["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    {
        let mut watch = bob.spawn(&["sync", "--watch"]);
        watch.wait_for("Online", Duration::from_secs(60));
        assert_eq!(alice.run(&["sync", "--json"]).json()["reached"], 1);
    }
    for f in [
        "local/members.age",
        "local/peers.age",
        &format!("local/sync/{bob_id}.age"),
    ] {
        assert!(alice.home().join(f).is_file(), "{f} exists after a sync");
    }
    (alice, bob, bob_id)
}

const REPAIR: &str = "duo doctor --repair";
const NOT_REBUILT: &str = "duo cannot rebuild this file";

#[test]
fn doctor_names_a_damaged_trust_file_peer_table_or_sync_record_and_repair_rebuilds_it() {
    let (alice, _bob, bob_id) = paired();
    let template = alice.dir.path().join("template");
    copy_dir(&alice.home(), &template);
    let cases = [
        ("local/members.age", "trust file"),
        ("local/peers.age", "table of peer addresses"),
        (&*format!("local/sync/{bob_id}.age"), "record of a past sync"),
    ];
    for (file, what) in cases {
        for how in [Damage::Flip, Damage::Truncate, Damage::Garbage, Damage::Remove] {
            let context = format!("{file}, {how:?}");
            std::fs::remove_dir_all(alice.home()).unwrap();
            copy_dir(&template, &alice.home());
            let path = alice.home().join(file);
            damage(&path, how);
            let doctor = alice.run(&["doctor"]);
            if matches!(how, Damage::Remove) && !file.ends_with("members.age") {
                // A peer table or sync record is learned again: none is not damage.
                assert_eq!(doctor.code, 0, "{context}: {}{}", doctor.stdout, doctor.stderr);
                continue;
            }
            assert_eq!(doctor.code, 11, "{context}: doctor finds it\n{}", doctor.stdout);
            assert!(
                doctor.stdout.contains("local files:") && doctor.stdout.contains("DAMAGED"),
                "{context}"
            );
            assert!(
                doctor.stdout.contains(&format!("damaged: this device's {what}"))
                    || doctor.stdout.contains(&format!("damaged: a {what}")),
                "{context}: {}",
                doctor.stdout
            );
            assert!(
                doctor.stdout.contains(&path.display().to_string()),
                "{context}: {}",
                doctor.stdout
            );
            assert!(doctor.stderr.contains(REPAIR), "{context}: {}", doctor.stderr);
            let json = alice.run(&["doctor", "--json"]);
            assert_eq!(json.code, 11);
            let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
            assert_eq!(json["healthy"], false, "{context}");
            assert_eq!(json["local"]["problems"][0]["rebuildable"], true, "{context}: {json}");

            // The commands that need the file give the same hint (a sync record is only a
            // shortcut: sync goes on without it).
            if file.ends_with("members.age") {
                for cmd in [&["devices"][..], &["safety"], &["sync"]] {
                    names_it(&alice.run(cmd), what, &path, REPAIR, &format!("{context}, duo {cmd:?}"));
                }
            } else if file.ends_with("peers.age") {
                names_it(
                    &alice.run(&["sync"]),
                    what,
                    &path,
                    REPAIR,
                    &format!("{context}, duo sync"),
                );
            }

            let repair = alice.run(&["doctor", "--repair"]);
            assert_eq!(repair.code, 0, "{context}: {}{}", repair.stdout, repair.stderr);
            assert!(repair.stdout.contains("moved aside:"), "{context}: {}", repair.stdout);
            assert!(!path.exists() || file.ends_with("members.age"), "{context}: set aside");
            if !matches!(how, Damage::Remove) {
                let moved = files_under(&alice.home().join("quarantine/local"));
                assert_eq!(moved.len(), 1, "{context}: the damaged file is kept aside: {moved:?}");
            }
            alice.run(&["doctor"]).ok();
            if file.ends_with("members.age") {
                assert!(repair.stdout.contains("rebuilt this device's trust"), "{context}");
                assert!(
                    repair.stdout.contains("duo devices revoke"),
                    "{context}: says what to redo"
                );
                // Rebuilt from the signatures of the pairing: Bob's device is a member again.
                let devices = alice.run(&["devices", "--json"]).json();
                let bob = devices
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|d| d["id"] == bob_id.as_str())
                    .unwrap();
                assert_eq!(bob["standing"], "active", "{context}: {devices}");
            }
            all_private(&alice.home());
        }
    }
}

#[test]
fn doctor_names_a_damaged_key_or_settings_file_that_cannot_be_rebuilt() {
    let alice = Device::new("Alice");
    alice.add("Sealed with Alice's person key", &[]);
    let template = alice.dir.path().join("template");
    copy_dir(&alice.home(), &template);
    let all = [Damage::Flip, Damage::Truncate, Damage::Garbage, Damage::Remove];
    let cases: [(&str, &str, &[Damage]); 4] = [
        ("keys/age.key", "encryption key", &all),
        ("keys/device.key", "network key", &all),
        ("keys/person.key", "person key", &all),
        // A flipped byte in JSON can still be JSON; a removed config.json is a home not set up.
        ("config.json", "settings", &[Damage::Truncate, Damage::Garbage]),
    ];
    for (file, what, damages) in cases {
        for &how in damages {
            let context = format!("{file}, {how:?}");
            std::fs::remove_dir_all(alice.home()).unwrap();
            copy_dir(&template, &alice.home());
            let path = alice.home().join(file);
            damage(&path, how);
            let before = std::fs::read(&path).ok();
            for args in [&["doctor"][..], &["doctor", "--repair"]] {
                let doctor = alice.run(args);
                assert_eq!(
                    doctor.code, 11,
                    "{context}: {args:?}\n{}{}",
                    doctor.stdout, doctor.stderr
                );
                assert!(doctor.stdout.contains(what), "{context}: {}", doctor.stdout);
                assert!(
                    doctor.stdout.contains(&path.display().to_string()),
                    "{context}: {}",
                    doctor.stdout
                );
                assert!(doctor.stderr.contains(NOT_REBUILT), "{context}: {}", doctor.stderr);
                assert!(doctor.stderr.contains("duo restore"), "{context}: {}", doctor.stderr);
                assert_eq!(std::fs::read(&path).ok(), before, "{context}: left as it is");
            }
            for args in [&["journal", "list"][..], &["journal", "add", "more"], &["status"]] {
                names_it(
                    &alice.run(args),
                    what,
                    &path,
                    NOT_REBUILT,
                    &format!("{context}, duo {args:?}"),
                );
            }
        }
    }
}

#[test]
fn a_deleted_trust_file_does_not_anchor_a_device_record_the_partner_forged() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let alice_status = alice.run(&["status", "--json"]).json();
    let bob_id = bob.run(&["status", "--json"]).json()["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Bob's modified client records a device of its own under Alice's name.
    let forged = "f0".repeat(32);
    let opened = duo_device::Home::new(bob.home()).open().unwrap();
    let alice_person = duo_journal::Person {
        id: alice_status["person_id"].as_str().unwrap().into(),
        name: "Alice".into(),
    };
    let device = duo_journal::Device {
        id: forged.clone(),
        person: alice_person.id.clone(),
        label: "Alice's new phone".into(),
        added_at: 1,
    };
    opened
        .space
        .update(|doc| doc.add_member(&alice_person, &device))
        .unwrap();
    drop(opened);
    Hostile::new(&bob).sync_victim(&alice);
    let standing = |d: &Device, id: &str| -> serde_json::Value {
        let devices = d.run(&["devices", "--json"]).json();
        devices.as_array().unwrap().iter().find(|x| x["id"] == id).unwrap()["standing"].clone()
    };
    assert_eq!(standing(&alice, &forged), "unconfirmed");

    // The trust file is deleted (by mistake, a cleaning tool, or someone at the computer).
    let trust = alice.home().join("local/members.age");
    std::fs::remove_file(&trust).unwrap();
    names_it(&alice.run(&["devices"]), "trust file", &trust, REPAIR, "devices");
    names_it(&alice.run(&["sync"]), "trust file", &trust, REPAIR, "sync");
    alice.run(&["doctor"]).fails(11);
    let repair = alice.run(&["doctor", "--repair"]);
    assert_eq!(repair.code, 0, "{}{}", repair.stdout, repair.stderr);
    assert!(repair.stdout.contains("1 not confirmed"), "{}", repair.stdout);
    assert_eq!(
        standing(&alice, &forged),
        "unconfirmed",
        "the forged record is still not a member"
    );
    assert_eq!(
        standing(&alice, &bob_id),
        "active",
        "Bob's real device is, through the pairing's signatures"
    );
}

#[test]
fn every_directory_of_a_home_is_private_an_older_home_included() {
    let d = Device::new("Alice");
    d.add("an entry", &[]);
    d.add("a note", &["--private"]);
    d.run(&["devices"]).ok();
    d.run(&["doctor"]).ok();
    all_private(&d.home());
    // A home from an older duo (or made by hand): directories 0755.
    for dir in dirs_under(&d.home()) {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert_eq!(mode(&d.home().join("space/adds")), 0o755);
    d.run(&["journal", "list"]).ok();
    all_private(&d.home());
}
