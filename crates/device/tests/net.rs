//! Sync between real iroh endpoints on loopback: two devices converge, and a device that
//! is not a member of the space is refused right after the handshake and learns nothing.

mod common;

use common::{bodies, device, introduce, write};
use duo_device::net::{self, Members, SYNC_ALPN, SyncService};
use duo_device::{Home, Opened, SyncError};
use iroh::EndpointAddr;
use iroh::protocol::Router;
use std::sync::Arc;

/// Write an entry into one of `o`'s journals (the private notebook too).
fn write_to(o: &Opened, journal: &duo_journal::Journal<duo_device::AgeStore>, body: &str) -> String {
    let e = common::new_entry(o, body);
    let id = e.id.clone();
    journal.add(&[e], &o.sealer()).unwrap();
    id
}

/// The shared space of `o`, for a sync service to own.
fn shared(o: &Opened) -> Arc<duo_journal::Journal<duo_device::AgeStore>> {
    Arc::new(duo_journal::Journal::new(o.space.storage().clone()))
}

fn members(o: &Opened) -> Members {
    let view = o.space.read().unwrap().view;
    Members::from_ids(view.devices.keys().map(String::as_str))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_sync_over_loopback_and_a_stranger_is_refused() {
    let (_a_dir, alice) = device("Alice");
    let (_b_dir, bob) = device("Bob");
    let (_c_dir, carol) = device("Carol");
    introduce(&alice, &bob);
    introduce(&bob, &alice);
    write(&alice, "from alice, offline");
    write(&bob, "from bob, offline");
    let private_marker = "PRIVATE-MARKER-never-on-the-wire";
    write_to(&alice, &alice.private, private_marker);

    // Bob listens.
    let bob_space = shared(&bob);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let bob_ep = net::endpoint(
        bob.device_secret().clone(),
        "127.0.0.1:0".parse().unwrap(),
        members(&bob),
        vec![SYNC_ALPN.to_vec()],
    )
    .await
    .unwrap();
    let bob_addr = EndpointAddr::new(bob_ep.id()).with_ip_addr(bob_ep.bound_sockets()[0]);
    let router = Router::builder(bob_ep)
        .accept(SYNC_ALPN, SyncService::new(bob_space).with_reports(tx))
        .spawn();

    // Alice dials and syncs.
    let alice_ep = net::endpoint(
        alice.device_secret().clone(),
        "127.0.0.1:0".parse().unwrap(),
        members(&alice),
        vec![SYNC_ALPN.to_vec()],
    )
    .await
    .unwrap();
    let report = net::sync_with(&alice_ep, &alice.space, bob_addr.clone(), Default::default())
        .await
        .unwrap();
    assert_eq!(report.entries.added.len(), 1, "alice received bob's entry");
    assert_eq!(report.entries_after, 2);
    let (peer, served) = rx.recv().await.unwrap();
    assert_eq!(peer, alice.public_key());
    assert_eq!(served.unwrap().entries_after, 2, "bob received alice's entry");
    assert_eq!(bodies(&alice), vec!["from alice, offline", "from bob, offline"]);
    assert_eq!(bodies(&bob), bodies(&alice));
    let people: Vec<String> = bob
        .space
        .read()
        .unwrap()
        .view
        .persons
        .values()
        .map(|p| p.name.clone())
        .collect();
    assert!(people.contains(&"Alice".to_string()) && people.contains(&"Bob".to_string()));
    // Private notes never crossed: not in bob's store, decrypted.
    let bob_doc = bob.space.load().unwrap().save();
    assert!(
        !bob_doc
            .windows(private_marker.len())
            .any(|w| w == private_marker.as_bytes())
    );

    // A second sync has nothing to move.
    let again = net::sync_with(&alice_ep, &alice.space, bob_addr.clone(), Default::default())
        .await
        .unwrap();
    assert_eq!(again.outcome.changes_received, 0);
    let _ = rx.recv().await;

    // Carol is not a member: refused after the handshake, and she learns nothing.
    let carol_ep = net::endpoint(
        carol.device_secret().clone(),
        "127.0.0.1:0".parse().unwrap(),
        members(&carol),
        vec![SYNC_ALPN.to_vec()],
    )
    .await
    .unwrap();
    let before = bodies(&carol);
    let err = net::sync_with(&carol_ep, &carol.space, bob_addr.clone(), Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::NotPaired), "{err}");
    assert_eq!(bodies(&carol), before);
    assert!(rx.try_recv().is_err(), "bob's sync handler never ran for carol");

    alice_ep.close().await;
    carol_ep.close().await;
    router.shutdown().await.unwrap();
}

