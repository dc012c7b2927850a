//! Entry points for fuzzing every decoder of bytes that come from outside this device:
//! sync frames and sessions, pairing messages, tickets and codes (and, through
//! [`duo_journal::fuzzing`], import files and automerge documents). The `fuzz/` crate's
//! cargo-fuzz targets and the stable replay test (`tests/fuzz_replay.rs`) call these same
//! functions, so a saved crasher is a regression test on every machine.
//!
//! Each function must never panic and must end, whatever the bytes; where a decoder
//! accepts its input, it also checks a property of what came out.
//!
//! Bundles and backups are fuzzed after decryption: age authenticates the ciphertext, so
//! what a crafted file can reach is the decoder of the decrypted bytes.

use crate::code::Code;
use crate::device::Ticket;
use crate::frame::read_frame;
use crate::invite::Introduction;
use crate::pair::{self, Context, Role};
use crate::session::{self, Limits};
use duo_journal::{Device, Person, SpaceDoc};
use std::time::Duration;

/// A fuzz target's body: it takes any bytes.
pub type Target = fn(&[u8]);

/// Every fuzz target: its name (the directory under `fuzz/corpus/` and the file under
/// `fuzz/fuzz_targets/`) and its body.
pub const TARGETS: &[(&str, Target)] = &[
    ("frame", frame),
    ("session", session),
    ("sync_message", sync_message),
    ("pair_handshake", pair_handshake),
    ("introduction", introduction),
    ("ticket", ticket),
    ("code", code),
    ("import", duo_journal::fuzzing::import),
    ("document", duo_journal::fuzzing::document),
    ("bundle", bundle),
    ("backup", backup),
];

/// The runtime the async decoders run on (one per thread, reused across inputs).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime");
    }
    RT.with(|rt| rt.block_on(f))
}

/// Sync frames: read frames until the bytes run out or one is refused.
pub fn frame(data: &[u8]) {
    block_on(async {
        let mut r = data;
        let mut total = 0usize;
        while let Ok(f) = read_frame(&mut r, 4096).await {
            assert!(f.payload.len() <= 4096, "the cap holds");
            total += 6 + f.payload.len();
        }
        assert!(total <= data.len());
    })
}

/// A new space with one person (`p`, named A) and their device `d`: what the session
/// targets start from (the session tests too).
pub fn small_space() -> SpaceDoc {
    let mut d = SpaceDoc::new();
    d.init(
        "space",
        &Person {
            id: "p".into(),
            name: "A".into(),
        },
        &Device {
            id: "d".into(),
            person: "p".into(),
            label: "l".into(),
            added_at: 0,
        },
    )
    .expect("a new space");
    d
}

/// Limits for fuzzing: small. (Reading a byte slice never waits, so no deadline fires.)
fn fuzz_limits() -> Limits {
    Limits {
        max_frame: 1 << 16,
        max_document: 1 << 20,
        read_timeout: Duration::from_secs(1),
        deadline: Duration::from_secs(30),
        max_idle_rounds: 4,
        max_rounds: 32,
        max_items: 1 << 16,
    }
}

/// A whole sync session with a peer that sends `data`: it ends (with whatever result), and
/// when it says it completed, every head the peer announced is in the document.
pub fn session(data: &[u8]) {
    let mut doc = small_space();
    let before = doc.heads();
    block_on(async {
        let mut r = data;
        let mut w = tokio::io::sink();
        let res = session::run(&mut doc, None, &mut r, &mut w, fuzz_limits(), None).await;
        if let Ok(out) = res {
            assert_eq!(out.shared_heads, doc.heads());
        }
    });
    // Whatever arrived, what this side had is still there.
    for h in before {
        assert!(
            doc.automerge().get_change_meta_by_hash(&h).is_some(),
            "a change was lost"
        );
    }
}

