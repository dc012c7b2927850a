//! One sync session: the automerge sync protocol in rounds over two frame streams.
//!
//! Each round both sides send at once (their next sync message, or "idle") and read the
//! other's; sending and reading run concurrently so two large messages cannot block each
//! other on flow control. The session ends when both sides were idle in the same round.
//! A peer that keeps sending messages that change nothing is cut off after
//! [`Limits::max_idle_rounds`] rounds (a lost change otherwise makes the two sides ping-pong
//! forever); the caller then starts over with a fresh sync state. Every read has a deadline.
//! Received changes are checked against the peer's announced heads before anyone relies on
//! them, because automerge drops damaged data silently.

use crate::frame::{FrameError, read_frame, write_frame};
use automerge::sync::{Message, State, SyncDoc};
use duo_journal::SpaceDoc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

const KIND_MESSAGE: u8 = 1;
const KIND_IDLE: u8 = 2;

/// Bounds on what a peer can make this device do.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest frame accepted.
    pub max_frame: usize,
    /// Deadline for each read.
    pub read_timeout: Duration,
    /// Rounds in a row without new changes or new heads before the session is cut off.
    pub max_idle_rounds: u32,
    /// Hard cap on rounds.
    pub max_rounds: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 64 << 20,
            read_timeout: Duration::from_secs(20),
            max_idle_rounds: 8,
            max_rounds: 256,
        }
    }
}

/// What a session did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub rounds: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Changes this side did not have before.
    pub changes_received: usize,
}

/// Why a session ended early. Nothing is stored by a failed session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("the peer did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the peer sent something that is not an automerge sync message: {0}")]
    BadMessage(String),
    #[error("the peer sent an unknown frame kind {0}")]
    BadKind(u8),
    #[error("no progress after {0} rounds; starting over with a fresh sync state")]
    NoProgress(u32),
    #[error("the peer's changes did not all arrive intact ({0} missing)")]
    Incomplete(usize),
}

