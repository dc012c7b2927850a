//! Suite 1 (crash during writes): killing `duo` with SIGKILL at random instants loses no
//! acknowledged entry and leaves a healthy store. The step-by-step crash at every write,
//! fsync, rename and removal of one `add` (and of its compaction, an edit and a repair) is
//! in `crates/device/tests/age_store.rs` (fault injection in the real `AgeStore`).
//!
//! `DUO_TEST_KILLS` (default 100; `just soak`: 3000) killed `journal add`s,
//! `DUO_TEST_WATCH_KILLS` (default 15; `just soak`: 300) killed `sync --watch`es.

use crate::corruption::{Rng, env_count};
use crate::harness::*;
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// An id printed on stdout (`journal add` prints it only once the entry is durable).
fn printed_id(stdout: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(stdout).trim().to_string();
    (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(s)
}

#[track_caller]
fn assert_healthy(d: &Device, what: &str) {
    let r = d.run(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{what}: {e}"));
    let problems: Vec<&serde_json::Value> = report["stores"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["problems"].as_array().unwrap())
        .collect();
    assert!(problems.is_empty(), "{what}: 0 unreadable files expected: {problems:?}");
    assert_eq!(r.code, 0, "{what}: store healthy: {}", r.stdout);
}

#[test]
fn sigkill_during_adds_loses_nothing_acknowledged() {
    let kills = env_count("DUO_TEST_KILLS", 100);
    let d = Device::new("Alice");
    let mut acknowledged = Vec::new();
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut interrupted = 0usize;
    let mut printed_then_killed = 0usize;
    let started = Instant::now();
    for i in 0..kills {
        // A complete add each round, so compaction (every 64 files) happens along the way
        // and is killed too.
        acknowledged.push(d.add(&format!("acknowledged {i}"), &[]));
        let private = i % 4 == 3;
        let text = format!("maybe {i}");
        let mut args = vec!["journal", "add", text.as_str()];
        if private {
            args.push("--private");
        }
        let mut child = d
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.next() % 15_000));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            interrupted += 1;
        }
        // Printed means saved, whether or not the process lived to exit.
        if let Some(id) = printed_id(&out.stdout) {
            printed_then_killed += usize::from(!out.status.success());
            acknowledged.push(id);
        }
    }
    let took = started.elapsed();
    let listed: BTreeSet<String> = d
        .list(&["--all"])
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !listed.contains(*id)).collect();
    eprintln!(
        "crash: {kills} kill attempts in {took:.1?}: {interrupted} adds killed before exiting \
         ({printed_then_killed} of them after printing the id), {} acknowledged entries, {} lost",
        acknowledged.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged entries lost: {lost:?}");
    assert!(
        interrupted > 0,
        "the kills must interrupt some adds for this test to mean anything"
    );
    assert_healthy(&d, &format!("after {kills} kills"));
}

/// `duo sync --watch` killed at random instants while both devices write and the watchers
/// exchange entries: neither store is ever damaged, and one `duo sync` afterwards brings
/// both to the same entries, each once.
#[test]
fn sigkill_during_sync_watch_loses_nothing() {
    let kills = env_count("DUO_TEST_WATCH_KILLS", 15);
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let mut bob_watch = bob.spawn(&["sync", "--watch"]);
    bob_watch.wait_for("Online as", Duration::from_secs(30));
    let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
    let mut ids = BTreeSet::new();
    let mut mid_exchange = 0usize;
    let mut bob_kills = 0usize;
    let started = Instant::now();
    for i in 0..kills {
        let mut watch = alice.spawn(&["sync", "--watch"]);
        watch.wait_for("Online as", Duration::from_secs(30));
        ids.insert(alice.add(&format!("alice {i}"), &[]));
        ids.insert(bob.add(&format!("bob {i}"), &[]));
        std::thread::sleep(Duration::from_millis(rng.next() % 900));
        let log = watch.log();
        mid_exchange += usize::from(!log.contains("sent new entries") || !log.contains("received"));
        drop(watch); // SIGKILL
        if i % 3 == 2 {
            // The receiving side dies too, at its own random instant.
            std::thread::sleep(Duration::from_millis(rng.next() % 200));
            drop(bob_watch);
            bob_kills += 1;
            bob_watch = bob.spawn(&["sync", "--watch"]);
            bob_watch.wait_for("Online as", Duration::from_secs(30));
        }
        for (d, who) in [(&alice, "Alice"), (&bob, "Bob")] {
            let r = d.run(&["journal", "list", "--json"]);
            assert_eq!(r.code, 0, "{who} after kill {i}: reads report no damage: {}", r.stderr);
        }
    }
    let took = started.elapsed();
    assert_healthy(&alice, "Alice after the watch kills");
    assert_healthy(&bob, "Bob after the watch kills");
    let synced = alice.run_within(&["sync", "--json"], Duration::from_secs(60));
    assert_eq!(synced.json()["reached"], 1, "{}", synced.stderr);
    for (d, who) in [(&alice, "Alice"), (&bob, "Bob")] {
        let listed: Vec<String> = d
            .list(&[])
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        let unique: BTreeSet<String> = listed.iter().cloned().collect();
        assert_eq!(unique.len(), listed.len(), "{who}: nothing twice");
        assert_eq!(unique, ids, "{who}: every acknowledged entry of both devices");
    }
    bob_watch.assert_running();
    eprintln!(
        "crash: {kills} `sync --watch` kills on Alice's device ({mid_exchange} before its exchange had \
         both sent and received), {bob_kills} on Bob's, in {took:.1?}; {} entries on both, 0 lost, \
         0 damaged files",
        ids.len()
    );
}
