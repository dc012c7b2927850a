//! The per-person authenticator key (see `duo_journal::auth`), kept encrypted at rest, handed
//! to a new own device during pairing; and signed exports of one's own entries.
//!
//! The key is 32 random bytes made on a person's first device. On disk it is an age file
//! (`keys/person.key`) encrypted to the device's own age identity, so it is as protected as
//! the journal itself (and closed with it when duo is locked). It never enters the shared
//! document and never goes to the partner's devices.

use crate::SyncError;
use crate::store::write_durably;
use age::secrecy::zeroize::Zeroize;
use duo_journal::{Entry, hex};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::path::Path;

/// The person key: shared only among one person's own devices.
#[derive(Clone)]
pub struct PersonKey([u8; 32]);

impl Drop for PersonKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for PersonKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonKey(…)")
    }
}

impl PersonKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).expect("the operating system's random source is available");
        PersonKey(k)
    }

    /// A key received from elsewhere (a backup).
    pub fn from_bytes(k: [u8; 32]) -> Self {
        PersonKey(k)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The keyring of `person` with this key as its current one.
    pub(crate) fn keyring(&self, person: &str) -> duo_journal::Keyring {
        duo_journal::Keyring::new(person, duo_journal::SealKey::from_bytes(self.0))
    }

    /// Read the key file, decrypting it with the device's age identity.
    pub fn load(path: &Path, identity: &age::x25519::Identity) -> Result<Self, SyncError> {
        let bytes = std::fs::read(path).map_err(|source| SyncError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |reason: String| SyncError::BadFile {
            path: path.to_path_buf(),
            reason,
        };
        let mut plain = age::decrypt(identity, &bytes).map_err(|e| bad(format!("not a duo person key: {e}")))?;
        let key = <[u8; 32]>::try_from(plain.as_slice())
            .map(PersonKey)
            .map_err(|_| bad("not a duo person key: wrong length".into()));
        plain.zeroize();
        key
    }

    /// Write the key file (mode 0600), encrypted to the device's own age identity.
    pub fn store(&self, path: &Path, identity: &age::x25519::Identity) -> Result<(), SyncError> {
        let ct = age::encrypt(&identity.to_public(), &self.0)
            .map_err(|e| SyncError::Net(format!("could not encrypt the person key: {e}")))?;
        write_durably(path, &ct).map_err(|source| SyncError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The key wrapped for the other side of a pairing, under that pairing's PAKE key:
    /// 32 bytes XORed with a one-time pad from HKDF, then an HMAC tag (the frame also travels
    /// inside the pairing's QUIC/TLS connection).
    pub fn wrap(&self, pake_key: &[u8; 32]) -> Vec<u8> {
        self.wrap_at(pake_key, 0)
    }

    /// [`PersonKey::wrap`] with the pad and tag key of position `index` (each key of a
    /// keyring sent in one pairing gets its own one-time pad).
    fn wrap_at(&self, pake_key: &[u8; 32], index: usize) -> Vec<u8> {
        let (pad, mac_key) = pairing_keys(pake_key, index);
        let mut out: Vec<u8> = self.0.iter().zip(pad.iter()).map(|(a, b)| a ^ b).collect();
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key).expect("any key length");
        m.update(&out);
        out.extend_from_slice(&m.finalize().into_bytes());
        out
    }

    /// Undo [`PersonKey::wrap`]; `None` if the frame was not made with this PAKE key.
    pub fn unwrap(pake_key: &[u8; 32], wrapped: &[u8]) -> Option<Self> {
        Self::unwrap_at(pake_key, wrapped, 0)
    }

    fn unwrap_at(pake_key: &[u8; 32], wrapped: &[u8], index: usize) -> Option<Self> {
        if wrapped.len() != 64 {
            return None;
        }
        let (pad, mac_key) = pairing_keys(pake_key, index);
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key).expect("any key length");
        m.update(&wrapped[..32]);
        m.verify_slice(&wrapped[32..]).ok()?;
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = wrapped[i] ^ pad[i];
        }
        Some(PersonKey(k))
    }
}