mod pairing {
    use super::*;
    use duo_device::code::Code;
    use duo_device::invite::{self, PAIR_ALPN};

    async fn ep(o: &Opened, alpns: &[&[u8]]) -> (iroh::Endpoint, Members) {
        let m = members(o);
        let e = net::endpoint(
            o.device_secret().clone(),
            "127.0.0.1:0".parse().unwrap(),
            m.clone(),
            alpns.iter().map(|a| a.to_vec()).collect(),
        )
        .await
        .unwrap();
        (e, m)
    }

    fn addr(e: &iroh::Endpoint) -> EndpointAddr {
        EndpointAddr::new(e.id()).with_ip_addr(e.bound_sockets()[0])
    }

    /// After pairing: the inviter lets the joiner in and serves it, the joiner syncs, and
    /// this returns once the inviter has stored what the joiner sent (the router still runs).
    async fn let_in_and_sync(
        inviter: &Opened,
        inviter_ep: &iroh::Endpoint,
        inviter_members: &Members,
        joiner: &Opened,
        joiner_ep: &iroh::Endpoint,
    ) -> Router {
        inviter_members.replace(inviter.space.read().unwrap().view.devices.keys().map(String::as_str));
        let (tx, mut served) = tokio::sync::mpsc::unbounded_channel();
        let router = Router::builder(inviter_ep.clone())
            .accept(SYNC_ALPN, SyncService::new(shared(inviter)).with_reports(tx))
            .spawn();
        net::sync_with(joiner_ep, &joiner.space, addr(inviter_ep), Default::default())
            .await
            .unwrap();
        served.recv().await.unwrap().1.unwrap();
        router
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pair_by_code_then_sync_everything_written_before() {
        let (_a, alice) = device("Alice");
        let (_b, mut bob) = device("Bob");
        write(&alice, "alice before pairing");
        write(&bob, "bob before pairing");
        let (alice_ep, alice_members) = ep(&alice, &[PAIR_ALPN, SYNC_ALPN]).await;
        let (bob_ep, _) = ep(&bob, &[SYNC_ALPN]).await;
        let code = Code::generate();
        let typed: Code = code.reveal().parse().unwrap();
        let (seen_a, seen_b) = (
            std::sync::Mutex::new(String::new()),
            std::sync::Mutex::new(String::new()),
        );
        let (a, b) = tokio::join!(
            invite::invite(&alice_ep, &alice, &code, false, |w, _| {
                *seen_a.lock().unwrap() = w.to_string();
                true
            }),
            invite::join(&bob_ep, &mut bob, addr(&alice_ep), &typed, |w, _| {
                *seen_b.lock().unwrap() = w.to_string();
                true
            })
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.words, b.words);
        assert_eq!(*seen_a.lock().unwrap(), *seen_b.lock().unwrap());
        assert_eq!(a.other.name, "Bob");
        assert_eq!(b.other.name, "Alice");

        // Alice now lets Bob in; Bob syncs and both have everything.
        let router = let_in_and_sync(&alice, &alice_ep, &alice_members, &bob, &bob_ep).await;
        assert_eq!(bodies(&alice), vec!["alice before pairing", "bob before pairing"]);
        assert_eq!(bodies(&bob), bodies(&alice));
        let names = |o: &Opened| {
            let mut v: Vec<String> = o
                .space
                .read()
                .unwrap()
                .view
                .persons
                .values()
                .map(|p| p.name.clone())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&alice), vec!["Alice", "Bob"]);
        assert_eq!(names(&bob), names(&alice));
        assert_eq!(bob.space.read().unwrap().view.devices.len(), 2);

        // A third person cannot be invited into a space of two.
        let err = invite::invite(&alice_ep, &alice, &Code::generate(), false, |_, _| true)
            .await
            .unwrap_err();
        assert!(matches!(err, SyncError::SpaceFull), "{err}");
        bob_ep.close().await;
        router.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_code_fails_on_both_sides_and_stores_nothing() {
        let (_a, alice) = device("Alice");
        let (_b, mut bob) = device("Bob");
        let (alice_ep, _) = ep(&alice, &[PAIR_ALPN]).await;
        let (bob_ep, _) = ep(&bob, &[]).await;
        let code: Code = "7-purple-sausage-lantern".parse().unwrap();
        let wrong: Code = "7-purple-sausage-lemon".parse().unwrap();
        let (a, b) = tokio::join!(
            invite::invite(&alice_ep, &alice, &code, false, |_, _| true),
            invite::join(&bob_ep, &mut bob, addr(&alice_ep), &wrong, |_, _| true)
        );
        assert!(matches!(a, Err(SyncError::WrongCode)), "{a:?}");
        assert!(matches!(b, Err(SyncError::WrongCode)), "{b:?}");
        assert_eq!(alice.space.read().unwrap().view.devices.len(), 1);
        assert_eq!(bob.space.read().unwrap().view.devices.len(), 1);
        alice_ep.close().await;
        bob_ep.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn declined_words_store_nothing() {
        let (_a, alice) = device("Alice");
        let (_b, mut bob) = device("Bob");
        let (alice_ep, _) = ep(&alice, &[PAIR_ALPN]).await;
        let (bob_ep, _) = ep(&bob, &[]).await;
        let code = Code::generate();
        let (a, b) = tokio::join!(
            invite::invite(&alice_ep, &alice, &code, false, |_, _| true),
            invite::join(&bob_ep, &mut bob, addr(&alice_ep), &code, |_, _| false)
        );
        assert!(matches!(a, Err(SyncError::TheyDeclined)), "{a:?}");
        assert!(matches!(b, Err(SyncError::Declined)), "{b:?}");
        assert_eq!(alice.space.read().unwrap().view.persons.len(), 1);
        assert_eq!(bob.space.read().unwrap().view.persons.len(), 1);
        alice_ep.close().await;
        bob_ep.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn own_device_joins_as_the_inviters_person() {
        let (_a, alice) = device("Alice");
        let (_t, mut tablet) = device("Tablet person");
        write(&tablet, "written on the tablet before pairing");
        let (alice_ep, alice_members) = ep(&alice, &[PAIR_ALPN, SYNC_ALPN]).await;
        let (tablet_ep, _) = ep(&tablet, &[]).await;
        let code = Code::generate();
        let (a, b) = tokio::join!(
            invite::invite(&alice_ep, &alice, &code, true, |_, _| true),
            invite::join(&tablet_ep, &mut tablet, addr(&alice_ep), &code, |_, _| true)
        );
        a.unwrap();
        b.unwrap();
        assert_eq!(tablet.config.person_id, alice.config.person_id);
        assert_eq!(tablet.config.name, "Alice");
        let reopened = Home::new(tablet.home.root()).open().unwrap();
        assert_eq!(reopened.config.name, "Alice", "the new identity is saved");
        let router = let_in_and_sync(&alice, &alice_ep, &alice_members, &tablet, &tablet_ep).await;
        let view = alice.space.read().unwrap().view;
        assert_eq!(view.persons.len(), 1, "still one person: {:?}", view.persons);
        assert_eq!(view.devices.len(), 2);
        let e = view.entries.values().next().unwrap();
        assert_eq!(
            e.author, alice.config.person_id,
            "the tablet's earlier entry is Alice's"
        );
        tablet_ep.close().await;
        router.shutdown().await.unwrap();
    }
}
