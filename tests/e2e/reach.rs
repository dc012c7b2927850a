//! Always reachable, never stuck: a silent device holds up nobody (every device is dialled
//! at once, each retried on its own), two people who both type `duo sync` meet, a lone
//! `duo sync` says plainly why nobody answered (exit 5), and `duo lock` takes a running
//! watcher offline until `duo unlock`.

use crate::harness::{Device, pair_by_ticket, paired, with_passphrase};
use crate::netlab::Netns;
use crate::watch::Watching;
use std::io::Read;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);
/// The exit status of a `duo sync` nobody answered (crates/cli/exit.rs NOBODY_REACHABLE).
const NOBODY_REACHABLE: i32 = 5;

/// Alice types `duo sync`, nobody answers, and it stays reachable; Bob types `duo sync` a
/// few seconds later and reaches it. Both exit 0 with each other's entries.
#[test]
fn two_duo_devices_started_seconds_apart_meet() {
    let (alice, bob) = paired();
    alice.add("alice wrote this while bob was away", &[]);
    bob.add("bob wrote this while alice was away", &[]);
    let mut first = alice
        .command(&["sync"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = Arc::new(Mutex::new(String::new()));
    let reader = {
        let (said, mut stderr) = (said.clone(), first.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                said.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    // Alice's sync dials Bob (nobody there, up to 4 s), then says it waits: Bob starts
    // once it said so (a fixed pause could end while Alice still dials, on a busy machine).
    let deadline = Instant::now() + LIMIT;
    while !said.lock().unwrap().contains("stays reachable") {
        assert!(
            first.try_wait().unwrap().is_none() && Instant::now() < deadline,
            "Alice's sync did not say it waits: {}",
            said.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = bob.run_within(&["--json", "sync"], LIMIT);
    let status = first.wait().unwrap();
    reader.join().unwrap();
    let first_err = said.lock().unwrap().clone();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.json()["reached"], 1, "{}", second.stdout);
    assert_eq!(second.json()["entries_received"], 1, "{}", second.stdout);
    assert_eq!(status.code(), Some(0), "{first_err}");
    assert!(
        first_err.contains("stays reachable") && first_err.contains("Synced with 1 device"),
        "Alice's sync waited and then synced: {first_err}"
    );
    for d in [&alice, &bob] {
        let mut b = d.bodies(&[]);
        b.sort();
        assert_eq!(
            b,
            vec![
                "alice wrote this while bob was away",
                "bob wrote this while alice was away"
            ]
        );
    }
}

/// A lone `duo sync` waits (here 1 s), then says that a device answers only while
/// something keeps it online, and exits 5; nothing is lost.
#[test]
fn a_lone_duo_device_says_why_nobody_answered_and_exits_nobody_reachable() {
    let (alice, _bob) = paired();
    alice.add("kept here until bob is online", &[]);
    let r = alice.run_within(&["sync", "--wait", "1s"], LIMIT);
    assert_eq!(r.code, NOBODY_REACHABLE, "{}", r.stderr);
    for needle in [
        "None of the other devices answered",
        "`duo sync --watch`, `duo sync --wait` or the background service",
        "stays reachable for 1 second",
    ] {
        assert!(r.stderr.contains(needle), "{needle:?} in:\n{}", r.stderr);
    }
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_eq!(alice.bodies(&[]), vec!["kept here until bob is online"]);

    // `--json`: the same status, the peer as not reached, how long it waited; no message.
    let j = alice.run_within(&["--json", "sync", "--wait", "0"], LIMIT);
    assert_eq!(j.code, NOBODY_REACHABLE, "{}", j.stderr);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["reached"], 0, "{v}");
    assert_eq!(v["waited_secs"], 0, "{v}");
    assert_eq!(v["peers"][0]["reached"], false, "{v}");
    assert_eq!(v["peers"][0]["person"], "Bob", "{v}");
    assert!(!j.stderr.contains("stays reachable"), "{}", j.stderr);

    // A malformed duration is a usage error.
    let bad = alice.run(&["sync", "--wait", "soon"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

/// While it dials (over half a second) and waits, a spinner per device shows on a terminal;
/// without a terminal nothing is drawn.
#[test]
fn spinners_per_device_show_on_a_terminal_only() {
    if !crate::harness::have_tool("script") {
        return;
    }
    let (mut alice, _bob) = paired();
    // (indicatif draws nothing on a terminal without TERM, which it takes as dumb.)
    alice.env.push(("TERM".into(), "xterm".into()));
    let tty = crate::harness::run_on_tty(&alice, &["sync", "--wait", "2s"], "");
    assert_eq!(tty.code, NOBODY_REACHABLE, "{}{}", tty.stdout, tty.stderr);
    for needle in ["Bob's 'laptop': dialling", "waiting for Bob's 'laptop' to come online"] {
        assert!(
            tty.stdout.contains(needle),
            "{needle:?} on the terminal:\n{}",
            tty.stdout
        );
    }
    let plain = alice.run_within(&["sync", "--wait", "1s"], LIMIT);
    assert_eq!(plain.code, NOBODY_REACHABLE);
    assert!(
        !plain.stderr.contains("dialling") && !plain.stderr.contains("waiting for Bob"),
        "no spinner without a terminal: {}",
        plain.stderr
    );
}

/// A problem on this device is said as such (with its own status), never as "nobody
/// answered": damaged files in the shared space stop the sync with FILE_DAMAGED (11)
/// before it goes online; locked keys are LOCKED (4).
#[test]
fn a_local_problem_is_not_reported_as_unreachable() {
    let (mut alice, _bob) = paired();
    alice.add("an entry whose file gets damaged", &[]);
    let chunk = std::fs::read_dir(alice.home().join("space/adds"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let good = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, b"not an age file").unwrap();
    let r = alice.run_within(&["sync", "--wait", "0"], LIMIT);
    assert_eq!(r.code, 11, "{}", r.stderr);
    assert!(r.stderr.contains("damaged"), "{}", r.stderr);
    assert!(r.stderr.contains("duo doctor"), "{}", r.stderr);
    assert!(!r.stderr.contains("answered"), "{}", r.stderr);
    std::fs::write(&chunk, good).unwrap();

    let pw = with_passphrase(&mut alice);
    alice.run(&["lock", "--set", "--passphrase-file", &pw]).ok();
    let r = alice.run_within(&["sync", "--wait", "0"], LIMIT);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(!r.stderr.contains("answered"), "{}", r.stderr);
}

/// `duo lock` takes a running watcher offline: it forgets the keys (a partner's sync finds
/// nobody), keeps running, and comes back online after `duo unlock`.
#[test]
fn duo_lock_stops_a_running_watcher_until_duo_unlock() {
    let (mut alice, bob) = paired();
    let pw = with_passphrase(&mut alice);
    let pw = pw.as_str();
    alice.run(&["lock", "--set", "--passphrase-file", pw]).ok();
    alice.run(&["unlock", "--passphrase-file", pw]).ok();
    let _relock = crate::lock::Relock(&alice);
    let mut watch = Watching::start(&alice);
    bob.add("before the lock", &[]);
    assert_eq!(bob.run_within(&["sync", "--wait", "0"], LIMIT).code, 0);

    alice.run(&["lock"]).ok();
    watch.event(|e| e["event"] == "locked");
    // The message goes to stderr after the event goes to stdout: wait for it.
    watch.wait_stderr("duo was locked");
    assert!(
        !alice.home().join("local/online.sock").exists(),
        "the locked watcher no longer answers hand-offs"
    );
    bob.add("while alice is locked", &[]);
    let r = bob.run_within(&["sync", "--wait", "0"], LIMIT);
    assert_eq!(r.code, NOBODY_REACHABLE, "the locked device is offline: {}", r.stderr);

    alice.run(&["unlock", "--passphrase-file", pw]).ok();
    watch.event(|e| e["event"] == "online");
    let r = bob.run_within(&["sync", "--wait", "0"], LIMIT);
    assert_eq!(r.code, 0, "back online after unlock: {}", r.stderr);
    assert!(alice.bodies(&[]).contains(&"while alice is locked".to_string()));
}

/// Three devices in a namespace; Alice's phone is silent (an nftables drop: its packets
/// vanish, nothing is refused). Alice's watcher dials Bob and the phone at once: Bob's
/// sync ends, and Bob's watcher has the entry, while the phone's dial is still pending.
/// `duo devices revoke` and `duo leave` on Alice's laptop return while the watcher's dial
/// of the silent phone is pending too.
#[test]
fn a_silent_device_delays_neither_the_partner_nor_revoke_nor_leave() {
    let Some(ns) = Netns::lo_only("reach") else { return };
    let device = |name: &str, label: &str| {
        let mut d = Device::blank();
        d.netns = Some(ns.name.clone());
        d.run(&["init", "--name", name, "--label", label]).ok();
        d
    };
    let alice = device("Alice", "laptop");
    let phone = device("Alice", "phone");
    let bob = device("Bob", "laptop");
    pair_by_ticket(&alice, &bob, &[]);
    pair_by_ticket(&alice, &phone, &["--own-device"]);
    let status = phone.run(&["--json", "status"]).json();
    let (phone_id, phone_port) = (
        status["device_id"].as_str().unwrap().to_string(),
        status["port"].as_u64().unwrap(),
    );
    // The phone goes silent: every packet to or from its port is dropped.
    ns.nft(&["add", "table", "inet", "silent"]);
    ns.nft(&[
        "add",
        "chain",
        "inet",
        "silent",
        "out",
        "{ type filter hook output priority 0 ; }",
    ]);
    for dir in ["dport", "sport"] {
        let port = phone_port.to_string();
        ns.nft(&["add", "rule", "inet", "silent", "out", "udp", dir, &port, "drop"]);
    }

    let mut bob_watch = Watching::start(&bob);
    let mut alice_watch = Watching::start(&alice);
    // Settle: the first push has dialled both and found the phone silent.
    alice_watch.event(|e| e["event"] == "unreached" && e["device"] == phone_id.as_str());

    alice.add("an entry while the phone is off", &[]);
    // From here, in the order Alice's watcher reports: the write, the phone being dialled
    // (for this push, or a retry still running), and Bob's sync ending before that dial.
    // Bob's sync is the one Alice's push dialled: a retry of Bob's own start-up dial (made
    // before Alice's watcher was online) can open a session too, at any point.
    let mut seen = Vec::new();
    let mut wrote = false;
    let synced_bob = loop {
        let e = alice_watch
            .event(|e| ["local_write", "dialing", "synced", "unreached"].contains(&e["event"].as_str().unwrap_or("")));
        seen.push(e.clone());
        wrote |= e["event"] == "local_write";
        if wrote && e["event"] == "synced" && e["person"] == "Bob" && e["dialed"] == true {
            break e;
        }
    };
    let phone_event = |e: &serde_json::Value, kind: &str| e["event"] == kind && e["device"] == phone_id.as_str();
    let last_dial = seen
        .iter()
        .rposition(|e| phone_event(e, "dialing"))
        .unwrap_or_else(|| panic!("the phone was being dialled: {seen:#?}"));
    assert!(
        !seen[last_dial..].iter().any(|e| phone_event(e, "unreached")),
        "Bob's sync ended while the phone's dial was still pending: {seen:#?}"
    );
    assert_eq!(synced_bob["dialed"], true);
    let got = bob_watch.received();
    assert_eq!(got["entries_received"], 1, "{got}");

    // Revoking the silent phone: the watcher takes it in at once, not after the dial.
    alice.add("a second entry, so the phone is dialled again", &[]);
    // A dial of the phone that started after this write (one from before it may be about
    // to give up).
    alice_watch.event(|e| e["event"] == "local_write");
    alice_watch.event(|e| e["event"] == "dialing" && e["device"] == phone_id.as_str());
    let revoke = alice.run_within(&["devices", "revoke", &phone_id, "--yes"], LIMIT);
    assert_eq!(revoke.code, 0, "{}", revoke.stderr);
    let after = alice_watch.events();
    assert!(
        !after
            .iter()
            .any(|e| e["event"] == "unreached" && e["device"] == phone_id.as_str()),
        "revoke returned while the phone's dial was pending: {after:#?}"
    );

    // Leaving: the watcher steps aside at once, dropping the dial still pending (the space
    // has the phone revoked now, so make another silent device: the phone's address is
    // Bob's now, dropped too).
    let bob_port = bob.run(&["--json", "status"]).json()["port"].as_u64().unwrap();
    alice_watch.event(|e| e["event"] == "synced" && e["person"] == "Bob" && e["dialed"] == true);
    for dir in ["dport", "sport"] {
        let port = bob_port.to_string();
        ns.nft(&["add", "rule", "inet", "silent", "out", "udp", dir, &port, "drop"]);
    }
    alice.add("a third entry, while every other device is silent", &[]);
    alice_watch.event(|e| e["event"] == "local_write");
    alice_watch.event(|e| e["event"] == "dialing" && e["person"] == "Bob");
    let leave = alice.run_within(&["leave", "--yes"], LIMIT);
    assert_eq!(leave.code, 0, "{}", leave.stderr);
    let tail = alice_watch.events();
    let aside = tail
        .iter()
        .position(|e| e["event"] == "stepping_aside")
        .unwrap_or_else(|| panic!("the watcher stepped aside: {tail:#?}"));
    assert!(
        !tail[..aside].iter().any(|e| e["event"] == "unreached"),
        "it stepped aside while Bob's dial was pending: {tail:#?}"
    );
    alice_watch.event(|e| e["event"] == "left");
    drop(bob_watch);
}
