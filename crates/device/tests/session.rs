//! The sync session over in-memory pipes: how many rounds and bytes each kind of session
//! takes, that a new device gets the whole document, that hostile input ends the session
//! without changing anything, and (proptest) that random edits on three replicas with
//! random disconnects and stale sync states always converge.

mod common;

use automerge::ChangeHash;
use duo_device::frame::write_frame;
use duo_device::session::{Limits, Outcome, SessionError, run};
use duo_journal::{Kind, NewEntry, SpaceDoc};
use proptest::prelude::*;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncWrite, DuplexStream};

/// The keys of "p", the author of every entry here.
static RING: std::sync::LazyLock<duo_journal::Keyring> =
    std::sync::LazyLock::new(|| duo_journal::Keyring::for_tests("p"));

fn by() -> duo_journal::Sealer<'static> {
    RING.sealer("d")
}

fn entry(id: &str, body: &str) -> NewEntry {
    NewEntry {
        id: id.into(),
        kind: Kind::Reflection,
        author: "p".into(),
        device: "d".into(),
        created_at: 1,
        edited_at: 1,
        body: body.into(),
        tags: vec![],
        status: None,
        no_replies: false,
        prompt: None,
    }
}

fn space() -> SpaceDoc {
    duo_device::fuzzing::small_space()
}

/// A writer that fails once `budget` bytes went through: a connection cut mid-session.
struct Cut {
    inner: tokio::io::WriteHalf<DuplexStream>,
    budget: Option<usize>,
}

