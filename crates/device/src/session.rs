//! One sync session between two devices of a space, over one pair of frame streams.
//!
//! Both sides send at once in every phase (sending and reading run concurrently, so two
//! large messages cannot block each other on flow control), and both decide what comes
//! next from the same facts, so no phase needs an extra message to agree on it:
//!
//! 1. **hello**: my heads, plus the changes made since the heads this device last shared
//!    with this peer (persisted per peer), or, on first contact, a small sample of change
//!    hashes. When both sides were in step before, this is the whole session: one round
//!    trip carries a new entry each way.
//! 2. **catch-up** (only when the hello did not bring both sides level): the exact
//!    changes the peer lacks when this side knows the peer's heads; the whole saved
//!    document when that is most of it (a new device, or two histories that share
//!    nothing, as right after pairing); nothing otherwise.
//! 3. **automerge sync rounds** (only when still not level, e.g. both sides wrote since
//!    they last met and one of them also met a third device): automerge's own protocol,
//!    which finds the difference with Bloom filters. A peer that keeps sending messages that
//!    change nothing is cut off after [`Limits::max_idle_rounds`] rounds.
//!
//! "Level" is decided on each side as: I have every head the peer announced, and every
//! change I have that the peer's announced heads do not cover was sent. Each side's first
//! half is the other side's second half, so both reach the same answer.
//!
//! Every read has a deadline, every size and count is capped before anything is decoded
//! ([`crate::wire`]), what the peer's automerge bytes describe is counted before automerge
//! builds it (one [`Allowance`] per session), everything automerge does runs guarded, and
//! the session ends with a check that every head the peer announced is here: automerge
//! drops damaged data silently, so `Ok` alone proves nothing.

use crate::frame::{FrameError, read_frame, write_frame};
use crate::wire;
use automerge::sync::{Message, State, SyncDoc};
use automerge::{Change, ChangeHash};
use duo_journal::SpaceDoc;
use duo_journal::chunks::Allowance;
use std::collections::HashSet;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

const KIND_MESSAGE: u8 = 1;
const KIND_IDLE: u8 = 2;
const KIND_HELLO: u8 = 3;
const KIND_CHANGES: u8 = 4;
const KIND_DOC_BEGIN: u8 = 5;
const KIND_DOC_PART: u8 = 6;

/// Hashes of this many changes go into a first-contact hello.
const SAMPLE: usize = 16;
/// A hello carries at most this many bytes of changes; more go in the catch-up.
const HELLO_CHANGES_MAX: usize = 1 << 20;
/// The whole document is sent in parts of this size (and progress reported per part).
const DOC_PART: usize = 1 << 20;
/// Send the whole document instead of changes when the peer lacks more than this many
/// changes and at least half of the document.
const DOC_THRESHOLD: usize = 256;

/// Bounds on what a peer can make this device do.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest frame accepted.
    pub max_frame: usize,
    /// Largest whole document accepted (it arrives in parts).
    pub max_document: u64,
    /// Deadline for each read.
    pub read_timeout: Duration,
    /// Deadline for the whole session: a peer that trickles many small frames, each in
    /// time, is still cut off here.
    pub deadline: Duration,
    /// Rounds in a row without new changes or new heads before the session is cut off.
    pub max_idle_rounds: u32,
    /// Hard cap on automerge sync rounds.
    pub max_rounds: u32,
    /// Most operations, changes or actors the peer's automerge bytes may describe in all
    /// (see [`duo_journal::chunks::MAX_ITEMS`]).
    pub max_items: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 64 << 20,
            max_document: 1 << 30,
            read_timeout: Duration::from_secs(20),
            // A whole first sync of a large journal over a slow link fits easily.
            deadline: Duration::from_secs(600),
            max_idle_rounds: 8,
            max_rounds: 256,
            max_items: duo_journal::chunks::MAX_ITEMS,
        }
    }
}

