//! A slow network: two namespaces joined by a veth pair where every packet waits 100 ms
//! each way (a userspace delayer behind an iptables NFQUEUE rule, [`Link::delay`]). Pair,
//! sync offline writes, then keep syncing against a watching device: nothing is lost or
//! duplicated. Times are printed, never asserted (`-- --nocapture`).

use crate::faults::{Journal, device_in, journal, sync_until_converged, write};
use crate::harness::*;
use crate::netlab::{A_ADDR, B_ADDR, Link, Netns};
use std::time::{Duration, Instant};

/// The round trip between the namespaces as `ping` sees it (ms), if ping is here.
fn ping_ms(from: &Netns, to: &str) -> Option<f64> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &from.name, "ping", "-c", "3", "-i", "0.2", to])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // rtt min/avg/max/mdev = 200.1/200.3/200.6/0.2 ms
    let avg = text
        .lines()
        .find(|l| l.contains("min/avg/max"))?
        .split('=')
        .nth(1)?
        .split('/')
        .nth(1)?;
    avg.trim().parse().ok()
}

#[test]
fn hundred_ms_each_way_pair_sync_and_watch_lose_nothing() {
    let Some(link) = Link::new("dly") else { return };
    let base_rtt = ping_ms(&link.a, B_ADDR);
    let Some(delay) = link.delay(Duration::from_millis(100)) else {
        return;
    };
    let rtt = ping_ms(&link.a, B_ADDR);
    let shown = |ms: Option<f64>| ms.map_or("unknown (no ping)".to_string(), |ms| format!("{ms} ms"));
    eprintln!(
        "delay: round trip {} before, {} with the delayer",
        shown(base_rtt),
        shown(rtt)
    );
    if let Some(rtt) = rtt {
        // Each way waits 100 ms: a round trip can only take longer.
        assert!(rtt >= 199.0, "the delayer is not delaying: round trip {rtt} ms");
    }
    let a = device_in(&link.a, A_ADDR, "Alice", "laptop");
    let b = device_in(&link.b, B_ADDR, "Bob", "laptop");
    let mut expected = Journal::new();
    write(&a, "alice before pairing", 0..20, &mut expected);
    write(&b, "bob before pairing", 0..20, &mut expected);

    let started = Instant::now();
    pair_by_ticket(&a, &b, &[]);
    eprintln!("delay: pairing (with the first sync) took {:?}", started.elapsed());

    write(&a, "alice offline", 0..20, &mut expected);
    write(&b, "bob offline", 0..20, &mut expected);
    let mut watch = b.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", Duration::from_secs(30));
    let (runs, took) = sync_until_converged(&a, &b, &expected, &watch, "with 100 ms each way");
    eprintln!(
        "delay: {} entries identical on both, 0 lost, 0 duplicated, after {runs} `duo sync` run(s) in {took:?}",
        expected.len(),
    );
    // One new entry each way against the watcher: the everyday case.
    write(&a, "alice later", 0..1, &mut expected);
    let started = Instant::now();
    let r = a.run_within(&["sync", "--json"], Duration::from_secs(60));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(journal(&b), expected);
    eprintln!("delay: one new entry synced to the watcher in {:?}", started.elapsed());
    watch.assert_running();
    let held = delay.packets.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("delay: {held} packets were each held 100 ms");
    assert!(held > 0, "the delayer saw no packets");
}
