//! Relays end to end: choosing one (`duo relay`, `DUO_RELAY`, `DUO_RELAY_CA`), a relay that
//! does not answer, the ticket's QR code, and pairing plus sync between two network
//! namespaces that cannot reach each other, through an iroh relay in a third one.

use crate::harness::*;
use crate::netlab::{LINE_A, LINE_M_A, Line, Netns, in_netns, spawn_in};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn choosing_a_relay_and_what_is_refused() {
    let mut d = Device::new("Alice");
    // The harness sets DUO_RELAY=disabled; an empty value leaves the choice to config.json.
    d.env = vec![("DUO_RELAY".into(), String::new())];
    let shown = d.run(&["relay", "--json"]).json();
    assert_eq!(shown["relay"], "disabled");
    assert_eq!(shown["source"], "default");
    let r = d.run(&["relay"]);
    assert!(r.ok().contains("disabled"), "{}", r.stdout);
    assert!(
        r.stderr.contains("duo relay set"),
        "says how to choose one: {}",
        r.stderr
    );

    let set = d.run(&["relay", "set", "https://relay.example.org:8443"]);
    set.ok();
    assert!(set.stderr.contains("https://relay.example.org:8443/"), "{}", set.stderr);
    let shown = d.run(&["relay", "show", "--json"]).json();
    assert_eq!(shown["relay"], "https://relay.example.org:8443/");
    assert_eq!(shown["source"], "config");
    assert!(shown["ca"].is_null());

    // The environment overrides the setting, for one run.
    d.env.push(("DUO_RELAY".into(), "n0".into()));
    let shown = d.run(&["relay", "--json"]).json();
    assert_eq!(
        (shown["relay"].as_str(), shown["source"].as_str()),
        (Some("n0"), Some("environment"))
    );
    d.env.pop();

    // Values that are not relays: usage errors with a hint.
    for bad in [
        "relay.example.org",
        "ftp://relay.example.org",
        "https://relay.example.org/path",
        "",
    ] {
        let err = d.run(&["relay", "set", bad]).fails(2).to_string();
        assert!(err.contains("not a relay") && err.contains("hint:"), "{bad}: {err}");
    }
    let err = d
        .run(&["relay", "set", "n0", "--ca", "/nonexistent.pem"])
        .fails(2)
        .to_string();
    assert!(err.contains("--ca is for a self-hosted relay"), "{err}");
    let not_pem = d.dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let err = d
        .run(&[
            "relay",
            "set",
            "https://relay.example.org",
            "--ca",
            not_pem.to_str().unwrap(),
        ])
        .fails(2)
        .to_string();
    assert!(err.contains("no certificate"), "{err}");
    // A bad DUO_RELAY_CA is refused only where a relay would use it.
    d.env = vec![
        ("DUO_RELAY".into(), "https://relay.example.org".into()),
        ("DUO_RELAY_CA".into(), "/nonexistent.pem".into()),
    ];
    let err = d.run(&["sync"]).fails(2).to_string();
    assert!(
        err.contains("/nonexistent.pem") && err.contains("DUO_RELAY_CA"),
        "{err}"
    );
    d.env = vec![("DUO_RELAY".into(), String::new())];

    d.run(&["relay", "set", "disabled"]).ok();
    assert_eq!(d.run(&["relay", "--json"]).json()["source"], "default");
    let config = std::fs::read_to_string(d.home().join("config.json")).unwrap();
    assert!(!config.contains("relay"), "nothing left behind: {config}");
}

/// Start `duo pair --ticket --yes` by `c` (a `duo` command with no arguments yet); return
/// it, its ticket and its stderr so far (up to the "Waiting" line).
fn invite_until_waiting(mut c: Command) -> (Child, String, String) {
    c.args(["pair", "--ticket", "--yes"]);
    let (mut child, ticket) = spawn_invite(c);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("Waiting") {
        if stderr.read_line(&mut said).unwrap() == 0 {
            break;
        }
    }
    child.stderr = Some(stderr.into_inner());
    (child, ticket, said)
}

/// A child process killed when the test ends, also when it fails.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_relay_that_does_not_answer_costs_seconds_and_one_message() {
    let mut d = Device::new("Alice");
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    d.env = vec![("DUO_RELAY".into(), url.clone())];
    let started = Instant::now();
    let (child, ticket, said) = invite_until_waiting(d.command(&[]));
    let _inviter = Running(child);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(9), "the ticket came after {took:?}");
    assert!(
        ticket.contains(&format!(",{url}#")),
        "the ticket names the relay: {ticket}"
    );
    assert_eq!(said.matches("warning:").count(), 1, "one message:\n{said}");
    assert!(
        said.contains(&format!("the relay {url} did not accept this device")),
        "{said}"
    );

    // A one-shot sync with nobody to reach does not wait for the relay at all.
    let mut e = Device::new("Bob");
    e.env = d.env.clone();
    let started = Instant::now();
    let r = e.run(&["sync"]);
    r.ok();
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

