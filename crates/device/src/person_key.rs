//! The person key (the key of `duo_journal::seal`), kept encrypted at rest, handed to a new
//! own device during pairing.
//!
//! The key is 32 random bytes made on a person's first device. On disk it is an age file
//! (`keys/person.key`) encrypted to the device's own age identity, so it is as protected as
//! the journal itself (and closed with it when duo is locked). It never enters the shared
//! document and never goes to the partner's devices.

use crate::SyncError;
use crate::store::write_durably;
use age::secrecy::zeroize::Zeroize;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
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
