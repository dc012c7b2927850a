//! One endpoint per device: while `duo sync --watch` runs, other commands that need the
//! network hand their work to it (`sync`) or ask it to step aside (`pair`), and entries
//! written meanwhile reach the partner's watching device without anyone running `sync`.

use crate::harness::{Device, finish_invite, pair_by_ticket, start_invite};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

#[track_caller]
fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what} did not happen within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

#[test]
fn a_running_watch_does_the_work_of_other_network_commands() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);

    let status = bob.run(&["status", "--json"]).json();
    assert_eq!(status["online"], false, "{status}");
    assert_eq!(status["addresses"], serde_json::json!([]), "{status}");

    let mut alice_watch = alice.spawn(&["sync", "--watch"]);
    let mut bob_watch = bob.spawn(&["sync", "--watch"]);
    alice_watch.wait_for("Online as", WAIT);
    bob_watch.wait_for("Online as", WAIT);

    // While online, status says where this device's endpoint is bound.
    let status = bob.run(&["status", "--json"]).json();
    assert_eq!(status["online"], true, "{status}");
    let addrs = status["addresses"].as_array().unwrap();
    assert!(
        addrs.iter().any(|a| a.as_str().unwrap().starts_with("127.0.0.1:")),
        "{status}"
    );
    assert_eq!(status["endpoint_id"].as_str().unwrap().len(), 64, "{status}");

    // A second watcher on the same device refuses: it would bind the same key twice.
    let again = bob.run_within(&["sync", "--watch"], WAIT);
    assert!(again.fails(1).contains("already running"), "{}", again.stderr);

    // An entry written while both watch reaches the partner with nobody running `sync`.
    let body = "Thank you for listening last night";
    bob.add(body, &[]);
    let took = wait_until("the entry reaching Alice", WAIT, || {
        alice.bodies(&[]).contains(&body.to_string())
    });
    eprintln!("watch → watch on loopback: a new entry arrived after {took:?}");

    // A one-shot `duo sync` hands its work to the running watcher and reports its results.
    let run = bob.run_within(&["sync", "--json"], WAIT);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("--watch` is running"), "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["reached"], 1, "{report}");
    assert_eq!(report["peers"][0]["person"], "Alice", "{report}");

    // `duo pair` while the watcher runs: it steps aside, the pairing works, and it comes
    // back online afterwards (a new own device then syncs with it).
    let phone = Device::new("Bobby");
    let (invite, ticket) = start_invite(&bob, &["--own-device"]);
    let joined = phone.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{ticket}\n"));
    assert_eq!(joined.code, 0, "{}", joined.stderr);
    let invited = finish_invite(invite);
    assert_eq!(invited.code, 0, "{}", invited.stderr);
    bob_watch.wait_for("Stepping aside", WAIT);
    bob_watch.wait_for("Back online", WAIT);
    // "Back online" comes before it binds again; answering is once it said "Online as" again.
    wait_until("Bob's watcher online again", WAIT, || {
        bob_watch.log().matches("Online as").count() >= 2
    });
    bob_watch.assert_running();
    assert!(
        phone.bodies(&[]).contains(&body.to_string()),
        "the phone got the space\njoiner: {}\ninviter: {}",
        joined.stderr,
        invited.stderr
    );
    let from_phone = "Written on my phone";
    phone.add(from_phone, &[]);
    let sync = phone.run_within(&["sync", "--json"], WAIT).json();
    assert_eq!(sync["reached"], 1, "the laptop's watcher answers again: {sync}");
    // ... and passes it on to Alice's watching laptop, whom the phone does not know yet.
    wait_until("the phone's entry reaching Alice through Bob's laptop", WAIT, || {
        alice.bodies(&[]).contains(&from_phone.to_string())
    });
    alice_watch.assert_running();
}