#[test]
fn the_ticket_is_drawn_as_a_qr_code_only_on_a_terminal() {
    let d = Device::new("Alice");
    let (child, _ticket, said) = invite_until_waiting(d.command(&[]));
    drop(Running(child));
    assert!(!said.contains('█'), "no QR code when stderr is not a terminal:\n{said}");
    assert!(
        said.contains("Relays are off"),
        "says a relay is needed across networks: {said}"
    );
    assert!(said.contains("duo relay set"), "{said}");

    if !have_tool("script") || !have_tool("timeout") {
        return;
    }
    let on_tty = |extra: &str| {
        let line = format!("timeout -s KILL 4 '{BIN}' pair --ticket --yes {extra}");
        let out = shell_on_tty(&d, &line).stdin(Stdio::null()).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_tty("");
    assert!(shown.contains("duo1:"), "{shown}");
    let blocks = shown.lines().filter(|l| l.contains("████")).count();
    assert!(blocks > 20, "a QR code of about 30 lines on the terminal:\n{shown}");
    let plain = on_tty("--no-qr");
    assert!(plain.contains("duo1:") && !plain.contains('█'), "{plain}");
}

// --- Through a relay, between namespaces that cannot reach each other ------------------

/// A and B each have a link to R only, and R does not forward, so A and B cannot exchange
/// a packet ([`Line::apart`]); the relay listens on R's address on A's link, which both
/// reach (B by its way out, R).
fn topology() -> Option<Line> {
    Line::apart("relay")
}

/// Where the relay listens: R's address on A's link.
fn relay_ip() -> Ipv4Addr {
    LINE_M_A.parse().unwrap()
}

/// A's address.
fn a_ip() -> Ipv4Addr {
    LINE_A.parse().unwrap()
}

/// An iroh relay on a thread inside a namespace, with a fresh self-signed certificate for
/// `ip`; stopped when dropped.
struct RelayServer {
    url: String,
    cert_pem: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RelayServer {
    fn start_in(ns: &Netns, ip: Ipv4Addr) -> RelayServer {
        use iroh_relay::server::{CertConfig, RelayConfig, Server, ServerConfig, TlsConfig};
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = spawn_in(ns, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let cert = rcgen::generate_simple_self_signed(vec![ip.to_string()]).unwrap();
                let der = cert.cert.der().clone();
                let key = rustls::pki_types::PrivateKeyDer::from(rustls::pki_types::PrivatePkcs8KeyDer::from(
                    cert.signing_key.serialize_der(),
                ));
                let tls = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![der], key)
                .unwrap();
                let mut relay = RelayConfig::new((ip, 0));
                relay.tls = Some(TlsConfig::new((ip, 0), CertConfig::Manual { server_config: tls }));
                let mut config = ServerConfig::default();
                config.relay = Some(relay);
                let server = Server::spawn(config).await.unwrap();
                let url = format!("https://{ip}:{}/", server.https_addr().unwrap().port());
                ready_tx.send((url, cert.cert.pem())).unwrap();
                let _ = stopped.await;
                let _ = server.shutdown().await;
            })
        });
        let (url, cert_pem) = ready_rx.recv_timeout(Duration::from_secs(20)).expect("relay started");
        RelayServer {
            url,
            cert_pem,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for RelayServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Does a UDP datagram sent from namespace `from` arrive at a socket in namespace A?
fn udp_reaches_a(t: &Line, from: &Netns) -> bool {
    let listener = in_netns(&t.a, || {
        let s = UdpSocket::bind((a_ip(), 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
        s
    });
    let to = listener.local_addr().unwrap();
    in_netns(from, || {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        for _ in 0..3 {
            let _ = s.send_to(b"direct?", to);
        }
    });
    let mut buf = [0u8; 16];
    listener.recv_from(&mut buf).is_ok()
}

#[test]
fn pair_and_sync_through_a_relay_between_networks_that_cannot_reach_each_other() {
    let Some(t) = topology() else { return };
    let relay = RelayServer::start_in(&t.m, relay_ip());
    let relay_port: u16 = relay
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();

    // The direct path is really blocked, and the relay really reachable from both sides.
    assert!(udp_reaches_a(&t, &t.m), "control: R reaches A");
    assert!(!udp_reaches_a(&t, &t.b), "B must not reach A directly");
    for ns in [&t.a, &t.b] {
        let reached = in_netns(ns, || {
            TcpStream::connect_timeout(&SocketAddr::from((relay_ip(), relay_port)), Duration::from_secs(2)).is_ok()
        });
        assert!(reached, "{} reaches the relay", ns.name);
    }

    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("relay.pem");
    std::fs::write(&ca, &relay.cert_pem).unwrap();
    let mut alice = Device::new("Alice");
    let mut bob = Device::new("Bob");
    alice.add("alice, before pairing", &[]);
    bob.add("bob, before pairing", &[]);
    // Real interfaces inside the namespaces (not loopback), so each ticket and introduction
    // carries addresses that would be dialled if they could be reached.
    alice.env = vec![
        ("DUO_BIND".into(), "0.0.0.0:0".into()),
        ("DUO_RELAY".into(), relay.url.clone()),
        ("DUO_RELAY_CA".into(), ca.display().to_string()),
    ];
    // Bob's relay comes from his config (set below), not from the environment.
    bob.env = vec![
        ("DUO_BIND".into(), "0.0.0.0:0".into()),
        ("DUO_RELAY".into(), String::new()),
    ];

    let (child, ticket, said) = invite_until_waiting(alice.command_in(&t.a.name, &[]));
    let mut inviter = Running(child);
    assert!(!said.contains("warning"), "the relay answered: {said}");
    assert!(
        ticket.contains(&format!("@{}:", a_ip())) && ticket.contains(&format!(",{}#", relay.url)),
        "the ticket has alice's address and the relay: {ticket}"
    );

    // Bob, with relays off, cannot reach alice; he is told which command would help.
    let join = |bob: &Device| {
        let mut c = bob.command_in(&t.b.name, &["pair", "join", "--ticket", "--yes"]);
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{ticket}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = join(&bob);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("relays are off on this device"), "{err}");
    assert!(err.contains(&format!("duo relay set {}", relay.url)), "{err}");
    // The ticket still works: alice never heard from bob.
    assert!(inviter.0.try_wait().unwrap().is_none(), "alice still waits");

    bob.run(&["relay", "set", &relay.url, "--ca", ca.to_str().unwrap()])
        .ok();
    let started = Instant::now();
    let (code, err) = join(&bob);
    assert_eq!(code, Some(0), "{err}");
    eprintln!("joined through the relay in {:?}", started.elapsed());
    // As `finish_invite`: the inviter serves the joiner's first sync for up to 60 s after
    // pairing (should that first sync fail), so only a hang takes longer.
    let deadline = Instant::now() + Duration::from_secs(120);
    while inviter.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "duo pair did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut invited = String::new();
    inviter.0.stderr.take().unwrap().read_to_string(&mut invited).unwrap();
    assert!(inviter.0.wait().unwrap().success(), "{invited}");
    for d in [&alice, &bob] {
        let mut bodies = d.bodies(&[]);
        bodies.sort();
        assert_eq!(bodies, vec!["alice, before pairing", "bob, before pairing"]);
    }

    // Bob stays online (reachable only through the relay); alice syncs both ways.
    let mut watch = Running(
        bob.command_in(&t.b.name, &["sync", "--watch"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Kept open to the end: a watcher whose stderr is closed cannot report what it received.
    let mut watch_err = BufReader::new(watch.0.stderr.take().unwrap());
    let mut first = String::new();
    watch_err.read_line(&mut first).unwrap();
    assert!(first.contains("Online"), "{first}");
    alice.add("alice, after pairing", &[]);
    let sync = |alice: &Device| {
        let out = alice
            .command_in(&t.a.name, &["sync", "--json"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let report = sync(&alice);
    assert_eq!(report["reached"], 1, "{report}");
    bob.add("bob, after pairing", &[]);
    let report = sync(&alice);
    assert_eq!(report["entries_received"], 1, "{report}");
    let mut both = alice.bodies(&[]);
    both.sort();
    assert_eq!(
        both,
        vec![
            "alice, after pairing",
            "alice, before pairing",
            "bob, after pairing",
            "bob, before pairing"
        ]
    );
    assert_eq!(alice.bodies(&[]), bob.bodies(&[]), "identical journals");
    // Still no direct path: everything went through the relay.
    assert!(!udp_reaches_a(&t, &t.b));
    drop(watch);
    drop(watch_err);
}
