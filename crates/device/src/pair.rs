//! Pairing two devices with a code, over any pair of streams (a `duo/pair/1` QUIC stream
//! in practice).
//!
//! 1. Each side commits to its SPAKE2 message (sends its SHA-256) before revealing it, so
//!    nobody in the middle can try messages until the verification words come out the way
//!    they like.
//! 2. Both run SPAKE2 with the whole code as password and the two endpoint ids as
//!    identities; the key is bound to the transcript, which includes the connection's
//!    exported keying material, so a machine in the middle that knows the code still ends
//!    up with different words on the two sides.
//! 3. Key confirmation: each side proves it derived the same key. A wrong code fails here,
//!    on both sides, after one guess.
//! 4. Both screens show the same verification words; each person confirms, and nothing is
//!    stored until both said yes.

use crate::frame::{FrameError, read_frame, write_frame};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Identity, Password, Spake2};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

const COMMIT: u8 = 1;
const PAKE: u8 = 2;
const CONFIRM: u8 = 3;
const AGREE: u8 = 4;
const DATA: u8 = 5;
const PERSON_KEY: u8 = 6;
const MAX: usize = 64 * 1024;
/// How long to wait for the other side at each step (a person may be reading words).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// Which side of the pairing this device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Ran `duo pair` and shows the code.
    Inviter,
    /// Ran `duo pair join` and typed the code.
    Joiner,
}

/// What both sides must agree on before the PAKE starts.
pub struct Context<'a> {
    pub role: Role,
    /// The whole code (nameplate and words).
    pub password: &'a str,
    /// Endpoint ids (public keys) of inviter and joiner.
    pub inviter: [u8; 32],
    pub joiner: [u8; 32],
    /// Keying material exported from this connection's TLS session.
    pub channel: [u8; 32],
}

/// A completed PAKE: both sides hold the same key; the words are for people to compare.
pub struct Verified {
    pub words: String,
    key: [u8; 32],
}

impl Verified {
    /// A key for later messages of this pairing (never stored).
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("the code did not match: it is now used up on both devices; run `duo pair` again for a new one")]
    WrongCode,
    #[error("the words were not confirmed on this device, so nothing was stored")]
    Declined,
    #[error("the other person did not confirm the words, so nothing was stored")]
    TheyDeclined,
    #[error("the other device broke the pairing protocol: {0}")]
    Protocol(String),
    #[error("the other device did not answer in time")]
    Timeout,
    #[error(transparent)]
    Frame(#[from] FrameError),
}

async fn recv<R: AsyncRead + Unpin>(r: &mut R, kind: u8) -> Result<Vec<u8>, PairError> {
    let f = tokio::time::timeout(STEP_TIMEOUT, read_frame(r, MAX))
        .await
        .map_err(|_| PairError::Timeout)??;
    if f.kind != kind {
        return Err(PairError::Protocol(format!("expected message {kind}, got {}", f.kind)));
    }
    Ok(f.payload)
}

/// Send and receive one message of `kind` at the same time.
async fn swap<R, W>(r: &mut R, w: &mut W, kind: u8, mine: &[u8]) -> Result<Vec<u8>, PairError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (sent, got) = tokio::join!(write_frame(w, kind, mine), recv(r, kind));
    sent?;
    got
}

fn expand(hk: &Hkdf<Sha256>, label: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hk.expand(label, &mut out).expect("32 bytes is a valid HKDF length");
    out
}

