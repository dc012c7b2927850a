//! A home's own files beside its two stores: its settings, its keys, this device's trust,
//! the peer table and the sync states. They are read through one function each (the same
//! for every command and for `duo doctor`), and a damaged one is reported as
//! [`SyncError::LocalDamaged`], naming the file, so that the CLI can say what to do. [`check`]
//! reads them all for `duo doctor`; [`repair`] rebuilds the ones that can be rebuilt.
//!
//! ```text
//! <home>/local/members.age       this device's trust   rebuilt from the space's signatures
//! <home>/local/peers.age         the peer table        reset (addresses are learned again)
//! <home>/local/sync/<peer>.age   a sync state          reset (the next session is longer)
//! config.json, keys/*            settings, keys        not rebuildable
//! ```

use crate::membership::{self, Trust};
use crate::store::AgeStore;
use crate::{Home, SyncError};
use duo_journal::Storage;
use std::path::PathBuf;
use std::sync::Arc;

/// A home's local file, by what it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalFile {
    /// `config.json`.
    Config,
    /// `keys/age.key`.
    AgeKey,
    /// `keys/device.key`.
    DeviceKey,
    /// `keys/locked.age`.
    LockedKeys,
    /// `keys/person.key`.
    PersonKey,
    /// `local/members.age`.
    Trust,
    /// `local/peers.age`.
    Peers,
    /// `local/sync/<peer>.age`.
    SyncState,
    /// `local/seals.age`: the versions of your entries this device has seen (see
    /// [`crate::seals`]).
    SealMarks,
}