/// At most this many retired keys travel in a pairing (a person retires one per revocation).
pub const MAX_RETIRED: usize = 256;

impl PersonKey {
    /// The current key and the retired ones, wrapped for an own-device pairing: the current
    /// key as [`PersonKey::wrap`] makes it, then each retired key under its own pad.
    pub fn wrap_ring(&self, retired: &[PersonKey], pake_key: &[u8; 32]) -> Vec<u8> {
        let mut out = self.wrap(pake_key);
        for (i, k) in retired.iter().take(MAX_RETIRED).enumerate() {
            out.extend(k.wrap_at(pake_key, i + 1));
        }
        out
    }

    /// Undo [`PersonKey::wrap_ring`] (a frame from an older duo holds the current key only).
    pub fn unwrap_ring(pake_key: &[u8; 32], wrapped: &[u8]) -> Option<(Self, Vec<Self>)> {
        if wrapped.is_empty() || !wrapped.len().is_multiple_of(64) || wrapped.len() > 64 * (MAX_RETIRED + 1) {
            return None;
        }
        let mut parts = wrapped.chunks(64);
        let current = Self::unwrap_at(pake_key, parts.next()?, 0)?;
        let retired = parts
            .enumerate()
            .map(|(i, w)| Self::unwrap_at(pake_key, w, i + 1))
            .collect::<Option<Vec<_>>>()?;
        Some((current, retired))
    }
}

fn pairing_keys(pake_key: &[u8; 32], index: usize) -> ([u8; 32], [u8; 32]) {
    let hk = Hkdf::<Sha256>::new(None, pake_key);
    let (mut pad, mut mac) = ([0u8; 32], [0u8; 32]);
    let (pad_label, mac_label) = match index {
        0 => (b"duo pair person key pad".to_vec(), b"duo pair person key mac".to_vec()),
        i => (
            format!("duo pair retired key {i} pad").into_bytes(),
            format!("duo pair retired key {i} mac").into_bytes(),
        ),
    };
    hk.expand(&pad_label, &mut pad).expect("32 bytes");
    hk.expand(&mac_label, &mut mac).expect("32 bytes");
    (pad, mac)
}

/// The format name of a signed export.
pub const SIGNED_FORMAT: &str = "duo-signed-export";

/// What a signed export covers: the signer and their own entries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedPayload {
    pub format: String,
    pub version: u32,
    /// The signing device's endpoint id (hex of its ed25519 public key).
    pub device: String,
    pub device_label: String,
    pub person_id: String,
    pub person_name: String,
    pub exported_at: i64,
    /// The shared space the signing device belongs to (version 2): `duo verify` run on a
    /// device of that space says whether the signer was revoked there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_id: Option<String>,
    /// Only entries authored by `person_id`.
    pub entries: Vec<SignedEntry>,
}

/// One entry of a signed export.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedEntry {
    pub id: String,
    pub kind: String,
    pub author_id: String,
    pub device: String,
    pub created_at: i64,
    pub edited_at: i64,
    pub body: String,
    pub tags: Vec<String>,
    pub status: Option<String>,
}

/// A signed export file: the payload and an ed25519 signature over its canonical bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignedExport {
    pub signed: serde_json::Value,
    /// Hex of the ed25519 signature of [`canonical_json`] of `signed`.
    pub signature: String,
}

/// The bytes that are signed: the payload as JSON with object keys sorted (serde_json's
/// map is ordered), no whitespace.
pub fn canonical_json(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("a JSON value serializes")
}

