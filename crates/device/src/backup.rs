//! Backups: everything this device holds about the journal, in one age file, to bring it
//! back on a new device.
//!
//! ```text
//! age file, to a passphrase (scrypt) or to age recipients the person chose
//! └─ plaintext: "duo-backup\n" ++ postcard(Backup { version, … })
//! ```
//!
//! A backup holds the saved shared space (its membership included), the saved private
//! notebook, whose device it was (person id and name, the device's label and id) and the
//! relay setting. Never a device key: a restore makes a NEW device with new keys, which then pairs
//! with a surviving device (or the partner) to sync again. No device identity is cloned.
//! Since format 2 it also holds the person's authenticator key (see [`crate::person_key`]), so
//! that the restored device still recognises the person's own words as theirs. Since
//! format 3 it holds what the device trusted ([`crate::membership::Carried`]: its anchors,
//! the devices it revoked here, the notices it showed; never when it last synced with
//! anything), so the restored device trusts exactly that: a record the partner forged stays
//! unconfirmed, and a partner's device revoked here stays revoked.

use crate::home::Seed;
use crate::{Home, Opened, SyncError};
use age::secrecy::SecretString;
use duo_journal::{Person, SpaceDoc};
use serde::{Deserialize, Serialize};

/// The first bytes of a backup's plaintext.
pub const MAGIC: &[u8] = b"duo-backup\n";
/// The format this duo writes and reads.
pub const VERSION: u32 = 3;

/// What a backup holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// First, so a newer format is recognised before the rest is decoded.
    pub version: u32,
    pub space_id: String,
    /// Whose data this is.
    pub person: Person,
    /// The device it was made on (its public id and label; not its keys).
    pub device_id: String,
    pub device_label: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub relay: Option<String>,
    /// The shared space, saved (standard automerge bytes).
    pub space: Vec<u8>,
    /// The private notebook, saved.
    pub private: Vec<u8>,
    /// The person's authenticator key (32 bytes; empty in a format 1 backup).
    pub person_key: Vec<u8>,
    /// What the device trusted (format 3; `None` in older backups).
    pub trust: Option<crate::membership::Carried>,
    /// The person keys the device retired after rotations (format 3), 32 bytes each: the
    /// restored device still recognises words sealed before a rotation.
    pub retired_keys: Vec<Vec<u8>>,
}

/// Format 2: format 3 without the trust.
#[derive(Deserialize)]
struct BackupV2 {
    version: u32,
    space_id: String,
    person: Person,
    device_id: String,
    device_label: String,
    created_at: i64,
    relay: Option<String>,
    space: Vec<u8>,
    private: Vec<u8>,
    person_key: Vec<u8>,
}

impl From<BackupV2> for Backup {
    fn from(b: BackupV2) -> Backup {
        Backup {
            version: b.version,
            space_id: b.space_id,
            person: b.person,
            device_id: b.device_id,
            device_label: b.device_label,
            created_at: b.created_at,
            relay: b.relay,
            space: b.space,
            private: b.private,
            person_key: b.person_key,
            trust: None,
            retired_keys: Vec::new(),
        }
    }
}

/// Format 1: format 2 without the person key.
#[derive(Deserialize)]
struct BackupV1 {
    version: u32,
    space_id: String,
    person: Person,
    device_id: String,
    device_label: String,
    created_at: i64,
    relay: Option<String>,
    space: Vec<u8>,
    private: Vec<u8>,
}

impl From<BackupV1> for Backup {
    fn from(b: BackupV1) -> Backup {
        Backup {
            version: b.version,
            space_id: b.space_id,
            person: b.person,
            device_id: b.device_id,
            device_label: b.device_label,
            created_at: b.created_at,
            relay: b.relay,
            space: b.space,
            private: b.private,
            person_key: Vec::new(),
            trust: None,
            retired_keys: Vec::new(),
        }
    }
}

/// Why a backup was not made or not restored. The CLI gives each its own exit status.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the passphrase is wrong")]
    WrongPassphrase,
    #[error("none of the given identities can open this backup")]
    NotForIdentity,
    #[error("this backup is encrypted to a passphrase; give it, not an identity")]
    NeedsPassphrase,
    #[error("this backup is encrypted to age recipients: give an identity with -i FILE")]
    NeedsIdentity,
    #[error("this is not a duo backup, or it was damaged or changed after it was made ({0})")]
    Damaged(String),
    #[error("this backup was written by a newer duo (backup format {0}; this duo reads {VERSION})")]
    TooNew(u32),
    #[error("this backup is of another shared space ({theirs}; this device's is {ours})")]
    OtherSpace { theirs: String, ours: String },
    #[error("this backup is {theirs}'s, and this device is {ours}'s")]
    OtherPerson { theirs: String, ours: String },
    #[error(transparent)]
    Sync(#[from] SyncError),
}

