//! Seals: "your words can't be altered unnoticed".
//!
//! A seal is an HMAC-SHA256 (truncated to 128 bits) under a per-person key (32 random bytes
//! shared only among that person's own devices, never in the document) over one *subject*:
//! a field of an entry (its body, its kind, one tag, its deletion...), or a record (a
//! boundary's status change, a reply, the marker that says a device began sealing). Each
//! field has its own seal, so a merge of fields written on two of the author's devices
//! still verifies field by field; each seal carries a version (the field's, counted up by
//! every sealed write of it), so an older sealed value replayed later can be told from the
//! newest one ([`crate::check::Marks`]).
//!
//! A seal names the key it was made with (a short [`KeyId`]); checking takes a [`Keyring`],
//! the set of the person's keys (the current one, and retired ones after a rotation).
//!
//! The author's devices check seals on read; a partner's devices cannot (they do not hold
//! the key), and a MAC is no transferable proof: whoever can check it could have made it.
//! That is deliberate (deniability). No I/O here: the keys are handed in by the caller.
//!
//! The format of a seal string is `s2.<key id: 8 hex>.<version: decimal>.<mac: 32 hex>`.
//! Authenticators of the first format (`v1:` + 64 hex, one per entry in its `auth` field,
//! covering the whole entry at once) are still read: [`legacy_v1_verifies`].

use crate::model::Entry;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;

/// The prefix of a seal string: its format.
pub const SEAL_PREFIX: &str = "s2.";

/// The prefix of a first-format authenticator (the `auth` field of older entries).
pub const AUTH_V1: &str = "v1:";

/// The domain string every seal's MAC input starts with.
const DOMAIN: &[u8] = b"duo/seal/2\0";

/// Bytes of a seal's MAC (HMAC-SHA256 truncated).
const MAC_LEN: usize = 16;

/// A short public name for a person key: the first 4 bytes of SHA-256 of a domain string
/// and the key, as 8 hex characters. It says which key made a seal; it reveals nothing of
/// the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct KeyId([u8; 4]);

impl KeyId {
    fn of(key: &[u8; 32]) -> KeyId {
        let d = Sha256::new_with_prefix(b"duo/key-id\0").chain_update(key).finalize();
        KeyId([d[0], d[1], d[2], d[3]])
    }

    /// Parse 8 lowercase hex characters.
    pub fn parse(s: &str) -> Option<KeyId> {
        unhex_array(s).map(KeyId)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex(&self.0))
    }
}

/// A person key, as the journal uses it: it seals and checks, and never gives its bytes
/// back (duo-device keeps the key file; nothing else needs them).
pub struct SealKey {
    bytes: [u8; 32],
    id: KeyId,
}

impl SealKey {
    pub fn from_bytes(bytes: [u8; 32]) -> SealKey {
        SealKey {
            id: KeyId::of(&bytes),
            bytes,
        }
    }

    /// The key's public short name.
    pub fn id(&self) -> KeyId {
        self.id
    }

    fn mac(&self, subject: &Subject<'_>, version: u64, value: &[u8]) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.bytes).expect("HMAC takes any key length");
        m.update(DOMAIN);
        // The same bytes as `field` lays out, fed in place (no copy of the value).
        let mut put = |bytes: &[u8]| {
            m.update(&(bytes.len() as u64).to_be_bytes());
            m.update(bytes);
        };
        put(subject.scope.as_bytes());
        put(subject.author.as_bytes());
        put(subject.field.as_bytes());
        m.update(&version.to_be_bytes());
        m.update(&(value.len() as u64).to_be_bytes());
        m.update(value);
        m
    }

    /// The seal of `value` as `subject` at `version`.
    pub fn seal(&self, subject: &Subject<'_>, version: u64, value: &[u8]) -> String {
        let tag = self.mac(subject, version, value).finalize().into_bytes();
        format!("{SEAL_PREFIX}{}.{version}.{}", self.id, crate::hex(&tag[..MAC_LEN]))
    }

    fn verifies(&self, subject: &Subject<'_>, value: &[u8], seal: &Seal) -> bool {
        seal.key == self.id
            && self
                .mac(subject, seal.version, value)
                .verify_truncated_left(&seal.mac)
                .is_ok()
    }
}

impl Clone for SealKey {
    fn clone(&self) -> Self {
        SealKey::from_bytes(self.bytes)
    }
}