impl LocalFile {
    /// What the file is, for people.
    pub fn what(self) -> &'static str {
        match self {
            LocalFile::Config => "this device's settings",
            LocalFile::AgeKey => "this device's encryption key",
            LocalFile::DeviceKey => "this device's network key",
            LocalFile::LockedKeys => "this device's locked keys",
            LocalFile::PersonKey => "your person key",
            LocalFile::Trust => "this device's trust file",
            LocalFile::Peers => "this device's table of peer addresses",
            LocalFile::SyncState => "a record of a past sync",
            LocalFile::SealMarks => "this device's memory of your entries' versions",
        }
    }

    /// A short name for `--json`.
    pub fn kind(self) -> &'static str {
        match self {
            LocalFile::Config => "config",
            LocalFile::AgeKey => "age_key",
            LocalFile::DeviceKey => "device_key",
            LocalFile::LockedKeys => "locked_keys",
            LocalFile::PersonKey => "person_key",
            LocalFile::Trust => "trust",
            LocalFile::Peers => "peers",
            LocalFile::SyncState => "sync_state",
            LocalFile::SealMarks => "seal_marks",
        }
    }

    /// Can [`repair`] rebuild it?
    pub fn rebuildable(self) -> bool {
        matches!(
            self,
            LocalFile::Trust | LocalFile::Peers | LocalFile::SyncState | LocalFile::SealMarks
        )
    }

    /// The error for this file, damaged (or missing when it must exist) for `reason`.
    pub fn damaged(self, path: impl Into<PathBuf>, reason: impl Into<String>) -> SyncError {
        SyncError::LocalDamaged {
            file: self,
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Reading blob `path` of the local store failed with `e`: damage is this file's, an
    /// error of the operating system (a full disk, permissions) stays one.
    pub(crate) fn storage_error(self, path: PathBuf, e: duo_journal::StorageError) -> SyncError {
        match e {
            duo_journal::StorageError::Damaged { reason, .. } => self.damaged(path, reason),
            other => duo_journal::JournalError::from(other).into(),
        }
    }
}

/// Why a device key that parses is still damaged.
pub(crate) const KEY_MISMATCH: &str = "it is not the key of this device's id (config.json)";

/// The local store (`<home>/local`): age files encrypted to this device, no chunk directories.
pub(crate) fn store(home: &Home, identity: Arc<age::x25519::Identity>) -> AgeStore {
    AgeStore::blobs(home.root().join("local"), identity)
}

/// A damaged local file, as [`check`] found it.
#[derive(Clone, Debug)]
pub struct LocalProblem {
    pub file: LocalFile,
    pub path: PathBuf,
    pub reason: String,
}

/// What [`check`] found.
#[derive(Clone, Debug, Default)]
pub struct LocalReport {
    /// Files read (a missing optional file is not counted).
    pub files_checked: usize,
    pub problems: Vec<LocalProblem>,
    /// Why some files could not be checked (the key they need is damaged).
    pub unchecked: Option<String>,
}

impl LocalReport {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty() && self.unchecked.is_none()
    }

    /// Can the stores be opened (no damaged key or setting)?
    pub fn keys_ok(&self) -> bool {
        self.problems.iter().all(|p| p.file.rebuildable())
    }

    /// Keep `r`'s damage as a problem; any other error ends the check.
    fn note<T>(&mut self, r: Result<T, SyncError>) -> Result<Option<T>, SyncError> {
        self.files_checked += 1;
        match r {
            Ok(v) => Ok(Some(v)),
            Err(SyncError::LocalDamaged { file, path, reason }) => {
                self.problems.push(LocalProblem { file, path, reason });
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Read every local file as the commands read them. Damage is reported, not returned; the
/// errors returned are the ones that stop every command too (duo is locked, a key file that
/// others can read, a file the operating system refuses).
pub fn check(home: &Home) -> Result<LocalReport, SyncError> {
    let mut r = LocalReport::default();
    let config = r.note(home.read_config())?;
    let identity = if crate::lock::is_locked(home) {
        r.files_checked += 1;
        Some(crate::lock::load_keys(home)?.0)
    } else {
        let identity = r.note(crate::home::read_age_identity(&home.age_key_path()))?;
        let secret = r.note(crate::home::read_device_key(&home.device_key_path()))?;
        if let (Some(secret), Some(config)) = (secret, &config)
            && secret.public().to_string() != config.device_id
        {
            r.problems.push(LocalProblem {
                file: LocalFile::DeviceKey,
                path: home.device_key_path(),
                reason: KEY_MISMATCH.into(),
            });
        }
        identity
    };
    let (Some(config), Some(identity)) = (config, identity) else {
        r.unchecked = Some("the trust file, the person key, the peer table and the sync records need this device's settings and encryption key".into());
        return Ok(r);
    };
    r.note(home.load_person_key(&identity, &config))?;
    let identity = Arc::new(identity);
    r.note(membership::read_trust(home, identity.clone(), &config))?;
    let local = store(home, identity);
    if local.path_of("peers").exists() {
        r.note(crate::device::PeerTable::read(&local))?;
    }
    if local.path_of(crate::seals::MARKS_FILE).exists() {
        r.note(crate::seals::read(&local))?;
    }
    for (path, reason) in crate::net::SyncStates::new(local).damaged() {
        r.files_checked += 1;
        r.problems.push(LocalProblem {
            file: LocalFile::SyncState,
            path,
            reason,
        });
    }
    Ok(r)
}

/// What [`repair`] did to one file.
#[derive(Clone, Debug)]
pub struct Repaired {
    pub file: LocalFile,
    pub path: PathBuf,
    /// Where the damaged file was moved (`<home>/quarantine/local/…`).
    pub moved_to: String,
}

/// Set every rebuildable damaged file of `report` aside and rebuild it: the trust file from
/// the shared space (see [`membership::rebuilt_trust`]), the peer table and sync records
/// empty (learned again at the next sync), the seal marks from what the space shows now
/// (the next open writes them; what they remembered beyond that is lost). Files that cannot be rebuilt are left as they are.
pub fn repair(home: &Home, report: &LocalReport) -> Result<Vec<Repaired>, SyncError> {
    let todo: Vec<&LocalProblem> = report.problems.iter().filter(|p| p.file.rebuildable()).collect();
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let identity = Arc::new(crate::lock::load_keys(home)?.0);
    let config = home.read_config()?;
    let local = store(home, identity.clone());
    let mut done = Vec::new();
    for p in todo {
        let name = p
            .path
            .strip_prefix(local.root())
            .ok()
            .and_then(|rel| rel.to_str())
            .and_then(|rel| rel.strip_suffix(".age"))
            .ok_or_else(|| SyncError::BadFile {
                path: p.path.clone(),
                reason: "not a file of the local store".into(),
            })?
            .to_string();
        let moved_to = if p.path.exists() {
            local
                .quarantine(&name)
                .map_err(|e| p.file.storage_error(p.path.clone(), e))?
        } else {
            String::new()
        };
        if p.file == LocalFile::Trust {
            let t: Trust = membership::rebuilt_trust(home, identity.clone(), &config)?;
            membership::write_trust(&local, &t)?;
        }
        done.push(Repaired {
            file: p.file,
            path: p.path.clone(),
            moved_to,
        });
    }
    Ok(done)
}
