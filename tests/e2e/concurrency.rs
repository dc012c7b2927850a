//! Suite 2 (concurrency): parallel `duo journal add` processes on one device while
//! `duo sync --watch` runs on it (and on the paired partner's device): every acknowledged
//! entry is present exactly once on both devices, and both stores are healthy.
//!
//! `DUO_TEST_WRITERS` processes at a time (default 8) × `DUO_TEST_PER_WRITER` entries
//! each (default 50).

use crate::corruption::env_count;
use crate::harness::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ids_and_bodies(d: &Device) -> (Vec<String>, Vec<String>) {
    let list = d.list(&[]);
    (
        list.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect(),
        list.iter().map(|e| e["body"].as_str().unwrap().to_string()).collect(),
    )
}

fn assert_exactly(d: &Device, who: &str, ids: &BTreeSet<String>, bodies: &BTreeSet<String>) {
    let (listed, listed_bodies) = ids_and_bodies(d);
    let unique: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(unique.len(), listed.len(), "{who}: an id is listed twice");
    let unique_bodies: BTreeSet<String> = listed_bodies.iter().cloned().collect();
    assert_eq!(
        unique_bodies.len(),
        listed_bodies.len(),
        "{who}: a body is listed twice"
    );
    assert_eq!(&unique, ids, "{who}: every acknowledged entry, nothing else");
    assert_eq!(&unique_bodies, bodies, "{who}: every body");
}

#[test]
fn parallel_adds_while_watching_all_land_exactly_once() {
    let writers = env_count("DUO_TEST_WRITERS", 8);
    let per = env_count("DUO_TEST_PER_WRITER", 50);
    let alice = Arc::new(Device::new("Alice"));
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let mut bob_watch = bob.spawn(&["sync", "--watch"]);
    bob_watch.wait_for("Online as", Duration::from_secs(30));
    let mut alice_watch = alice.spawn(&["sync", "--watch"]);
    alice_watch.wait_for("Online as", Duration::from_secs(30));

    let started = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let alice = alice.clone();
            std::thread::spawn(move || {
                (0..per)
                    .map(|i| {
                        let body = format!("writer {w} entry {i}");
                        (alice.add(&body, &[]), body)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let written: Vec<(String, String)> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let wrote = started.elapsed();
    let ids: BTreeSet<String> = written.iter().map(|(id, _)| id.clone()).collect();
    let bodies: BTreeSet<String> = written.iter().map(|(_, b)| b.clone()).collect();
    assert_eq!(ids.len(), writers * per, "every add acknowledged a new id");
    assert_exactly(&alice, "Alice", &ids, &bodies);

    // The watchers pass them on; wait (bounded) until Bob has them all.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (listed, _) = ids_and_bodies(&bob);
        if listed.len() >= ids.len() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let converged = started.elapsed();
    assert_exactly(&bob, "Bob", &ids, &bodies);
    alice_watch.assert_running();
    bob_watch.assert_running();
    drop(alice_watch);
    drop(bob_watch);
    for (d, who) in [(&*alice, "Alice"), (&bob, "Bob")] {
        let r = d.run(&["doctor"]);
        assert_eq!(r.code, 0, "{who}'s store is healthy: {}{}", r.stdout, r.stderr);
    }
    eprintln!(
        "concurrency: {writers} writers × {per} entries with two watchers: {} acknowledged, {} on \
         each device, 0 duplicated; writing took {wrote:.1?}, on Bob's device after {converged:.1?}",
        ids.len(),
        ids.len()
    );
}