/// One automerge sync message from a peer in the rounds of a session, taken as a session
/// takes it (every field bounded by [`crate::wire`], every chunk counted, then decoded and
/// received by automerge, guarded), then this side's next message generated from what it
/// said (guarded): nothing panics, nothing allocates past the limits (libFuzzer's memory
/// limit catches that). Tried again with the checksums of its chunks made right, to reach
/// what automerge does with well-formed chunks.
pub fn sync_message(data: &[u8]) {
    sync_message_once(data);
    if let Ok(chunks) = crate::wire::sync_message(data) {
        let mut fixed = data.to_vec();
        for chunk in chunks {
            let at = chunk.as_ptr() as usize - data.as_ptr() as usize;
            fixed[at..at + chunk.len()].copy_from_slice(&duo_journal::chunks::with_valid_checksums(chunk));
        }
        if fixed != data {
            sync_message_once(&fixed);
        }
    }
}

fn sync_message_once(data: &[u8]) {
    let mut doc = small_space();
    let mut state = automerge::sync::State::new();
    let mut allowance = duo_journal::chunks::Allowance::new(fuzz_limits().max_items);
    // The first round: this side's message, the peer's in return, then this side's next.
    let _ = session::next_message(&mut doc, &mut state);
    if session::take_message(&mut doc, &mut state, data, &mut allowance).is_ok() {
        let _ = session::next_message(&mut doc, &mut state);
    }
}

/// The pairing handshake with a peer that sends `data` (it cannot know the fresh SPAKE2
/// secret, so it must never succeed), then the introduction and the agreement messages.
pub fn pair_handshake(data: &[u8]) {
    block_on(async {
        let mut r = data;
        let mut w = tokio::io::sink();
        let ctx = Context {
            role: Role::Inviter,
            password: "7-purple-sausage-lantern",
            inviter: [1; 32],
            joiner: [2; 32],
            channel: [3; 32],
        };
        let res = pair::handshake(&mut r, &mut w, &ctx).await;
        assert!(res.is_err(), "bytes from a fuzzer completed a pairing");
        let _ = pair::exchange::<_, _, Introduction>(&mut r, &mut w, &introduction_sample()).await;
        let _ = pair::agree(&mut r, &mut w, true).await;
    })
}

fn introduction_sample() -> Introduction {
    Introduction {
        person_id: "p".into(),
        name: "A".into(),
        device_id: "d".into(),
        device_label: "l".into(),
        own_device: false,
        at: 0,
        addrs: Vec::new(),
        relay: None,
        anchors: Default::default(),
        partner_device: false,
        space_id: None,
        claim: Default::default(),
    }
}

/// The introduction a paired device sends (JSON): when it parses, it round-trips.
pub fn introduction(data: &[u8]) {
    if let Ok(i) = serde_json::from_slice::<Introduction>(data) {
        let again: Introduction = serde_json::from_slice(&serde_json::to_vec(&i).expect("serializes")).expect("parses");
        assert_eq!(again, i);
        let _ = i.device_of(&i.person().id);
    }
}

/// A ticket pasted by a person (`duo pair join --ticket`): when it parses, it round-trips.
pub fn ticket(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = text.parse::<Ticket>() {
        let again: Ticket = t.reveal().parse().expect("a revealed ticket parses");
        assert_eq!(again, t);
        let _ = t.addr();
    }
}

/// A code typed by a person: when it parses, it round-trips and its Debug hides the words.
pub fn code(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = text.parse::<Code>() {
        let shown = c.reveal();
        assert_eq!(shown.parse::<Code>().expect("a revealed code parses"), c);
        let debug = format!("{c:?}");
        for w in shown.split('-').skip(1) {
            assert!(!debug.contains(w), "Debug shows a code word");
        }
    }
}

/// A bundle's decrypted content (`duo bundle import`): when it decodes, its signature was
/// checked, and it encodes back to a bundle that decodes the same.
pub fn bundle(data: &[u8]) {
    let _ = crate::bundle::decode(data);
}

/// A backup's decrypted content (`duo restore`): decoding never panics and ends.
pub fn backup(data: &[u8]) {
    let _ = crate::backup::decode(data);
}
