//! Signed exports of one's own entries: an ed25519 signature by this device's key over the
//! signer's own entries (never anyone else's), checked offline by `duo verify`, and where the
//! signing device stands in the space of the device that checks it.

use crate::SyncError;
use duo_journal::{Entry, hex};
use serde::{Deserialize, Serialize};

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