/// Steps 1–3: commitments, SPAKE2, key confirmation. A wrong code ends in `WrongCode` on
/// both sides.
pub async fn handshake<R, W>(r: &mut R, w: &mut W, ctx: &Context<'_>) -> Result<Verified, PairError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (a, b) = (Identity::new(&ctx.inviter), Identity::new(&ctx.joiner));
    let password = Password::new(ctx.password.as_bytes());
    let (spake, mine) = match ctx.role {
        Role::Inviter => Spake2::<Ed25519Group>::start_a(&password, &a, &b),
        Role::Joiner => Spake2::<Ed25519Group>::start_b(&password, &a, &b),
    };
    let commitment = Sha256::digest(&mine);
    let their_commitment = swap(r, w, COMMIT, &commitment).await?;
    let theirs = swap(r, w, PAKE, &mine).await?;
    if Sha256::digest(&theirs).as_slice() != their_commitment.as_slice() {
        return Err(PairError::Protocol(
            "its message does not match what it committed to".into(),
        ));
    }
    let shared = spake
        .finish(&theirs)
        .map_err(|e| PairError::Protocol(format!("{e:?}")))?;
    let (msg_a, msg_b) = match ctx.role {
        Role::Inviter => (&mine, &theirs),
        Role::Joiner => (&theirs, &mine),
    };
    let mut t = Sha256::new();
    t.update(b"duo/pair/1 transcript");
    t.update(ctx.inviter);
    t.update(ctx.joiner);
    t.update(ctx.channel);
    t.update(msg_a);
    t.update(msg_b);
    let transcript = t.finalize();
    let hk = Hkdf::<Sha256>::new(Some(&transcript), &shared);
    let (my_label, their_label): (&[u8], &[u8]) = match ctx.role {
        Role::Inviter => (b"duo pair confirm inviter", b"duo pair confirm joiner"),
        Role::Joiner => (b"duo pair confirm joiner", b"duo pair confirm inviter"),
    };
    let their_confirm = swap(r, w, CONFIRM, &expand(&hk, my_label)).await?;
    let expected = expand(&hk, their_label);
    // Constant-time comparison: fold the differences.
    let same = their_confirm.len() == 32
        && their_confirm
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0;
    if !same {
        return Err(PairError::WrongCode);
    }
    let words_bytes = expand(&hk, b"duo pair verification words");
    let words = words_bytes[..4]
        .iter()
        .map(|i| crate::code::word_at(*i))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Verified {
        words,
        key: expand(&hk, b"duo pair session key"),
    })
}

/// Step 4: tell the other side whether this person confirmed the words, and hear theirs.
/// Both must have said yes.
pub async fn agree<R, W>(r: &mut R, w: &mut W, confirmed: bool) -> Result<(), PairError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let theirs = swap(r, w, AGREE, &[u8::from(confirmed)]).await?;
    match (confirmed, theirs.as_slice()) {
        (true, [1]) => Ok(()),
        (true, [0]) => Err(PairError::TheyDeclined),
        (false, [0 | 1]) => Err(PairError::Declined),
        _ => Err(PairError::Protocol("bad confirmation".into())),
    }
}

/// Step 4 cut short: this device refuses before its person is asked (see
/// `invite::vet`). The other side hears "declined" at its own step 4, without waiting for
/// an answer from here.
pub async fn decline<W: AsyncWrite + Unpin>(w: &mut W) -> Result<(), PairError> {
    write_frame(w, AGREE, &[0]).await?;
    Ok(())
}

/// Exchange one JSON value each way (the introductions, after key confirmation and before
/// the people are asked).
pub async fn exchange<R, W, T>(r: &mut R, w: &mut W, mine: &T) -> Result<T, PairError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let bytes = serde_json::to_vec(mine).expect("serializes");
    let theirs = swap(r, w, DATA, &bytes).await?;
    serde_json::from_slice(&theirs).map_err(|e| PairError::Protocol(format!("bad membership message: {e}")))
}

/// Own-device pairing, after both people agreed: the inviter hands its person key (the
/// authenticator key shared by one person's devices) and the keys it retired (so the new
/// device recognises words sealed before a rotation) to the joiner, wrapped under this
/// pairing's PAKE key.
pub async fn send_person_key<W: AsyncWrite + Unpin>(
    w: &mut W,
    verified: &Verified,
    key: &crate::person_key::PersonKey,
    retired: &[crate::person_key::PersonKey],
) -> Result<(), PairError> {
    write_frame(w, PERSON_KEY, &key.wrap_ring(retired, verified.key())).await?;
    Ok(())
}

