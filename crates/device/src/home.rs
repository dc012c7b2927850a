//! A device's home directory: its keys, its settings, its shared space and its private
//! notebook.
//!
//! ```text
//! <home>/config.json        who this device is (person id, name, device label); no secrets
//! <home>/keys/age.key       standard age identity (mode 0600): decrypts every store file
//! <home>/keys/device.key    the device's iroh secret key (mode 0600): its network identity
//! <home>/keys/locked.age    instead of the two above when locked with a passphrase
//! <home>/keys/person.key    the person's authenticator key, age-encrypted to age.key
//! <home>/space/             the shared space (age-encrypted automerge chunks + view)
//! <home>/private/           the private notebook (same format; never synced)
//! ```

use crate::SyncError;
use crate::local::LocalFile;
use crate::store::{AgeStore, write_durably};
use age::secrecy::ExposeSecret;
use duo_journal::{Device, Journal, Person};
use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const CONFIG: &str = "config.json";
const CONFIG_VERSION: u32 = 1;

/// Who this device is. Not secret; kept in plain JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Config {
    pub version: u32,
    pub person_id: String,
    pub name: String,
    pub device_id: String,
    pub device_label: String,
    pub created_at: i64,
    /// The UDP port this device binds, once it has been online (kept so that the
    /// addresses peers recorded stay valid).
    #[serde(default)]
    pub port: Option<u16>,
    /// The relay this device may use to reach devices on other networks: `n0` or an
    /// iroh-relay URL (see [`crate::relay::Relay`]). Absent: none (`DUO_RELAY` overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    /// A PEM file with the certificate(s) to trust for that relay (a self-signed relay;
    /// `DUO_RELAY_CA` overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_ca: Option<PathBuf>,
    /// An own-device join that was recorded but maybe not finished (a crash between its
    /// steps): [`Home::open`] finishes it, so space, private notebook and this file never
    /// disagree about whose device this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_join: Option<PendingJoin>,
    /// The writer turned off the gentle "I"-statement hints on this device (`duo hints off`).
    /// Local only: never part of the shared space.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hints_off: bool,
}

/// What a restored device starts from (see [`crate::backup`]): whose device it is and the
/// saved documents. Never keys: the restored device makes its own.
#[derive(Clone, Debug)]
pub struct Seed {
    pub person: Person,
    /// The saved shared space (membership included).
    pub space: Vec<u8>,
    /// The saved private notebook.
    pub private: Vec<u8>,
    pub relay: Option<String>,
    /// The person's authenticator key, so the restored device recognises their words.
    pub person_key: Option<[u8; 32]>,
    /// The device the backup was made on, and what it trusted (see
    /// [`crate::membership::Trust::restored`]).
    pub from_device: String,
    pub trust: Option<crate::membership::Carried>,
    /// The person keys retired after rotations (see [`crate::rotation`]).
    pub retired_keys: Vec<[u8; 32]>,
}

/// Everything needed to finish becoming a device of another person (`pair --own-device`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingJoin {
    /// The person this device was set up as.
    pub old_person: String,
    /// The person it now belongs to.
    pub person: Person,
    /// The inviting device.
    pub inviter: Device,
}

impl Config {
    /// This device's person, as recorded in the space.
    pub fn person(&self) -> Person {
        Person {
            id: self.person_id.clone(),
            name: self.name.clone(),
        }
    }

    /// This device, as recorded in the space.
    pub fn device(&self) -> Device {
        Device {
            id: self.device_id.clone(),
            person: self.person_id.clone(),
            label: self.device_label.clone(),
            added_at: self.created_at,
        }
    }
}

/// A device's home directory, not yet opened.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