impl Drop for SealKey {
    fn drop(&mut self) {
        for b in self.bytes.iter_mut() {
            // SAFETY: a valid, aligned, exclusive reference to a byte of `self`.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealKey({})", self.id)
    }
}

/// Where a key of a keyring stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// The key the person's devices seal with now.
    Current,
    /// A key the person's devices sealed with before a rotation: its seals are still
    /// checked, but what only a retired key covers is shown as unconfirmed.
    Retired,
}

/// The keys of one person: what checking takes.
#[derive(Clone, Debug)]
pub struct Keyring {
    person: String,
    keys: Vec<(SealKey, Standing)>,
}

impl Keyring {
    /// The keyring of `person`, with the key they seal with now.
    pub fn new(person: impl Into<String>, current: SealKey) -> Keyring {
        Keyring {
            person: person.into(),
            keys: vec![(current, Standing::Current)],
        }
    }

    /// Add a key the person used before (a rotation retired it).
    pub fn add_retired(&mut self, key: SealKey) {
        if !self.keys.iter().any(|(k, _)| k.id == key.id && k.bytes == key.bytes) {
            self.keys.push((key, Standing::Retired));
        }
    }

    /// A keyring with a key derived from the person id alone: for tests (and for the
    /// modified clients tests play), never for a real person.
    #[doc(hidden)]
    pub fn for_tests(person: &str) -> Keyring {
        let k: [u8; 32] = Sha256::new_with_prefix(b"duo/test-key\0")
            .chain_update(person)
            .finalize()
            .into();
        Keyring::new(person, SealKey::from_bytes(k))
    }

    /// The person whose keys these are.
    pub fn person(&self) -> &str {
        &self.person
    }

    /// The key new seals are made with.
    pub fn current(&self) -> &SealKey {
        &self.keys[0].0
    }

    /// Every key with its standing, the current one first.
    pub fn keys(&self) -> impl Iterator<Item = (&SealKey, Standing)> {
        self.keys.iter().map(|(k, s)| (k, *s))
    }

    /// Does `seal` (a seal string) seal `value` as `subject`? The parsed seal and the
    /// standing of the key that made it when it does.
    pub fn verify(&self, subject: &Subject<'_>, value: &[u8], seal: &str) -> Option<(Seal, Standing)> {
        let parsed = Seal::parse(seal)?;
        self.keys
            .iter()
            .find(|(k, _)| k.verifies(subject, value, &parsed))
            .map(|(_, s)| (parsed, *s))
    }
}

/// What writes with a person's key: a device of the person, holding their keyring. The
/// library's writes take one and seal everything they write with the current key; it
/// gives nothing back (neither the key nor a way to seal by hand).
#[derive(Clone, Copy, Debug)]
pub struct Sealer<'a> {
    keyring: &'a Keyring,
    device: &'a str,
}

impl Keyring {
    /// What `device` (a device of this person) writes with.
    pub fn sealer<'a>(&'a self, device: &'a str) -> Sealer<'a> {
        Sealer { keyring: self, device }
    }
}

impl<'a> Sealer<'a> {
    /// The person who writes.
    pub fn person(&self) -> &'a str {
        &self.keyring.person
    }

    /// The device that writes.
    pub fn device(&self) -> &'a str {
        self.device
    }

    pub(crate) fn keyring(&self) -> &'a Keyring {
        self.keyring
    }

    /// Seal `value` as `field` of `scope`, by this person, at `version`.
    pub(crate) fn seal(&self, scope: &str, field: &str, version: u64, value: &[u8]) -> String {
        let subject = Subject {
            scope,
            author: self.person(),
            field,
        };
        self.keyring.current().seal(&subject, version, value)
    }
}

/// What a seal is about: `field` of `scope` (an entry id) by `author` (a person id). For
/// an entry field `field` is the field's name (`body`, `kind`, `tag:<tag>`...); for a
/// record it names the record (`bstatus/<change id>`, `ack/<ack id>`, `sealing/<device>`).
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub scope: &'a str,
    pub author: &'a str,
    pub field: &'a str,
}

/// A parsed seal string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seal {
    /// The key that made it.
    pub key: KeyId,
    /// The version of the field it seals.
    pub version: u64,
    mac: [u8; MAC_LEN],
}

impl Seal {
    /// Parse `s2.<key id>.<version>.<mac>`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Seal> {
        let rest = s.strip_prefix(SEAL_PREFIX)?;
        let mut parts = rest.split('.');
        let (key, version, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version.len() > 20 || !version.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Seal {
            key: KeyId::parse(key)?,
            version: version.parse().ok()?,
            mac: unhex_array(mac)?,
        })
    }

    /// Only the version of a seal string (for choosing the next version: no key needed).
    pub fn version_of(s: &str) -> Option<u64> {
        Seal::parse(s).map(|s| s.version)
    }
}