/// Sign `entries` (already restricted to the signer's own) with this device's key. Refuses
/// an entry authored by anyone else: duo never produces transferable proof of another
/// person's words.
pub fn sign_export(o: &crate::Opened, entries: &[&Entry], now: i64) -> Result<SignedExport, SyncError> {
    let (secret, config) = (&o.secret, &o.config);
    if let Some(e) = entries.iter().find(|e| e.author != config.person_id) {
        return Err(SyncError::Net(format!(
            "entry {} is not yours: a signed export holds only your own entries",
            e.id
        )));
    }
    let payload = SignedPayload {
        format: SIGNED_FORMAT.into(),
        version: 2,
        space_id: o.space.read()?.view.contents.space_id,
        device: secret.public().to_string(),
        device_label: config.device_label.clone(),
        person_id: config.person_id.clone(),
        person_name: config.name.clone(),
        exported_at: now,
        entries: entries
            .iter()
            .map(|e| SignedEntry {
                id: e.id.clone(),
                kind: e.kind.as_str().into(),
                author_id: e.author.clone(),
                device: e.device.clone(),
                created_at: e.created_at,
                edited_at: e.edited_at,
                body: e.body.clone(),
                tags: e.tags.clone(),
                status: e.status.map(|s| s.as_str().to_string()),
            })
            .collect(),
    };
    let signed = serde_json::to_value(&payload).expect("payload serializes");
    let sig = secret.sign(&canonical_json(&signed));
    Ok(SignedExport {
        signed,
        signature: hex(&sig.to_bytes()),
    })
}

/// What a device of a space can say about the device that signed an export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signer {
    /// A current device of this space.
    Active { label: String },
    /// Revoked in this space (for the whole space, or here only).
    Revoked { label: String },
    /// Not a device this space trusts (never one, or a record nobody vouches for).
    Unknown,
    /// The export is of another space, or names none (made by an older duo), or there is
    /// no space here to ask: only a device of its own space can tell.
    CannotKnow,
}

/// Where the device that signed `payload` stands in the space of `o` (when `o` is a device
/// of the space the export names).
pub fn signer_in(o: Option<&crate::Opened>, payload: &SignedPayload) -> Result<Signer, SyncError> {
    let Some(o) = o else { return Ok(Signer::CannotKnow) };
    let view = o.space.read()?.view;
    if payload.space_id.is_none() || view.space_id != payload.space_id {
        return Ok(Signer::CannotKnow);
    }
    let (_, _, m) = crate::membership::current(o)?;
    let label = || {
        m.records
            .get(&payload.device)
            .map_or_else(|| payload.device_label.clone(), |r| r.value.label.clone())
    };
    use crate::membership::Standing as S;
    Ok(match m.standing.get(&payload.device) {
        Some(S::Active) => Signer::Active { label: label() },
        Some(S::Revoked { .. } | S::RevokedWith) => Signer::Revoked { label: label() },
        Some(S::Unconfirmed) | None => Signer::Unknown,
    })
}

/// Why a signed export does not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("not a duo signed export: {0}")]
    Format(String),
    #[error(
        "the signature does not match: the file was changed after it was signed (or not signed by the device it names)"
    )]
    BadSignature,
    #[error("entry {0} is not authored by the signer: a genuine signed export holds only the signer's own entries")]
    ForeignEntry(String),
}

/// Check a signed export offline. Returns the payload when the signature holds and every
/// entry is the signer's own.
pub fn verify_export(bytes: &[u8]) -> Result<SignedPayload, VerifyError> {
    let file: SignedExport = serde_json::from_slice(bytes).map_err(|e| VerifyError::Format(e.to_string()))?;
    let payload: SignedPayload =
        serde_json::from_value(file.signed.clone()).map_err(|e| VerifyError::Format(e.to_string()))?;
    if payload.format != SIGNED_FORMAT || !(1..=2).contains(&payload.version) {
        return Err(VerifyError::Format(format!(
            "format {} version {}",
            payload.format, payload.version
        )));
    }
    let key: iroh::PublicKey = payload
        .device
        .parse()
        .map_err(|_| VerifyError::Format("the signing device id is not a public key".into()))?;
    let sig_bytes: [u8; 64] = unhex(&file.signature)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| VerifyError::Format("the signature is not 64 hex bytes".into()))?;
    let sig = iroh::Signature::from_bytes(&sig_bytes);
    key.verify(&canonical_json(&file.signed), &sig)
        .map_err(|_| VerifyError::BadSignature)?;
    if let Some(e) = payload.entries.iter().find(|e| e.author_id != payload.person_id) {
        return Err(VerifyError::ForeignEntry(e.id.clone()));
    }
    Ok(payload)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// How this person's entries in a notebook check out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Audit {
    pub authentic: usize,
    /// Written before authenticators: neither confirmed nor refuted.
    pub unsealed: usize,
    /// Ids of entries covered only by seals this device cannot confirm yet.
    pub unsettled: Vec<String>,
    /// Ids of entries claiming this person that are not theirs.
    pub not_yours: Vec<String>,
    /// Why each of them is not theirs.
    pub why: std::collections::BTreeMap<String, duo_journal::Why>,
    /// Ids of this person's entries that were removed, or given another author, by a device
    /// that is not theirs (no sealed deletion).
    pub removed: Vec<String>,
}

