//! Sync without a network: a bundle is one age file carrying the changes of the shared
//! space that another device lacks, for a USB stick, a shared folder or an email.
//!
//! ```text
//! age file, encrypted to every other current device of the space
//! └─ plaintext: "duo-bundle\n" ++ postcard(Envelope { version, signed, signature })
//!    └─ signed: postcard(Bundle { header: Header, changes })
//!       signature: ed25519 by the exporting device's iroh key over DOMAIN ++ signed
//! ```
//!
//! age only says "someone who knew a recipient made this": anyone can encrypt to a public
//! key. The signature says which device made it, and import checks that device against the
//! space's membership ([`crate::membership::may_sync`]), the space id, and then merges exactly
//! as sync does (strict load, every announced head must be here afterwards).
//!
//! A device's age recipient is derived from its endpoint id (an ed25519 public key) by the
//! standard birational map to X25519, and its age identity from its iroh secret key: the
//! membership already lists every device's endpoint id, so no extra key needs to be
//! exchanged, and a bundle is a standard age X25519 file.

use crate::device;
use crate::membership::Admission;
use crate::{Opened, SyncError};
use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub use iroh::{EndpointId, SecretKey};

/// The first bytes of a bundle's plaintext.
pub const MAGIC: &[u8] = b"duo-bundle\n";
/// The envelope format this duo writes and reads.
pub const VERSION: u32 = 1;
/// What the signature covers, before the signed bytes: a signature made for anything else
/// (a pairing message, another format) is never a valid bundle signature.
const DOMAIN: &[u8] = b"duo bundle signature v1\0";

/// What a bundle says about itself (signed with its changes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The shared space it belongs to.
    pub space_id: String,
    /// The exporting device's endpoint id (hex): who signed it.
    pub exporter: String,
    /// The heads it was made relative to (empty: the whole document).
    pub base: Vec<[u8; 32]>,
    /// The exporter's heads when it was made: after an import, all of them must be here.
    pub heads: Vec<[u8; 32]>,
    /// Milliseconds since the epoch, by the exporter's clock.
    pub created_at: i64,
}

/// A bundle's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub header: Header,
    /// Automerge bytes: a saved document or concatenated changes (may be empty).
    pub changes: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    version: u32,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

/// Why a bundle was not made or not taken. The CLI gives each its own exit status.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("this bundle is not encrypted for this device")]
    NotForThisDevice,
    #[error("this is not a duo bundle, or it was damaged or changed after it was made ({0})")]
    Tampered(String),
    #[error("the bundle's signature does not match its content: it was forged or changed")]
    BadSignature,
    #[error("this bundle was written by a newer duo (bundle format {0}; this duo reads {VERSION})")]
    TooNew(u32),
    #[error("this bundle belongs to another shared space ({theirs}; this device's is {ours})")]
    WrongSpace { theirs: String, ours: String },
    #[error("this bundle was made by a device that is not part of this space ({device})")]
    UnknownDevice { device: String },
    #[error("this bundle was made by a device that was revoked ({device})")]
    Revoked { device: String },
    #[error("this bundle was made on this device")]
    OwnBundle,
    #[error("this bundle builds on {0} change(s) this device does not have yet, so nothing was imported")]
    MissingHistory(usize),
    #[error("this space has no other device yet")]
    NoPeers,
    #[error("'{0}' is not a device of this space (other than this one)")]
    NoSuchDevice(String),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

impl From<duo_journal::JournalError> for BundleError {
    fn from(e: duo_journal::JournalError) -> Self {
        BundleError::Sync(e.into())
    }
}

/// The age identity of a device: its iroh (ed25519) secret key in X25519 form.
pub fn identity_for(secret: &SecretKey) -> age::x25519::Identity {
    let scalar = secret.as_signing_key().to_scalar_bytes();
    let hrp = bech32::Hrp::parse_unchecked("age-secret-key-");
    let text = bech32::encode::<bech32::Bech32>(hrp, &scalar)
        .expect("32 bytes encode")
        .to_uppercase();
    text.parse().expect("a valid X25519 identity")
}

