//! Devices that know each other only by a relay URL, on loopback: a real iroh relay
//! (self-signed TLS, trusted as `DUO_RELAY_CA` would) carries pairing-free sync; a relay
//! whose certificate is not trusted, or that does not answer, costs bounded time.
//! (The end-to-end test in `tests/e2e/relay.rs` shows the relay carrying everything between
//! network namespaces that cannot reach each other.)

mod common;

use common::{bodies, device, introduce, write};
use duo_device::device::{NetOptions, Online, PeerAddrs, RelayReach};
use duo_device::net;
use duo_device::relay::{Relay, Relays};
use iroh::RelayUrl;
use iroh_relay::server::{CertConfig, RelayConfig, Server, ServerConfig, TlsConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An iroh relay on 127.0.0.1 with a fresh self-signed certificate (HTTPS only, no QUIC
/// address discovery); its URL and the certificate to trust.
async fn relay_server() -> (Server, RelayUrl, CertificateDer<'static>) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let der = cert.cert.der().clone();
    let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let mut relay = RelayConfig::new(([127, 0, 0, 1], 0));
    relay.tls = Some(TlsConfig::new(
        ([127, 0, 0, 1], 0),
        CertConfig::Manual { server_config: tls },
    ));
    let mut config = ServerConfig::default();
    config.relay = Some(relay);
    let server = Server::spawn(config).await.unwrap();
    let url = format!("https://127.0.0.1:{}", server.https_addr().unwrap().port())
        .parse()
        .unwrap();
    (server, url, der)
}

fn options(relays: Relays) -> NetOptions {
    NetOptions {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        relays,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_that_know_each_other_only_by_the_relay_sync_through_it() {
    let (server, url, cert) = relay_server().await;
    let relays = Relays::new(Relay::Url(url.clone())).trusting(vec![cert]);
    let (_a, alice) = device("Alice");
    let (_b, bob) = device("Bob");
    introduce(&alice, &bob);
    introduce(&bob, &alice);
    write(&alice, "from alice");
    write(&bob, "from bob");

    let bob_online = Online::bind(&bob, &options(relays.clone()), false).await.unwrap();
    let (router, mut served) = bob_online.serve_sync(&bob);
    assert_eq!(
        bob_online.wait_for_relay(Duration::from_secs(10)).await,
        RelayReach::Online(url.clone())
    );
    assert_eq!(bob_online.relay_url(), Some(url.clone()));
    let bob_addr = bob_online.endpoint_addr();
    assert_eq!(bob_addr.relay_urls().next(), Some(&url), "its address names the relay");

    let alice_online = Online::bind(&alice, &options(relays), false).await.unwrap();
    // Nothing but the relay: no IP address of bob's is given.
    let only_relay = PeerAddrs {
        addrs: vec![],
        relay: Some(url.clone()),
    }
    .endpoint_addr(bob_online.endpoint.id());
    let report = tokio::time::timeout(
        Duration::from_secs(20),
        net::sync_with(&alice_online.endpoint, &alice.space, only_relay, Default::default()),
    )
    .await
    .expect("bounded")
    .unwrap();
    assert_eq!(report.entries_after, 2);
    let (_, r) = served.recv().await.unwrap();
    assert_eq!(r.unwrap().entries_after, 2);
    assert_eq!(bodies(&alice), vec!["from alice", "from bob"]);
    assert_eq!(bodies(&bob), bodies(&alice));

    alice_online.endpoint.close().await;
    router.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_whose_certificate_is_not_trusted_is_not_used() {
    let (server, url, _cert) = relay_server().await;
    let (_a, alice) = device("Alice");
    let online = Online::bind(&alice, &options(Relays::new(Relay::Url(url))), false)
        .await
        .unwrap();
    let started = Instant::now();
    let reach = online.wait_for_relay(Duration::from_secs(2)).await;
    assert!(matches!(reach, RelayReach::Unreachable { .. }), "{reach:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
    online.endpoint.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_does_not_answer_costs_bounded_time() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url: RelayUrl = format!("http://127.0.0.1:{port}").parse().unwrap();
    let (_a, alice) = device("Alice");
    let (_b, bob) = device("Bob");
    introduce(&alice, &bob);
    let started = Instant::now();
    let online = Online::bind(&alice, &options(Relays::new(Relay::Url(url.clone()))), false)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "binding does not wait for the relay"
    );
    match online.wait_for_relay(Duration::from_secs(1)).await {
        RelayReach::Unreachable { relay, .. } => assert_eq!(relay, url.to_string()),
        other => panic!("{other:?}"),
    }
    let peer = PeerAddrs {
        addrs: vec![],
        relay: Some(url),
    }
    .endpoint_addr(bob.public_key());
    // Callers bound a dial (`duo sync`: 10 s per device); nothing inside blocks that.
    let dialing = Instant::now();
    let dial = tokio::time::timeout(
        Duration::from_secs(2),
        net::sync_with(&online.endpoint, &alice.space, peer, Default::default()),
    )
    .await;
    assert!(!matches!(dial, Ok(Ok(_))), "nothing to reach");
    assert!(dialing.elapsed() < Duration::from_secs(3));
    let closing = Instant::now();
    online.endpoint.close().await;
    assert!(
        closing.elapsed() < Duration::from_secs(5),
        "closing took {:?}",
        closing.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_relays_off_a_relay_named_by_a_peer_is_never_used() {
    let (_a, alice) = device("Alice");
    let online = Online::bind(&alice, &options(Relays::disabled()), false).await.unwrap();
    assert_eq!(online.wait_for_relay(Duration::from_secs(1)).await, RelayReach::Off);
    let url: RelayUrl = "https://relay.example.org".parse().unwrap();
    let peer = PeerAddrs {
        addrs: vec!["127.0.0.1:9".parse().unwrap()],
        relay: Some(url),
    }
    .endpoint_addr(alice.public_key());
    let usable = online.usable(peer);
    assert_eq!(usable.relay_urls().count(), 0);
    assert_eq!(usable.ip_addrs().count(), 1);
    assert_eq!(online.relay_url(), None);
    online.endpoint.close().await;
}

mod formats {
    use duo_device::code::Code;
    use duo_device::device::{PeerAddrs, PeerTable, Ticket};

    const ID: &str = "e0d2166b678febe87757a1bef707c40939e438e9f9bbc4e6813d877fc69ab652";

    #[test]
    fn a_ticket_carries_the_relay_and_reads_back() {
        let code: Code = "514-juniper-garlic-cupboard".parse().unwrap();
        let ticket = Ticket {
            id: ID.parse().unwrap(),
            addrs: vec!["10.77.1.2:50617".parse().unwrap(), "[fd00::2]:50617".parse().unwrap()],
            relay: Some("https://relay.example.org:8443".parse().unwrap()),
            code: code.clone(),
        };
        let text = ticket.reveal();
        assert_eq!(
            text,
            format!(
                "duo1:{ID}@10.77.1.2:50617,[fd00::2]:50617,https://relay.example.org:8443/#514-juniper-garlic-cupboard"
            )
        );
        assert_eq!(text.parse::<Ticket>().unwrap(), ticket);
        let addr = ticket.addr();
        assert_eq!(addr.relay_urls().count(), 1);
        assert_eq!(addr.ip_addrs().count(), 2);
        // Only a relay, no address; and tickets from before relays still read.
        let relay_only = format!("duo1:{ID}@https://relay.example.org/#514-juniper-garlic-cupboard");
        let t: Ticket = relay_only.parse().unwrap();
        assert!(t.addrs.is_empty() && t.relay.is_some());
        let old = format!("duo1:{ID}@127.0.0.1:50617#514-juniper-garlic-cupboard");
        assert_eq!(old.parse::<Ticket>().unwrap().relay, None);
        // The secret words stay out of Debug.
        assert!(!format!("{ticket:?}").contains("juniper"));
    }

    #[test]
    fn a_ticket_with_a_wrong_relay_says_so() {
        for (text, says) in [
            (
                format!("duo1:{ID}@ftp://x.org/#514-juniper-garlic-cupboard"),
                "the relay is wrong",
            ),
            (
                format!("duo1:{ID}@https://a.org/,https://b.org/#514-juniper-garlic-cupboard"),
                "more than one relay",
            ),
            (
                format!("duo1:{ID}@https://a.org/relay#514-juniper-garlic-cupboard"),
                "the relay is wrong",
            ),
        ] {
            let e = text.parse::<Ticket>().unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn the_peer_table_keeps_a_relay_and_reads_the_format_from_before_relays() {
        let old = r#"{"peers":{"abc":["127.0.0.1:5000","10.0.0.2:5000"]}}"#;
        let table: PeerTable = serde_json::from_str(old).unwrap();
        assert_eq!(
            table.peers["abc"],
            PeerAddrs {
                addrs: vec!["127.0.0.1:5000".parse().unwrap(), "10.0.0.2:5000".parse().unwrap()],
                relay: None
            }
        );
        let mut table = PeerTable::default();
        let relay: iroh::RelayUrl = "https://relay.example.org".parse().unwrap();
        table.remember("abc", ["10.0.0.2:5000".parse().unwrap()], Some(relay.clone()));
        table.remember("only-relay", [], Some(relay.clone()));
        table.remember("nothing", [], None);
        let json = serde_json::to_string(&table).unwrap();
        assert_eq!(
            json,
            r#"{"peers":{"abc":{"addrs":["10.0.0.2:5000"],"relay":"https://relay.example.org/"},"only-relay":{"addrs":[],"relay":"https://relay.example.org/"}}}"#
        );
        assert_eq!(serde_json::from_str::<PeerTable>(&json).unwrap(), table);
    }
}
