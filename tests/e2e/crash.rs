//! Killing `duo` at random instants loses no acknowledged entry and leaves a healthy store.

use crate::harness::*;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn sigkill_during_adds_loses_nothing_acknowledged() {
    let kills: usize = std::env::var("DUO_TEST_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let d = Device::new("Alice");
    let mut acknowledged = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut interrupted = 0usize;
    for i in 0..kills {
        // A few complete adds, so compaction happens along the way.
        acknowledged.push(d.add(&format!("acknowledged {i}"), &[]));
        let mut child = d
            .command(&["journal", "add", &format!("maybe {i}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 15_000));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            acknowledged.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        } else {
            interrupted += 1;
        }
    }
    let listed: std::collections::HashSet<String> = d
        .list(&[])
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    for id in &acknowledged {
        assert!(listed.contains(id), "acknowledged entry {id} was lost");
    }
    eprintln!(
        "{kills} kill attempts: {interrupted} adds killed before acknowledging, {} acknowledged entries, 0 lost",
        acknowledged.len()
    );
    assert!(
        interrupted > 0,
        "the kills must interrupt some adds for this test to mean anything"
    );
    let r = d.run(&["doctor", "--json"]);
    assert_eq!(r.code, 0, "store healthy after {kills} kills: {}", r.stdout);
}
