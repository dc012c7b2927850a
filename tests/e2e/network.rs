//! Pairing with a ticket and syncing, between real `duo` processes over loopback.

use crate::harness::*;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Start `duo pair --ticket --yes` on `d`; return the child and the ticket it printed.
fn start_invite(d: &Device, extra: &[&str]) -> (Child, String) {
    let mut args = vec!["pair", "--ticket", "--yes"];
    args.extend_from_slice(extra);
    let mut child = d
        .command(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("duo1:"), "ticket on the first line of stdout: {line}");
    (child, line.trim().to_string())
}

fn finish(mut child: Child) -> Run {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "duo pair did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    Run {
        code: child.wait().unwrap().code().unwrap_or(-1),
        stdout: String::new(),
        stderr,
    }
}

fn words(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("Verification words: "))
        .unwrap_or_default()
        .to_string()
}

fn pair(alice: &Device, bob: &Device) {
    let (inviter, ticket) = start_invite(alice, &[]);
    let joined = bob.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{ticket}\n"));
    joined.ok();
    let invited = finish(inviter);
    assert_eq!(invited.code, 0, "{}", invited.stderr);
    assert_eq!(words(&invited.stderr).split(' ').count(), 4);
    assert_eq!(
        words(&invited.stderr),
        words(&joined.stderr),
        "both screens show the same words"
    );
    let secret = ticket.split('#').nth(1).unwrap();
    assert!(
        !invited.stderr.contains(secret) && !joined.stderr.contains(secret),
        "the code is never on stderr"
    );
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
    let invited = finish(inviter);
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
