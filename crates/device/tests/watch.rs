//! The watcher as a library (`duo_device::watch`), two of them on loopback endpoints: a write
//! to one device's shared space is pushed to the other at once (the retry timer is an hour,
//! and no timer polls the store), and the events say what each session did to the entries:
//! received, edited and deleted, each counted from the change itself.

mod common;

use common::{device, introduce, write};
use duo_device::device::{NetOptions, PeerTable};
use duo_device::handoff::{Claim, OnlineLock, claim};
use duo_device::relay::Relays;
use duo_device::watch::{self, End, Event, Options};
use duo_device::{Home, Opened, SyncError};
use duo_journal::EntryPatch;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

const WAIT: Duration = Duration::from_secs(30);

fn options() -> Options {
    Options {
        net: NetOptions {
            bind: Some("127.0.0.1:0".parse().unwrap()),
            relays: Relays::disabled(),
        },
        mdns: false,
        relay_wait: Duration::from_secs(1),
        // A push that reaches nobody is tried again only in an hour: whatever arrives
        // sooner was pushed because of the write itself.
        retry_first: Duration::from_secs(3600),
        retry_max: Duration::from_secs(3600),
    }
}

fn lock(o: &Opened) -> OnlineLock {
    match claim(o.home.root(), || {}).unwrap() {
        Claim::Mine(lock) => lock,
        Claim::Watcher(_) => panic!("no watcher runs yet"),
    }
}

/// A watcher's next event, within [`WAIT`].
async fn next(rx: &mut UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no event within {WAIT:?}"))
        .expect("the watcher is running")
}

/// The watcher's next session with `dialed` that changed entries, skipping other events.
async fn synced(rx: &mut UnboundedReceiver<Event>, dialed: bool) -> duo_journal::EntryChanges {
    loop {
        if let Event::Synced { dialed: d, report, .. } = next(rx).await
            && d == dialed
            && !report.entries.is_empty()
        {
            return report.entries;
        }
    }
}

fn remember(o: &Opened, peer: &Opened, addrs: &[std::net::SocketAddr]) {
    let mut table = PeerTable::load(o).unwrap();
    table.remember(&peer.config.device_id, addrs.iter().copied(), None);
    table.save(o).unwrap();
}

fn edit(o: &Opened, id: &str, body: &str) {
    let patch = EntryPatch {
        body: Some(body.into()),
        edited_at: 9,
        ..Default::default()
    };
    let sealer = o.sealer();
    o.space.update(|doc| doc.edit_entry(id, &patch, &sealer)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_pushed_at_once_and_each_session_says_what_it_changed() {
    let (_a, alice) = device("Alice");
    let (_b, bob) = device("Bob");
    introduce(&alice, &bob);
    introduce(&bob, &alice);
    let opts = options();
    let (ta, mut alice_events) = unbounded_channel();
    let (tb, mut bob_events) = unbounded_channel();
    let (stop_alice, alice_stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_bob, bob_stopped) = tokio::sync::oneshot::channel::<()>();
    let alice_watch = watch::watch(
        &alice,
        &opts,
        lock(&alice),
        async {
            let _ = alice_stopped.await;
        },
        move |e| ta.send(e).unwrap(),
    );
    let bob_watch = watch::watch(
        &bob,
        &opts,
        lock(&bob),
        async {
            let _ = bob_stopped.await;
        },
        move |e| tb.send(e).unwrap(),
    );
    let script = async {
        let Event::Online { addrs: alice_at, .. } = next(&mut alice_events).await else {
            panic!("alice's first event is going online")
        };
        let Event::Online { addrs: bob_at, .. } = next(&mut bob_events).await else {
            panic!("bob's first event is going online")
        };
        remember(&alice, &bob, &bob_at);
        remember(&bob, &alice, &alice_at);
        // Another opening of Alice's home writes, as another `duo` process would.
        let writer = Home::new(alice.home.root()).open().unwrap();

        // A new entry on Alice's device reaches Bob's watcher with nobody asking: the
        // store told Alice's watcher, which pushed.
        let id = write(&writer, "written while both watch");
        assert!(matches!(next(&mut alice_events).await, Event::LocalWrite));
        let got = synced(&mut bob_events, false).await;
        assert_eq!(got.added, vec![id.clone()], "{got:?}");
        assert!(got.edited.is_empty() && got.deleted.is_empty(), "{got:?}");

        // An edit is an edit, not a new entry.
        edit(&writer, &id, "changed while both watch");
        let got = synced(&mut bob_events, false).await;
        assert_eq!(
            (got.added.len(), got.edited.clone(), got.deleted.len()),
            (0, vec![id.clone()], 0)
        );

        // A deletion is a deletion (it once came out as 2^64 - 1 entries received).
        let sealer = writer.sealer();
        writer.space.update(|doc| doc.delete_entry(&id, 10, &sealer)).unwrap();
        let got = synced(&mut bob_events, false).await;
        assert_eq!(
            (got.added.len(), got.edited.len(), got.deleted.clone()),
            (0, 0, vec![id.clone()])
        );

        // Bob's watcher stops; a write on Alice's device then reaches nobody, which her
        // watcher reports, with the retry an hour away.
        stop_bob.send(()).unwrap();
        loop {
            if let Event::Stopped = next(&mut bob_events).await {
                break;
            }
        }
        write(&writer, "written while Bob is away");
        loop {
            if let Event::Unreached { peer, retry_in, .. } = next(&mut alice_events).await {
                assert_eq!(peer.device, bob.config.device_id);
                assert_eq!(retry_in, Duration::from_secs(3600));
                break;
            }
        }
        stop_alice.send(()).unwrap();
    };
    let (a, b, ()) = tokio::join!(alice_watch, bob_watch, script);
    assert_eq!(a.unwrap(), End::Stopped);
    assert_eq!(b.unwrap(), End::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_cannot_go_online_says_so() {
    let (_a, alice) = device("Alice");
    let mut opts = options();
    // An address this machine does not have.
    opts.net.bind = Some("192.0.2.1:0".parse().unwrap());
    let got = watch::watch(&alice, &opts, lock(&alice), std::future::pending(), |_| {}).await;
    assert!(
        matches!(got, Err(watch::WatchError::GoingOnline(SyncError::Net(_)))),
        "{got:?}"
    );
}