/// The joiner's side of [`send_person_key`]: the current key and the retired ones.
pub async fn recv_person_key<R: AsyncRead + Unpin>(
    r: &mut R,
    verified: &Verified,
) -> Result<(crate::person_key::PersonKey, Vec<crate::person_key::PersonKey>), PairError> {
    let wrapped = recv(r, PERSON_KEY).await?;
    crate::person_key::PersonKey::unwrap_ring(verified.key(), &wrapped)
        .ok_or_else(|| PairError::Protocol("the person key did not come under this pairing's key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(role: Role, password: &str, channel: u8) -> Context<'_> {
        Context {
            role,
            password,
            inviter: [1; 32],
            joiner: [2; 32],
            channel: [channel; 32],
        }
    }

    async fn run_pair(
        pw_a: &str,
        pw_b: &str,
        chan_a: u8,
        chan_b: u8,
    ) -> (Result<Verified, PairError>, Result<Verified, PairError>) {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (mut ar, mut aw) = tokio::io::split(a);
        let (mut br, mut bw) = tokio::io::split(b);
        let ca = ctx(Role::Inviter, pw_a, chan_a);
        let cb = ctx(Role::Joiner, pw_b, chan_b);
        tokio::join!(handshake(&mut ar, &mut aw, &ca), handshake(&mut br, &mut bw, &cb))
    }

    #[tokio::test]
    async fn same_code_same_words_and_key() {
        let (a, b) = run_pair("7-purple-sausage-lantern", "7-purple-sausage-lantern", 9, 9).await;
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.words, b.words);
        assert_eq!(a.words.split(' ').count(), 4);
        assert_eq!(a.key(), b.key());
    }

    #[tokio::test]
    async fn wrong_code_fails_on_both_sides() {
        let (a, b) = run_pair("7-purple-sausage-lantern", "7-purple-sausage-lanterns", 9, 9).await;
        assert!(matches!(a, Err(PairError::WrongCode)));
        assert!(matches!(b, Err(PairError::WrongCode)));
    }

    #[tokio::test]
    async fn different_channels_give_different_words() {
        // A machine in the middle that knows the code runs two separate pairings, one per
        // side: the channels (and ids) differ, so the words shown on the two screens differ.
        let (a1, _) = run_pair("5-fox-otter-plum", "5-fox-otter-plum", 1, 1).await;
        let (a2, _) = run_pair("5-fox-otter-plum", "5-fox-otter-plum", 2, 2).await;
        assert_ne!(a1.unwrap().words, a2.unwrap().words);
    }

    #[tokio::test]
    async fn both_must_agree() {
        for (x, y) in [(true, true), (true, false), (false, true), (false, false)] {
            let (a, b) = tokio::io::duplex(1024);
            let (mut ar, mut aw) = tokio::io::split(a);
            let (mut br, mut bw) = tokio::io::split(b);
            let (ra, rb) = tokio::join!(agree(&mut ar, &mut aw, x), agree(&mut br, &mut bw, y));
            assert_eq!(ra.is_ok(), x && y);
            assert_eq!(rb.is_ok(), x && y);
        }
    }

    #[tokio::test]
    async fn a_peer_that_breaks_its_commitment_is_caught() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (mut ar, mut aw) = tokio::io::split(a);
        let (mut br, mut bw) = tokio::io::split(b);
        let ca = ctx(Role::Inviter, "7-purple-sausage-lantern", 3);
        let cheat = async {
            let _ = recv(&mut br, COMMIT).await;
            write_frame(&mut bw, COMMIT, &[0u8; 32]).await.unwrap();
            let _ = recv(&mut br, PAKE).await;
            write_frame(&mut bw, PAKE, &[7u8; 33]).await.unwrap();
        };
        let (res, _) = tokio::join!(handshake(&mut ar, &mut aw, &ca), cheat);
        assert!(matches!(res, Err(PairError::Protocol(_))));
    }
}
