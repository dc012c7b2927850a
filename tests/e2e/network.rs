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
fn demo_is_a_tour_of_real_commands_on_loopback_and_leaves_nothing_behind() {
    let mut d = Device::blank();
    let tmp = tempfile::tempdir().unwrap();
    d.env = vec![("TMPDIR".into(), tmp.path().display().to_string())];
    // Also with the person's own DUO_ settings around: the tour replaces them all.
    d.env.push(("DUO_RELAY".into(), "n0".into()));
    let out = d.run(&["demo", "--fast"]).ok().to_string();
    // Each step shows the command as a person types it, then its real output.
    for typed in [
        "alice$ duo init --name Alice --label laptop",
        "bob$ duo pair join --ticket      (pasted at its prompt)",
        "bob$ duo sync --watch",
        "alice$ duo sync",
        "bob$ duo journal ack ",
        "alice$ duo prompt",
        "alice$ duo boundaries",
    ] {
        assert!(out.contains(typed), "the tour shows `{typed}`:\n{out}");
    }
    // The same four words on both screens, and never the ticket's secret.
    let words: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Verification words: "))
        .collect();
    assert_eq!(words.len(), 2, "{out}");
    assert_eq!(words[0], words[1], "both screens show the same words");
    assert!(!out.contains("duo1:") || out.contains("duo1:… (the ticket)"), "{out}");
    assert!(
        !out.lines()
            .any(|l| l.trim().starts_with("duo1:") && !l.contains("(the ticket)"))
    );
    // Offline edits on both sides merged: Alice's list holds Bob's thanks and her edit.
    let merged = out.split("5. ").nth(1).expect("the offline step");
    assert!(merged.contains("for making tea while I was on the phone"), "{merged}");
    assert!(merged.contains("our walk by the river today"), "{merged}");
    // The acknowledgement reached Alice.
    assert!(out.contains("Bob heard you"), "{out}");
    assert!(out.contains("I need an hour alone after work"), "the boundary is shown");
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "the demo's temporary homes are gone"
    );
    assert!(!d.home().exists(), "the demo never touches the user's own home");

    // Stopped early by a closed stdout (`duo demo | head`): still nothing left behind.
    let mut child = d
        .command(&["demo", "--fast"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert!(child.wait().unwrap().success());
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "gone after an early stop too"
    );
}
