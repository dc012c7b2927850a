//! Attacks on pairing, in-process over real iroh endpoints on loopback: many wrong-code
//! guesses (none gets in, and a failed guess uses the code up), and replayed pairing
//! transcripts (none completes). The machine in the middle runs in tests/e2e/mitm.rs.
//!
//! `DUO_TEST_WRONG_CODES` sets the number of guesses (default 100; `just soak-hostile`
//! runs 10,000). Timings are printed (`-- --nocapture`), never asserted.

mod common;

use common::{Tee, device};
use duo_device::code::{Code, word_at};
use duo_device::invite::{self, PAIR_ALPN};
use duo_device::net::{self, Members};
use duo_device::pair::{self, Context as PairContext, PairError, Role};
use duo_device::{Opened, SyncError};
use iroh::{Endpoint, EndpointAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn count(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn ep(o: &Opened, alpns: &[&[u8]]) -> Endpoint {
    net::endpoint(
        o.device_secret().clone(),
        "127.0.0.1:0".parse().unwrap(),
        Members::default(),
        alpns.iter().map(|a| a.to_vec()).collect(),
    )
    .await
    .unwrap()
}

fn addr(e: &Endpoint) -> EndpointAddr {
    EndpointAddr::new(e.id()).with_ip_addr(e.bound_sockets()[0])
}

/// A small deterministic generator for guesses (the guesser does not need secrecy).
struct Guesses(u64);

impl Guesses {
    fn byte(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }

    /// A well-formed code with `code`'s public nameplate and other words.
    fn wrong(&mut self, code: &Code) -> Code {
        loop {
            let guess: Code = format!(
                "{}-{}-{}-{}",
                code.nameplate(),
                word_at(self.byte()),
                word_at(self.byte()),
                word_at(self.byte())
            )
            .parse()
            .unwrap();
            if guess != *code {
                return guess;
            }
        }
    }
}

fn members_of(o: &Opened) -> usize {
    o.space.read().unwrap().view.devices.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_never_pair() {
    let n = count("DUO_TEST_WRONG_CODES", 100);
    let (_a, alice) = device("Alice");
    let (_m, mut mallory) = device("Mallory");
    let alice_ep = ep(&alice, &[PAIR_ALPN]).await;
    let mallory_ep = ep(&mallory, &[]).await;
    let mut guesses = Guesses(0x9e37_79b9_7f4a_7c15);
    let (mut successes, mut wrong_on_both, mut other) = (0usize, 0usize, Vec::new());
    let start = Instant::now();
    for _ in 0..n {
        let code = Code::generate();
        let guess = guesses.wrong(&code);
        let (a, m) = tokio::join!(
            invite::invite(&alice_ep, &alice, &code, false, |_, _| true),
            invite::join(&mallory_ep, &mut mallory, addr(&alice_ep), &guess, |_, _| true)
        );
        match (&a, &m) {
            (Ok(_), _) | (_, Ok(_)) => successes += 1,
            (Err(SyncError::WrongCode), Err(SyncError::WrongCode)) => wrong_on_both += 1,
            _ => other.push(format!("{a:?} / {m:?}")),
        }
    }
    let took = start.elapsed();
    eprintln!(
        "wrong codes: {n} guesses, {successes} successes, {wrong_on_both} refused as a wrong code on both sides, {} other failures, {took:?} ({:?} each)",
        other.len(),
        took / n as u32
    );
    assert_eq!(successes, 0, "a wrong code paired");
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(members_of(&alice), 1, "alice recorded nobody");
    assert_eq!(members_of(&mallory), 1, "mallory recorded nobody");
    alice_ep.close().await;
    mallory_ep.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_one_wrong_guess_the_right_code_is_refused() {
    let (_a, alice) = device("Alice");
    let (_m, mut mallory) = device("Mallory");
    let (_b, mut bob) = device("Bob");
    let alice_ep = ep(&alice, &[PAIR_ALPN]).await;
    let mallory_ep = ep(&mallory, &[]).await;
    let bob_ep = ep(&bob, &[]).await;
    let code = Code::generate();
    let guess = Guesses(42).wrong(&code);
    let (a, m) = tokio::join!(
        invite::invite(&alice_ep, &alice, &code, false, |_, _| true),
        invite::join(&mallory_ep, &mut mallory, addr(&alice_ep), &guess, |_, _| true)
    );
    assert!(matches!(a, Err(SyncError::WrongCode)), "{a:?}");
    assert!(matches!(m, Err(SyncError::WrongCode)), "{m:?}");
    // The invitation ended with the wrong guess: Bob, with the right code, gets nobody.
    let start = Instant::now();
    let late = invite::join(&bob_ep, &mut bob, addr(&alice_ep), &code, |_, _| true).await;
    eprintln!(
        "the right code after a wrong guess: {late:?} after {:?}",
        start.elapsed()
    );
    assert!(late.is_err(), "the right code was accepted after a wrong guess");
    // Alice invites again: that is a new code, and the old one is refused by it.
    let fresh = Code::generate();
    let (a, b) = tokio::join!(
        invite::invite(&alice_ep, &alice, &fresh, false, |_, _| true),
        invite::join(&bob_ep, &mut bob, addr(&alice_ep), &code, |_, _| true)
    );
    assert!(matches!(a, Err(SyncError::WrongCode)), "{a:?}");
    assert!(matches!(b, Err(SyncError::WrongCode)), "{b:?}");
    assert_eq!(members_of(&alice), 1);
    assert_eq!(members_of(&bob), 1);
    for e in [alice_ep, mallory_ep, bob_ep] {
        e.close().await;
    }
}

const CODE: &str = "7-purple-sausage-lantern";

fn ctx(role: Role) -> PairContext<'static> {
    PairContext {
        role,
        password: CODE,
        inviter: [1; 32],
        joiner: [2; 32],
        channel: [3; 32],
    }
}

/// A successful pairing (handshake, introduction, agreement) in memory; returns what each
/// side sent, byte for byte.
async fn record() -> (Vec<u8>, Vec<u8>) {
    let (x, y) = tokio::io::duplex(1 << 16);
    let (mut ir, iw) = tokio::io::split(x);
    let (mut jr, jw) = tokio::io::split(y);
    let (icopy, jcopy) = (Arc::default(), Arc::default());
    let mut iw = Tee {
        inner: iw,
        copy: Arc::clone(&icopy),
    };
    let mut jw = Tee {
        inner: jw,
        copy: Arc::clone(&jcopy),
    };
    let intro = serde_json::json!({"name": "someone"});
    let (ci, cj) = (ctx(Role::Inviter), ctx(Role::Joiner));
    let (a, b) = tokio::join!(
        async {
            let v = pair::handshake(&mut ir, &mut iw, &ci).await?;
            pair::exchange(&mut ir, &mut iw, &intro).await?;
            pair::agree(&mut ir, &mut iw, true).await?;
            Ok::<_, PairError>(v.words)
        },
        async {
            let v = pair::handshake(&mut jr, &mut jw, &cj).await?;
            pair::exchange(&mut jr, &mut jw, &intro).await?;
            pair::agree(&mut jr, &mut jw, true).await?;
            Ok::<_, PairError>(v.words)
        }
    );
    assert_eq!(a.unwrap(), b.unwrap(), "the recorded pairing succeeded");
    let take = |c: Arc<Mutex<Vec<u8>>>| c.lock().unwrap().clone();
    (take(icopy), take(jcopy))
}

/// Replay one side's recorded bytes to a fresh other side (same code, same ids, even the
/// same channel binding: only the fresh SPAKE2 secret of the new run protects it).
async fn replay(recorded: Vec<u8>, to: Role) -> Result<String, PairError> {
    let (x, mut y) = tokio::io::duplex(1 << 16);
    let (mut r, mut w) = tokio::io::split(x);
    let feed = async move {
        use tokio::io::AsyncWriteExt;
        let _ = y.write_all(&recorded).await;
        // Keep reading what the victim says until it gives up.
        let mut sink = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut y, &mut sink).await;
    };
    let c = ctx(to);
    let victim = async move {
        let res = async {
            let v = pair::handshake(&mut r, &mut w, &c).await?;
            pair::agree(&mut r, &mut w, true).await?;
            Ok(v.words)
        }
        .await;
        // Hang up, so the feeder stops reading.
        drop((r, w));
        res
    };
    tokio::join!(victim, feed).0
}

#[tokio::test]
async fn replayed_pairing_transcripts_fail() {
    let runs = count("DUO_TEST_REPLAYS", 20);
    let mut refused = 0;
    for _ in 0..runs {
        let (inviter_said, joiner_said) = record().await;
        for (bytes, to) in [(joiner_said, Role::Inviter), (inviter_said, Role::Joiner)] {
            let res = tokio::time::timeout(Duration::from_secs(10), replay(bytes, to))
                .await
                .expect("a replay ends");
            assert!(
                matches!(res, Err(PairError::WrongCode | PairError::Protocol(_))),
                "a replayed transcript was accepted: {:?}",
                res.map(|_| "words")
            );
            refused += 1;
        }
    }
    eprintln!("replays: {refused} of {} refused", runs * 2);
}
