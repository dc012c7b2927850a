//! Tests that need network namespaces (root): mDNS must never run in this machine's root
//! namespace, so pairing by code is tested inside a namespace the test creates.

use crate::harness::*;
use crate::netlab::Netns;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn pair_by_code_over_mdns_inside_a_namespace() {
    let Some(ns) = Netns::lo_only("mdns") else { return };
    let mut alice = Device::new("Alice");
    let mut bob = Device::new("Bob");
    alice.add("alice's first entry", &[]);
    bob.add("bob's first entry", &[]);
    for d in [&mut alice, &mut bob] {
        d.env = vec![("DUO_DISCOVERY".into(), "mdns".into())];
    }
    let mut inviter = alice
        .command_in(&ns.name, &["pair", "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut code = String::new();
    BufReader::new(inviter.stdout.as_mut().unwrap())
        .read_line(&mut code)
        .unwrap();
    let parsed: Vec<&str> = code.trim().split('-').collect();
    assert_eq!(parsed.len(), 4, "the code alone on the first line of stdout: {code}");
    let started = Instant::now();
    let mut joiner = bob
        .command_in(&ns.name, &["pair", "join", "--yes"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    joiner.stdin.take().unwrap().write_all(code.as_bytes()).unwrap();
    let joined = joiner.wait_with_output().unwrap();
    let took = started.elapsed();
    let joined_err = String::from_utf8_lossy(&joined.stderr).to_string();
    assert!(joined.status.success(), "{joined_err}");
    // As `finish_invite`: the inviter serves the joiner's first sync for up to 60 s after
    // pairing (should that first sync fail), so only a hang takes longer.
    let deadline = Instant::now() + Duration::from_secs(120);
    while inviter.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "duo pair did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut inviter_err = String::new();
    inviter.stderr.take().unwrap().read_to_string(&mut inviter_err).unwrap();
    assert!(inviter.wait().unwrap().success(), "{inviter_err}");
    assert_eq!(words(&inviter_err), words(&joined_err));
    assert!(!words(&joined_err).is_empty());
    let secret = code.trim().split_once('-').unwrap().1;
    assert!(
        !inviter_err.contains(secret) && !joined_err.contains(secret),
        "the secret words are never printed on stderr"
    );
    eprintln!("pairing by code over mDNS took {took:?} after the code was typed");
    for d in [&alice, &bob] {
        let mut bodies = d.bodies(&[]);
        bodies.sort();
        assert_eq!(bodies, vec!["alice's first entry", "bob's first entry"]);
    }
}

/// Two namespaces joined by a veth pair. Bob's device changes its address after pairing;
/// Alice's peer table still has the old one. While Bob runs `duo sync --watch` it
/// announces itself by mDNS, and Alice's `duo sync` finds it there (with discovery off it
/// cannot: the control).
#[test]
fn a_watching_device_whose_address_changed_is_found_again_by_mdns() {
    use crate::netlab::{B_ADDR, Link};
    let Some(link) = Link::new("mdn") else { return };
    let device = |ns: &Netns, name: &str| {
        let mut d = Device::blank();
        d.netns = Some(ns.name.clone());
        d.env = vec![
            ("DUO_DISCOVERY".into(), "mdns".into()),
            ("DUO_BIND".into(), "0.0.0.0:0".into()),
        ];
        d.run(&["init", "--name", name, "--label", "laptop"]).ok();
        d
    };
    let ip = |args: &[&str]| {
        let st = std::process::Command::new("ip").args(args).status().unwrap();
        assert!(st.success(), "ip {args:?}");
    };
    // mDNS needs a multicast route on the link (the namespaces have no default route).
    for (ns, ifname) in [(&link.a, &link.a_if), (&link.b, &link.b_if)] {
        ip(&["-n", &ns.name, "route", "add", "224.0.0.0/4", "dev", ifname]);
    }
    let alice = device(&link.a, "Alice");
    let bob = device(&link.b, "Bob");
    pair_by_ticket(&alice, &bob, &[]);

    // Bob's device moves to another address (a new DHCP lease, another network's router).
    ip(&[
        "-n",
        &link.b.name,
        "addr",
        "del",
        &format!("{B_ADDR}/24"),
        "dev",
        &link.b_if,
    ]);
    ip(&["-n", &link.b.name, "addr", "add", "10.77.0.9/24", "dev", &link.b_if]);
    // (Removing the interface's last address took its routes, the multicast one too.)
    ip(&["-n", &link.b.name, "route", "add", "224.0.0.0/4", "dev", &link.b_if]);
    alice.add("written after Bob's device moved", &[]);

    // Control, before Bob's watcher runs (nothing dials Alice's sync meanwhile).
    let control = {
        let mut c = alice.command(&["sync", "--json", "--wait", "0"]);
        c.env("DUO_DISCOVERY", "none").stdin(Stdio::null());
        c.output().unwrap()
    };
    assert_eq!(
        control.status.code(),
        Some(5),
        "nobody reachable: {}",
        String::from_utf8_lossy(&control.stdout)
    );
    let control: serde_json::Value = serde_json::from_slice(&control.stdout).unwrap();
    assert_eq!(control["reached"], 0, "the old address leads nowhere: {control}");

    let mut watch = bob.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", Duration::from_secs(30));
    let found = alice.run_within(&["sync", "--json"], Duration::from_secs(60));
    assert_eq!(found.code, 0, "{}", found.stderr);
    assert_eq!(
        found.json()["reached"],
        1,
        "found by mDNS: {}\n{}\n{}",
        found.stdout,
        found.stderr,
        watch.log()
    );
    assert!(
        bob.bodies(&[])
            .contains(&"written after Bob's device moved".to_string())
    );
    // And the new address is remembered: it works with discovery off from now on.
    let again = {
        let mut c = alice.command(&["sync", "--json"]);
        c.env("DUO_DISCOVERY", "none").stdin(Stdio::null());
        c.output().unwrap()
    };
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["reached"], 1, "the table now has the new address: {again}");
    watch.assert_running();
}