/// An opened home: keys loaded, stores ready. The keys stay inside: what is written
/// through [`Opened::sealer`] is sealed, what is signed is signed by this crate's functions
/// ([`Opened::revocation`], [`Opened::endorsement`], [`crate::signed_export::sign_export`]).
pub struct Opened {
    pub home: Home,
    pub config: Config,
    pub(crate) secret: iroh::SecretKey,
    pub space: Journal<AgeStore>,
    pub private: Journal<AgeStore>,
    /// This person's authenticator key (see [`crate::person_key`]).
    pub(crate) person_key: crate::person_key::PersonKey,
    /// This person's keys as the journal checks with them: the person key, and retired
    /// ones after a rotation.
    pub(crate) keyring: duo_journal::Keyring,
    /// The device's age identity (for its local files).
    pub(crate) identity: Arc<age::x25519::Identity>,
}

impl Opened {
    /// The device's network key, for tests and benchmarks that open endpoints by hand
    /// (`net::endpoint`). duo itself connects and signs through this crate's functions.
    #[doc(hidden)]
    pub fn device_secret(&self) -> &iroh::SecretKey {
        &self.secret
    }

    /// This device's public key (its endpoint id).
    pub fn public_key(&self) -> iroh::PublicKey {
        self.secret.public()
    }

    /// A revocation of `device`, signed by this device.
    pub fn revocation(&self, device: &str, at: i64) -> duo_journal::Revocation {
        crate::membership::revoke(&self.secret, device, at)
    }

    /// An endorsement of `device`'s record, signed by this device.
    pub fn endorsement(&self, device: &Device, at: i64) -> duo_journal::Endorsement {
        crate::membership::endorse(&self.secret, device, at)
    }
}

