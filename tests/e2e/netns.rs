//! Tests that need network namespaces (root): mDNS must never run in this machine's root
//! namespace, so pairing by code is tested inside a namespace the test creates.

use crate::harness::*;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A network namespace that exists for one test and is removed when dropped (also when the
/// test fails).
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A namespace with only `lo`, up, with multicast and a multicast route (enough for
    /// mDNS between processes inside it). `None` (with a printed reason) when not root,
    /// outside CI; under CI a missing capability is a failure.
    pub fn lo_only(tag: &str) -> Option<Netns> {
        if !namespaces_available() {
            return None;
        }
        let name = format!("duo-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        let ns = Netns { name };
        for args in [
            vec!["netns", "add", &ns.name],
            vec!["-n", &ns.name, "link", "set", "lo", "up"],
            vec!["-n", &ns.name, "link", "set", "lo", "multicast", "on"],
            vec!["-n", &ns.name, "route", "add", "224.0.0.0/4", "dev", "lo"],
        ] {
            let st = Command::new("ip").args(&args).status().unwrap();
            assert!(st.success(), "ip {args:?}");
        }
        Some(ns)
    }
}

/// Can this test create network namespaces (root and iproute2)? Prints why not and returns
/// false outside CI; under CI a missing capability is a failure.
pub fn namespaces_available() -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !root || !have_tool("ip") {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("namespace tests need root and iproute2 under CI");
        }
        eprintln!("skipping: network namespaces need root");
        return false;
    }
    true
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

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
    let deadline = Instant::now() + Duration::from_secs(30);
    while inviter.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "duo pair did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut inviter_err = String::new();
    inviter.stderr.take().unwrap().read_to_string(&mut inviter_err).unwrap();
    assert!(inviter.wait().unwrap().success(), "{inviter_err}");
    let words = |s: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix("Verification words: "))
            .unwrap_or_default()
            .to_string()
    };
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