impl AsyncWrite for Cut {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let n = match self.budget {
            Some(0) => return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
            Some(b) => buf.len().min(b),
            None => buf.len(),
        };
        let res = Pin::new(&mut self.inner).poll_write(cx, &buf[..n]);
        if let (Poll::Ready(Ok(w)), Some(b)) = (&res, self.budget.as_mut()) {
            *b -= *w;
        }
        res
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

type Res = Result<Outcome, SessionError>;

/// One session between `a` and `b`, each with its own remembered shared heads; a side's
/// writes fail after `cut` bytes when given. Like the real service, each side works on a
/// copy and keeps it only when its session completed.
async fn session(
    a: &mut SpaceDoc,
    sa: &mut Option<Vec<ChangeHash>>,
    b: &mut SpaceDoc,
    sb: &mut Option<Vec<ChangeHash>>,
    cut: Option<usize>,
) -> (Res, Res) {
    let (a_io, b_io) = tokio::io::duplex(1 << 16);
    let (mut ar, aw) = tokio::io::split(a_io);
    let (mut br, bw) = tokio::io::split(b_io);
    let mut aw = Cut { inner: aw, budget: cut };
    let mut bw = Cut {
        inner: bw,
        budget: None,
    };
    let mut ca = SpaceDoc::load(&a.save()).unwrap();
    let mut cb = SpaceDoc::load(&b.save()).unwrap();
    let limits = Limits {
        read_timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let (ra, rb) = tokio::join!(
        async {
            let r = run(&mut ca, sa.as_deref(), &mut ar, &mut aw, limits, None).await;
            drop(aw);
            r
        },
        async {
            let r = run(&mut cb, sb.as_deref(), &mut br, &mut bw, limits, None).await;
            drop(bw);
            r
        }
    );
    if let Ok(o) = &ra {
        *a = ca;
        *sa = Some(o.shared_heads.clone());
    }
    if let Ok(o) = &rb {
        *b = cb;
        *sb = Some(o.shared_heads.clone());
    }
    (ra, rb)
}

#[tokio::test]
async fn first_contact_then_one_round_trip_per_new_entry() {
    let (mut a, mut b) = (space(), SpaceDoc::new());
    let (mut sa, mut sb) = (None, None);
    for i in 0..50 {
        a.add_entry(&entry(&format!("a{i:02}"), "from a"), &by()).unwrap();
        b.add_entry(&entry(&format!("b{i:02}"), "from b"), &by()).unwrap();
    }
    let (x, y) = session(&mut a, &mut sa, &mut b, &mut sb, None).await;
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(a.contents(), b.contents());
    assert_eq!(a.contents().entries.len(), 100);
    assert!(x.changes_received > 0 && y.changes_received > 0);
    assert_eq!(x.rounds, 2, "two histories that share nothing: hello, then catch-up");

    // Both write one entry while apart: one exchange carries both.
    a.add_entry(&entry("a-new", "a says hello"), &by()).unwrap();
    b.add_entry(&entry("b-new", "b says hello"), &by()).unwrap();
    let (x, y) = session(&mut a, &mut sa, &mut b, &mut sb, None).await;
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(a.contents(), b.contents());
    assert_eq!((x.rounds, y.rounds), (1, 1), "{x:?}");
    assert_eq!((x.changes_received, y.changes_received), (1, 1));
    assert!(x.bytes_sent + x.bytes_received < 2048, "{x:?}");

    // Nothing new: one exchange of heads.
    let (x, _) = session(&mut a, &mut sa, &mut b, &mut sb, None).await;
    let x = x.unwrap();
    assert_eq!((x.rounds, x.changes_received), (1, 0));
    assert!(x.bytes_sent < 200, "{x:?}");
}

#[tokio::test]
async fn a_new_device_gets_the_whole_document_and_a_partner_with_own_entries_merges() {
    let mut a = space();
    for i in 0..600 {
        a.add_entry(&entry(&format!("a{i:03}"), &"words ".repeat(20)), &by())
            .unwrap();
        a.automerge().commit(); // one change per entry, as `duo journal add` makes them
    }
    // An empty device.
    let (mut empty, mut s1, mut s2) = (SpaceDoc::new(), None, None);
    let (x, y) = session(&mut a, &mut s1, &mut empty, &mut s2, None).await;
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(x.whole_document && y.whole_document);
    assert_eq!(y.changes_received, a.change_count());
    assert_eq!(a.contents(), empty.contents());

    // A joiner who wrote before pairing: its history shares nothing with the space's.
    let mut joiner = space();
    joiner
        .add_entry(&entry("mine-1", "written before pairing"), &by())
        .unwrap();
    let (mut s1, mut s2) = (None, None);
    let (x, y) = session(&mut a, &mut s1, &mut joiner, &mut s2, None).await;
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(y.whole_document, "{y:?}");
    assert_eq!(x.rounds, 2);
    assert_eq!(a.contents(), joiner.contents());
    assert!(a.contents().entries.contains_key("mine-1"));
}

/// An import writes all its entries as one change: a new device that lacks a change larger
/// than a frame gets the whole document in parts instead (one frame of it would be over
/// `max_frame`, and a large journal's first sync failed that way).
#[tokio::test]
async fn a_change_too_large_for_one_frame_goes_as_the_whole_document_in_parts() {
    let mut a = space();
    let imported: Vec<NewEntry> = (0..3000)
        .map(|i| entry(&format!("imported-{i:04}"), &"a long imported entry ".repeat(40)))
        .collect();
    a.add_entries(&imported, &by()).unwrap();
    a.automerge().commit();
    let biggest = a
        .automerge()
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().len())
        .max()
        .unwrap();
    // A frame still holds a part of the document (1 MiB).
    let limits = Limits {
        max_frame: 2 << 20,
        read_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(60),
        ..Limits::default()
    };
    assert!(biggest > limits.max_frame, "one change of {biggest} bytes");
    let mut b = SpaceDoc::new();
    let (a_io, b_io) = tokio::io::duplex(1 << 16);
    let (mut ar, mut aw) = tokio::io::split(a_io);
    let (mut br, mut bw) = tokio::io::split(b_io);
    let (x, y) = tokio::join!(
        async {
            let r = run(&mut a, None, &mut ar, &mut aw, limits, None).await;
            drop(aw);
            r
        },
        async {
            let r = run(&mut b, None, &mut br, &mut bw, limits, None).await;
            drop(bw);
            r
        }
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(x.whole_document && y.whole_document, "{y:?}");
    assert_eq!(b.contents().entries.len(), a.contents().entries.len());
    assert_eq!(a.contents(), b.contents());
}

#[tokio::test]
async fn stale_or_missing_states_fall_back_to_automerge_rounds_and_converge() {
    // a and c share history through b, but never met: c wrote since, a wrote since.
    let (mut a, mut b, mut c) = (space(), SpaceDoc::new(), SpaceDoc::new());
    for i in 0..300 {
        a.add_entry(&entry(&format!("a{i:03}"), "shared"), &by()).unwrap();
        a.automerge().commit();
    }
    let (mut ab, mut ba, mut bc, mut cb) = (None, None, None, None);
    session(&mut a, &mut ab, &mut b, &mut ba, None).await.0.unwrap();
    session(&mut b, &mut bc, &mut c, &mut cb, None).await.0.unwrap();
    a.add_entry(&entry("a-late", "a"), &by()).unwrap();
    c.add_entry(&entry("c-late", "c"), &by()).unwrap();
    let (mut ac, mut ca) = (None, None);
    let (x, y) = session(&mut a, &mut ac, &mut c, &mut ca, None).await;
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(a.contents(), c.contents());
    assert!(!x.whole_document, "a shared history is not sent whole: {x:?}");
    assert!(x.rounds > 2, "automerge rounds found the difference: {x:?}");
    assert_eq!((x.changes_received, y.changes_received), (1, 1));
    // A state that claims more than the peer has (the peer lost data) still converges.
    let mut fresh = SpaceDoc::new();
    let mut wrong = ab.clone();
    let (x, _) = session(&mut a, &mut wrong, &mut fresh, &mut None, None).await;
    x.unwrap();
    assert_eq!(a.contents(), fresh.contents());
}

#[tokio::test]
async fn garbage_from_the_peer_ends_the_session_and_changes_nothing() {
    let mut a = space();
    a.add_entry(&entry("a1", "mine"), &by()).unwrap();
    let before = a.contents();
    let (a_io, mut peer) = tokio::io::duplex(1 << 16);
    let (mut ar, mut aw) = tokio::io::split(a_io);
    write_frame(&mut peer, 3, b"definitely not a hello").await.unwrap();
    let res = run(&mut a, None, &mut ar, &mut aw, Limits::default(), None).await;
    assert!(matches!(res, Err(SessionError::BadMessage(_))), "{res:?}");
    assert_eq!(a.contents(), before);
    // A frame kind that does not belong in a hello.
    let (a_io, mut peer) = tokio::io::duplex(1 << 16);
    let (mut ar, mut aw) = tokio::io::split(a_io);
    write_frame(&mut peer, 99, b"").await.unwrap();
    let res = run(&mut a, None, &mut ar, &mut aw, Limits::default(), None).await;
    assert!(matches!(res, Err(SessionError::BadKind(99))), "{res:?}");
}

#[tokio::test]
async fn silent_peer_hits_the_deadline() {
    let mut a = SpaceDoc::new();
    let (a_io, _peer) = tokio::io::duplex(1 << 16);
    let (mut ar, mut aw) = tokio::io::split(a_io);
    let limits = Limits {
        read_timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let res = run(&mut a, None, &mut ar, &mut aw, limits, None).await;
    assert!(matches!(res, Err(SessionError::Timeout(_))), "{res:?}");
}

/// A hand-written peer: a hello with heads nobody knows, then the frames in `once`, then
/// the frames in `forever` over and over, reading one frame after each.
async fn hostile_peer(peer: DuplexStream, once: Vec<(u8, Vec<u8>)>, forever: Vec<(u8, Vec<u8>)>) {
    use duo_device::frame::read_frame;
    let (mut pr, mut pw) = tokio::io::split(peer);
    let hello = common::hello(vec![[7u8; 32]], vec![]);
    let _ = write_frame(&mut pw, 3, &hello).await;
    let _ = read_frame(&mut pr, 1 << 20).await;
    for (kind, payload) in once.iter().chain(forever.iter().cycle()) {
        if write_frame(&mut pw, *kind, payload).await.is_err() || read_frame(&mut pr, 1 << 24).await.is_err() {
            return;
        }
    }
}

/// A session on `a` with [`hostile_peer`] sending `once`, then `forever`.
async fn against_hostile_peer(
    a: &mut SpaceDoc,
    limits: Limits,
    once: Vec<(u8, Vec<u8>)>,
    forever: Vec<(u8, Vec<u8>)>,
) -> Result<Outcome, SessionError> {
    let (a_io, peer) = tokio::io::duplex(1 << 20);
    let (mut ar, mut aw) = tokio::io::split(a_io);
    let (res, _) = tokio::join!(
        async {
            let r = run(a, None, &mut ar, &mut aw, limits, None).await;
            drop(aw);
            drop(ar);
            r
        },
        hostile_peer(peer, once, forever)
    );
    res
}

#[tokio::test]
async fn endless_useless_messages_are_cut_off() {
    let mut a = space();
    a.add_entry(&entry("a1", "mine"), &by()).unwrap();
    let useless = {
        let mut st = automerge::sync::State::new();
        use automerge::sync::SyncDoc;
        SpaceDoc::new()
            .automerge()
            .sync()
            .generate_sync_message(&mut st)
            .unwrap()
            .encode()
    };
    let empty_changes = postcard::to_allocvec::<Vec<Vec<u8>>>(&vec![]).unwrap();
    let limits = Limits {
        max_idle_rounds: 5,
        ..Limits::default()
    };
    let before = a.contents();
    // The catch-up frame first, then sync messages forever.
    let res = against_hostile_peer(&mut a, limits, vec![(4, empty_changes)], vec![(1, useless)]).await;
    assert!(matches!(res, Err(SessionError::NoProgress(_))), "{res:?}");
    assert_eq!(a.contents(), before);
}

#[tokio::test]
async fn an_oversized_document_is_refused_before_it_is_read() {
    let mut a = space();
    let limits = Limits {
        max_document: 1 << 20,
        ..Limits::default()
    };
    let huge = (10u64 << 30).to_be_bytes().to_vec();
    let res = against_hostile_peer(&mut a, limits, vec![(5, huge)], vec![]).await;
    assert!(
        matches!(
            &res,
            Err(SessionError::Frame(duo_device::frame::FrameError::TooLarge { .. }))
        ),
        "{res:?}"
    );
}

#[derive(Clone, Debug)]
enum Op {
    Write(usize),
    Edit(usize),
    Sync(usize, usize, Option<usize>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize).prop_map(Op::Write),
        (0..3usize).prop_map(Op::Edit),
        (0..3usize, 0..3usize, proptest::option::of(0..4000usize)).prop_map(|(a, b, c)| Op::Sync(a, b, c)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    /// Random edits on three replicas, random sessions between them, some cut off after a
    /// random number of bytes (so one side may keep a sync state the other never stored):
    /// after full sessions at the end, all three hold the same journal.
    #[test]
    fn three_replicas_with_random_disconnects_converge(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut docs = [space(), SpaceDoc::new(), SpaceDoc::new()];
            let mut states: [[Option<Vec<ChangeHash>>; 3]; 3] = Default::default();
            let mut n = 0;
            for op in ops {
                match op {
                    Op::Write(i) => {
                        n += 1;
                        docs[i].add_entry(&entry(&format!("e{n}"), &format!("body {n}")), &by()).unwrap();
                    }
                    Op::Edit(i) => {
                        if let Some(id) = docs[i].entry_ids().first().cloned() {
                            n += 1;
                            let patch = duo_journal::EntryPatch { body: Some(format!("edit {n}")), edited_at: n as i64, ..Default::default() };
                            docs[i].edit_entry(&id, &patch, &by()).unwrap();
                        }
                    }
                    Op::Sync(x, y, cut) if x != y => {
                        let (lo, hi) = (x.min(y), x.max(y));
                        let (left, right) = docs.split_at_mut(hi);
                        let mut s_lo = states[lo][hi].take();
                        let mut s_hi = states[hi][lo].take();
                        let _ = session(&mut left[lo], &mut s_lo, &mut right[0], &mut s_hi, cut).await;
                        states[lo][hi] = s_lo;
                        states[hi][lo] = s_hi;
                    }
                    Op::Sync(..) => {}
                }
            }
            for (x, y) in [(0, 1), (1, 2), (0, 2), (0, 1)] {
                let (left, right) = docs.split_at_mut(y);
                let mut s_x = states[x][y].take();
                let mut s_y = states[y][x].take();
                let (a, b) = session(&mut left[x], &mut s_x, &mut right[0], &mut s_y, None).await;
                a.unwrap();
                b.unwrap();
                states[x][y] = s_x;
                states[y][x] = s_y;
            }
            let c0 = docs[0].contents();
            prop_assert_eq!(&c0, &docs[1].contents());
            prop_assert_eq!(&c0, &docs[2].contents());
            prop_assert_eq!(docs[0].heads(), docs[2].heads());
            Ok(())
        })?;
    }
}

/// An entry written the way `duo journal add` writes it: in an empty document, so it
/// depends on nothing and becomes a head of its own until the next compaction.
fn add_offline(doc: &mut SpaceDoc, id: &str) {
    let mut fresh = SpaceDoc::new();
    fresh.add_entry(&entry(id, "written offline"), &by()).unwrap();
    doc.merge(&mut fresh).unwrap();
}

#[tokio::test]
async fn many_heads_from_offline_adds_do_not_bloat_the_next_session() {
    let (mut a, mut b) = (space(), SpaceDoc::new());
    for i in 0..60 {
        add_offline(&mut a, &format!("a{i}"));
        add_offline(&mut b, &format!("b{i}"));
    }
    let (mut sa, mut sb) = (None, None);
    session(&mut a, &mut sa, &mut b, &mut sb, None).await.0.unwrap();
    assert!(a.heads().len() > 100, "{}", a.heads().len());
    add_offline(&mut a, "one more");
    let (x, y) = session(&mut a, &mut sa, &mut b, &mut sb, None).await;
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!((x.rounds, y.changes_received), (1, 1));
    assert!(
        x.bytes_sent + x.bytes_received < 2048,
        "{} + {}",
        x.bytes_sent,
        x.bytes_received
    );
    assert_eq!(a.contents(), b.contents());

    // One side forgot the last session (its state is gone): both see the mismatch, say
    // their heads in full, and the catch-up sends the difference, not the document.
    let mut forgot = None;
    add_offline(&mut b, "b again");
    let (x, y) = session(&mut a, &mut sa, &mut b, &mut forgot, None).await;
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!((x.rounds, y.rounds), (3, 3));
    assert!(!x.whole_document && !y.whole_document);
    assert_eq!((x.changes_received, y.changes_received), (1, 0));
    assert_eq!(a.contents(), b.contents());
}

/// A paired peer sends bytes automerge must never see: the 777-byte bundle that made it ask
/// for more than 8 GB, and a change automerge accepts but writes back with another hash (a
/// compaction would then have made the journal unreadable), both found by fuzzing
/// (fuzz/corpus/document/), in a catch-up and in a sync message: each ends the session,
/// and nothing changes.
#[tokio::test]
async fn bytes_automerge_must_not_see_are_refused_before_it_parses_them() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/document/");
    let bundle = std::fs::read(format!("{corpus}oom-bundle-777-bytes")).unwrap();
    let crafted = std::fs::read(format!("{corpus}crash-resave-mismatching-heads")).unwrap();
    let non_canonical = duo_journal::chunks::with_valid_checksums(&crafted);
    for (bytes, why) in [
        (bundle, "bundle"),
        (non_canonical, "not encoded the way automerge writes it back"),
    ] {
        let message = {
            let mut st = automerge::sync::State::new();
            use automerge::sync::SyncDoc;
            let mut msg = SpaceDoc::new()
                .automerge()
                .sync()
                .generate_sync_message(&mut st)
                .unwrap();
            msg.changes = automerge::sync::ChunkList::from(bytes.clone());
            msg.encode()
        };
        let empty_changes = postcard::to_allocvec::<Vec<Vec<u8>>>(&vec![]).unwrap();
        let in_catch_up = postcard::to_allocvec::<Vec<Vec<u8>>>(&vec![bytes]).unwrap();
        for frames in [vec![(4, in_catch_up)], vec![(4, empty_changes), (1, message)]] {
            let mut a = space();
            a.add_entry(&entry("a1", "mine"), &by()).unwrap();
            let before = a.contents();
            let (a_io, peer) = tokio::io::duplex(1 << 20);
            let (mut ar, mut aw) = tokio::io::split(a_io);
            let (res, _) = tokio::join!(
                async {
                    let r = run(&mut a, None, &mut ar, &mut aw, Limits::default(), None).await;
                    drop(aw);
                    drop(ar);
                    r
                },
                hostile_peer(peer, frames, vec![])
            );
            match &res {
                Err(SessionError::BadMessage(m)) => assert!(m.contains(why), "{m}"),
                other => panic!("expected a refusal ({why}), got {other:?}"),
            }
            assert_eq!(a.contents(), before);
        }
    }
}

/// A session brings at most `max_document` + 2 frames (`session::most_received`): a peer
/// that keeps sending valid, large sync messages round after round is cut off there, so
/// what one session adds to the document is bounded in bytes too.
#[tokio::test]
async fn a_session_receives_at_most_a_document_and_two_frames() {
    let mut a = space();
    let limits = Limits {
        max_frame: 256 << 10,
        max_document: 1 << 20,
        ..Limits::default()
    };
    // A valid change of 63 operations padded to 250 kB, in a sync message, every round.
    let big = duo_journal::fuzzing::many_operations_by([9; 16], 63, 250_000);
    let mut message = vec![0x42, 1];
    message.extend([7u8; 32]); // one head nobody has
    message.extend([0, 0, 1]); // no needs, no haves, one change
    duo_journal::fuzzing::uleb(&mut message, big.len() as u64);
    message.extend(&big);
    let empty_changes = postcard::to_allocvec::<Vec<Vec<u8>>>(&vec![]).unwrap();
    let before = a.contents();
    let res = against_hostile_peer(&mut a, limits, vec![(4, empty_changes)], vec![(1, message)]).await;
    let most = duo_device::session::most_received(&limits);
    assert_eq!(most, (1 << 20) + (512 << 10));
    assert!(
        matches!(&res, Err(SessionError::Refused(m)) if m.contains("more than 1.5 MiB in one session")),
        "{res:?}"
    );
    assert_eq!(a.contents(), before);
}