/// The age recipient of a device: its endpoint id (an ed25519 public key) in X25519 form.
pub fn recipient_for(id: &EndpointId) -> age::x25519::Recipient {
    let u = id.as_verifying_key().to_montgomery().to_bytes();
    let text = bech32::encode::<bech32::Bech32>(bech32::Hrp::parse_unchecked("age"), &u).expect("32 bytes encode");
    text.parse().expect("a valid X25519 recipient")
}

/// The plaintext of a bundle, signed by `secret` (whose endpoint id must be `header.exporter`).
pub fn sign(bundle: &Bundle, secret: &SecretKey) -> Vec<u8> {
    let signed = postcard::to_allocvec(bundle).expect("a bundle serializes");
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&signed);
    let signature = secret.sign(&message).to_bytes().to_vec();
    let envelope = Envelope {
        version: VERSION,
        signed,
        signature,
    };
    let mut out = MAGIC.to_vec();
    out.extend(postcard::to_allocvec(&envelope).expect("an envelope serializes"));
    out
}

/// Decode a bundle's plaintext and check its signature against the device it names. This
/// is the entry point for bytes from outside (fuzzed): it never panics on any input.
pub fn decode(plaintext: &[u8]) -> Result<Bundle, BundleError> {
    let rest = plaintext
        .strip_prefix(MAGIC)
        .ok_or_else(|| BundleError::Tampered("no duo bundle header".into()))?;
    // The version comes first, so a newer format is named rather than called damaged.
    let (version, _) = postcard::take_from_bytes::<u32>(rest).map_err(|e| BundleError::Tampered(e.to_string()))?;
    if version != VERSION {
        return Err(BundleError::TooNew(version));
    }
    let envelope: Envelope = postcard::from_bytes(rest).map_err(|e| BundleError::Tampered(e.to_string()))?;
    let bundle: Bundle = postcard::from_bytes(&envelope.signed).map_err(|e| BundleError::Tampered(e.to_string()))?;
    let signer: EndpointId = bundle
        .header
        .exporter
        .parse()
        .map_err(|_| BundleError::Tampered("the exporting device's id is not a device id".into()))?;
    let signature: [u8; 64] = envelope
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| BundleError::BadSignature)?;
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&envelope.signed);
    signer
        .verify(&message, &iroh::Signature::from_bytes(&signature))
        .map_err(|_| BundleError::BadSignature)?;
    Ok(bundle)
}

/// Encrypt a bundle's plaintext to these devices.
pub fn seal(plaintext: &[u8], to: &[EndpointId]) -> Result<Vec<u8>, BundleError> {
    let recipients: Vec<age::x25519::Recipient> = to.iter().map(recipient_for).collect();
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|_| BundleError::NoPeers)?;
    let mut out = Vec::with_capacity(plaintext.len() + 512);
    let io = |e: std::io::Error| BundleError::Sync(SyncError::Net(e.to_string()));
    let mut w = encryptor.wrap_output(&mut out).map_err(io)?;
    std::io::Write::write_all(&mut w, plaintext).map_err(io)?;
    w.finish().map_err(io)?;
    Ok(out)
}

/// Decrypt a bundle with this device's key.
pub fn open(ciphertext: &[u8], secret: &SecretKey) -> Result<Vec<u8>, BundleError> {
    age::decrypt(&identity_for(secret), ciphertext).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => BundleError::NotForThisDevice,
        other => BundleError::Tampered(other.to_string()),
    })
}

/// Which changes to put in a bundle.
#[derive(Clone, Debug)]
pub enum Target {
    /// Everything the space holds.
    All,
    /// What the given device (an endpoint id or a unique prefix of it) lacks, or, with
    /// `None`, what the partner's devices lack (every other device when there is no partner).
    Missing(Option<String>),
}

/// A bundle made. It is encrypted to `recipients` and to the device that made it.
#[derive(Debug)]
pub struct Exported {
    /// The age file.
    pub bytes: Vec<u8>,
    /// How many automerge changes it carries.
    pub changes: usize,
    /// Whether it carries the whole document (no earlier exchange was known).
    pub whole: bool,
    /// The devices that can open it.
    pub recipients: Vec<String>,
}