impl From<duo_journal::JournalError> for BackupError {
    fn from(e: duo_journal::JournalError) -> Self {
        BackupError::Sync(e.into())
    }
}

/// What a backup is encrypted to.
pub enum Lock {
    /// A passphrase (at least 8 characters), with the lock's scrypt work factor (see
    /// [`crate::lock::encrypt_to_passphrase`]: age's choice for this machine, never below
    /// 2^18). The `Option<u8>` is a test knob's lower factor, ignored outside test builds.
    Passphrase(SecretString, Option<u8>),
    /// age recipients (`age1…`).
    Recipients(Vec<age::x25519::Recipient>),
}

/// What opens a backup.
pub enum Key {
    Passphrase(SecretString),
    Identities(Vec<Box<dyn age::Identity>>),
}

/// Everything this device holds, read now. Refuses a notebook with damaged files (run
/// `duo doctor` first): a backup should not silently leave entries out.
pub fn make(o: &Opened, now: i64) -> Result<Backup, BackupError> {
    let mut space = o.space.load()?;
    let mut private = o.private.load()?;
    let space_id = space.contents().space_id.unwrap_or_default();
    Ok(Backup {
        version: VERSION,
        space_id,
        person: o.config.person(),
        device_id: o.config.device_id.clone(),
        device_label: o.config.device_label.clone(),
        created_at: now,
        relay: o.config.relay.clone(),
        space: space.save(),
        private: private.save(),
        person_key: o.person_key.bytes().to_vec(),
        trust: Some(crate::membership::trust(o)?.carried()),
        retired_keys: crate::rotation::load_retired(&crate::rotation::retired_path(&o.home), &o.identity)?
            .iter()
            .map(|k| k.bytes().to_vec())
            .collect(),
    })
}

/// The plaintext of a backup.
pub fn encode(b: &Backup) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(postcard::to_allocvec(b).expect("a backup serializes"));
    out
}

/// Decode a backup's plaintext, checking that both documents load strictly. Bytes from
/// outside: never panics.
pub fn decode(plaintext: &[u8]) -> Result<Backup, BackupError> {
    let rest = plaintext
        .strip_prefix(MAGIC)
        .ok_or_else(|| BackupError::Damaged("no duo backup header".into()))?;
    let (version, _) = postcard::take_from_bytes::<u32>(rest).map_err(|e| BackupError::Damaged(e.to_string()))?;
    let b: Backup = match version {
        1 => postcard::from_bytes::<BackupV1>(rest)
            .map(Backup::from)
            .map_err(|e| BackupError::Damaged(e.to_string()))?,
        2 => postcard::from_bytes::<BackupV2>(rest)
            .map(Backup::from)
            .map_err(|e| BackupError::Damaged(e.to_string()))?,
        VERSION => postcard::from_bytes(rest).map_err(|e| BackupError::Damaged(e.to_string()))?,
        _ => return Err(BackupError::TooNew(version)),
    };
    if !(b.person_key.is_empty() || b.person_key.len() == 32) || b.retired_keys.iter().any(|k| k.len() != 32) {
        return Err(BackupError::Damaged("a person key is not 32 bytes".into()));
    }
    for (what, bytes) in [("shared space", &b.space), ("private notebook", &b.private)] {
        SpaceDoc::load_untrusted(bytes)
            .and_then(|d| d.check_schema())
            .map_err(|e| BackupError::Damaged(format!("{what}: {e}")))?;
    }
    Ok(b)
}

/// Encrypt a backup's plaintext.
pub fn seal(plaintext: &[u8], lock: &Lock) -> Result<Vec<u8>, BackupError> {
    let failed = |e: age::EncryptError| BackupError::Damaged(e.to_string());
    match lock {
        Lock::Passphrase(p, work) => {
            crate::lock::check_passphrase(p)?;
            crate::lock::encrypt_to_passphrase(p, plaintext, *work, MAX_LOG_N).map_err(failed)
        }
        Lock::Recipients(rs) => {
            let enc = age::Encryptor::with_recipients(rs.iter().map(|r| r as &dyn age::Recipient)).map_err(failed)?;
            let mut out = Vec::with_capacity(plaintext.len() + 512);
            let io = |e: std::io::Error| BackupError::Damaged(e.to_string());
            let mut w = enc.wrap_output(&mut out).map_err(io)?;
            std::io::Write::write_all(&mut w, plaintext).map_err(io)?;
            w.finish().map_err(io)?;
            Ok(out)
        }
    }
}