/// Called as a whole document arrives: bytes so far, bytes in all.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// What a session did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Phases and automerge rounds, each one exchange of messages.
    pub rounds: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Changes this side did not have before.
    pub changes_received: usize,
    /// The heads both sides have now: persist them for the next session with this peer.
    pub shared_heads: Vec<ChangeHash>,
    /// Whether a whole document went one way or the other.
    pub whole_document: bool,
    /// Changes this side sent that the peer did not announce having (an upper bound when
    /// automerge rounds ran).
    pub changes_sent: usize,
    /// The saved document the peer sent, when it sent one, as it came (loaded strictly and
    /// merged): the store can keep these bytes instead of saving the document again.
    pub document: Option<Vec<u8>>,
}

/// Why a session ended early. Nothing is stored by a failed session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("the peer did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the session did not finish within {0:?}; it was cut off")]
    Deadline(Duration),
    #[error("the peer sent something that is not a valid duo sync message: {0}")]
    BadMessage(String),
    #[error("the peer sent an unexpected frame kind {0}")]
    BadKind(u8),
    #[error("no progress after {0} rounds; starting over with a fresh sync state")]
    NoProgress(u32),
    #[error("the peer's changes did not all arrive intact ({0} missing)")]
    Incomplete(usize),
    #[error("the other device sent more than duo accepts in a sync: {0}; nothing from this session was stored")]
    Refused(String),
}

impl From<wire::Refusal> for SessionError {
    fn from(r: wire::Refusal) -> Self {
        match r {
            wire::Refusal::Malformed(what) => SessionError::BadMessage(what),
            wire::Refusal::TooMuch(what) => SessionError::Refused(what),
        }
    }
}

fn bad(e: impl std::fmt::Display) -> SessionError {
    SessionError::BadMessage(e.to_string())
}

/// Count `n` more bytes from the peer. A session may bring at most the largest whole
/// document plus two frames: what it adds to the document is bounded in bytes, as what
/// those bytes describe is by the session's [`Allowance`].
fn received(out: &mut Outcome, limits: &Limits, n: u64) -> Result<(), SessionError> {
    out.bytes_received += n;
    let max = most_received(limits);
    if out.bytes_received > max {
        return Err(SessionError::Refused(format!(
            "more than {} MiB in one session",
            max as f64 / f64::from(1 << 20)
        )));
    }
    Ok(())
}

/// The most bytes one session may receive: [`Limits::max_document`] plus two frames.
pub fn most_received(limits: &Limits) -> u64 {
    limits.max_document.saturating_add(2 * limits.max_frame as u64)
}

/// Bytes automerge may allocate for each operation, change or actor it builds (measured:
/// up to about 640, see docs/protocol.md, "Memory").
pub const ITEM_BYTES: u64 = 768;

/// The most memory one session may take beyond the document it syncs: four copies of a
/// frame (the frame, automerge's decoded message, the changes joined, the chunks parsed)
/// and [`ITEM_BYTES`] for each item the session's allowance lets the peer's bytes
/// describe. 1 GiB with the default limits.
pub fn most_memory(limits: &Limits) -> u64 {
    4 * limits.max_frame as u64 + ITEM_BYTES * limits.max_items
}

/// Run automerge on bytes from the peer. Automerge can panic on crafted input (fuzzing
/// found one in `apply_changes`); a panic here becomes an error that ends the session.
/// The document may be half-changed then, which is why callers work on a copy and keep it
/// only when the session completed.
fn guarded<T>(f: impl FnOnce() -> Result<T, SessionError>) -> Result<T, SessionError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(bad("automerge could not process the peer's data (it panicked)")))
}

/// The first message each way. Heads are sent relative to the heads this side believes
/// both shared last time (`base` names them by digest): a journal written with many
/// offline `add`s has many heads, and resending them all every time would cost more than
/// the entry itself.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Hello {
    /// Digest of the assumed shared heads; all zero: none, and `heads` is complete.
    pub(crate) base: [u8; 8],
    /// Heads that are not among the assumed shared heads.
    pub(crate) heads: Vec<[u8; 32]>,
    /// Which assumed shared heads (by position, sorted) are still heads.
    pub(crate) kept: Vec<u32>,
    /// On first contact: hashes of a few changes, to tell "behind" from "unrelated".
    pub(crate) sample: Vec<[u8; 32]>,
    /// Changes made since the assumed shared heads.
    pub(crate) changes: Vec<Vec<u8>>,
}

