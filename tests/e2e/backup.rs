//! `duo backup` and `duo restore`: one encrypted file with everything a device holds, and a
//! NEW device (never a cloned identity) made from it.

use crate::bundle::device_secret;
use crate::harness::{Device, Run, finish_invite, pair_by_ticket, start_invite};
use age::secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const PASSPHRASE: &str = "correct horse battery staple";
/// scrypt's work factor for these tests (the real default is tuned to about a second per attempt).
const WORK: (&str, &str) = ("DUO_BACKUP_WORK_FACTOR", "10");

pub fn with_work(mut d: Device) -> Device {
    d.env.push((WORK.0.into(), WORK.1.into()));
    d
}

pub fn passphrase_file(d: &Device, text: &str) -> PathBuf {
    let p = d.dir.path().join("passphrase");
    std::fs::write(&p, format!("{text}\n")).unwrap();
    p
}

/// `duo restore FILE --passphrase-file …` on `d`, with [`PASSPHRASE`] (and `extra` flags).
pub fn restore(d: &Device, file: &Path, extra: &[&str]) -> Run {
    let pf = passphrase_file(d, PASSPHRASE);
    let mut args = vec![
        "restore",
        file.to_str().unwrap(),
        "--passphrase-file",
        pf.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    d.run(&args)
}

fn all_bodies(d: &Device) -> Vec<String> {
    let mut v = d.bodies(&["--all"]);
    v.sort();
    v
}

#[test]
fn backup_and_restore_on_a_fresh_home() {
    let alice = with_work(Device::new("Alice"));
    alice.add("I loved our walk by the river", &["--kind", "appreciation"]);
    let boundary = alice.add("I need quiet mornings", &["--kind", "boundary"]);
    alice.add("Private: still thinking about the move", &["--private"]);
    let pf = passphrase_file(&alice, PASSPHRASE);
    let backup = alice.dir.path().join("alice.duobackup");
    let t = Instant::now();
    let made = alice
        .run(&[
            "backup",
            backup.to_str().unwrap(),
            "--passphrase-file",
            pf.to_str().unwrap(),
            "--json",
        ])
        .json();
    eprintln!(
        "backup of 3 entries (work factor {}): {:?}, {} bytes",
        WORK.1,
        t.elapsed(),
        made["bytes"]
    );
    assert_eq!(made["entries"], 2, "{made}");
    assert_eq!(made["private_entries"], 1, "{made}");

    // The file: age to a passphrase, and inside it no key of the device.
    let raw = std::fs::read(&backup).unwrap();
    let plain = age::decrypt(&age::scrypt::Identity::new(SecretString::from(PASSPHRASE)), &raw).unwrap();
    let decoded = duo_device::backup::decode(&plain).unwrap();
    assert_eq!(decoded.person.name, "Alice");
    let age_key = std::fs::read_to_string(alice.home().join("keys/age.key")).unwrap();
    let age_secret = age_key.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap();
    let secret = device_secret(&alice).to_bytes();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    for (what, needle) in [
        ("the age identity", age_secret.as_bytes()),
        ("the device key (hex)", hex.as_bytes()),
        ("the device key (bytes)", &secret[..]),
    ] {
        assert!(
            !plain.windows(needle.len()).any(|w| w == needle),
            "{what} is in the backup"
        );
    }
    assert!(!raw.windows(12).any(|w| w == b"quiet morning"), "encrypted");

    // A wrong passphrase: a clear error, and no home created.
    let fresh = with_work(Device::blank());
    let wrong = passphrase_file(&fresh, "not the passphrase");
    let err = fresh
        .run(&[
            "restore",
            backup.to_str().unwrap(),
            "--passphrase-file",
            wrong.to_str().unwrap(),
        ])
        .fails(10)
        .to_string();
    assert!(err.contains("passphrase is wrong"), "{err}");
    assert!(!fresh.home().join("config.json").exists());

    // Restore on a fresh home: a new device of Alice, everything readable at once.
    let t = Instant::now();
    let restored = restore(&fresh, &backup, &["--json"]).json();
    eprintln!("restore (work factor {}): {:?}", WORK.1, t.elapsed());
    assert_eq!(restored["merged"], false);
    assert_eq!(restored["name"], "Alice");
    let old_id = alice.run(&["status", "--json"]).json()["device_id"].clone();
    assert_ne!(restored["device_id"], old_id, "a new device identity, never a clone");
    assert_eq!(restored["backup_device_id"], old_id);
    assert_eq!(all_bodies(&fresh), all_bodies(&alice));
    assert_ne!(
        std::fs::read(fresh.home().join("keys/age.key")).unwrap(),
        std::fs::read(alice.home().join("keys/age.key")).unwrap()
    );
    let status = fresh.run(&["status", "--json"]).json();
    assert_eq!(
        status["person_id"],
        alice.run(&["status", "--json"]).json()["person_id"],
        "{status}"
    );
    fresh.run(&["doctor"]).ok();

    // Restoring into a journal that moved on merges: nothing newer is lost.
    alice.add("Written after the backup", &[]);
    let edited = "I need quiet mornings, and an hour after work";
    alice.run(&["journal", "edit", &boundary, edited]).ok();
    alice.add("A private note after the backup", &["--private"]);
    let merged = restore(&alice, &backup, &["--json"]).json();
    assert_eq!(merged["merged"], true);
    let bodies = all_bodies(&alice);
    assert_eq!(bodies.len(), 5, "{bodies:?}");
    assert!(bodies.contains(&"Written after the backup".to_string()));
    assert!(
        bodies.contains(&edited.to_string()),
        "an edit made after the backup stays: {bodies:?}"
    );
    assert!(!bodies.contains(&"I need quiet mornings".to_string()), "{bodies:?}");

    // Someone else's device refuses it.
    let bob = with_work(Device::new("Bob"));
    let err = restore(&bob, &backup, &[]).fails(13).to_string();
    assert!(err.contains("another shared space"), "{err}");

    // The restored device syncs again once paired with the surviving device.
    pair_by_ticket(&alice, &fresh, &["--own-device"]);
    assert!(fresh.bodies(&[]).contains(&"Written after the backup".to_string()));
    let devices = alice.run(&["devices", "--json"]).json();
    let devices = devices.as_array().unwrap();
    assert_eq!(devices.len(), 2, "{devices:?}");
    assert!(devices.iter().all(|d| d["person"] == "Alice"), "{devices:?}");
}

#[test]
fn backup_to_an_age_recipient() {
    let alice = with_work(Device::new("Alice"));
    alice.add("Kept with my own age key", &[]);
    let id = age::x25519::Identity::generate();
    let id_file = alice.dir.path().join("me.agekey");
    use age::secrecy::ExposeSecret;
    std::fs::write(
        &id_file,
        format!("# test identity\n{}\n", id.to_string().expose_secret()),
    )
    .unwrap();
    let backup = alice.dir.path().join("alice.duobackup");
    let r = id.to_public().to_string();
    alice.run(&["backup", backup.to_str().unwrap(), "--recipient", &r]).ok();

    let fresh = Device::blank();
    // Without the identity, or with a passphrase: usage errors that say what to give.
    let err = fresh.run(&["restore", backup.to_str().unwrap()]).fails(2).to_string();
    assert!(err.contains("-i FILE"), "{err}");
    let other = age::x25519::Identity::generate();
    let other_file = fresh.dir.path().join("other.agekey");
    std::fs::write(&other_file, format!("{}\n", other.to_string().expose_secret())).unwrap();
    fresh
        .run(&["restore", backup.to_str().unwrap(), "-i", other_file.to_str().unwrap()])
        .fails(10);
    fresh
        .run(&["restore", backup.to_str().unwrap(), "-i", id_file.to_str().unwrap()])
        .ok();
    assert_eq!(fresh.bodies(&[]), vec!["Kept with my own age key".to_string()]);

    // A passphrase backup with no terminal and no --passphrase-file: a usage error.
    let err = alice.run(&["backup", backup.to_str().unwrap()]).fails(2).to_string();
    assert!(err.contains("--passphrase-file"), "{err}");
}

#[test]
fn a_restored_device_pairs_with_the_partner_when_none_of_ones_own_survives() {
    let alice = with_work(Device::new("Alice"));
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    alice.add("Before the laptop was lost", &[]);
    let pf = passphrase_file(&alice, PASSPHRASE);
    let backup = alice.dir.path().join("alice.duobackup");
    alice
        .run(&[
            "backup",
            backup.to_str().unwrap(),
            "--passphrase-file",
            pf.to_str().unwrap(),
        ])
        .ok();
    // Bob writes after the backup; Alice's only device is then lost.
    let bob_wrote = "Bob, after Alice's backup";
    bob.add(bob_wrote, &[]);
    let old_alice = alice.run(&["status", "--json"]).json()["device_id"].clone();
    let fresh = Device::blank();
    let saved = fresh.dir.path().join("from-the-usb-stick.duobackup");
    std::fs::copy(&backup, &saved).unwrap();
    drop(alice);
    let backup = saved;

    restore(&fresh, &backup, &[]).ok();
    assert!(fresh.bodies(&[]).contains(&"Before the laptop was lost".to_string()));

    // A plain partner pairing is refused in a space of two, with a hint.
    let err = bob.run(&["pair", "--ticket", "--yes"]).fails(1).to_string();
    assert!(err.contains("--partner-device"), "{err}");

    // A stranger cannot use --partner-device to get in.
    let carol = Device::new("Carol");
    let (child, ticket) = start_invite(&bob, &["--partner-device"]);
    let joined = carol.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{ticket}\n"));
    assert_ne!(joined.code, 0, "{}", joined.stderr);
    let invited = finish_invite(child);
    assert!(
        invited.fails(1).contains("not a device of your partner's"),
        "{}",
        invited.stderr
    );
    assert_eq!(bob.run(&["devices", "--json"]).json().as_array().unwrap().len(), 2);

    // The restored device: Bob sees a new device of Alice's and confirms the words.
    let (invited, _) = pair_by_ticket(&bob, &fresh, &["--partner-device"]);
    assert!(invited.stderr.contains("new device of Alice's"), "{}", invited.stderr);
    assert!(
        fresh.bodies(&[]).contains(&bob_wrote.to_string()),
        "synced after pairing"
    );
    let devices = bob.run(&["devices", "--json"]).json();
    let alices: Vec<_> = devices
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["person"] == "Alice")
        .map(|d| d["id"].clone())
        .collect();
    assert_eq!(alices.len(), 2, "the lost device and the restored one: {devices}");
    assert!(alices.contains(&old_alice));
    let people = bob.run(&["status", "--json"]).json()["people"].clone();
    assert_eq!(people.as_array().map(Vec::len), Some(2), "still two people: {people}");
}