/// Milliseconds since the epoch, from the system clock.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Opened {
    /// Share the together-answers that were waiting for the partner's, if the partner has
    /// answered now; how many were shared. A device that left (or wiped itself) shares
    /// nothing; a failure is left for the next try (the answer stays in the private notebook).
    pub fn settle_answers(&self) -> usize {
        if !self.home.root().exists() || !matches!(crate::membership::left_at(self), Ok(None)) {
            return 0;
        }
        // Most homes have no together-answer waiting: look before loading the seal marks
        // (which grow with the journal) that sharing one needs.
        let me = &self.config.person_id;
        let waiting = self.private.read().is_ok_and(|r| {
            r.view
                .entries
                .values()
                .any(|e| &e.author == me && e.tags.iter().any(|t| t == duo_journal::practice::TOGETHER_TAG))
        });
        if !waiting {
            return 0;
        }
        let checker = self.checker();
        self.practices(&checker).publish_ready().unwrap_or(0)
    }
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> SyncError + '_ {
    move |source| SyncError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG)
    }

    pub fn age_key_path(&self) -> PathBuf {
        self.root.join("keys").join("age.key")
    }

    pub fn device_key_path(&self) -> PathBuf {
        self.root.join("keys").join("device.key")
    }

    /// The person's authenticator key, encrypted to this device's age identity.
    pub fn person_key_path(&self) -> PathBuf {
        self.root.join("keys").join("person.key")
    }

    /// A person key received from an own device, waiting for the join to finish.
    pub fn pending_person_key_path(&self) -> PathBuf {
        self.root.join("keys").join("person.key.pending")
    }

    pub fn space_dir(&self) -> PathBuf {
        self.root.join("space")
    }

    /// The shared space's store: every chunk it writes is announced to a running watcher.
    fn space_store(&self, identity: Arc<age::x25519::Identity>) -> AgeStore {
        AgeStore::new(self.space_dir(), identity).notifying(self.root.join(crate::handoff::WROTE_SOCKET))
    }

    pub fn private_dir(&self) -> PathBuf {
        self.root.join("private")
    }

    /// Has `init` completed here?
    pub fn is_initialized(&self) -> bool {
        self.config_path().exists()
    }

    /// Create this device: keys, settings, an empty shared space with this person and
    /// device in it, and an empty private notebook. `now` is milliseconds since the epoch.
    pub fn init(&self, name: &str, label: &str, now: i64) -> Result<Opened, SyncError> {
        self.create(name, label, now, None)
    }

    /// Create a NEW device (new keys) for the person of a backup, with the backup's shared
    /// space (this device added to its membership) and private notebook.
    pub fn init_restored(&self, seed: &Seed, label: &str, now: i64) -> Result<Opened, SyncError> {
        self.create(&seed.person.name, label, now, Some(seed))
    }

    fn create(&self, name: &str, label: &str, now: i64, seed: Option<&Seed>) -> Result<Opened, SyncError> {
        if self.is_initialized() {
            return Err(SyncError::AlreadyInitialized {
                path: self.root.clone(),
            });
        }
        for leftover in [self.root.join("keys"), self.space_dir(), self.private_dir()] {
            if leftover.exists() {
                return Err(SyncError::IncompleteSetup { path: leftover });
            }
        }
        let name = name.trim();
        // The rule every device applies to names and labels it receives (pairing refuses
        // others, and a terminal shows them marked): see `duo_journal::text`.
        if duo_journal::text::problem(name).is_some() {
            return Err(SyncError::InvalidName);
        }
        if duo_journal::text::problem(label).is_some() {
            return Err(SyncError::InvalidLabel);
        }
        // A home is private: every directory 0700 (an existing one is tightened at open).
        crate::store::private_dirs(&self.root.join("keys")).map_err(io_at(&self.root))?;

        let age_identity = age::x25519::Identity::generate();
        let secret = iroh::SecretKey::generate();
        write_key_files(self, &age_identity, &secret)?;
        let person_key = match seed.and_then(|s| s.person_key) {
            Some(k) => crate::person_key::PersonKey::from_bytes(k),
            None => crate::person_key::PersonKey::generate(),
        };
        person_key.store(&self.person_key_path(), &age_identity)?;
        if let Some(s) = seed.filter(|s| !s.retired_keys.is_empty()) {
            let retired: Vec<crate::person_key::PersonKey> = s
                .retired_keys
                .iter()
                .map(|k| crate::person_key::PersonKey::from_bytes(*k))
                .collect();
            crate::rotation::store_retired(&crate::rotation::retired_path(self), &age_identity, &retired)?;
        }

        let config = Config {
            version: CONFIG_VERSION,
            person_id: seed.map_or_else(duo_journal::new_id, |s| s.person.id.clone()),
            name: name.to_string(),
            device_id: secret.public().to_string(),
            device_label: label.to_string(),
            created_at: now,
            port: None,
            pending_join: None,
            relay: seed.and_then(|s| s.relay.clone()),
            relay_ca: None,
            hints_off: false,
        };
        let identity = Arc::new(age_identity);
        // This device begins sealing in the documents it starts with (see `seals::begin`).
        let keyring = person_key.keyring(&config.person_id);
        let by = keyring.sealer(&config.device_id);
        // Each store starts from the backup's document (checked) or a new one, and ends
        // with the device's sealing marker.
        let load = |doc: &mut duo_journal::SpaceDoc, saved: &[u8]| {
            doc.load_checked(saved)?;
            doc.check_schema()
        };
        let space = Journal::new(self.space_store(identity.clone()));
        let signed_name = crate::membership::sign_name(&secret, &config.person_id, &config.name, now);
        space.create(|doc| {
            match seed {
                Some(s) => {
                    load(doc, &s.space)?;
                    doc.add_member(&config.person(), &config.device())?;
                }
                None => doc.init(&duo_journal::new_id(), &config.person(), &config.device())?,
            }
            doc.put_name(&signed_name)?;
            doc.begin_sealing(&by, now).map(drop)
        })?;
        if let Some(s) = seed {
            // A restored device trusts what the backup's device trusted, written before the
            // setup counts as complete: it never falls back to trusting every record.
            let t = crate::membership::Trust::restored(
                &config.device_id,
                &config.person_id,
                &s.from_device,
                s.trust.as_ref(),
            );
            crate::membership::write_trust(&crate::local::store(self, identity.clone()), &t)?;
        }
        let private = Journal::new(AgeStore::new(self.private_dir(), identity.clone()));
        private.create(|doc| {
            match seed {
                Some(s) => load(doc, &s.private)?,
                None => doc.init_schema()?,
            }
            doc.begin_sealing(&by, now).map(drop)
        })?;
        crate::seals::began(self, &identity, &config.person_id)?;
        // The config is written last: its presence is what says the setup is complete.
        let json = serde_json::to_vec_pretty(&config).expect("config serializes");
        write_durably(&self.config_path(), &json).map_err(io_at(&self.config_path()))?;
        self.open()
    }

    /// The age identity (for this device's other encrypted local files).
    pub fn age_identity(&self) -> Result<age::x25519::Identity, SyncError> {
        Ok(crate::lock::load_keys(self)?.0)
    }

    /// Persist the port this device binds.
    pub fn set_port(&self, port: u16) -> Result<(), SyncError> {
        self.edit_config(|c| c.port = Some(port))
    }

    /// Choose the relay (`None`: none) and the certificate file to trust for it.
    pub fn set_relay(&self, relay: Option<String>, ca: Option<PathBuf>) -> Result<(), SyncError> {
        self.edit_config(|c| {
            c.relay = relay;
            c.relay_ca = ca;
        })
    }

    /// Turn the "I"-statement hints on or off on this device.
    pub fn set_hints(&self, on: bool) -> Result<(), SyncError> {
        self.edit_config(|c| c.hints_off = !on)
    }

    fn edit_config(&self, f: impl FnOnce(&mut Config)) -> Result<(), SyncError> {
        let path = self.config_path();
        let bytes = fs::read(&path).map_err(io_at(&path))?;
        let mut config: Config = serde_json::from_slice(&bytes).map_err(|e| SyncError::BadFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        f(&mut config);
        let json = serde_json::to_vec_pretty(&config).expect("config serializes");
        write_durably(&path, &json).map_err(io_at(&path))
    }

    /// Become a device of `join.person` (its own device invited this one): recorded first,
    /// then carried out step by step; each step can be repeated, so a crash anywhere is
    /// finished by the next [`Home::open`].
    pub fn join_person(&self, opened: &mut Opened, join: PendingJoin) -> Result<(), SyncError> {
        self.edit_config(|c| c.pending_join = Some(join.clone()))?;
        opened.config.pending_join = Some(join);
        finish_join(opened)?;
        crate::seals::begin(opened, now_ms())
    }

    /// Open a home for `duo doctor`: settings and keys only, writing nothing (no pending
    /// join finished, no rotation taken up, no sealing begun), so that the check sees the
    /// stores exactly as they are (a read would rebuild a damaged view before it is named).
    pub fn open_unchanged(&self) -> Result<Opened, SyncError> {
        self.open_as_is()
    }

    /// Open an initialized home: read settings and keys (refusing keys others can read).
    pub fn open(&self) -> Result<Opened, SyncError> {
        let mut opened = self.open_as_is()?;
        if opened.config.pending_join.is_some() {
            finish_join(&mut opened)?;
        }
        // A new person key that a rotation encrypted to this device is taken up before
        // anything is written (a failure here leaves the keys as they were: the command
        // goes on, and the next one tries again).
        let _ = crate::rotation::adopt_if_changed(&mut opened);
        crate::seals::begin(&opened, now_ms())?;
        Ok(opened)
    }

    fn open_as_is(&self) -> Result<Opened, SyncError> {
        let config = self.read_config()?;
        self.tighten_dirs();
        let (age_identity, secret) = crate::lock::load_keys(self)?;
        if secret.public().to_string() != config.device_id {
            // A damaged key that still parses is another device's identity.
            return Err(LocalFile::DeviceKey.damaged(self.device_key_path(), crate::local::KEY_MISMATCH));
        }
        let person_key = self.load_person_key(&age_identity, &config)?;
        let mut keyring = person_key.keyring(&config.person_id);
        for k in crate::rotation::load_retired(&crate::rotation::retired_path(self), &age_identity)? {
            keyring.add_retired(duo_journal::SealKey::from_bytes(*k.bytes()));
        }
        let identity = Arc::new(age_identity);
        Ok(Opened {
            home: self.clone(),
            keyring,
            config,
            secret,
            space: Journal::new(self.space_store(identity.clone())),
            private: Journal::new(AgeStore::new(self.private_dir(), identity.clone())),
            person_key,
            identity,
        })
    }

    /// This device's settings (`config.json`).
    pub fn read_config(&self) -> Result<Config, SyncError> {
        let path = self.config_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SyncError::NotInitialized {
                    path: self.root.clone(),
                });
            }
            Err(e) => return Err(io_at(&path)(e)),
        };
        let config: Config =
            serde_json::from_slice(&bytes).map_err(|e| LocalFile::Config.damaged(&path, e.to_string()))?;
        if config.version > CONFIG_VERSION {
            return Err(SyncError::BadFile {
                path,
                reason: format!("written by a newer duo (version {})", config.version),
            });
        }
        Ok(config)
    }

    /// Every directory of a home is private (0700): one made by an older duo, or by hand
    /// with the usual 0755, is tightened here (a shared directory such as /tmp, sticky and
    /// world-writable, is never changed). Best effort: a directory duo cannot change is
    /// left as it is (its files are 0600 anyway).
    fn tighten_dirs(&self) {
        let mut dirs = vec![self.root.clone()];
        let mut i = 0;
        while i < dirs.len() {
            // The home and the directories duo makes in it, two levels down (stores and their
            // chunk directories, local/sync, quarantine/<store>); chunk directories hold files.
            if (i == 0 || dirs[i].parent() == Some(self.root.as_path()))
                && let Ok(rd) = fs::read_dir(&dirs[i])
            {
                dirs.extend(
                    rd.flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
            i += 1;
        }
        for d in dirs {
            let Ok(meta) = fs::symlink_metadata(&d) else { continue };
            let mode = meta.permissions().mode();
            if meta.is_dir() && mode & 0o077 != 0 && mode & 0o1000 == 0 {
                let _ = fs::set_permissions(&d, fs::Permissions::from_mode(mode & 0o7700));
            }
        }
    }

    /// The person key. A home made before authenticators has none and gets one now (its other
    /// own devices, paired before, each make their own: see docs/security.md); one whose
    /// shared space holds entries of this person sealed with a key had one, so a missing
    /// key file there is damage, not a reason to make a new key that would disown them.
    pub fn load_person_key(
        &self,
        identity: &age::x25519::Identity,
        config: &Config,
    ) -> Result<crate::person_key::PersonKey, SyncError> {
        let path = self.person_key_path();
        if path.exists() {
            return crate::person_key::PersonKey::load(&path, identity).map_err(|e| match e {
                SyncError::BadFile { path, reason } => LocalFile::PersonKey.damaged(path, reason),
                other => other,
            });
        }
        let space = Journal::new(AgeStore::new(self.space_dir(), Arc::new(identity.clone())));
        let view = space.read()?.view;
        let sealed = view
            .entries
            .values()
            .chain(view.deleted.values())
            .any(|e| e.author == config.person_id && (e.seals.is_current_format() || !e.auth.is_empty()));
        if sealed {
            return Err(LocalFile::PersonKey.damaged(
                path,
                "the file is missing, and entries of yours in the shared space are sealed with it",
            ));
        }
        let key = crate::person_key::PersonKey::generate();
        key.store(&path, identity)?;
        Ok(key)
    }
}

/// Carry out a recorded own-device join (every step is idempotent), then clear the record.
fn finish_join(o: &mut Opened) -> Result<(), SyncError> {
    let Some(join) = o.config.pending_join.clone() else {
        return Ok(());
    };
    let new = join.person.id.clone();
    let mine = Device {
        person: new.clone(),
        ..o.config.device()
    };
    // The person key of the person joined: received during pairing, kept aside until the
    // entries this device wrote under its old person are sealed again with it.
    let pending = o.home.pending_person_key_path();
    let identity = o.home.age_identity()?;
    let new_key = if pending.exists() {
        Some(crate::person_key::PersonKey::load(&pending, &identity)?)
    } else {
        None
    };
    // Entries this device wrote under its old person that its old keys confirm are sealed
    // again with the new person's key (without it, none are: they keep no seal of theirs).
    let old_ring = o.keyring.clone();
    let mut new_ring = match &new_key {
        Some(k) => k.keyring(&new),
        None => o.person_key.keyring(&new),
    };
    // The keys the person retired before this device joined, received with the key.
    let pending_retired = crate::rotation::pending_retired_path(&o.home);
    let retired = crate::rotation::load_retired(&pending_retired, &identity)?;
    for k in &retired {
        new_ring.add_retired(duo_journal::SealKey::from_bytes(*k.bytes()));
    }
    let by = new_ring.sealer(&o.config.device_id);
    let at = now_ms();
    let name = crate::membership::sign_name(&o.secret, &new, &join.person.name, o.config.created_at);
    o.space.update(|doc| {
        doc.add_member(&join.person, &join.inviter)?;
        doc.add_member(&join.person, &mine)?;
        doc.put_name(&name)?;
        doc.reassign_person(&join.old_person, &old_ring, &by, at)
    })?;
    o.private
        .update(|doc| doc.reassign_person(&join.old_person, &old_ring, &by, at))?;
    if let Some(k) = new_key {
        if pending_retired.exists() {
            let path = crate::rotation::retired_path(&o.home);
            fs::rename(&pending_retired, &path).map_err(io_at(&path))?;
        }
        let path = o.home.person_key_path();
        fs::rename(&pending, &path).map_err(io_at(&path))?;
        o.person_key = k;
    }
    o.keyring = new_ring;
    o.home.edit_config(|c| {
        c.person_id = new.clone();
        c.name = join.person.name.clone();
        c.pending_join = None;
    })?;
    o.config.person_id = new;
    o.config.name = join.person.name;
    o.config.pending_join = None;
    Ok(())
}

/// Read a key file, refusing one that other users could read.
fn read_secret_file(path: &Path, file: LocalFile) -> Result<String, SyncError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(file.damaged(path, "the file is missing")),
        Err(e) => return Err(io_at(path)(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SyncError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    match fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(file.damaged(path, "not text")),
        other => other.map_err(io_at(path)),
    }
}

fn key_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
}