const NO_BASE: [u8; 8] = [0; 8];

fn digest(shared: &[ChangeHash]) -> [u8; 8] {
    use sha2::Digest;
    let mut sorted = shared.to_vec();
    sorted.sort();
    let mut h = sha2::Sha256::new();
    for x in &sorted {
        h.update(x.0);
    }
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    if out == NO_BASE {
        out[0] = 1;
    }
    out
}

/// What one side sends in the catch-up phase.
enum CatchUp {
    Changes(Vec<Change>),
    Document(Vec<u8>),
}

/// What arrived in the catch-up phase.
enum Arrived {
    Changes(Vec<Change>),
    Document(Vec<u8>),
}

/// Run one session on `doc` with the peer at the other end of `r`/`w`. `shared` is what
/// this device last shared with this peer ([`Outcome::shared_heads`] of the last session
/// that completed), if anything. Nothing here touches the disk. The whole session ends
/// by [`Limits::deadline`].
pub async fn run<R, W>(
    doc: &mut SpaceDoc,
    shared: Option<&[ChangeHash]>,
    r: &mut R,
    w: &mut W,
    limits: Limits,
    progress: Option<Progress<'_>>,
) -> Result<Outcome, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let before = doc.heads();
    let outcome = tokio::time::timeout(limits.deadline, run_until_done(doc, shared, r, w, limits, progress))
        .await
        .map_err(|_| SessionError::Deadline(limits.deadline))??;
    // What the peer sent must be something a saved document can hold again (the caller
    // drops `doc` on an error, and stores nothing).
    guarded(|| doc.check_op_counters(&before).map_err(bad))?;
    Ok(outcome)
}

async fn run_until_done<R, W>(
    doc: &mut SpaceDoc,
    shared: Option<&[ChangeHash]>,
    r: &mut R,
    w: &mut W,
    limits: Limits,
    progress: Option<Progress<'_>>,
) -> Result<Outcome, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = Outcome::default();
    let start = hashes(doc);
    let mut sent: HashSet<ChangeHash> = HashSet::new();
    // What the peer's automerge bytes may describe, in all, this session.
    let mut allowance = Allowance::new(limits.max_items);

    // 1. Hello, relative to what this side believes both shared last time.
    let mut base_heads: Vec<ChangeHash> = shared
        .filter(|s| !s.is_empty() && s.iter().all(|h| start.contains(h)))
        .map(<[ChangeHash]>::to_vec)
        .unwrap_or_default();
    base_heads.sort();
    let (mine, carried) = hello_for(doc, &base_heads, &start);
    sent.extend(carried);
    let theirs = exchange_hello(doc, r, w, limits, &mut out, &mut allowance, mine).await?;
    let base = if base_heads.is_empty() {
        NO_BASE
    } else {
        digest(&base_heads)
    };
    let (their_heads, their_sample) = if theirs.base == base {
        let mut heads = to_hashes(&theirs.heads);
        for i in &theirs.kept {
            heads.push(
                *base_heads
                    .get(*i as usize)
                    .ok_or_else(|| bad("a kept head that is not there"))?,
            );
        }
        (heads, to_hashes(&theirs.sample))
    } else {
        // The two sides remember different last syncs (one of them did not store the
        // last session): both see the mismatch, and both say their heads in full.
        let (again, _) = hello_for(doc, &[], &start);
        let full = exchange_hello(doc, r, w, limits, &mut out, &mut allowance, again).await?;
        (to_hashes(&full.heads), to_hashes(&full.sample))
    };

    // 2. Catch-up, unless the hello brought both sides level.
    let missing_there = lacking(doc, &their_heads);
    if !level(&missing_there, &sent) {
        let plan = catch_up(
            doc,
            missing_there,
            (&their_heads, &their_sample),
            &sent,
            start.len(),
            limits.max_frame / 2,
        );
        match &plan {
            CatchUp::Document(_) => sent.extend(hashes(doc)),
            CatchUp::Changes(changes) => sent.extend(changes.iter().map(Change::hash)),
        }
        out.rounds += 1;
        let (s, got) = tokio::join!(
            send_catch_up(w, &plan),
            read_catch_up(r, limits, progress, &mut allowance)
        );
        out.bytes_sent += s?;
        let (arrived, n) = got?;
        received(&mut out, &limits, n)?;
        out.whole_document = matches!(plan, CatchUp::Document(_)) || matches!(arrived, Arrived::Document(_));
        match arrived {
            Arrived::Changes(changes) => guarded(|| doc.automerge().apply_changes(changes).map_err(bad))?,
            Arrived::Document(bytes) => {
                guarded(|| merge_document(doc, &bytes, &mut allowance))?;
                out.document = Some(bytes);
            }
        }
    }

    // 3. Automerge's own rounds for whatever is left.
    let mut their_final = their_heads.clone();
    if !level(&lacking(doc, &their_heads), &sent) {
        their_final.extend(automerge_rounds(doc, r, w, limits, &mut out, &mut sent, &mut allowance).await?);
    }

    // Trust the peer's announced heads, not `Ok`: everything they have must be here now.
    let missing = their_final.iter().filter(|h| !knows(doc, h)).count();
    if missing > 0 {
        return Err(SessionError::Incomplete(missing));
    }
    out.changes_received = doc.change_count().saturating_sub(start.len());
    out.changes_sent = sent.len();
    out.shared_heads = doc.heads();
    Ok(out)
}

