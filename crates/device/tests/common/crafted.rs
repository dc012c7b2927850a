//! A paired peer that sends crafted sync frames (shared by `crates/device/tests/hostile.rs`,
//! against the sync service over real iroh endpoints, and by `tests/e2e/bounds.rs`, against
//! the real `duo sync --watch`). It holds only its own device's keys and speaks the
//! protocol honestly up to the frame it crafts.
#![allow(dead_code)]

use duo_device::frame::{FrameError, read_frame, write_frame};
use tokio::io::{AsyncRead, AsyncWrite};

const HELLO: u8 = 3;
const CHANGES: u8 = 4;
const MESSAGE: u8 = 1;
const IDLE: u8 = 2;
const DOC_BEGIN: u8 = 5;
const DOC_PART: u8 = 6;

pub use duo_journal::fuzzing::uleb;

fn hashes(out: &mut Vec<u8>, list: &[[u8; 32]]) {
    uleb(out, list.len() as u64);
    for h in list {
        out.extend(h);
    }
}

/// A head nobody has: announcing it keeps the victim in automerge's rounds.
pub const UNKNOWN: [u8; 32] = [7; 32];

/// An automerge sync message (type 0x42) laid out as automerge 0.12 writes it, with any
/// contents: heads, needs, at most one "have" (last-sync heads and Bloom filter bytes) and
/// change chunks.
pub fn sync_message(
    heads: &[[u8; 32]],
    needs: &[[u8; 32]],
    have: Option<(&[[u8; 32]], &[u8])>,
    changes: &[&[u8]],
) -> Vec<u8> {
    let mut m = vec![0x42];
    hashes(&mut m, heads);
    hashes(&mut m, needs);
    match have {
        None => m.push(0),
        Some((last_sync, bloom)) => {
            m.push(1);
            hashes(&mut m, last_sync);
            uleb(&mut m, bloom.len() as u64);
            m.extend(bloom);
        }
    }
    uleb(&mut m, changes.len() as u64);
    for c in changes {
        uleb(&mut m, c.len() as u64);
        m.extend(*c);
    }
    m
}

/// A Bloom filter with any parameters, all its bits set.
pub fn bloom(entries: u64, bits_per_entry: u64, probes: u64) -> Vec<u8> {
    let mut b = Vec::new();
    for n in [entries, bits_per_entry, probes] {
        uleb(&mut b, n);
    }
    b.extend(std::iter::repeat_n(
        0xff,
        (entries * bits_per_entry).div_ceil(8) as usize,
    ));
    b
}

/// The filter of issue 12: one entry, 8 bits, and 4,294,967,295 probes. Automerge 0.12
/// decodes it, and at the next message it generates reserves 4 bytes per probe (16 GiB)
/// for each of its changes it checks against the filter: an allocation failure aborts
/// the process, which `catch_unwind` cannot stop.
pub fn bloom_bomb() -> Vec<u8> {
    sync_message(&[UNKNOWN], &[], Some((&[], &bloom(1, 8, u32::MAX as u64))), &[])
}

/// duo's hello (postcard) with one unknown head, no sample, and `changes`.
pub fn hello(changes: &[&[u8]]) -> Vec<u8> {
    let mut h = vec![0u8; 8]; // no base: first contact
    hashes(&mut h, &[UNKNOWN]);
    h.push(0); // kept
    h.push(0); // sample
    uleb(&mut h, changes.len() as u64);
    for c in changes {
        uleb(&mut h, c.len() as u64);
        h.extend(*c);
    }
    h
}

/// What the crafted peer sends in place of the honest frames, in order.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// Replaces the hello (or both hellos).
    pub hello: Option<Vec<u8>>,
    /// Replaces the catch-up's empty change list.
    pub catch_up: Option<Vec<u8>>,
    /// Sends this whole document in the catch-up instead.
    pub document: Option<Vec<u8>>,
    /// Sync messages for the automerge rounds, one a round.
    pub messages: Vec<Vec<u8>>,
}

impl Script {
    /// Just these automerge sync messages.
    pub fn messages(messages: Vec<Vec<u8>>) -> Script {
        Script {
            messages,
            ..Script::default()
        }
    }
}

/// Play `script` on one sync stream: hello (twice when the victim remembers an earlier
/// session), the catch-up, then one crafted message per automerge round, then idle until
/// the victim ends the session (the victim's error then ends this too).
pub async fn play<R, W>(r: &mut R, w: &mut W, script: &Script) -> Result<(), FrameError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    const MAX: usize = 1 << 30;
    let hello = script.hello.clone().unwrap_or_else(|| self::hello(&[]));
    write_frame(w, HELLO, &hello).await?;
    let theirs = read_frame(r, MAX).await?;
    if theirs.payload.get(..8).is_some_and(|base| base != [0; 8]) {
        // The victim remembers an earlier session: both say their heads again in full.
        write_frame(w, HELLO, &hello).await?;
        read_frame(r, MAX).await?;
    }
    if let Some(doc) = &script.document {
        write_frame(w, DOC_BEGIN, &(doc.len() as u64).to_be_bytes()).await?;
        for part in doc.chunks(1 << 20) {
            write_frame(w, DOC_PART, part).await?;
        }
    } else {
        let catch_up = script.catch_up.clone().unwrap_or_else(|| vec![0]);
        write_frame(w, CHANGES, &catch_up).await?;
    }
    read_frame(r, MAX).await?;
    for m in &script.messages {
        write_frame(w, MESSAGE, m).await?;
        read_frame(r, MAX).await?;
    }
    loop {
        write_frame(w, IDLE, &[]).await?;
        read_frame(r, MAX).await?;
    }
}

/// Keep this process's address space under `bytes`, so that if a bound ever breaks, the
/// allocation that should never happen fails at once (an abort) instead of pushing a
/// shared machine into swap or the OOM killer.
pub fn cap_address_space(bytes: u64) {
    let mut now = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls with a valid pointer.
    unsafe {
        libc::getrlimit(libc::RLIMIT_AS, &mut now);
        if now.rlim_cur == libc::RLIM_INFINITY || now.rlim_cur > bytes {
            let cap = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: now.rlim_max,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &cap), 0, "setrlimit");
        }
    }
}

/// A field of /proc/<pid>/status in KiB (`pid` may be "self"): VmRSS (now), VmHWM (the
/// peak since the start or the last [`reset_peak`]).
pub fn status_kib(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Start measuring this process's peak resident memory afresh: give freed memory back to
/// the system (so what the victim allocates next shows), then VmHWM := VmRSS.
pub fn reset_peak() {
    // SAFETY: glibc's malloc_trim only releases free memory.
    unsafe { libc::malloc_trim(0) };
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident set");
}
