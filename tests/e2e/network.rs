//! Pairing with a ticket and syncing, between real `duo` processes over loopback.

use crate::harness::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

fn pair(alice: &Device, bob: &Device) {
    pair_by_ticket(alice, bob, &[]);
}

#[test]
fn pair_by_ticket_then_sync_both_ways() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    alice.add("alice wrote this before pairing", &[]);
    bob.add("bob wrote this before pairing", &[]);
    bob.add("bob's private note", &["--private"]);
    pair(&alice, &bob);
    for d in [&alice, &bob] {
        let mut bodies = d.bodies(&[]);
        bodies.sort();
        assert_eq!(
            bodies,
            vec!["alice wrote this before pairing", "bob wrote this before pairing"]
        );
        let devices = d.run(&["devices", "--json"]).json();
        let mut people: Vec<String> = devices
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["person"].as_str().unwrap().to_string())
            .collect();
        people.sort();
        assert_eq!(people, vec!["Alice", "Bob"]);
    }
    assert_eq!(any_file_contains(&alice.home(), "bob's private note"), None);
    assert_eq!(
        alice.list(&["--all"]).len(),
        2,
        "bob's private note stayed on bob's device"
    );

    // Bob stays online; Alice's new entry reaches him with a one-shot sync.
    let mut watch = bob
        .command(&["sync", "--watch"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(watch.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.contains("Online"), "{first}");
    alice.add("alice wrote this after pairing", &[]);
    let report = alice.run(&["sync", "--json"]).json();
    assert_eq!(report["reached"], 1, "{report}");
    assert!(bob.bodies(&[]).contains(&"alice wrote this after pairing".to_string()));
    // Bob writes while online; Alice's next sync brings it.
    bob.add("bob wrote this while online", &[]);
    let report = alice.run(&["sync", "--json"]).json();
    assert_eq!(report["entries_received"], 1, "{report}");
    assert_eq!(alice.bodies(&[]), bob.bodies(&[]));
    assert_eq!(alice.list(&[]).len(), 4);
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn a_wrong_code_fails_on_both_sides_and_uses_the_ticket_up() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    let (inviter, ticket) = start_invite(&alice, &[]);
    let (head, code) = ticket.split_once('#').unwrap();
    let mut parts: Vec<&str> = code.split('-').collect();
    let last = if parts[3] == "zebra" { "yogurt" } else { "zebra" };
    parts[3] = last;
    let wrong = format!("{head}#{}", parts.join("-"));
    let joined = bob.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{wrong}\n"));
    assert!(joined.fails(1).contains("did not match"), "{}", joined.stderr);
    let invited = finish_invite(inviter);
    assert_eq!(
        invited.code, 1,
        "the inviter stops: the code is used up\n{}",
        invited.stderr
    );
    assert!(invited.stderr.contains("used up"), "{}", invited.stderr);
    for d in [&alice, &bob] {
        assert_eq!(
            d.run(&["devices", "--json"]).json().as_array().unwrap().len(),
            1,
            "nothing stored"
        );
    }
}

#[test]
fn network_usage_errors() {
    let d = Device::new("Alice");
    let err = d.run(&["pair"]).fails(1).to_string();
    assert!(err.contains("--ticket"), "{err}");
    let mut relay = Device::new("Bob");
    relay.env = vec![("DUO_RELAY".into(), "relay.example.org".into())];
    let err = relay.run(&["sync"]).fails(2).to_string();
    assert!(err.contains("DUO_RELAY") && err.contains("hint:"), "{err}");
    let bad = d.run_stdin(&["pair", "join", "--ticket", "--yes"], "not a ticket\n");
    assert!(bad.fails(2).contains("not a duo ticket"), "{}", bad.stderr);
    // Nothing to sync with yet: says so and exits 0.
    let r = d.run(&["sync"]);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("pair first"), "{}", r.stderr);
}

#[test]
fn an_expired_ticket_pairs_nobody() {
    let mut alice = Device::new("Alice");
    alice.env.push(("DUO_PAIR_EXPIRY_SECS".into(), "1".into()));
    let (invite, ticket) = start_invite(&alice, &[]);
    let invited = finish_invite(invite);
    assert!(
        invited.fails(1).contains("the ticket has expired"),
        "{}",
        invited.stderr
    );
    assert!(invited.stderr.contains("for 1 second"), "{}", invited.stderr);
    let bob = Device::new("Bob");
    let joined = bob.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{ticket}\n"));
    assert_ne!(joined.code, 0, "{}", joined.stderr);
    for d in [&alice, &bob] {
        let devices = d.run(&["devices", "--json"]).json();
        assert_eq!(devices.as_array().unwrap().len(), 1, "nothing was paired: {devices}");
    }
    // A setting outside 1..=600 is a usage error.
    alice.env = vec![("DUO_PAIR_EXPIRY_SECS".into(), "0".into())];
    assert!(
        alice
            .run(&["pair", "--ticket", "--yes"])
            .fails(2)
            .contains("DUO_PAIR_EXPIRY_SECS")
    );
}

#[test]
fn demo_pairs_two_partners_on_loopback_and_leaves_nothing_behind() {
    let mut d = Device::blank();
    let tmp = tempfile::tempdir().unwrap();
    d.env = vec![("TMPDIR".into(), tmp.path().display().to_string())];
    let out = d.run(&["demo"]).ok().to_string();
    assert!(out.contains("Both screens show the same words"), "{out}");
    let merged = out.split("Merged on both sides").nth(1).expect("final table");
    for line in [
        "Alice: I'd like us to plan Sunday together",
        "Bob: Thank you for dinner",
    ] {
        assert_eq!(merged.matches(line).count(), 2, "{line} on both devices:\n{merged}");
    }
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "the demo's temporary homes are gone"
    );
    assert!(!d.home().exists(), "the demo never touches the user's own home");
}