/// This side's hello relative to `base` (sorted; empty: none), and the hashes of the
/// changes it carries. `mine` are the hashes of every change this side started with (a
/// first-contact sample is drawn from them; which ones does not matter, only that they
/// are this side's).
fn hello_for(doc: &mut SpaceDoc, base: &[ChangeHash], mine: &HashSet<ChangeHash>) -> (Hello, Vec<ChangeHash>) {
    let heads = doc.heads();
    if base.is_empty() {
        let step = mine.len().div_ceil(SAMPLE).max(1);
        let hello = Hello {
            base: NO_BASE,
            heads: heads.iter().map(|h| h.0).collect(),
            kept: Vec::new(),
            sample: mine.iter().step_by(step).map(|h| h.0).collect(),
            changes: Vec::new(),
        };
        return (hello, Vec::new());
    }
    let mut changes = doc.automerge().get_changes(base);
    if changes.iter().map(|c| c.raw_bytes().len()).sum::<usize>() > HELLO_CHANGES_MAX {
        changes.clear(); // the catch-up sends them
    }
    let hello = Hello {
        base: digest(base),
        heads: heads
            .iter()
            .filter(|h| base.binary_search(h).is_err())
            .map(|h| h.0)
            .collect(),
        kept: (0..base.len() as u32)
            .filter(|i| heads.contains(&base[*i as usize]))
            .collect(),
        sample: Vec::new(),
        changes: changes.iter().map(|c| c.raw_bytes().to_vec()).collect(),
    };
    (hello, changes.iter().map(Change::hash).collect())
}

fn to_hashes(v: &[[u8; 32]]) -> Vec<ChangeHash> {
    v.iter().map(|h| ChangeHash(*h)).collect()
}

/// Send our hello and read theirs (at once), apply the changes it carries, and return it.
async fn exchange_hello<R, W>(
    doc: &mut SpaceDoc,
    r: &mut R,
    w: &mut W,
    limits: Limits,
    out: &mut Outcome,
    allowance: &mut Allowance,
    mine: Hello,
) -> Result<Hello, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let payload = postcard::to_allocvec(&mine).map_err(bad)?;
    out.rounds += 1;
    let (s, got) = tokio::join!(write_frame(w, KIND_HELLO, &payload), read_one(r, limits));
    s?;
    out.bytes_sent += 6 + payload.len() as u64;
    let frame = got?;
    received(out, &limits, 6 + frame.payload.len() as u64)?;
    if frame.kind != KIND_HELLO {
        return Err(SessionError::BadKind(frame.kind));
    }
    wire::hello(&frame.payload, HELLO_CHANGES_MAX as u64)?;
    let mut theirs: Hello = postcard::from_bytes(&frame.payload).map_err(bad)?;
    apply(doc, std::mem::take(&mut theirs.changes), allowance)?;
    Ok(theirs)
}

