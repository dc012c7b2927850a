//! Sync benchmark over real iroh endpoints on loopback, with real age-encrypted stores.
//!
//! `cargo bench -p duo-device --bench sync` (optionally `DUO_BENCH_ENTRIES=100000`; `just
//! bench-sync` runs it through `bench/sync.py --in-process`, which puts its first-sync ratio
//! in its own table). Prints:
//! - the first sync of the whole journal to a new device that already wrote a little
//!   (as right after pairing), side by side with sending the saved document over the same
//!   kind of connection and loading it: the goal is 1.2 × that baseline;
//! - one new entry each way after that: rounds, application bytes and time;
//! - nothing new: the cost of a sync that moves nothing.
//!
//! Numbers only: nothing is asserted (these machines are noisy); the issue notes and
//! docs/protocol.md carry the measured figures.

#[path = "../tests/common/mod.rs"]
mod common;

use common::introduce;
use duo_device::net::{self, Members, SYNC_ALPN, SyncOptions, SyncService};
use duo_device::{Home, Opened};
use duo_journal::{Kind, NewEntry, SpaceDoc};
use iroh::EndpointAddr;
use iroh::endpoint::Endpoint;
use iroh::protocol::Router;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BLOB_ALPN: &[u8] = b"duo-bench/blob";

fn entry(o: &Opened, i: usize) -> NewEntry {
    NewEntry {
        id: duo_journal::new_id(),
        kind: Kind::Reflection,
        author: o.config.person_id.clone(),
        device: o.config.device_id.clone(),
        created_at: 1_700_000_000_000 + i as i64,
        edited_at: 1_700_000_000_000 + i as i64,
        // About 500 characters, different in every entry.
        body: format!("{i} ") + &"I felt heard when you asked about my day, and I want to say so. ".repeat(8),
        tags: vec!["bench".into()],
        status: None,
        no_replies: false,
        prompt: None,
    }
}

async fn endpoint(o: &Opened, alpns: Vec<Vec<u8>>) -> Endpoint {
    let view = o.space.read().unwrap().view;
    let members = Members::from_ids(view.devices.keys().map(String::as_str));
    net::endpoint(
        o.device_secret().clone(),
        "127.0.0.1:0".parse().unwrap(),
        members,
        alpns,
    )
    .await
    .unwrap()
}

fn addr(e: &Endpoint) -> EndpointAddr {
    EndpointAddr::new(e.id()).with_ip_addr(e.bound_sockets()[0])
}

/// Serves the saved document as raw bytes: the baseline transfer.
#[derive(Debug, Clone)]
struct Blob(Arc<Vec<u8>>);