/// The highest scrypt work factor a backup is made with and opened at (2^20: 1 GiB of
/// memory per attempt).
const MAX_LOG_N: u8 = 20;

/// Is this backup encrypted to a passphrase (rather than to recipients)?
pub fn needs_passphrase(ciphertext: &[u8]) -> Result<bool, BackupError> {
    age::Decryptor::new_buffered(ciphertext)
        .map(|d| d.is_scrypt())
        .map_err(|e| BackupError::Damaged(e.to_string()))
}

/// Decrypt and decode a backup.
pub fn open(ciphertext: &[u8], key: &Key) -> Result<Backup, BackupError> {
    let scrypt = needs_passphrase(ciphertext)?;
    let plain = match key {
        Key::Passphrase(_) if !scrypt => return Err(BackupError::NeedsIdentity),
        Key::Identities(_) if scrypt => return Err(BackupError::NeedsPassphrase),
        Key::Passphrase(p) => {
            let mut id = age::scrypt::Identity::new(p.clone());
            // Backups made on a faster machine (a higher work factor than this one's
            // one-second target) still open, slowly; above 2^20 (1 GiB of memory) a file
            // is refused rather than allowed to exhaust memory.
            id.set_max_work_factor(MAX_LOG_N);
            age::decrypt(&id, ciphertext).map_err(|e| match e {
                age::DecryptError::DecryptionFailed
                | age::DecryptError::KeyDecryptionFailed
                | age::DecryptError::NoMatchingKeys => BackupError::WrongPassphrase,
                other => BackupError::Damaged(other.to_string()),
            })?
        }
        Key::Identities(ids) => {
            let decryptor =
                age::Decryptor::new_buffered(ciphertext).map_err(|e| BackupError::Damaged(e.to_string()))?;
            let mut reader = decryptor.decrypt(ids.iter().map(|i| i.as_ref())).map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => BackupError::NotForIdentity,
                other => BackupError::Damaged(other.to_string()),
            })?;
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut out).map_err(|e| BackupError::Damaged(e.to_string()))?;
            out
        }
    };
    decode(&plain)
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    /// Merged into an existing device of the same person (rather than a new device).
    pub merged: bool,
    /// Entries in the shared space and the private notebook afterwards.
    pub entries: usize,
    pub private_entries: usize,
}