fn hashes(doc: &mut SpaceDoc) -> HashSet<ChangeHash> {
    doc.automerge().get_changes_meta(&[]).iter().map(|m| m.hash).collect()
}

fn knows(doc: &mut SpaceDoc, h: &ChangeHash) -> bool {
    doc.automerge().get_change_meta_by_hash(h).is_some()
}

/// The changes this side has that the peer's heads do not cover, if this side knows all
/// of those heads (otherwise it cannot tell).
fn lacking(doc: &mut SpaceDoc, their_heads: &[ChangeHash]) -> Option<Vec<ChangeHash>> {
    if !their_heads.iter().all(|h| knows(doc, h)) {
        return None;
    }
    Some(
        doc.automerge()
            .get_changes_meta(their_heads)
            .iter()
            .map(|m| m.hash)
            .collect(),
    )
}

/// Both sides are level: this side has every head the peer announced (`lacking` is
/// known), and sent every change the peer lacked. (The peer computes the same answer: its
/// first half is this side's second half.)
fn level(lacking: &Option<Vec<ChangeHash>>, sent: &HashSet<ChangeHash>) -> bool {
    lacking.as_ref().is_some_and(|l| l.iter().all(|h| sent.contains(h)))
}

/// What to send in the catch-up, given what the peer lacks ([`lacking`]) and what it
/// announced (its heads and sample). Changes that would take more than `most_bytes` go as
/// the whole document instead, which is sent in parts: an import writes all its entries as
/// one change, and one frame of a large journal's import would be over the peer's
/// `max_frame`.
fn catch_up(
    doc: &mut SpaceDoc,
    lacking: Option<Vec<ChangeHash>>,
    (their_heads, their_sample): (&[ChangeHash], &[ChangeHash]),
    sent: &HashSet<ChangeHash>,
    total: usize,
    most_bytes: usize,
) -> CatchUp {
    let (base, missing): (&[ChangeHash], Vec<ChangeHash>) = match lacking {
        Some(missing) => (their_heads, missing),
        None => {
            // Heads this side does not know: when nothing the peer announced is known here,
            // the histories share nothing (as right after pairing) and the peer lacks it
            // all. Otherwise automerge's rounds find the difference.
            let shares_history = their_heads.iter().chain(their_sample).any(|h| knows(doc, h));
            if shares_history || their_sample.is_empty() {
                return CatchUp::Changes(Vec::new());
            }
            (&[], hashes(doc).into_iter().collect())
        }
    };
    // Count first (metadata only); build change objects only when they are sent as such.
    let todo: HashSet<ChangeHash> = missing.into_iter().filter(|h| !sent.contains(h)).collect();
    if todo.len() > DOC_THRESHOLD && todo.len() * 2 >= total {
        return CatchUp::Document(doc.save());
    }
    let changes: Vec<Change> = doc
        .automerge()
        .get_changes(base)
        .into_iter()
        .filter(|c| todo.contains(&c.hash()))
        .collect();
    if changes.iter().map(|c| c.raw_bytes().len()).sum::<usize>() > most_bytes {
        return CatchUp::Document(doc.save());
    }
    CatchUp::Changes(changes)
}

/// One change from the peer. Automerge parses chunks before it checks them, and some
/// chunks can make it ask for unbounded memory: look and count first (duo_journal::chunks).
fn change_of(bytes: Vec<u8>, allowance: &mut Allowance) -> Result<Change, SessionError> {
    duo_journal::chunks::check_counted(&bytes, allowance).map_err(bad)?;
    let change = Change::from_bytes(bytes).map_err(bad)?;
    SpaceDoc::check_canonical(&change).map_err(bad)?;
    Ok(change)
}

