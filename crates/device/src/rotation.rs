//! Person-key rotation: revoking one of your own devices also retires the person key it
//! holds (a copy of the device holds it too).
//!
//! ```text
//! rotate/<person>/<new key id>   {by, retires: <old key id>, at, sig, key:<device>: age file…}
//! ```
//!
//! The device that revokes writes, in the same update as the revocation, a rotation record:
//! a new random person key, age-encrypted to each remaining active device of the person
//! (their age recipients are derived from their device ids, as for bundles, so nothing needs
//! to be exchanged), signed with its device key over every field and each encrypted key's
//! hash. Every device of the person that gets the record (a sync, a bundle, a restore) takes
//! the key the next time duo opens there ([`adopt`]): the new key becomes the one it seals
//! with, the old one is kept as retired (`keys/retired.key`, age-encrypted to the device's own
//! key like `keys/person.key`), and it seals again, with the new key, its own entries that
//! it had sealed with the old one without knowing of the rotation.
//!
//! How seals made with a retired key count is the change graph's answer (see
//! `duo_journal::history::Timing`): written before the rotation, as they were; concurrently,
//! unconfirmed until their writer seals them again; after it, not yours.
//!
//! Rules: a rotation counts when signed by a device of the person that spoke for it then
//! (not revoked, or before its revocation: [`crate::membership::Rotated`]). Two rotations
//! made concurrently (two devices revoking at once) are both valid: each device seals with
//! the newest key it holds whose id sorts first, keeps the others as retired, and the next
//! rotation supersedes them all.

use crate::person_key::PersonKey;
use crate::{Opened, SyncError};
use duo_journal::{Rotation, SealKey};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `keys/retired.key`: the person keys this device retired, age-encrypted to its age key.
pub fn retired_path(o: &crate::Home) -> PathBuf {
    o.root().join("keys").join("retired.key")
}

/// Where an own-device join keeps the retired keys it received until it is finished.
pub(crate) fn pending_retired_path(o: &crate::Home) -> PathBuf {
    o.root().join("keys").join("retired.key.pending")
}

/// The retired keys in `path` (none when there is no file).
pub(crate) fn load_retired(
    path: &std::path::Path,
    identity: &age::x25519::Identity,
) -> Result<Vec<PersonKey>, SyncError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let bytes = std::fs::read(path).map_err(|source| SyncError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // Damage here is damage to the person's keys: named, with the same hint.
    let bad = |reason: String| crate::local::LocalFile::PersonKey.damaged(path, reason);
    let plain = age::decrypt(identity, &bytes).map_err(|e| bad(format!("not duo's retired person keys: {e}")))?;
    if !plain.len().is_multiple_of(32) {
        return Err(bad("not duo's retired person keys: wrong length".into()));
    }
    Ok(plain
        .chunks(32)
        .map(|c| PersonKey::from_bytes(c.try_into().expect("32 bytes")))
        .collect())
}