/// Bring a backup back: on a home that is not set up, a NEW device (new keys) of the
/// backup's person; on a device of the same person and space, a merge (nothing newer is
/// overwritten: automerge keeps both sides' changes, as a sync would).
pub fn restore(home: &Home, b: &Backup, label: &str, now: i64) -> Result<(Opened, Restored), BackupError> {
    let merged = home.is_initialized();
    let o = if merged {
        let o = home.open()?;
        let view = o.space.read()?.view;
        let ours = view.space_id.clone().unwrap_or_default();
        if ours != b.space_id && !view.space_ids.contains(&b.space_id) {
            return Err(BackupError::OtherSpace {
                theirs: b.space_id.clone(),
                ours,
            });
        }
        if o.config.person_id != b.person.id {
            return Err(BackupError::OtherPerson {
                theirs: b.person.name.clone(),
                ours: o.config.name.clone(),
            });
        }
        o.space.apply(&b.space)?;
        o.private.apply(&b.private)?;
        if let Some(carried) = &b.trust {
            crate::membership::update_trust(&o, |t| t.merge_carried(carried))?;
        }
        // The backup's keys that differ from this device's are kept as retired (a backup
        // made before a rotation holds the key it retired).
        let keys = std::iter::once(b.person_key.as_slice()).chain(b.retired_keys.iter().map(Vec::as_slice));
        crate::rotation::keep_retired(&o, keys)?;
        o
    } else {
        let seed = Seed {
            person: b.person.clone(),
            space: b.space.clone(),
            private: b.private.clone(),
            relay: b.relay.clone(),
            person_key: <[u8; 32]>::try_from(b.person_key.as_slice()).ok(),
            from_device: b.device_id.clone(),
            trust: b.trust.clone(),
            retired_keys: b
                .retired_keys
                .iter()
                .filter_map(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
                .collect(),
        };
        home.init_restored(&seed, label, now)?
    };
    let entries = o.space.read()?.view.entries.len();
    let private_entries = o.private.read()?.view.entries.len();
    Ok((
        o,
        Restored {
            merged,
            entries,
            private_entries,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Backup {
        let mut doc = SpaceDoc::new();
        doc.init_schema().unwrap();
        let saved = doc.save();
        Backup {
            version: VERSION,
            space_id: "s".repeat(32),
            person: Person {
                id: "p".repeat(32),
                name: "Alice".into(),
            },
            device_id: "d".repeat(64),
            device_label: "laptop".into(),
            created_at: 1,
            relay: None,
            space: saved.clone(),
            private: saved,
            person_key: vec![7; 32],
            trust: Some(crate::membership::Carried {
                anchors: [("d".repeat(64), "p".repeat(32))].into(),
                local_revoked: ["e".repeat(64)].into(),
                ..Default::default()
            }),
            retired_keys: vec![vec![8; 32]],
        }
    }

    #[test]
    fn round_trip_and_damage_never_panics() {
        let b = sample();
        let plain = encode(&b);
        assert_eq!(decode(&plain).unwrap(), b);
        for i in 0..plain.len() {
            let mut bad = plain.clone();
            bad[i] ^= 0x41;
            let _ = decode(&bad); // an error or another valid backup, never a panic
        }
        assert!(matches!(
            decode(&plain[..plain.len() / 2]),
            Err(BackupError::Damaged(_))
        ));
        let mut newer = b.clone();
        newer.version = VERSION + 1;
        assert!(matches!(decode(&encode(&newer)), Err(BackupError::TooNew(v)) if v == VERSION + 1));
    }

    #[test]
    fn a_format_1_backup_still_opens_without_a_person_key() {
        #[derive(Serialize)]
        struct V1 {
            version: u32,
            space_id: String,
            person: Person,
            device_id: String,
            device_label: String,
            created_at: i64,
            relay: Option<String>,
            space: Vec<u8>,
            private: Vec<u8>,
        }
        let b = sample();
        let v1 = V1 {
            version: 1,
            space_id: b.space_id.clone(),
            person: b.person.clone(),
            device_id: b.device_id.clone(),
            device_label: b.device_label.clone(),
            created_at: b.created_at,
            relay: None,
            space: b.space.clone(),
            private: b.private.clone(),
        };
        let mut plain = MAGIC.to_vec();
        plain.extend(postcard::to_allocvec(&v1).unwrap());
        let got = decode(&plain).unwrap();
        assert!(got.person_key.is_empty());
        assert_eq!((&got.space, &got.person), (&b.space, &b.person));
        let mut short = b.clone();
        short.person_key = vec![1; 5];
        assert!(matches!(decode(&encode(&short)), Err(BackupError::Damaged(_))));
    }

    #[test]
    fn a_format_2_backup_opens_without_trust_and_format_3_keeps_it() {
        #[derive(Serialize)]
        struct V2 {
            version: u32,
            space_id: String,
            person: Person,
            device_id: String,
            device_label: String,
            created_at: i64,
            relay: Option<String>,
            space: Vec<u8>,
            private: Vec<u8>,
            person_key: Vec<u8>,
        }
        let b = sample();
        let v2 = V2 {
            version: 2,
            space_id: b.space_id.clone(),
            person: b.person.clone(),
            device_id: b.device_id.clone(),
            device_label: b.device_label.clone(),
            created_at: b.created_at,
            relay: None,
            space: b.space.clone(),
            private: b.private.clone(),
            person_key: b.person_key.clone(),
        };
        let mut plain = MAGIC.to_vec();
        plain.extend(postcard::to_allocvec(&v2).unwrap());
        let got = decode(&plain).unwrap();
        assert_eq!(got.trust, None);
        assert_eq!(got.person_key, b.person_key);
        assert_eq!(decode(&encode(&b)).unwrap().trust, b.trust);
    }

    #[test]
    fn passphrase_and_recipient_locks() {
        let b = sample();
        let plain = encode(&b);
        let pass = SecretString::from("a passphrase".to_string());
        let sealed = seal(&plain, &Lock::Passphrase(pass.clone(), Some(4))).unwrap();
        assert!(needs_passphrase(&sealed).unwrap());
        assert_eq!(open(&sealed, &Key::Passphrase(pass)).unwrap(), b);
        let wrong = Key::Passphrase(SecretString::from("another".to_string()));
        assert!(matches!(open(&sealed, &wrong), Err(BackupError::WrongPassphrase)));

        let id = age::x25519::Identity::generate();
        let sealed = seal(&plain, &Lock::Recipients(vec![id.to_public()])).unwrap();
        assert!(!needs_passphrase(&sealed).unwrap());
        assert_eq!(open(&sealed, &Key::Identities(vec![Box::new(id)])).unwrap(), b);
        let other = Key::Identities(vec![Box::new(age::x25519::Identity::generate())]);
        assert!(matches!(open(&sealed, &other), Err(BackupError::NotForIdentity)));
    }
}