fn apply(doc: &mut SpaceDoc, raw: Vec<Vec<u8>>, allowance: &mut Allowance) -> Result<(), SessionError> {
    guarded(|| {
        let changes = changes_of(raw, allowance)?;
        doc.automerge().apply_changes(changes).map_err(bad)
    })
}

fn changes_of(raw: Vec<Vec<u8>>, allowance: &mut Allowance) -> Result<Vec<Change>, SessionError> {
    raw.into_iter().map(|c| change_of(c, allowance)).collect()
}

/// Merge a whole document from the peer: the smaller side is merged into the larger.
fn merge_document(doc: &mut SpaceDoc, bytes: &[u8], allowance: &mut Allowance) -> Result<(), SessionError> {
    let mut theirs = SpaceDoc::load_untrusted_within(bytes, allowance).map_err(bad)?;
    if theirs.change_count() > doc.change_count() {
        theirs.merge(doc).map_err(bad)?;
        std::mem::swap(doc, &mut theirs);
    } else {
        doc.merge(&mut theirs).map_err(bad)?;
    }
    Ok(())
}

async fn read_one<R: AsyncRead + Unpin>(r: &mut R, limits: Limits) -> Result<crate::frame::Frame, SessionError> {
    tokio::time::timeout(limits.read_timeout, read_frame(r, limits.max_frame))
        .await
        .map_err(|_| SessionError::Timeout(limits.read_timeout))?
        .map_err(Into::into)
}

async fn send_catch_up<W: AsyncWrite + Unpin>(w: &mut W, plan: &CatchUp) -> Result<u64, SessionError> {
    match plan {
        CatchUp::Changes(changes) => {
            let raw: Vec<&[u8]> = changes.iter().map(Change::raw_bytes).collect();
            let payload = postcard::to_allocvec(&raw).map_err(bad)?;
            write_frame(w, KIND_CHANGES, &payload).await?;
            Ok(6 + payload.len() as u64)
        }
        CatchUp::Document(bytes) => {
            write_frame(w, KIND_DOC_BEGIN, &(bytes.len() as u64).to_be_bytes()).await?;
            let mut n = 14;
            for part in bytes.chunks(DOC_PART) {
                write_frame(w, KIND_DOC_PART, part).await?;
                n += 6 + part.len() as u64;
            }
            Ok(n)
        }
    }
}

async fn read_catch_up<R: AsyncRead + Unpin>(
    r: &mut R,
    limits: Limits,
    progress: Option<Progress<'_>>,
    allowance: &mut Allowance,
) -> Result<(Arrived, u64), SessionError> {
    let first = read_one(r, limits).await?;
    let mut received = 6 + first.payload.len() as u64;
    match first.kind {
        KIND_CHANGES => {
            wire::change_list(&first.payload)?;
            let raw: Vec<Vec<u8>> = postcard::from_bytes(&first.payload).map_err(bad)?;
            let changes = guarded(|| changes_of(raw, allowance))?;
            Ok((Arrived::Changes(changes), received))
        }
        KIND_DOC_BEGIN => {
            let total: [u8; 8] = first.payload.as_slice().try_into().map_err(bad)?;
            let total = u64::from_be_bytes(total);
            if total > limits.max_document {
                return Err(FrameError::TooLarge {
                    len: total,
                    max: limits.max_document as usize,
                }
                .into());
            }
            let mut bytes = Vec::with_capacity(total.min(limits.max_frame as u64) as usize);
            while (bytes.len() as u64) < total {
                let part = read_one(r, limits).await?;
                received += 6 + part.payload.len() as u64;
                if part.kind != KIND_DOC_PART {
                    return Err(SessionError::BadKind(part.kind));
                }
                if part.payload.is_empty() {
                    // It would make no progress, as often as the peer likes.
                    return Err(bad("an empty part of a document"));
                }
                if bytes.len() as u64 + part.payload.len() as u64 > total {
                    return Err(bad("the document is longer than announced"));
                }
                bytes.extend_from_slice(&part.payload);
                if let Some(p) = progress {
                    p(bytes.len() as u64, total);
                }
            }
            Ok((Arrived::Document(bytes), received))
        }
        other => Err(SessionError::BadKind(other)),
    }
}

