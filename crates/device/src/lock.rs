//! Locking the device keys with a passphrase (`duo lock --set`).
//!
//! Unlocked (the default) the two key files `keys/age.key` and `keys/device.key` are plain
//! 0600 files. Locked, both are replaced by one age file `keys/locked.age`, encrypted with
//! a passphrase (age's scrypt recipient). Scrypt at age's default work factor costs seconds
//! and a GiB of memory, so it is paid once per session: `duo unlock` decrypts the keys and
//! hands them to a short-lived agent ([`crate::agent`]) that every later command asks.
//! The keys are never written unencrypted while locked.
//!
//! Crash safety: `set` writes `locked.age` durably before removing the plain files;
//! `remove` writes the plain files before removing `locked.age`. When both exist (a crash
//! in between) the plain files are used: nothing is ever locked out, and running the
//! interrupted command again finishes it.

use crate::home::Home;
use crate::store::write_durably;
use crate::{SyncError, agent};
use age::secrecy::{ExposeSecret, SecretString};
use std::fs;
use std::path::{Path, PathBuf};

/// Tests only: the scrypt work factor (log2 N) for new locks, instead of age's choice for
/// this machine raised to [`MIN_LOG_N`] (seconds and 256 MiB to 1 GiB per unlock). Read only
/// in builds with test knobs ([`crate::TEST_KNOBS`]); every other build ignores it, since a
/// low factor makes a stolen `locked.age` cheap to guess.
pub const WORK_FACTOR_ENV: &str = "DUO_TEST_SCRYPT_LOG_N";

/// The locked key file.
pub fn locked_path(home: &Home) -> PathBuf {
    home.root().join("keys").join("locked.age")
}

/// Is this device locked with a passphrase (whether or not an agent holds its keys now)?
pub fn is_locked(home: &Home) -> bool {
    locked_path(home).exists() && !home.age_key_path().exists()
}

/// Does an agent hold this device's keys right now?
pub fn is_unlocked_now(home: &Home) -> bool {
    is_locked(home) && agent::fetch(home).is_some()
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> SyncError + '_ {
    move |source| SyncError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The two key lines (age identity, device key), as one secret text.
fn key_text(age_line: &str, device_line: &str) -> SecretString {
    SecretString::from(format!("{age_line}\n{device_line}\n"))
}

/// Parse what `locked.age` (or the agent) holds.
pub(crate) fn parse_keys(
    text: &SecretString,
    origin: &Path,
) -> Result<(age::x25519::Identity, iroh::SecretKey), SyncError> {
    let bad = |reason: &str| SyncError::BadFile {
        path: origin.to_path_buf(),
        reason: reason.into(),
    };
    let mut lines = text.expose_secret().lines().map(str::trim).filter(|l| !l.is_empty());
    let age_line = lines.next().ok_or_else(|| bad("no age identity"))?;
    let device_line = lines.next().ok_or_else(|| bad("no device key"))?;
    let identity = age_line
        .parse::<age::x25519::Identity>()
        .map_err(|_| bad("not an age X25519 identity"))?;
    let secret = crate::home::parse_device_key(device_line).ok_or_else(|| bad("not a duo device key"))?;
    Ok((identity, secret))
}

/// The device's keys: from the plain files when unlocked, else from the agent. Locked with
/// no agent running: [`SyncError::Locked`].
pub(crate) fn load_keys(home: &Home) -> Result<(age::x25519::Identity, iroh::SecretKey), SyncError> {
    if home.age_key_path().exists() || !locked_path(home).exists() {
        return Ok((
            crate::home::read_age_identity(&home.age_key_path())?,
            crate::home::read_device_key(&home.device_key_path())?,
        ));
    }
    match agent::fetch(home) {
        Some(text) => parse_keys(&text, &agent::socket_path(home)),
        None => Err(SyncError::Locked),
    }
}

/// The least scrypt work factor (log2 N) of a lock: 2^18 × 1 KiB = 256 MiB of memory per
/// guess. age's own choice (about a second on the locking machine) is used when higher.
pub const MIN_LOG_N: u8 = 18;

/// The shortest passphrase duo accepts, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// The work factor written in an age scrypt file's header (`-> scrypt <salt> <log_n>`).
pub fn scrypt_log_n(ct: &[u8]) -> Option<u8> {
    let head = &ct[..ct.len().min(512)];
    let text = String::from_utf8_lossy(head);
    text.lines()
        .find_map(|l| l.strip_prefix("-> scrypt "))
        .and_then(|rest| rest.split(' ').nth(1))
        .and_then(|n| n.trim().parse().ok())
}

/// The lock's test knob ([`WORK_FACTOR_ENV`]), in builds with test knobs only.
fn work_factor() -> Option<u8> {
    if !crate::TEST_KNOBS {
        return None;
    }
    std::env::var(WORK_FACTOR_ENV)
        .ok()
        .and_then(|v| v.parse::<u8>().ok())
        .filter(|n| (1..=30).contains(n))
}

/// Refuse a passphrase shorter than 8 characters (a lock's and a backup's).
pub fn check_passphrase(p: &SecretString) -> Result<(), SyncError> {
    if p.expose_secret().chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(SyncError::WeakPassphrase);
    }
    Ok(())
}