/// Write retired keys to `path` (mode 0600), encrypted to the device's own age identity.
pub(crate) fn store_retired(
    path: &std::path::Path,
    identity: &age::x25519::Identity,
    keys: &[PersonKey],
) -> Result<(), SyncError> {
    let mut plain: Vec<u8> = keys.iter().flat_map(|k| k.bytes().iter().copied()).collect();
    let ct = age::encrypt(&identity.to_public(), &plain)
        .map_err(|e| SyncError::Net(format!("could not encrypt the retired keys: {e}")));
    use age::secrecy::zeroize::Zeroize;
    plain.zeroize();
    crate::store::write_durably(path, &ct?).map_err(|source| SyncError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Keep `keys` (32 bytes each; a backup's) as retired keys of this device, those it does
/// not hold already (a restore into an existing device: a backup made before a rotation
/// holds the key the rotation retired).
pub(crate) fn keep_retired<'a>(o: &Opened, keys: impl Iterator<Item = &'a [u8]>) -> Result<(), SyncError> {
    let path = retired_path(&o.home);
    let mut retired = load_retired(&path, &o.identity)?;
    let before = retired.len();
    for k in keys {
        let Ok(bytes) = <[u8; 32]>::try_from(k) else { continue };
        let k = PersonKey::from_bytes(bytes);
        if k.bytes() != o.person_key.bytes() && !retired.iter().any(|r| r.bytes() == k.bytes()) {
            retired.push(k);
        }
    }
    if retired.len() == before {
        return Ok(());
    }
    store_retired(&path, &o.identity, &retired)
}

/// The public id of a person key.
fn id_of(k: &PersonKey) -> String {
    SealKey::from_bytes(*k.bytes()).id().to_string()
}

/// What revoking one of your own devices did.
#[derive(Debug)]
pub struct Revoked {
    /// Devices revoked with it (only it had added them).
    pub also: Vec<String>,
    /// The remaining devices of yours the new person key was encrypted to.
    pub rotated_to: Vec<String>,
}

/// Revoke `target`, one of this person's own devices, for the whole space, and rotate the
/// person key (see the module documentation): the revocation and the rotation record are
/// stored together. The new key is taken up by this device the next time duo opens here,
/// as by every other device of the person.
pub fn revoke_own_device(o: &Opened, target: &str, now: i64) -> Result<Revoked, SyncError> {
    let trust = crate::membership::trust(o)?;
    let before = crate::membership::membership(&o.space.read_members()?.members(), &trust);
    let revocation = o.revocation(target, now);
    let me = o.config.person_id.clone();
    let retires = o.keyring.current().id().to_string();
    let key = PersonKey::generate();
    let mut out = Revoked {
        also: Vec::new(),
        rotated_to: Vec::new(),
    };
    o.space.update(|doc| {
        doc.put_revocation(&revocation)?;
        let after = crate::membership::membership(&doc.contents_with_history(None), &trust);
        out.also = before
            .active()
            .filter(|d| *d != target && !after.is_active(d))
            .map(str::to_string)
            .collect();
        out.rotated_to = after
            .active()
            .filter(|d| after.person_of(d) == Some(me.as_str()))
            .map(str::to_string)
            .collect();
        let mut keys = BTreeMap::new();
        for d in &out.rotated_to {
            let Ok(id) = d.parse::<iroh::EndpointId>() else {
                continue;
            };
            let blob = age::encrypt(&crate::bundle::recipient_for(&id), key.bytes())
                .map_err(|e| duo_journal::JournalError::Invalid(format!("could not encrypt the new key: {e}")))?;
            keys.insert(d.clone(), blob);
        }
        let rotation = crate::membership::sign_rotation(
            &o.secret,
            Rotation {
                person: me.clone(),
                key: id_of(&key),
                retires: retires.clone(),
                by: String::new(),
                at: now,
                sig: String::new(),
                keys,
            },
        );
        doc.put_rotation(&rotation)
    })?;
    Ok(out)
}

/// Take up the person keys that valid rotations encrypted to this device: the newest
/// becomes the key it seals with, every other one it holds is kept as retired, and it
/// seals again its own entries that only a retired key sealed without knowing of the
/// rotation. Returns whether the keyring changed.
pub fn adopt(o: &mut Opened) -> Result<bool, SyncError> {
    match o.space.peek_members()? {
        Some(view) => adopt_from(o, &view),
        None => Ok(false),
    }
}

/// [`adopt`] with the membership records of `view` (the stored view as it is: looking for
/// a key never rebuilds or repairs anything; a damaged or stale view is left to the reads
/// and `doctor`, and the key is taken up the next time duo opens with a current view).
fn adopt_from(o: &mut Opened, view: &duo_journal::View) -> Result<bool, SyncError> {
    let m = crate::membership::membership(&view.members(), &crate::membership::trust(o)?);
    let person = o.config.person_id.clone();
    let me = o.config.device_id.clone();
    let mine: Vec<&crate::membership::Rotated> = m.rotations.iter().filter(|r| r.person == person).collect();
    if mine.is_empty() {
        return Ok(false);
    }
    let retired_file = retired_path(&o.home);
    let mut held: Vec<PersonKey> = vec![o.person_key.clone()];
    held.extend(load_retired(&retired_file, &o.identity)?);
    let identity = crate::bundle::identity_for(&o.secret);
    let mut changed = false;
    for r in &mine {
        if held.iter().any(|k| id_of(k) == r.key) {
            continue;
        }
        let Some(blob) = r.keys.get(&me) else { continue };
        let Ok(plain) = age::decrypt(&identity, blob) else {
            continue;
        };
        let Ok(bytes) = <[u8; 32]>::try_from(plain.as_slice()) else {
            continue;
        };
        let k = PersonKey::from_bytes(bytes);
        if id_of(&k) == r.key {
            held.push(k);
            changed = true;
        }
    }
    let newest = mine
        .iter()
        .filter(|r| r.latest && held.iter().any(|k| id_of(k) == r.key))
        .map(|r| r.key.clone())
        .min();
    let Some(newest) = newest else { return Ok(changed) };
    if newest == id_of(&o.person_key) && !changed {
        return Ok(false);
    }
    let current = held.iter().find(|k| id_of(k) == newest).cloned().expect("held");
    let retired: Vec<PersonKey> = held.iter().filter(|k| id_of(k) != newest).cloned().collect();
    // The retired keys first: a crash in between leaves the old key both current and
    // retired, and the next open takes the new one again.
    store_retired(&retired_file, &o.identity, &retired)?;
    current.store(&o.home.person_key_path(), &o.identity)?;
    let mut ring = current.keyring(&person);
    for k in &retired {
        ring.add_retired(SealKey::from_bytes(*k.bytes()));
    }
    o.person_key = current;
    o.keyring = ring;
    let at = crate::home::now_ms();
    let by = o.keyring.sealer(&me);
    o.space.update(|doc| doc.reseal_after_rotation(&by, at).map(|_| ()))?;
    // The private notebook learns of the rotations too (without the keys): its entries,
    // all written on devices of this person, are judged like the space's.
    let marks: Vec<Rotation> = mine
        .iter()
        .map(|r| Rotation {
            person: r.person.clone(),
            key: r.key.clone(),
            retires: r.retires.clone(),
            by: r.by.clone(),
            at: r.at,
            sig: String::new(),
            keys: BTreeMap::new(),
        })
        .collect();
    o.private.update(|doc| {
        let known = doc.contents_with_history(None).records;
        for r in &marks {
            let key = format!("{}{}/{}", duo_journal::schema::ROTATE, r.person, r.key);
            if !known.under(&key).any(|x| x.key == key) {
                doc.put_rotation(r)?;
            }
        }
        doc.reseal_after_rotation(&by, at).map(|_| ())
    })?;
    Ok(true)
}

/// Take up a new person key that what just arrived (a sync, a bundle) brought, and seal
/// again this device's own entries it concerns: done by opening the home again, as every
/// duo command does first (errors are left to the next command).
pub fn after_arrival(home: &crate::Home) {
    let _ = home.open();
}

/// [`adopt`], only when the shared space changed since this device last looked (a cheap
/// listing of its files), so that opening duo does not read the space every time.
pub(crate) fn adopt_if_changed(o: &mut Opened) -> Result<(), SyncError> {
    use sha2::Digest;
    let seen_path = o.home.root().join("local").join("rotation.seen");
    let fingerprint = |o: &Opened| -> Result<String, SyncError> {
        let f = o.space.storage_fingerprint()?;
        // Appended entries (`adds/`) never carry a rotation.
        let kept: String = f.split(';').filter(|p| !p.starts_with("adds/")).collect();
        Ok(duo_journal::hex(&sha2::Sha256::digest(kept.as_bytes())))
    };
    // A device without a trust file never paired (a pairing writes one), so no rotation was
    // made for it; and reading membership here would write one too early (see
    // [`crate::membership::load_trust`]).
    if !o.home.root().join("local").join("members.age").exists() {
        return Ok(());
    }
    let now = fingerprint(o)?;
    if std::fs::read_to_string(&seen_path).is_ok_and(|s| s == now) {
        return Ok(());
    }
    let Some(view) = o.space.peek_members()? else {
        return Ok(());
    };
    adopt_from(o, &view)?;
    let after = fingerprint(o)?;
    let _ = std::fs::create_dir_all(o.home.root().join("local"));
    crate::store::write_durably(&seen_path, after.as_bytes()).map_err(|source| SyncError::Io {
        path: seen_path,
        source,
    })
}