/// Automerge's sync protocol in rounds until both sides are idle in the same round.
/// Returns the heads the peer announced last.
async fn automerge_rounds<R, W>(
    doc: &mut SpaceDoc,
    r: &mut R,
    w: &mut W,
    limits: Limits,
    out: &mut Outcome,
    sent: &mut HashSet<ChangeHash>,
    allowance: &mut Allowance,
) -> Result<Vec<ChangeHash>, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut state = State::new();
    let mut idle_rounds = 0u32;
    let mut rounds = 0u32;
    loop {
        if rounds >= limits.max_rounds {
            return Err(SessionError::NoProgress(rounds));
        }
        rounds += 1;
        out.rounds += 1;
        let heads_before = doc.heads();
        let ours = next_message(doc, &mut state)?;
        let (kind, payload) = match &ours {
            Some(bytes) => (KIND_MESSAGE, bytes.as_slice()),
            None => (KIND_IDLE, &[][..]),
        };
        let (sent, received) = tokio::join!(write_frame(w, kind, payload), read_one(r, limits));
        sent?;
        out.bytes_sent += 6 + payload.len() as u64;
        let frame = received?;
        self::received(out, &limits, 6 + frame.payload.len() as u64)?;
        match frame.kind {
            KIND_IDLE if ours.is_none() => break,
            KIND_IDLE => {}
            KIND_MESSAGE => take_message(doc, &mut state, &frame.payload, allowance)?,
            other => return Err(SessionError::BadKind(other)),
        }
        if doc.heads() == heads_before {
            idle_rounds += 1;
            if idle_rounds > limits.max_idle_rounds {
                return Err(SessionError::NoProgress(out.rounds));
            }
        } else {
            idle_rounds = 0;
        }
    }
    sent.extend(state.sent_hashes.iter().copied());
    Ok(state.their_heads.unwrap_or_default())
}

/// This side's next automerge sync message, encoded. What the peer said before shapes it
/// (its Bloom filter, its needs), so automerge runs guarded here too.
pub(crate) fn next_message(doc: &mut SpaceDoc, state: &mut State) -> Result<Option<Vec<u8>>, SessionError> {
    guarded(|| Ok(doc.automerge().sync().generate_sync_message(state).map(Message::encode)))
}

/// Take the peer's automerge sync message: every count and parameter bounded
/// ([`wire::sync_message`]) and every chunk looked at and counted
/// ([`SpaceDoc::check_outside_within`]) before automerge decodes it, then decoded and
/// received, guarded.
pub(crate) fn take_message(
    doc: &mut SpaceDoc,
    state: &mut State,
    payload: &[u8],
    allowance: &mut Allowance,
) -> Result<(), SessionError> {
    let chunks = wire::sync_message(payload)?;
    for chunk in chunks {
        SpaceDoc::check_outside_within(chunk, allowance).map_err(bad)?;
    }
    guarded(|| {
        let msg = Message::decode(payload).map_err(bad)?;
        doc.automerge().sync().receive_sync_message(state, msg).map_err(bad)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::sync::{BloomFilter, Have};

    /// Automerge builds its next message from what the peer said before. A Bloom filter of
    /// one entry and no bits (which `wire` refuses before automerge sees it) makes it divide
    /// by zero while generating; with the state set directly, the panic must end the
    /// session with an error, not the process.
    #[test]
    fn a_panic_while_generating_the_next_message_is_an_error() {
        let mut doc = SpaceDoc::new();
        doc.init_schema().unwrap();
        doc.automerge().commit();
        let mut state = State::new();
        let bloom = BloomFilter::try_from(&[1u8, 0, 7][..]).unwrap();
        state.their_heads = Some(vec![ChangeHash([5; 32])]);
        state.their_need = Some(vec![]);
        state.their_have = Some(vec![Have {
            last_sync: vec![],
            bloom,
        }]);
        let err = next_message(&mut doc, &mut state).unwrap_err();
        assert!(
            matches!(&err, SessionError::BadMessage(m) if m.contains("panicked")),
            "{err:?}"
        );
    }
}