/// What makes the person's devices call one of the person's entries not theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// A seal does not match what is shown, or one is missing: altered or invented on
    /// another device.
    Altered,
    /// No seal at all, on an entry written after the person's devices began sealing.
    Unsealed,
    /// An older sealed version of a field was put back (a replay).
    RolledBack,
    /// The author deleted it; the deletion was undone by another device.
    Undeleted,
    /// The author asked for no replies; that was undone by another device.
    RepliesReopened,
    /// Sealed with a key the person's devices had retired, by a device that knew of the
    /// rotation: a copy of a revoked device.
    RetiredKey,
}

impl Why {
    /// Stable name for JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Altered => "altered",
            Why::Unsealed => "unsealed",
            Why::RolledBack => "rolled_back",
            Why::Undeleted => "undeleted",
            Why::RepliesReopened => "replies_reopened",
            Why::RetiredKey => "retired_key",
        }
    }

    /// For people: what happened, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Why::Altered => "altered or invented on another device",
            Why::Unsealed => "written without your seal on another device",
            Why::RolledBack => "an older version was put back on another device",
            Why::Undeleted => "you deleted it; another device brought it back",
            Why::RepliesReopened => "you asked for no replies; another device lifted that",
            Why::RetiredKey => "sealed with a key your devices retired when you revoked a device",
        }
    }
}

/// What an author's device can say about one of the author's own entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authenticity {
    /// Seals made with this person's key cover exactly what is shown.
    Authentic,
    /// No seal at all, and written before this person's devices began sealing. Neither
    /// confirmed nor refuted.
    Unsealed,
    /// Covered only by seals this device cannot confirm yet: made with a retired key, or in
    /// the first format on a device of yours that has not sealed it again since.
    Unsettled,
    /// Claims this person as author but is not what their devices wrote.
    NotYours(Why),
}

impl Authenticity {
    /// Stable name for JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Authenticity::Authentic => "authentic",
            Authenticity::Unsealed => "unsealed",
            Authenticity::Unsettled => "unsettled",
            Authenticity::NotYours(_) => "not_yours",
        }
    }

    pub fn is_not_yours(self) -> bool {
        matches!(self, Authenticity::NotYours(_))
    }
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Exactly `N` bytes from `2 * N` lowercase hex digits, without allocating (every read
/// parses a seal per field of each of the person's entries).
fn unhex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    use crate::lower_hex_digit as digit;
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// The first format's canonical encoding of an entry (kept to read older entries): a
/// domain string, then each field as (tag, u64 length, bytes) in a fixed order.
fn legacy_v1_canonical(e: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + e.body.len());
    out.extend_from_slice(b"duo/entry-auth/1\0");
    let mut f = |tag: u8, bytes: &[u8]| {
        out.push(tag);
        field(&mut out, bytes);
    };
    f(1, e.id.as_bytes());
    f(2, e.kind.as_str().as_bytes());
    f(3, e.author.as_bytes());
    f(4, e.device.as_bytes());
    f(5, &e.created_at.to_be_bytes());
    f(6, &e.edited_at.to_be_bytes());
    f(7, e.body.as_bytes());
    f(8, &(e.tags.len() as u64).to_be_bytes());
    for t in &e.tags {
        f(9, t.as_bytes());
    }
    f(10, e.status.map(|s| s.as_str()).unwrap_or("").as_bytes());
    out
}

/// Does a first-format authenticator (`v1:` + hex of a full HMAC-SHA256 over the whole
/// entry) of `e` verify under a key of `keyring`? The standing of that key when it does.
pub fn legacy_v1_verifies(keyring: &Keyring, e: &Entry, auth: &str) -> Option<Standing> {
    let tag: [u8; 32] = unhex_array(auth.strip_prefix(AUTH_V1)?)?;
    let input = legacy_v1_canonical(e);
    keyring.keys.iter().find_map(|(k, s)| {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&k.bytes).expect("HMAC takes any key length");
        m.update(&input);
        m.verify_slice(&tag).is_ok().then_some(*s)
    })
}