/// Check every entry of `view` that claims this person as author.
pub fn audit(judge: &duo_journal::Judge<'_>, view: &duo_journal::View) -> Audit {
    use duo_journal::Authenticity as A;
    let mut a = Audit::default();
    for s in judge.shown(view) {
        match s.check {
            Some(A::Authentic) => a.authentic += 1,
            Some(A::Unsealed) => a.unsealed += 1,
            Some(A::Unsettled) => a.unsettled.push(s.entry.id.clone()),
            Some(A::NotYours(why)) => {
                a.not_yours.push(s.entry.id.clone());
                a.why.insert(s.entry.id.clone(), why);
            }
            None => {}
        }
    }
    a.removed = judge.removed(view);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_person_key_opens_only_under_the_same_pairing_key() {
        let k = PersonKey::generate();
        let wrapped = k.wrap(&[1; 32]);
        assert_eq!(PersonKey::unwrap(&[1; 32], &wrapped).unwrap().bytes(), k.bytes());
        assert!(PersonKey::unwrap(&[2; 32], &wrapped).is_none(), "another pairing's key");
        let mut flipped = wrapped.clone();
        flipped[3] ^= 1;
        assert!(PersonKey::unwrap(&[1; 32], &flipped).is_none(), "a changed frame");
        assert!(PersonKey::unwrap(&[1; 32], &wrapped[..40]).is_none());
        assert_ne!(&wrapped[..32], k.bytes(), "not sent in the clear");
    }

    #[test]
    fn a_wrapped_keyring_opens_whole_or_not_at_all() {
        let (k, r1, r2) = (PersonKey::generate(), PersonKey::generate(), PersonKey::generate());
        let wrapped = k.wrap_ring(&[r1.clone(), r2.clone()], &[1; 32]);
        let (cur, retired) = PersonKey::unwrap_ring(&[1; 32], &wrapped).unwrap();
        assert_eq!(cur.bytes(), k.bytes());
        assert_eq!(
            retired.iter().map(|x| *x.bytes()).collect::<Vec<_>>(),
            vec![*r1.bytes(), *r2.bytes()]
        );
        assert_ne!(&wrapped[64..96], &wrapped[0..32], "each key under its own pad");
        assert!(PersonKey::unwrap_ring(&[2; 32], &wrapped).is_none());
        let mut swapped = wrapped.clone();
        swapped[64..].rotate_left(64);
        assert!(
            PersonKey::unwrap_ring(&[1; 32], &swapped).is_none(),
            "positions are bound"
        );
        assert!(PersonKey::unwrap_ring(&[1; 32], &wrapped[..100]).is_none());
        let (only, none) = PersonKey::unwrap_ring(&[1; 32], &k.wrap(&[1; 32])).unwrap();
        assert_eq!((only.bytes(), none.len()), (k.bytes(), 0));
    }

    #[test]
    fn a_person_key_file_opens_only_with_its_devices_age_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("person.key");
        let (mine, other) = (age::x25519::Identity::generate(), age::x25519::Identity::generate());
        let k = PersonKey::generate();
        k.store(&path, &mine).unwrap();
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(32).any(|w| w == k.bytes()), "encrypted at rest");
        assert_eq!(PersonKey::load(&path, &mine).unwrap().bytes(), k.bytes());
        assert!(matches!(PersonKey::load(&path, &other), Err(SyncError::BadFile { .. })));
    }
}
