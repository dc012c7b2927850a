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

fn small_space() -> SpaceDoc {
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