/// A first-format authenticator of `e` (tests of older entries make them).
#[doc(hidden)]
pub fn legacy_v1_seal(key: &SealKey, e: &Entry) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key.bytes).expect("HMAC takes any key length");
    m.update(&legacy_v1_canonical(e));
    format!("{AUTH_V1}{}", crate::hex(&m.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject<'a>(field: &'a str) -> Subject<'a> {
        Subject {
            scope: "0123456789abcdef0123456789abcdef",
            author: "alice",
            field,
        }
    }

    /// The seal's MAC is over exactly the documented layout: the domain, then the scope,
    /// author, field (each length-prefixed), the version, and the length-prefixed value
    /// (storage.md, "The entry record"). Seals stored by earlier duos keep verifying.
    #[test]
    fn a_seal_is_the_hmac_of_the_documented_layout() {
        let k = SealKey::from_bytes([7; 32]);
        let mut input = DOMAIN.to_vec();
        field(&mut input, b"0123456789abcdef0123456789abcdef");
        field(&mut input, b"alice");
        field(&mut input, b"body");
        input.extend_from_slice(&3u64.to_be_bytes());
        field(&mut input, b"I need quiet mornings");
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&[7; 32]).unwrap();
        m.update(&input);
        let tag = m.finalize().into_bytes();
        assert_eq!(
            k.seal(&subject("body"), 3, b"I need quiet mornings"),
            format!("s2.{}.3.{}", k.id(), crate::hex(&tag[..MAC_LEN]))
        );
    }

    #[test]
    fn a_seal_names_its_key_and_verifies_only_what_it_sealed() {
        let k = SealKey::from_bytes([7; 32]);
        let ring = Keyring::new("alice", k.clone());
        let s = k.seal(&subject("body"), 3, b"I need quiet mornings");
        let parsed = Seal::parse(&s).unwrap();
        assert_eq!(parsed.key, k.id());
        assert_eq!(parsed.version, 3);
        assert!(s.starts_with(&format!("s2.{}.3.", k.id())), "{s}");
        assert_eq!(
            ring.verify(&subject("body"), b"I need quiet mornings", &s)
                .map(|(s, st)| (s.version, st)),
            Some((3, Standing::Current))
        );
        // Another value, field, entry, author, version or key: no.
        assert!(ring.verify(&subject("body"), b"I need loud mornings", &s).is_none());
        assert!(ring.verify(&subject("kind"), b"I need quiet mornings", &s).is_none());
        let other_entry = Subject {
            scope: "ffffffffffffffffffffffffffffffff",
            ..subject("body")
        };
        assert!(ring.verify(&other_entry, b"I need quiet mornings", &s).is_none());
        let other_author = Subject {
            author: "bob",
            ..subject("body")
        };
        assert!(ring.verify(&other_author, b"I need quiet mornings", &s).is_none());
        let bumped = s.replacen(".3.", ".4.", 1);
        assert!(
            ring.verify(&subject("body"), b"I need quiet mornings", &bumped)
                .is_none()
        );
        let bob = Keyring::new("alice", SealKey::from_bytes([8; 32]));
        assert!(bob.verify(&subject("body"), b"I need quiet mornings", &s).is_none());
        for junk in ["", "s2.", "s2.zz.1.00", "v1:00", &format!("{s}.1"), &s[..s.len() - 2]] {
            assert!(
                ring.verify(&subject("body"), b"I need quiet mornings", junk).is_none(),
                "{junk}"
            );
        }
    }

    #[test]
    fn a_keyring_checks_retired_keys_and_says_so() {
        let old = SealKey::from_bytes([1; 32]);
        let new = SealKey::from_bytes([2; 32]);
        assert_ne!(old.id(), new.id());
        let mut ring = Keyring::new("alice", new.clone());
        let by_old = old.seal(&subject("body"), 1, b"x");
        assert!(ring.verify(&subject("body"), b"x", &by_old).is_none());
        ring.add_retired(old.clone());
        ring.add_retired(old);
        assert_eq!(ring.keys().count(), 2);
        assert_eq!(
            ring.verify(&subject("body"), b"x", &by_old).unwrap().1,
            Standing::Retired
        );
        let by_new = new.seal(&subject("body"), 2, b"x");
        assert_eq!(
            ring.verify(&subject("body"), b"x", &by_new).unwrap().1,
            Standing::Current
        );
        assert_eq!(ring.current().id(), new.id());
        assert!(format!("{:?}", ring).contains(&new.id().to_string()));
        assert!(
            !format!("{:?}", ring).contains("[2, 2"),
            "the key's bytes are never printed"
        );
    }
}