/// Encrypt `plaintext` to a passphrase (age's scrypt recipient) at a work factor of at least
/// [`MIN_LOG_N`] and at most `max_log_n`: age's choice for this machine (about a second),
/// raised to the floor or lowered to the ceiling when outside. `test_log_n` replaces that
/// choice only in builds with test knobs ([`crate::TEST_KNOBS`]); elsewhere it is ignored.
/// Used by a lock and by a passphrase backup, so both are as hard to guess.
pub fn encrypt_to_passphrase(
    passphrase: &SecretString,
    plaintext: &[u8],
    test_log_n: Option<u8>,
    max_log_n: u8,
) -> Result<Vec<u8>, age::EncryptError> {
    let encrypt = |log_n: Option<u8>| {
        let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
        if let Some(n) = log_n {
            recipient.set_work_factor(n);
        }
        age::encrypt(&recipient, plaintext)
    };
    if let Some(n) = test_log_n.filter(|_| crate::TEST_KNOBS) {
        return encrypt(Some(n));
    }
    let ct = encrypt(None)?;
    // age picks the work factor by timing this machine, so a busy machine gets a weak one.
    match scrypt_log_n(&ct) {
        Some(n) if n > max_log_n => encrypt(Some(max_log_n)),
        Some(n) if n >= MIN_LOG_N => Ok(ct),
        _ => encrypt(Some(MIN_LOG_N)),
    }
}

/// Overwrite a plain key file in place, then remove it: opened without truncation, its
/// whole length overwritten with random bytes (the same blocks, on a file system that
/// writes in place), fsynced, then unlinked. (On a journaling or copy-on-write file system
/// or an SSD the old blocks may survive; see docs/security.md.)
fn shred(path: &Path) -> Result<(), SyncError> {
    use std::io::Write;
    let mut file = match fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_at(path)(e)),
    };
    let len = file.metadata().map_err(io_at(path))?.len() as usize;
    let mut noise = vec![0u8; len];
    getrandom::fill(&mut noise).map_err(|e| io_at(path)(std::io::Error::other(e.to_string())))?;
    file.write_all(&noise)
        .and_then(|()| file.sync_all())
        .map_err(io_at(path))?;
    drop(file);
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(path)(e)),
    }
}

/// Lock the keys with `passphrase`. Returns how long the key derivation took.
pub fn set(home: &Home, passphrase: SecretString) -> Result<std::time::Duration, SyncError> {
    if is_locked(home) {
        return Err(SyncError::AlreadyLocked);
    }
    check_passphrase(&passphrase)?;
    // Validates both files (and their modes) before anything is written.
    let identity = crate::home::read_age_identity(&home.age_key_path())?;
    let secret = crate::home::read_device_key(&home.device_key_path())?;
    let text = key_text(
        identity.to_string().expose_secret(),
        &duo_journal::hex(&secret.to_bytes()),
    );
    let started = std::time::Instant::now();
    // `open` accepts any factor up to 30.
    let ct = encrypt_to_passphrase(&passphrase, text.expose_secret().as_bytes(), work_factor(), 30).map_err(|e| {
        SyncError::BadFile {
            path: locked_path(home),
            reason: format!("could not encrypt: {e}"),
        }
    })?;
    let took = started.elapsed();
    let path = locked_path(home);
    write_durably(&path, &ct).map_err(io_at(&path))?;
    shred(&home.age_key_path())?;
    shred(&home.device_key_path())?;
    Ok(took)
}

/// Decrypt `locked.age` with `passphrase`: the keys' text, checked. Returns how long the
/// key derivation took.
pub fn open(home: &Home, passphrase: SecretString) -> Result<(SecretString, std::time::Duration), SyncError> {
    let path = locked_path(home);
    if !is_locked(home) {
        return Err(SyncError::NotLocked);
    }
    let ct = fs::read(&path).map_err(io_at(&path))?;
    let mut identity = age::scrypt::Identity::new(passphrase);
    // The file's own factor decides the cost; accept what duo itself may have written.
    identity.set_max_work_factor(30);
    let started = std::time::Instant::now();
    let plain = age::decrypt(&identity, &ct).map_err(|e| match e {
        age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => SyncError::WrongPassphrase,
        other => crate::local::LocalFile::LockedKeys.damaged(&path, other.to_string()),
    })?;
    let took = started.elapsed();
    let text = SecretString::from(String::from_utf8(plain).map_err(|_| SyncError::BadFile {
        path: path.clone(),
        reason: "not duo keys".into(),
    })?);
    parse_keys(&text, &path)?;
    Ok((text, took))
}

/// Remove the passphrase: write the plain key files back, then remove `locked.age`, and
/// stop the agent.
pub fn remove(home: &Home, passphrase: SecretString) -> Result<(), SyncError> {
    let path = locked_path(home);
    if path.exists() && home.age_key_path().exists() {
        // An interrupted remove: the plain files were written; check them and finish.
        crate::home::read_age_identity(&home.age_key_path())?;
        crate::home::read_device_key(&home.device_key_path())?;
        fs::remove_file(&path).map_err(io_at(&path))?;
        agent::stop(home);
        return Ok(());
    }
    let (text, _) = open(home, passphrase)?;
    let (identity, secret) = parse_keys(&text, &locked_path(home))?;
    crate::home::write_key_files(home, &identity, &secret)?;
    let path = locked_path(home);
    fs::remove_file(&path).map_err(io_at(&path))?;
    agent::stop(home);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_factor_is_read_from_the_files_header() {
        let mut r = age::scrypt::Recipient::new(SecretString::from("a passphrase".to_string()));
        r.set_work_factor(9);
        let ct = age::encrypt(&r, b"x").unwrap();
        assert_eq!(scrypt_log_n(&ct), Some(9));
        let x = age::x25519::Identity::generate();
        assert_eq!(scrypt_log_n(&age::encrypt(&x.to_public(), b"x").unwrap()), None);
        assert_eq!(scrypt_log_n(b""), None);
    }
}