pub(crate) fn read_age_identity(path: &Path) -> Result<age::x25519::Identity, SyncError> {
    let text = read_secret_file(path, LocalFile::AgeKey)?;
    key_line(&text)
        .and_then(|l| l.parse::<age::x25519::Identity>().ok())
        .ok_or_else(|| LocalFile::AgeKey.damaged(path, "not an age X25519 identity"))
}

pub(crate) fn read_device_key(path: &Path) -> Result<iroh::SecretKey, SyncError> {
    let text = read_secret_file(path, LocalFile::DeviceKey)?;
    key_line(&text)
        .and_then(parse_device_key)
        .ok_or_else(|| LocalFile::DeviceKey.damaged(path, "not a duo device key"))
}

/// A device key line: 64 hex characters.
pub(crate) fn parse_device_key(line: &str) -> Option<iroh::SecretKey> {
    if line.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(line.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(iroh::SecretKey::from_bytes(&bytes))
}

/// Write the two plain key files (mode 0600).
pub(crate) fn write_key_files(
    home: &Home,
    age_identity: &age::x25519::Identity,
    secret: &iroh::SecretKey,
) -> Result<(), SyncError> {
    let age_text = format!(
        "# duo device key: decrypts this device's journal files (age -d -i {})\n# public key: {}\n{}\n",
        home.age_key_path().display(),
        age_identity.to_public(),
        age_identity.to_string().expose_secret()
    );
    write_durably(&home.age_key_path(), age_text.as_bytes()).map_err(io_at(&home.age_key_path()))?;
    let device_text = format!(
        "# duo device network key (iroh)\n{}\n",
        duo_journal::hex(&secret.to_bytes())
    );
    write_durably(&home.device_key_path(), device_text.as_bytes()).map_err(io_at(&home.device_key_path()))
}