impl iroh::protocol::ProtocolHandler for Blob {
    async fn accept(&self, conn: iroh::endpoint::Connection) -> Result<(), iroh::protocol::AcceptError> {
        let (mut send, mut recv) = conn.accept_bi().await?;
        let _ = recv.read_to_end(16).await;
        send.write_all(&self.0)
            .await
            .map_err(iroh::protocol::AcceptError::from_err)?;
        send.finish().map_err(iroh::protocol::AcceptError::from_err)?;
        let _ = send.stopped().await;
        Ok(())
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("DUO_BENCH_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let alice = Home::new(dir.path().join("alice")).init("Alice", "laptop", 1).unwrap();
    let bob = Home::new(dir.path().join("bob")).init("Bob", "laptop", 1).unwrap();
    introduce(&alice, &bob);
    introduce(&bob, &alice);

    // Alice's journal: n entries, one change each (as `duo journal add` makes them), compacted.
    let t = Instant::now();
    let entries: Vec<NewEntry> = (0..n).map(|i| entry(&alice, i)).collect();
    alice
        .space
        .update(|doc| {
            let by = alice.sealer();
            for e in &entries {
                doc.add_entry(e, &by)?;
                doc.automerge().commit();
            }
            Ok(())
        })
        .unwrap();
    alice.space.compact().unwrap();
    // Bob wrote a little before pairing.
    for i in 0..3 {
        bob.space.add(&[entry(&bob, i)], &bob.sealer()).unwrap();
    }
    eprintln!("built a {n}-entry journal in {}", ms(t.elapsed()));

    let saved = alice.space.load().unwrap().save();
    let alice_ep = endpoint(&alice, vec![SYNC_ALPN.to_vec(), BLOB_ALPN.to_vec()]).await;
    // The serving side has its journal in memory, as `duo pair` (loaded while people
    // compare the words) and a watcher have.
    let served = net::Replica::default();
    served.preload(&alice.space).await.unwrap();
    let router = Router::builder(alice_ep.clone())
        .accept(
            SYNC_ALPN,
            SyncService::new(Arc::new(duo_journal::Journal::new(alice.space.storage().clone())))
                .with_states(duo_device::device::sync_states(&alice).unwrap())
                .with_replica(served),
        )
        .accept(BLOB_ALPN, Blob(Arc::new(saved.clone())))
        .spawn();
    let bob_ep = endpoint(&bob, vec![SYNC_ALPN.to_vec()]).await;

    // Baseline: the saved document over the same kind of connection, then loaded.
    let t = Instant::now();
    let conn = bob_ep.connect(addr(&alice_ep), BLOB_ALPN).await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(b"go").await.unwrap();
    send.finish().unwrap();
    let bytes = recv.read_to_end(1 << 31).await.unwrap();
    conn.close(0u32.into(), b"done");
    let transfer = t.elapsed();
    let t = Instant::now();
    let loaded = SpaceDoc::load(&bytes).unwrap();
    let load = t.elapsed();
    assert_eq!(loaded.contents().entries.len(), n);
    let baseline = transfer + load;

    // The first sync, as right after pairing.
    let states = duo_device::device::sync_states(&bob).unwrap();
    // Both sides keep their document in memory between sessions, as `duo sync --watch`
    // does (the first sync still loads from disk: there is nothing in memory yet).
    let replica = net::Replica::default();
    let options = SyncOptions {
        states: Some(&states),
        progress: None,
        replica: Some(&replica),
    };
    let t = Instant::now();
    let first = net::sync_with(&bob_ep, &bob.space, addr(&alice_ep), options)
        .await
        .unwrap();
    let first_time = t.elapsed();
    assert_eq!(first.entries_after, n + 3);

    println!("duo sync benchmark: {n} entries of ~500 characters, loopback, release build");
    println!();
    println!("| what | time | application bytes | rounds |");
    println!("|---|---|---|---|");
    println!(
        "| saved document: transfer + load (baseline) | {} ({} + {}) | {} | — |",
        ms(baseline),
        ms(transfer),
        ms(load),
        saved.len()
    );
    println!(
        "| first sync to a new device (connect, session, store) | {} ({:.2} × baseline) | {} sent + {} received | {} |",
        ms(first_time),
        first_time.as_secs_f64() / baseline.as_secs_f64(),
        first.outcome.bytes_sent,
        first.outcome.bytes_received,
        first.outcome.rounds
    );

    // One new entry each way, then nothing new: medians of a few runs.
    type Run = (Duration, u64, u64, u32);
    let mut rows: Vec<(&str, Vec<Run>)> = vec![
        ("one new entry, partner → this device", vec![]),
        ("one new entry, this device → partner", vec![]),
        ("nothing new", vec![]),
    ];
    for i in 0..7 {
        alice.space.add(&[entry(&alice, n + i)], &alice.sealer()).unwrap();
        let t = Instant::now();
        let r = net::sync_with(&bob_ep, &bob.space, addr(&alice_ep), options)
            .await
            .unwrap();
        rows[0].1.push((
            t.elapsed(),
            r.outcome.bytes_sent,
            r.outcome.bytes_received,
            r.outcome.rounds,
        ));
        bob.space.add(&[entry(&bob, n + i)], &bob.sealer()).unwrap();
        let t = Instant::now();
        let r = net::sync_with(&bob_ep, &bob.space, addr(&alice_ep), options)
            .await
            .unwrap();
        rows[1].1.push((
            t.elapsed(),
            r.outcome.bytes_sent,
            r.outcome.bytes_received,
            r.outcome.rounds,
        ));
        let t = Instant::now();
        let r = net::sync_with(&bob_ep, &bob.space, addr(&alice_ep), options)
            .await
            .unwrap();
        rows[2].1.push((
            t.elapsed(),
            r.outcome.bytes_sent,
            r.outcome.bytes_received,
            r.outcome.rounds,
        ));
    }
    for (what, mut runs) in rows {
        runs.sort();
        let (d, s, r, rounds) = runs[runs.len() / 2];
        println!(
            "| {what} (median of {}) | {} | {s} sent + {r} received | {rounds} |",
            runs.len(),
            ms(d)
        );
    }
    println!();
    println!(
        "Times include connecting (QUIC handshake on loopback), loading the journal from its age-encrypted files and storing what arrived."
    );
    bob_ep.close().await;
    router.shutdown().await.unwrap();
}
