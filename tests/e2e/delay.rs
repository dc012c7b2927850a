//! A slow network: two namespaces joined by a veth pair where every packet waits 100 ms
//! each way (a userspace delayer behind an iptables NFQUEUE rule, [`Link::delay`]). Pair,
//! sync offline writes, then keep syncing against a watching device: nothing is lost or
//! duplicated. Times are printed, never asserted (`-- --nocapture`).

use crate::harness::*;
use crate::netlab::{A_ADDR, B_ADDR, Link, Netns};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

fn device_in(ns: &Netns, addr: &str, name: &str) -> Device {
    let mut d = Device::blank();
    d.netns = Some(ns.name.clone());
    d.env = vec![("DUO_BIND".into(), format!("{addr}:0"))];
    d.run(&["init", "--name", name, "--label", "laptop"]).ok();
    d
}

/// id → body, failing on an entry listed twice or a body under two ids.
#[track_caller]
fn journal(d: &Device) -> BTreeMap<String, String> {
    let mut ids = BTreeMap::new();
    let mut bodies = BTreeSet::new();
    for e in d.list(&[]) {
        let (id, body) = (e["id"].as_str().unwrap(), e["body"].as_str().unwrap());
        assert!(
            ids.insert(id.to_string(), body.to_string()).is_none(),
            "entry {id} listed twice"
        );
        assert!(bodies.insert(body.to_string()), "duplicated: {body:?} under two ids");
    }
    ids
}

fn write(d: &Device, who: &str, n: usize, expected: &mut BTreeMap<String, String>) {
    for i in 0..n {
        let text = format!("{who} #{i}: {}", "a few words about the week ".repeat(10).trim_end());
        let id = d.add(&text, &[]);
        expected.insert(id, text);
    }
}

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
    eprintln!("delay: round trip {base_rtt:?} ms before, {rtt:?} ms with the delayer");
    let a = device_in(&link.a, A_ADDR, "Alice");
    let b = device_in(&link.b, B_ADDR, "Bob");
    let mut expected = BTreeMap::new();
    write(&a, "alice before pairing", 20, &mut expected);
    write(&b, "bob before pairing", 20, &mut expected);

    let started = Instant::now();
    pair_by_ticket(&a, &b, &[]);
    eprintln!("delay: pairing (with the first sync) took {:?}", started.elapsed());

    write(&a, "alice offline", 20, &mut expected);
    write(&b, "bob offline", 20, &mut expected);
    let mut watch = b.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", Duration::from_secs(30));
    let started = Instant::now();
    let mut runs = 0;
    loop {
        runs += 1;
        let r = a.run_within(&["sync", "--json"], Duration::from_secs(60));
        assert_eq!(r.code, 0, "duo sync failed:\n{}", r.stderr);
        let (ja, jb) = (journal(&a), journal(&b));
        if ja == expected && jb == expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no convergence after {runs} syncs in {:?}: A has {}, B has {}, {} written\nwatcher:\n{}",
            started.elapsed(),
            ja.len(),
            jb.len(),
            expected.len(),
            watch.log()
        );
    }
    eprintln!(
        "delay: {} entries identical on both, 0 lost, 0 duplicated, after {runs} `duo sync` run(s) in {:?}",
        expected.len(),
        started.elapsed()
    );
    // One new entry each way against the watcher: the everyday case.
    write(&a, "alice later", 1, &mut expected);
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
