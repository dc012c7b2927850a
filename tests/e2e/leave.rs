//! `duo leave`: on your own, offline, silent; the archive stays readable; `--wipe` leaves
//! nothing of duo's behind.

use crate::harness::*;
use std::time::{Duration, Instant};

fn device(name: &str) -> Device {
    Device::new(name)
}

/// Alice's one-shot sync with Bob's device, as a report plus exit code and stderr.
fn alice_syncs(alice: &Device) -> (i32, serde_json::Value, String, Duration) {
    let started = Instant::now();
    let run = alice.run_within(&["sync", "--json", "--wait", "0"], Duration::from_secs(60));
    let took = started.elapsed();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or(serde_json::Value::Null);
    (run.code, report, run.stderr, took)
}

/// Bob leaves while his watcher runs. From then on Alice's sync sees exactly what it sees
/// when Bob's device is simply not running (the control): same exit code, same error, no
/// refusal, no notice. Bob's copy stays readable; writes to the shared space are refused.
#[test]
fn after_leave_the_partner_sees_only_an_offline_device() {
    let alice = device("Alice");
    let bob = device("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    alice.add("alice's entry", &[]);
    bob.add("bob's entry", &[]);
    bob.add("bob's private note", &["--private"]);

    // Control: Bob's device is not running.
    let (code_offline, offline, stderr_offline, t_offline) = alice_syncs(&alice);
    assert_eq!(code_offline, 5, "nobody reachable: {stderr_offline}");
    assert_eq!(offline["reached"], 0, "{offline}");

    // Bob online: a normal sync (and he gets Alice's entry).
    let mut watch = bob.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", Duration::from_secs(30));
    let (_, online, _, _) = alice_syncs(&alice);
    assert_eq!(online["reached"], 1, "{online}");

    // Bob leaves while his watcher runs: it steps aside and stops.
    let left = bob.run_within(&["leave", "--yes"], Duration::from_secs(60));
    left.ok();
    watch.wait_for("left the shared space; the watcher stops", Duration::from_secs(30));
    let again = bob.run(&["sync", "--watch"]);
    let err = again.fails(1);
    assert!(err.contains("you left this space"), "{err}");

    let (code_left, after, stderr_left, t_left) = alice_syncs(&alice);
    assert_eq!(code_left, code_offline, "{stderr_left}");
    assert_eq!(after["reached"], 0, "{after}");
    let (p_off, p_left) = (&offline["peers"][0], &after["peers"][0]);
    assert_eq!(p_left["error"], p_off["error"], "the same failure as an offline device");
    assert_eq!(p_left["reached"], p_off["reached"]);
    assert_eq!(
        stderr_left.replace(&format!("{t_left:?}"), ""),
        stderr_offline.replace(&format!("{t_offline:?}"), ""),
        "the same words on Alice's screen"
    );
    for word in ["refus", "revok", "left", "leave", "not paired", "does not know"] {
        assert!(!stderr_left.to_lowercase().contains(word), "{word}: {stderr_left}");
    }
    // Nothing on Alice's side changed: Bob's device is listed as before, no notice.
    let devs = alice.run(&["devices", "--json"]);
    assert!(!devs.stderr.contains("notice"), "{}", devs.stderr);
    assert!(
        devs.json().as_array().unwrap().iter().all(|d| d["revoked"] == false),
        "Alice's devices learn nothing"
    );
    eprintln!("alice's sync: bob offline {t_offline:?}, bob left {t_left:?}");

    // Bob's archive: readable, not writable (private notes still are).
    let mut bodies = bob.bodies(&[]);
    bodies.sort();
    assert_eq!(bodies, vec!["alice's entry", "bob's entry"]);
    assert!(bob.run(&["journal", "search", "entry"]).ok().contains("alice's entry"));
    bob.run(&["journal", "export", "--format", "md"]).ok();
    let refused = bob.run(&["journal", "add", "one more"]);
    let err = refused.fails(1);
    assert!(err.contains("read-only archive"), "{err}");
    assert!(err.contains("--private"), "{err}");
    bob.add("still private", &["--private"]);
    let id = bob.list(&[])[0]["id"].as_str().unwrap().to_string();
    bob.run(&["journal", "delete", &id, "--yes"]).fails(1);
    // Pairing again from this device is refused too.
    let pair = bob.run(&["pair", "--ticket", "--yes"]);
    assert_ne!(pair.code, 0);
    assert!(pair.stderr.contains("you left this space"), "{}", pair.stderr);
}

/// `duo leave --wipe --export DIR`: the export is written first, then nothing of duo's is
/// left in the data directory.
#[test]
fn wipe_leaves_no_file_behind_and_exports_first() {
    let alice = device("Alice");
    let bob = device("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    bob.add("bob's shared entry", &[]);
    bob.add("bob's private note", &["--private"]);
    assert!(!files_under(&bob.home()).is_empty());
    // Without --yes and without a terminal, nothing happens.
    bob.run(&["leave", "--wipe"]).fails(2);
    assert!(bob.home().exists());

    let out = tempfile::tempdir().unwrap();
    let export = out.path().join("mine");
    let r = bob.run(&["leave", "--wipe", "--yes", "--export", export.to_str().unwrap()]);
    r.ok();
    let text = std::fs::read_to_string(export.join("duo-export.md")).unwrap();
    assert!(
        text.contains("bob's shared entry") && text.contains("bob's private note"),
        "{text}"
    );
    let left: Vec<_> = std::fs::read_dir(bob.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    eprintln!("after wipe, the device's directory holds: {left:?}");
    assert!(!bob.home().exists(), "the data directory is gone");
    assert!(left.is_empty(), "nothing of duo's is left: {left:?}");
    // duo now says it is not set up here, and the guide still works offline.
    let st = bob.run(&["status"]);
    assert_ne!(st.code, 0);
    assert!(bob.run(&["safety", "--guide"]).ok().contains("helpline"));
    assert!(!bob.home().exists(), "reading the guide writes nothing");
}

/// `duo safety` names the devices, the relay, what is shared and private, and the way out.
#[test]
fn safety_check_shows_what_could_expose_you() {
    let alice = device("Alice");
    let bob = device("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    alice.add("shared one", &[]);
    alice.add("private one", &["--private"]);
    let text = alice.run(&["safety"]).ok().to_string();
    for want in [
        "Alice's 'laptop'",
        "Bob's 'laptop'",
        "Relay: disabled",
        "1 entry in the shared space",
        "1 entry in your private notebook",
        "duo devices revoke",
        "duo leave --wipe",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    assert!(!text.contains("private one"), "no content in the check");
    let j = alice.run(&["safety", "--json"]).json();
    assert_eq!(j["devices"].as_array().unwrap().len(), 2, "{j}");
    assert_eq!(j["private_entries"], 1);
}

/// `duo leave --wipe` while `duo sync --watch` runs on the device: the watcher steps aside,
/// sees the device has left and stops without writing anything back.
#[test]
fn wipe_while_watching_stops_the_watcher_and_leaves_nothing() {
    let alice = device("Alice");
    let bob = device("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let mut watch = bob.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", Duration::from_secs(30));
    bob.run_within(&["leave", "--wipe", "--yes"], Duration::from_secs(60))
        .ok();
    watch.wait_for("the watcher stops", Duration::from_secs(30));
    // It says so just before it exits: look once it has exited (anything it wrote on its
    // way out is then there to be found).
    watch.wait_exit(Duration::from_secs(30));
    let left: Vec<_> = std::fs::read_dir(bob.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "nothing of duo's is left: {left:?} {:?}\n{}",
        files_under(bob.dir.path()),
        watch.log()
    );
}

/// `duo safety` names a together-answer waiting on this device (without its text).
#[test]
fn safety_check_names_a_waiting_together_answer() {
    let alice = device("Alice");
    let bob = device("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let none = alice.run(&["safety"]).ok().to_string();
    assert!(none.contains("Pending together-answers: none."), "{none}");
    let asked = alice.run(&["prompt", "--together", "--json"]).json();
    let id = asked["id"].as_str().unwrap().to_string();
    let text = asked["text"].as_str().unwrap().to_string();
    alice
        .run(&["prompt", "--answer", &id, "my secret together answer", "--json"])
        .ok();
    let check = alice.run(&["safety"]).ok().to_string();
    assert!(check.contains(&text), "the prompt is named: {check}");
    assert!(
        check.contains("you answered; your answer waits on this device"),
        "{check}"
    );
    assert!(!check.contains("my secret together answer"), "never the answer itself");
    assert_eq!(alice.run(&["safety", "--json"]).json()["pending_together_answers"], 1);
}