/// Run one session on `doc` with the peer at the other end of `r`/`w`.
pub async fn run<R, W>(
    doc: &mut SpaceDoc,
    state: &mut State,
    r: &mut R,
    w: &mut W,
    limits: Limits,
) -> Result<Outcome, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = Outcome::default();
    let start_changes = doc.automerge().get_changes(&[]).len();
    let mut idle_rounds = 0u32;
    loop {
        if out.rounds >= limits.max_rounds {
            return Err(SessionError::NoProgress(out.rounds));
        }
        out.rounds += 1;
        let heads_before = doc.heads();
        let ours = doc.automerge().sync().generate_sync_message(state).map(Message::encode);
        let (kind, payload) = match &ours {
            Some(bytes) => (KIND_MESSAGE, bytes.as_slice()),
            None => (KIND_IDLE, &[][..]),
        };
        let send = write_frame(w, kind, payload);
        let recv = tokio::time::timeout(limits.read_timeout, read_frame(r, limits.max_frame));
        let (sent, received) = tokio::join!(send, recv);
        sent?;
        out.bytes_sent += 6 + payload.len() as u64;
        let frame = received.map_err(|_| SessionError::Timeout(limits.read_timeout))??;
        out.bytes_received += 6 + frame.payload.len() as u64;
        match frame.kind {
            KIND_IDLE if ours.is_none() => break,
            KIND_IDLE => {}
            KIND_MESSAGE => {
                let msg = Message::decode(&frame.payload).map_err(|e| SessionError::BadMessage(e.to_string()))?;
                doc.automerge()
                    .sync()
                    .receive_sync_message(state, msg)
                    .map_err(|e| SessionError::BadMessage(e.to_string()))?;
            }
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
    // Trust the peer's announced heads, not `Ok`: everything they have must be here now.
    let theirs = state.their_heads.clone().unwrap_or_default();
    let missing = theirs
        .iter()
        .filter(|h| doc.automerge().get_change_by_hash(h).is_none())
        .count();
    if missing > 0 {
        return Err(SessionError::Incomplete(missing));
    }
    out.changes_received = doc.automerge().get_changes(&[]).len().saturating_sub(start_changes);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use duo_journal::{Kind, NewEntry, Person};

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
        }
    }

    async fn sync_pair(a: &mut SpaceDoc, b: &mut SpaceDoc) -> (Outcome, Outcome) {
        let (a_io, b_io) = tokio::io::duplex(1 << 20);
        let (mut ar, mut aw) = tokio::io::split(a_io);
        let (mut br, mut bw) = tokio::io::split(b_io);
        let (mut sa, mut sb) = (State::new(), State::new());
        let (x, y) = tokio::join!(
            run(a, &mut sa, &mut ar, &mut aw, Limits::default()),
            run(b, &mut sb, &mut br, &mut bw, Limits::default())
        );
        (x.unwrap(), y.unwrap())
    }

    #[tokio::test]
    async fn two_docs_converge() {
        let mut a = SpaceDoc::new();
        a.init(
            "space",
            &Person {
                id: "p".into(),
                name: "A".into(),
            },
            &duo_journal::Device {
                id: "d".into(),
                person: "p".into(),
                label: "l".into(),
                added_at: 0,
            },
        )
        .unwrap();
        let mut b = SpaceDoc::new();
        for i in 0..50 {
            a.add_entry(&entry(&format!("a{i:02}"), "from a")).unwrap();
            b.add_entry(&entry(&format!("b{i:02}"), "from b")).unwrap();
        }
        let (oa, ob) = sync_pair(&mut a, &mut b).await;
        assert_eq!(a.contents(), b.contents());
        assert_eq!(a.contents().entries.len(), 100);
        assert!(oa.changes_received > 0 && ob.changes_received > 0);
        // A second session has nothing to do and ends at once.
        let (oa, _) = sync_pair(&mut a, &mut b).await;
        assert_eq!(oa.changes_received, 0);
    }

    #[tokio::test]
    async fn garbage_from_the_peer_ends_the_session_and_changes_nothing() {
        let mut a = SpaceDoc::new();
        a.add_entry(&entry("a1", "mine")).unwrap();
        let before = a.contents();
        let (a_io, mut peer) = tokio::io::duplex(1 << 16);
        let (mut ar, mut aw) = tokio::io::split(a_io);
        let mut s = State::new();
        write_frame(&mut peer, KIND_MESSAGE, b"definitely not automerge")
            .await
            .unwrap();
        let res = run(&mut a, &mut s, &mut ar, &mut aw, Limits::default()).await;
        assert!(matches!(res, Err(SessionError::BadMessage(_))), "{res:?}");
        assert_eq!(a.contents(), before);
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
        let res = run(&mut a, &mut State::new(), &mut ar, &mut aw, limits).await;
        assert!(matches!(res, Err(SessionError::Timeout(_))), "{res:?}");
    }

    #[tokio::test]
    async fn endless_idle_messages_are_cut_off() {
        // A peer that answers every round with a valid but useless message.
        let mut a = SpaceDoc::new();
        a.add_entry(&entry("a1", "mine")).unwrap();
        let (a_io, peer) = tokio::io::duplex(1 << 20);
        let (mut ar, mut aw) = tokio::io::split(a_io);
        let (mut pr, mut pw) = tokio::io::split(peer);
        let useless = {
            let mut empty = SpaceDoc::new();
            let mut st = State::new();
            empty
                .automerge()
                .sync()
                .generate_sync_message(&mut st)
                .unwrap()
                .encode()
        };
        let peer_task = async move {
            loop {
                if read_frame(&mut pr, 1 << 20).await.is_err() {
                    break;
                }
                if write_frame(&mut pw, KIND_MESSAGE, &useless).await.is_err() {
                    break;
                }
            }
        };
        let limits = Limits {
            max_idle_rounds: 5,
            ..Limits::default()
        };
        let (res, _) = tokio::join!(
            async {
                let r = run(&mut a, &mut State::new(), &mut ar, &mut aw, limits).await;
                drop(aw);
                drop(ar);
                r
            },
            peer_task
        );
        assert!(matches!(res, Err(SessionError::NoProgress(_))), "{res:?}");
    }
}