/// Make a bundle of the shared space (never the private notebook).
pub fn export(o: &Opened, target: &Target, now: i64) -> Result<Exported, BundleError> {
    let view = o.space.read()?.view;
    let own = o.config.device_id.as_str();
    let trust = crate::membership::trust(o)?;
    let members: Vec<EndpointId> = device::sync_members(&view, &trust)
        .iter()
        .filter_map(|d| d.parse().ok())
        .collect();
    if members.is_empty() {
        return Err(BundleError::NoPeers);
    }
    let space_id = view
        .space_id
        .clone()
        .ok_or_else(|| BundleError::Tampered("this device's space has no id; run `duo doctor --repair`".into()))?;
    let peers: Vec<EndpointId> = match target {
        Target::All => Vec::new(),
        Target::Missing(Some(prefix)) => {
            let p = prefix.to_ascii_lowercase();
            let hits: Vec<EndpointId> = members
                .iter()
                .filter(|m| m.to_string().starts_with(&p))
                .copied()
                .collect();
            match hits.as_slice() {
                [one] if !p.is_empty() => vec![*one],
                _ => return Err(BundleError::NoSuchDevice(prefix.clone())),
            }
        }
        Target::Missing(None) => {
            let partner: Vec<EndpointId> = members
                .iter()
                .filter(|m| {
                    view.devices
                        .get(&m.to_string())
                        .is_some_and(|d| d.person != o.config.person_id)
                })
                .copied()
                .collect();
            if partner.is_empty() { members.clone() } else { partner }
        }
    };
    let mut doc = o.space.load()?;
    let heads = doc.heads();
    let states = device::sync_states(o)?;
    // The heads shared with each target device; one without a record gets everything.
    let mut bases: Vec<Vec<ChangeHash>> = Vec::new();
    for peer in &peers {
        match states.load(peer) {
            Some(b) if !b.is_empty() && b.iter().all(|h| doc.automerge().get_change_by_hash(h).is_some()) => {
                bases.push(b)
            }
            _ => {
                bases.clear();
                break;
            }
        }
    }
    let whole = bases.is_empty();
    let (changes, count, base) = if whole {
        let count = doc.change_count();
        (doc.save(), count, Vec::new())
    } else {
        let mut seen = BTreeSet::new();
        let mut bytes = Vec::new();
        let mut count = 0;
        for b in &bases {
            for c in doc.automerge().get_changes(b) {
                if seen.insert(c.hash()) {
                    bytes.extend_from_slice(c.raw_bytes());
                    count += 1;
                }
            }
        }
        let base: BTreeSet<[u8; 32]> = bases.iter().flatten().map(|h| h.0).collect();
        (bytes, count, base.into_iter().collect())
    };
    let bundle = Bundle {
        header: Header {
            space_id,
            exporter: own.to_string(),
            base,
            heads: heads.iter().map(|h| h.0).collect(),
            created_at: now,
        },
        changes,
    };
    // Also to this device, so that it can tell its own bundle when it meets it again.
    let mut to = members.clone();
    to.push(o.secret.public());
    let bytes = seal(&sign(&bundle, &o.secret), &to)?;
    Ok(Exported {
        bytes,
        changes: count,
        whole,
        recipients: members.iter().map(ToString::to_string).collect(),
    })
}

/// A bundle taken in.
#[derive(Debug)]
pub struct Imported {
    /// The device that made it.
    pub exporter: String,
    /// Entries in the shared space before and after.
    pub entries_before: usize,
    pub entries_after: usize,
    /// Changes this device did not have before.
    pub new_changes: usize,
}

/// Check a bundle (decryption, signature, space, membership) and merge it into the shared
/// space as sync does; then remember what is now shared with its exporter, so the next
/// bundle or sync to it starts from there.
pub fn import(o: &Opened, ciphertext: &[u8]) -> Result<Imported, BundleError> {
    let bundle = decode(&open(ciphertext, &o.secret)?)?;
    let h = &bundle.header;
    let own = o.config.device_id.as_str();
    if h.exporter == own {
        return Err(BundleError::OwnBundle);
    }
    let view = o.space.read()?.view;
    let ours = view.space_id.clone().unwrap_or_default();
    // Any id this space holds is its own (two are only ever present in a space paired by
    // an older duo; docs/storage.md, the `space` row).
    if h.space_id != ours && !view.space_ids.contains(&h.space_id) {
        return Err(BundleError::WrongSpace {
            theirs: h.space_id.clone(),
            ours,
        });
    }
    match crate::membership::may_sync(&view.members(), &crate::membership::trust(o)?, &h.exporter) {
        Admission::Member => {}
        Admission::Unknown => {
            return Err(BundleError::UnknownDevice {
                device: h.exporter.clone(),
            });
        }
        Admission::Revoked => {
            return Err(BundleError::Revoked {
                device: h.exporter.clone(),
            });
        }
    }
    let heads: Vec<ChangeHash> = h.heads.iter().map(|x| ChangeHash(*x)).collect();
    let mut missing = 0;
    let result = o.space.update(|doc| {
        let before = doc.contents().entries.len();
        let changes_before = doc.change_count();
        if !bundle.changes.is_empty() {
            doc.load_checked(&bundle.changes)?;
        }
        // As at the end of a sync session: `Ok` from automerge proves nothing; every head
        // the exporter had must be here now. Otherwise nothing is stored.
        missing = heads
            .iter()
            .filter(|x| doc.automerge().get_change_by_hash(x).is_none())
            .count();
        if missing > 0 {
            return Err(duo_journal::JournalError::Invalid("missing history".into()));
        }
        doc.check_schema()?;
        Ok((
            before,
            doc.contents().entries.len(),
            doc.change_count() - changes_before,
        ))
    });
    let (entries_before, entries_after, new_changes) = match result {
        Ok(x) => x,
        Err(_) if missing > 0 => return Err(BundleError::MissingHistory(missing)),
        Err(e) => return Err(e.into()),
    };
    let exporter: EndpointId = h.exporter.parse().map_err(|_| BundleError::UnknownDevice {
        device: h.exporter.clone(),
    })?;
    // Both devices now have the exporter's heads. A failure here only makes the next
    // exchange with that device larger.
    let _ = device::sync_states(o)?.save(&exporter, &heads);
    crate::rotation::after_arrival(&o.home);
    Ok(Imported {
        exporter: h.exporter.clone(),
        entries_before,
        entries_after,
        new_changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_age_keys_match() {
        let secret = SecretKey::generate();
        let identity = identity_for(&secret);
        assert_eq!(
            identity.to_public().to_string(),
            recipient_for(&secret.public()).to_string()
        );
        let sealed = seal(b"hello", &[secret.public()]).unwrap();
        assert_eq!(open(&sealed, &secret).unwrap(), b"hello");
        let other = SecretKey::generate();
        assert!(matches!(open(&sealed, &other), Err(BundleError::NotForThisDevice)));
    }

    #[test]
    fn signature_covers_content() {
        let secret = SecretKey::generate();
        let bundle = Bundle {
            header: Header {
                space_id: "s".into(),
                exporter: secret.public().to_string(),
                base: vec![],
                heads: vec![[1; 32]],
                created_at: 5,
            },
            changes: b"abc".to_vec(),
        };
        let plain = sign(&bundle, &secret);
        assert_eq!(decode(&plain).unwrap(), bundle);
        // Flip each byte after the magic: never accepted as the same bundle, never a panic.
        for i in MAGIC.len()..plain.len() {
            let mut bad = plain.clone();
            bad[i] ^= 0x20;
            assert!(decode(&bad).is_err(), "byte {i}");
        }
        // Re-signed by another key while naming the first: refused.
        let forged = sign(&bundle, &SecretKey::generate());
        assert!(matches!(decode(&forged), Err(BundleError::BadSignature)));
    }
}
