//! Who is a current member of the space: signed device records, revocations, and the one
//! function every "may this device sync?" question goes through ([`membership`]).
//!
//! The shared document can be written by any replica, so a record in it proves nothing by
//! itself. A device counts only when this device can trace it back to something it knows
//! first-hand:
//!
//! - **Anchors** ([`Trust::anchors`], kept locally in `local/members.age`, never synced):
//!   this device itself, the device it paired with over the verified PAKE channel, and, for
//!   an own-device join, the anchors of the inviting device (sent over that same channel).
//!   A space opened for the first time by a duo with this module anchors every device it
//!   already holds ("legacy, confirmed at pairing"), so no existing journal loses members.
//! - **Endorsements** (`endorse/<device>/<by>`): device `by` signs `device`'s record (its
//!   person, label and time added) with its iroh ed25519 key. An endorsement counts when
//!   its signer is an active device of the **same person**, or when the signer is a device
//!   of the person this device belongs to and the endorsed device is the partner's (the
//!   inviter's countersignature at pairing, which lets this person's other devices accept
//!   the partner's first device). So nobody can add a device under the other person: from
//!   Alice's devices' point of view, a record under Alice signed only by Bob's devices is
//!   never valid.
//! - **Revocations** (`revoke/<device>/<by>`), signed like endorsements, count for the
//!   whole space when the revoker is a structurally valid device of the same person as the
//!   revoked one. A revoked device's endorsements stop counting, so devices it added are
//!   revoked with it unless another active device of that person endorsed them.
//! - **Local revocations** ([`Trust::local_revoked`]): what `duo devices revoke` does to
//!   the partner's devices and what `duo leave` does to all of them. They act on this device
//!   only and are never written to the shared document, so they send nothing to anyone.

use duo_journal::{Contents, Device, Endorsement, Revocation};
use iroh::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What this device knows first-hand about membership (local, never synced).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trust {
    /// This device's endpoint id.
    pub me: String,
    /// The person this device belongs to.
    pub person: String,
    /// Devices known first-hand, with the person each was known to belong to.
    pub anchors: BTreeMap<String, String>,
    /// Devices refused by this device only (the partner's, revoked here, or all after `leave`).
    #[serde(default)]
    pub local_revoked: BTreeSet<String>,
    /// Devices this device has already told its user about (new-device notices).
    #[serde(default)]
    pub seen: BTreeSet<String>,
    /// When this device left the space (`duo leave`), in milliseconds since the epoch.
    #[serde(default)]
    pub left_at: Option<i64>,
    /// When this device last synced with each of its own person's other devices (never
    /// kept for the partner's devices: duo gives no presence signal about a partner).
    #[serde(default)]
    pub last_synced: BTreeMap<String, i64>,
}

impl Trust {
    /// A new device's trust: itself only.
    pub fn new(me: &str, person: &str) -> Trust {
        Trust {
            me: me.to_string(),
            person: person.to_string(),
            anchors: BTreeMap::from([(me.to_string(), person.to_string())]),
            seen: BTreeSet::from([me.to_string()]),
            ..Default::default()
        }
    }

    /// Trust for a space opened for the first time by this version: every device it holds
    /// is anchored ("legacy, confirmed at pairing") and already seen.
    pub fn legacy(me: &str, person: &str, c: &Contents) -> Trust {
        let mut t = Trust::new(me, person);
        for d in c.devices.values() {
            t.anchors.insert(d.id.clone(), d.person.clone());
            t.seen.insert(d.id.clone());
        }
        t
    }
}

/// Where a device of the document stands, as seen from this device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// A current member: traced to an anchor through valid signatures, not revoked.
    Active,
    /// Revoked by these devices (for the whole space, or here only when `local`).
    Revoked { by: Vec<String>, local: bool },
    /// Valid only through a device that was revoked, and endorsed by no other.
    RevokedWith,
    /// A record nobody this device trusts vouches for (e.g. written by a modified client).
    Unconfirmed,
}

impl Standing {
    pub fn is_active(&self) -> bool {
        matches!(self, Standing::Active)
    }

    /// A short word for lists and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Standing::Active => "active",
            Standing::Revoked { local: false, .. } => "revoked",
            Standing::Revoked { local: true, .. } => "revoked here",
            Standing::RevokedWith => "revoked with the device that added it",
            Standing::Unconfirmed => "unconfirmed",
        }
    }
}

/// Every device of the document with its standing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    pub standing: BTreeMap<String, Standing>,
}

impl Membership {
    pub fn is_active(&self, id: &str) -> bool {
        self.standing.get(id).is_some_and(Standing::is_active)
    }

    /// The active devices' ids.
    pub fn active(&self) -> impl Iterator<Item = &str> {
        self.standing
            .iter()
            .filter(|(_, s)| s.is_active())
            .map(|(id, _)| id.as_str())
    }
}

fn device_message(d: &Device) -> Vec<u8> {
    format!("duo/device/1\0{}\0{}\0{}\0{}", d.id, d.person, d.label, d.added_at).into_bytes()
}

fn revocation_message(device: &str, by: &str, at: i64) -> Vec<u8> {
    format!("duo/revoke/1\0{device}\0{by}\0{at}").into_bytes()
}

fn sign(secret: &SecretKey, msg: &[u8]) -> String {
    duo_journal::hex(&secret.sign(msg).to_bytes())
}

fn verify(by: &str, msg: &[u8], sig: &str) -> bool {
    let Ok(key) = by.parse::<PublicKey>() else { return false };
    let Some(bytes) = unhex64(sig) else { return false };
    key.verify(msg, &iroh::Signature::from_bytes(&bytes)).is_ok()
}

fn unhex64(s: &str) -> Option<[u8; 64]> {
    if s.len() != 128 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 64];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `secret`'s device vouches for `device`'s record as it stands.
pub fn endorse(secret: &SecretKey, device: &Device, at: i64) -> Endorsement {
    Endorsement {
        device: device.id.clone(),
        by: secret.public().to_string(),
        sig: sign(secret, &device_message(device)),
        at,
    }
}

/// `secret`'s device revokes `device`.
pub fn revoke(secret: &SecretKey, device: &str, at: i64) -> Revocation {
    let by = secret.public().to_string();
    Revocation {
        device: device.to_string(),
        sig: sign(secret, &revocation_message(device, &by, at)),
        by,
        at,
    }
}

/// Is this endorsement signed by its `by` over the record the document holds now?
pub fn endorsement_is_signed(c: &Contents, e: &Endorsement) -> bool {
    c.devices
        .get(&e.device)
        .is_some_and(|d| verify(&e.by, &device_message(d), &e.sig))
}

/// Is this revocation signed by its `by`?
pub fn revocation_is_signed(r: &Revocation) -> bool {
    verify(&r.by, &revocation_message(&r.device, &r.by, r.at), &r.sig)
}

/// The devices traced to an anchor through counting endorsements, leaving out `excluded`.
fn traced(c: &Contents, trust: &Trust, endorsements: &[&Endorsement], excluded: &BTreeSet<&str>) -> BTreeSet<String> {
    let person = |id: &str| c.devices.get(id).map(|d| d.person.as_str());
    let mut valid: BTreeSet<String> = c
        .devices
        .values()
        .filter(|d| !excluded.contains(d.id.as_str()))
        .filter(|d| trust.anchors.get(&d.id) == Some(&d.person))
        .map(|d| d.id.clone())
        .collect();
    loop {
        let mut grew = false;
        for e in endorsements {
            if !valid.contains(&e.by) || valid.contains(&e.device) || excluded.contains(e.device.as_str()) {
                continue;
            }
            let (Some(dp), Some(bp)) = (person(&e.device), person(&e.by)) else {
                continue;
            };
            let same_person = dp == bp;
            let countersigned_partner = bp == trust.person && dp != trust.person;
            if same_person || countersigned_partner {
                valid.insert(e.device.clone());
                grew = true;
            }
        }
        if !grew {
            return valid;
        }
    }
}

/// Where every device of `c` stands as seen from the device `trust` describes. The one
/// answer to "is this device a current member": the allowlist, `duo sync`, `duo devices`
/// and bundle imports all use it.
pub fn membership(c: &Contents, trust: &Trust) -> Membership {
    let endorsements: Vec<&Endorsement> = c
        .signatures
        .endorsements
        .values()
        .filter(|e| endorsement_is_signed(c, e))
        .collect();
    let structural = traced(c, trust, &endorsements, &BTreeSet::new());
    let person = |id: &str| c.devices.get(id).map(|d| d.person.as_str());
    // Revocations by a structurally valid device of the same person count for everyone.
    let mut revoked_by: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in c.signatures.revocations.values() {
        if structural.contains(&r.by)
            && person(&r.by).is_some()
            && person(&r.by) == person(&r.device)
            && revocation_is_signed(r)
        {
            revoked_by.entry(r.device.as_str()).or_default().push(r.by.clone());
        }
    }
    let mut excluded: BTreeSet<&str> = revoked_by.keys().copied().collect();
    excluded.extend(trust.local_revoked.iter().map(String::as_str));
    let active = traced(c, trust, &endorsements, &excluded);
    let standing = c
        .devices
        .keys()
        .map(|id| {
            let s = if active.contains(id) {
                Standing::Active
            } else if let Some(by) = revoked_by.get(id.as_str()) {
                Standing::Revoked {
                    by: by.clone(),
                    local: false,
                }
            } else if trust.local_revoked.contains(id) {
                Standing::Revoked {
                    by: vec![trust.me.clone()],
                    local: true,
                }
            } else if structural.contains(id) {
                Standing::RevokedWith
            } else {
                Standing::Unconfirmed
            };
            (id.clone(), s)
        })
        .collect();
    Membership { standing }
}

/// The active devices of `c`, as seen from `trust`'s device.
pub fn active_devices(c: &Contents, trust: &Trust) -> BTreeSet<String> {
    membership(c, trust).active().map(str::to_string).collect()
}

/// May `endpoint_id` sync with this device? Only another active device, and never after
/// this device left the space.
pub fn may_sync(c: &Contents, trust: &Trust, endpoint_id: &str) -> bool {
    trust.left_at.is_none() && endpoint_id != trust.me && membership(c, trust).is_active(endpoint_id)
}

/// This device's trust, from `<home>/local/members.age`. The first time a space is opened
/// by a duo with signed membership, every device it holds is anchored (see the module
/// documentation) and the file is written.
pub fn load_trust(o: &crate::Opened) -> Result<Trust, crate::SyncError> {
    let identity = std::sync::Arc::new(o.home.age_identity()?);
    match read_trust(&o.home, identity, &o.config)? {
        Some(t) => Ok(t),
        None => {
            let c = o.space.read()?.view.members();
            let t = Trust::legacy(&o.config.device_id, &o.config.person_id, &c);
            save_trust(o, &t)?;
            Ok(t)
        }
    }
}

/// The trust file as stored; `None` when there is none because this space was never opened
/// by a duo with signed membership. A device that has signed a record in the space (at
/// pairing, or a revocation) wrote its trust file first, so there a missing file is damage:
/// anchoring every device of the space again would accept records the partner forged and
/// forget the revocations made here.
pub(crate) fn read_trust(
    home: &crate::Home,
    identity: std::sync::Arc<age::x25519::Identity>,
    config: &crate::Config,
) -> Result<Option<Trust>, crate::SyncError> {
    use crate::local::LocalFile;
    use duo_journal::Storage;
    let store = crate::local::store(home, identity.clone());
    let path = store.path_of("members");
    match store.read("members") {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LocalFile::Trust.damaged(&path, format!("not a trust file ({e})"))),
        Err(e) if e.is_not_found() => {
            let space = duo_journal::Journal::new(crate::AgeStore::new(home.space_dir(), identity));
            let c = space.read()?.view.members();
            let me = &config.device_id;
            let signed = c.signatures.endorsements.values().any(|e| &e.by == me)
                || c.signatures.revocations.values().any(|r| &r.by == me);
            if signed {
                return Err(LocalFile::Trust.damaged(
                    &path,
                    "the file is missing, and this device has signed records in the space",
                ));
            }
            Ok(None)
        }
        Err(e) => Err(LocalFile::Trust.storage_error(path, e)),
    }
}

/// A trust file rebuilt for a device whose own was lost: only this device is anchored, so a
/// device counts again only through signatures that trace back to this one (every pairing
/// made by a duo with signed membership left them); every device in the space is marked as
/// seen. Revocations made on this device only and having left the space were nowhere else
/// and are not in it (`duo doctor --repair` says so).
pub(crate) fn rebuilt_trust(
    home: &crate::Home,
    identity: std::sync::Arc<age::x25519::Identity>,
    config: &crate::Config,
) -> Result<Trust, crate::SyncError> {
    let space = duo_journal::Journal::new(crate::AgeStore::new(home.space_dir(), identity));
    let c = space.read()?.view.members();
    let mut t = Trust::new(&config.device_id, &config.person_id);
    t.seen.extend(c.devices.keys().cloned());
    Ok(t)
}

/// Change this device's trust under a lock (`local/members.lock`), so two duo processes
/// (a watcher recording a sync, a command revoking a device) never lose each other's change.
pub fn update_trust<T>(o: &crate::Opened, f: impl FnOnce(&mut Trust) -> T) -> Result<T, crate::SyncError> {
    let path = o.home.root().join("local/members.lock");
    let io = |e| crate::SyncError::Io {
        path: path.clone(),
        source: e,
    };
    let lock = crate::store::open_lock_file(&path).map_err(io)?;
    lock.lock().map_err(io)?;
    let mut t = trust(o)?;
    let out = f(&mut t);
    save_trust(o, &t)?;
    drop(lock);
    Ok(out)
}

/// Write this device's trust (prefer [`update_trust`]).
pub fn save_trust(o: &crate::Opened, t: &Trust) -> Result<(), crate::SyncError> {
    write_trust(
        &crate::local::store(&o.home, std::sync::Arc::new(o.home.age_identity()?)),
        t,
    )
}

pub(crate) fn write_trust(store: &crate::AgeStore, t: &Trust) -> Result<(), crate::SyncError> {
    use duo_journal::Storage;
    let bytes = serde_json::to_vec(t).expect("serializes");
    store
        .write("members", &bytes)
        .map_err(|e| duo_journal::JournalError::from(e).into())
}

/// Whether this device left the space (`duo leave`), without reading the space: a device
/// that never wrote its trust file has not left.
pub fn left_at(o: &crate::Opened) -> Result<Option<i64>, crate::SyncError> {
    if !o.home.root().join("local/members.age").exists() {
        return Ok(None);
    }
    Ok(load_trust(o)?.left_at)
}

/// Record that this device just synced with `own`, other devices of its own person (the
/// caller leaves the partner's out).
pub fn record_synced(o: &crate::Opened, own: &[String], now: i64) -> Result<(), crate::SyncError> {
    if own.is_empty() {
        return Ok(());
    }
    update_trust(o, |t| {
        for d in own {
            t.last_synced.insert(d.clone(), now);
        }
    })
}

/// A device record this device tells its user about once (see [`device_notices`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceNotice {
    /// The device's endpoint id (hex).
    pub device: String,
    /// Its label and its person's name, as the record says (the partner's words: untrusted).
    pub label: String,
    pub person: String,
    /// When the record says it was added (milliseconds since the epoch).
    pub added_at: i64,
    pub kind: NoticeKind,
}

/// What a [`DeviceNotice`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    /// A new device of this device's own person.
    OwnDevice,
    /// A new device of the partner's.
    PartnerDevice,
    /// A record that none of its person's devices signed: ignored, flagged once.
    Unconfirmed,
}

/// Device records of `view` that this device has not told its user about yet, each marked
/// as told (under the lock, so a notice another duo process just gave is not given again).
/// Records that are neither active nor unconfirmed (revoked ones) are marked without a notice.
pub fn device_notices(o: &crate::Opened, view: &duo_journal::View) -> Result<Vec<DeviceNotice>, crate::SyncError> {
    let trust = trust(o)?;
    let unseen: Vec<&duo_journal::Device> = view.devices.values().filter(|d| !trust.seen.contains(&d.id)).collect();
    if unseen.is_empty() {
        return Ok(Vec::new());
    }
    let fresh = update_trust(o, |t| {
        unseen
            .iter()
            .filter(|d| t.seen.insert(d.id.clone()))
            .copied()
            .collect::<Vec<&duo_journal::Device>>()
    })?;
    let m = membership(&view.members(), &trust);
    Ok(fresh
        .into_iter()
        .filter_map(|d| {
            let kind = match m.standing.get(&d.id) {
                Some(Standing::Active) if d.person == o.config.person_id => NoticeKind::OwnDevice,
                Some(Standing::Active) => NoticeKind::PartnerDevice,
                Some(Standing::Unconfirmed) => NoticeKind::Unconfirmed,
                _ => return None,
            };
            Some(DeviceNotice {
                device: d.id.clone(),
                label: d.label.clone(),
                person: view.person_name(&d.person),
                added_at: d.added_at,
                kind,
            })
        })
        .collect())
}

/// The membership of this device's space as it stands now.
pub fn current(o: &crate::Opened) -> Result<(Contents, Trust, Membership), crate::SyncError> {
    let c = o.space.read()?.view.members();
    let t = trust(o)?;
    let m = membership(&c, &t);
    Ok((c, t, m))
}

/// [`load_trust`], with this device's person as `config.json` has it now (an own-device
/// join changes it).
pub fn trust(o: &crate::Opened) -> Result<Trust, crate::SyncError> {
    let mut t = load_trust(o)?;
    if t.person != o.config.person_id || t.me != o.config.device_id {
        t.person = o.config.person_id.clone();
        t.me = o.config.device_id.clone();
        t.anchors.insert(t.me.clone(), t.person.clone());
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use duo_journal::Person;

    struct Dev {
        key: SecretKey,
        person: &'static str,
    }

    impl Dev {
        fn new(seed: u8, person: &'static str) -> Dev {
            Dev {
                key: SecretKey::from_bytes(&[seed; 32]),
                person,
            }
        }
        fn id(&self) -> String {
            self.key.public().to_string()
        }
        fn record(&self) -> Device {
            Device {
                id: self.id(),
                person: self.person.into(),
                label: format!("dev-{}", &self.id()[..4]),
                added_at: 1000,
            }
        }
    }

    fn contents(devs: &[&Dev]) -> Contents {
        let mut c = Contents::default();
        for d in devs {
            c.persons.insert(
                d.person.into(),
                Person {
                    id: d.person.into(),
                    name: d.person.into(),
                },
            );
            c.devices.insert(d.id(), d.record());
        }
        c
    }

    fn endorse_in(c: &mut Contents, by: &Dev, dev: &Dev) {
        let e = endorse(&by.key, &c.devices[&dev.id()], 5);
        c.signatures.endorsements.insert(format!("{}/{}", e.device, e.by), e);
    }

    fn revoke_in(c: &mut Contents, by: &Dev, dev: &Dev) {
        let r = revoke(&by.key, &dev.id(), 9);
        c.signatures.revocations.insert(format!("{}/{}", r.device, r.by), r);
    }

    /// Alice: a1 (root), a2 (added by a1); Bob: b1 (paired with a1), b2 (added by b1).
    fn couple() -> (Contents, [Dev; 4]) {
        let [a1, a2, b1, b2] = [Dev::new(1, "A"), Dev::new(2, "A"), Dev::new(3, "B"), Dev::new(4, "B")];
        let mut c = contents(&[&a1, &a2, &b1, &b2]);
        endorse_in(&mut c, &a1, &a2);
        endorse_in(&mut c, &a1, &b1); // countersigned at pairing
        endorse_in(&mut c, &b1, &a1);
        endorse_in(&mut c, &b1, &b2);
        (c, [a1, a2, b1, b2])
    }

    fn paired_trust(me: &Dev, peer: &Dev) -> Trust {
        let mut t = Trust::new(&me.id(), me.person);
        t.anchors.insert(peer.id(), peer.person.into());
        t
    }

    #[test]
    fn everyone_is_active_from_every_device() {
        let (c, [a1, a2, b1, b2]) = couple();
        // a2 joined through a1 (anchors a1); b2 through b1.
        for t in [
            paired_trust(&a1, &b1),
            paired_trust(&a2, &a1),
            paired_trust(&b1, &a1),
            paired_trust(&b2, &b1),
        ] {
            let m = membership(&c, &t);
            assert_eq!(m.active().count(), 4, "from {}: {m:?}", &t.me[..6]);
            for d in [&a1, &a2, &b1, &b2] {
                assert_eq!(may_sync(&c, &t, &d.id()), d.id() != t.me);
            }
        }
    }

    #[test]
    fn a_device_added_under_the_other_person_is_refused() {
        let (mut c, [a1, a2, b1, b2]) = couple();
        // Bob's modified client records its own key as one of Alice's devices and signs it
        // with his devices (and itself).
        let evil = Dev::new(9, "A");
        c.devices.insert(evil.id(), evil.record());
        endorse_in(&mut c, &b1, &evil);
        endorse_in(&mut c, &b2, &evil);
        endorse_in(&mut c, &evil, &evil);
        for t in [paired_trust(&a1, &b1), paired_trust(&a2, &a1)] {
            let m = membership(&c, &t);
            assert_eq!(m.standing[&evil.id()], Standing::Unconfirmed);
            assert!(!may_sync(&c, &t, &evil.id()));
            assert_eq!(m.active().count(), 4);
        }
        let _ = b2;
    }

    #[test]
    fn forged_and_stale_signatures_do_not_count() {
        let (mut c, [a1, _a2, b1, _b2]) = couple();
        let x = Dev::new(7, "A");
        c.devices.insert(x.id(), x.record());
        // A signature made by another key, filed under a1's name.
        let mut e = endorse(&x.key, &x.record(), 5);
        e.by = a1.id();
        c.signatures.endorsements.insert(format!("{}/{}", e.device, e.by), e);
        assert!(!may_sync(&c, &paired_trust(&b1, &a1), &x.id()));
        // a1 really endorsed x, then someone changed x's person: the signature no longer fits.
        endorse_in(&mut c, &a1, &x);
        assert!(may_sync(&c, &paired_trust(&b1, &a1), &x.id()));
        c.devices.get_mut(&x.id()).unwrap().label = "renamed".into();
        assert!(!may_sync(&c, &paired_trust(&b1, &a1), &x.id()));
    }

    #[test]
    fn revocation_spreads_and_cascades_unless_endorsed_elsewhere() {
        let (mut c, [a1, a2, b1, b2]) = couple();
        // a2 (stolen) added a thief's device t and Alice's new laptop a3, which a1 also endorsed.
        let t = Dev::new(5, "A");
        let a3 = Dev::new(6, "A");
        c.devices.insert(t.id(), t.record());
        c.devices.insert(a3.id(), a3.record());
        endorse_in(&mut c, &a2, &t);
        endorse_in(&mut c, &a2, &a3);
        endorse_in(&mut c, &a1, &a3);
        revoke_in(&mut c, &a1, &a2);
        for trust in [paired_trust(&a1, &b1), paired_trust(&b1, &a1), paired_trust(&b2, &b1)] {
            let m = membership(&c, &trust);
            assert!(matches!(m.standing[&a2.id()], Standing::Revoked { local: false, .. }));
            assert_eq!(m.standing[&t.id()], Standing::RevokedWith);
            assert!(m.is_active(&a3.id()) && m.is_active(&a1.id()) && m.is_active(&b2.id()));
        }
    }

    #[test]
    fn nobody_revokes_the_other_persons_devices_for_the_space() {
        let (mut c, [a1, _a2, b1, b2]) = couple();
        revoke_in(&mut c, &a1, &b2);
        assert!(may_sync(&c, &paired_trust(&b1, &a1), &b2.id()));
        assert!(may_sync(&c, &paired_trust(&a1, &b1), &b2.id()));
        // Locally, on Alice's device, she can refuse Bob's devices.
        let mut t = paired_trust(&a1, &b1);
        t.local_revoked.insert(b1.id());
        let m = membership(&c, &t);
        assert!(matches!(m.standing[&b1.id()], Standing::Revoked { local: true, .. }));
        // b2 was added by b1 only: refused here with it.
        assert_eq!(m.standing[&b2.id()], Standing::RevokedWith);
    }

    #[test]
    fn legacy_records_are_kept_and_leaving_refuses_everyone() {
        let [a1, b1] = [Dev::new(1, "A"), Dev::new(3, "B")];
        let c = contents(&[&a1, &b1]); // no signatures at all
        let mut t = Trust::legacy(&a1.id(), "A", &c);
        assert!(may_sync(&c, &t, &b1.id()));
        t.left_at = Some(1);
        assert!(!may_sync(&c, &t, &b1.id()));
    }

    #[test]
    fn a_space_from_before_signed_membership_keeps_its_members() {
        let dir = tempfile::tempdir().unwrap();
        let o = crate::Home::new(dir.path().join("h"))
            .init("Alice", "laptop", 1)
            .unwrap();
        // An unsigned record written by an older duo at pairing.
        let bob = Dev::new(3, "B");
        let bob_person = Person {
            id: "B".into(),
            name: "Bob".into(),
        };
        o.space
            .update(|doc| doc.add_member(&bob_person, &bob.record()))
            .unwrap();
        assert!(!o.home.root().join("local/members.age").exists());
        let (c, t, m) = current(&o).unwrap();
        assert!(m.is_active(&bob.id()) && may_sync(&c, &t, &bob.id()), "{m:?}");
        assert!(t.seen.contains(&bob.id()), "no notice for what was already there");
        // Written once; a record that arrives later is not anchored by it.
        assert!(o.home.root().join("local/members.age").exists());
        let later = Dev::new(8, "B");
        o.space
            .update(|doc| doc.add_member(&bob_person, &later.record()))
            .unwrap();
        let (_, t2, m2) = current(&o).unwrap();
        assert_eq!(t2.anchors, t.anchors);
        assert_eq!(m2.standing[&later.id()], Standing::Unconfirmed);
        assert_eq!(left_at(&o).unwrap(), None);
    }

    proptest::proptest! {
        /// Whatever endorsements and revocations Bob's devices write, no device recorded
        /// under Alice that Alice's devices did not endorse becomes active for Alice.
        #[test]
        fn bob_never_adds_alices_devices(edges in proptest::collection::vec((0usize..6, 0usize..6, proptest::bool::ANY), 0..24)) {
            let devs = [Dev::new(1, "A"), Dev::new(3, "B"), Dev::new(4, "B"), Dev::new(20, "A"), Dev::new(21, "A"), Dev::new(22, "B")];
            let mut c = contents(&devs.iter().collect::<Vec<_>>());
            endorse_in(&mut c, &devs[0], &devs[1]);
            endorse_in(&mut c, &devs[1], &devs[0]);
            // Bob's side (devs 1, 2, 5 and any key he holds: 3, 4 are forged "Alice" keys).
            for (by, to, rev) in edges {
                if devs[by].person == "B" || by >= 3 {
                    if rev { revoke_in(&mut c, &devs[by], &devs[to]); } else { endorse_in(&mut c, &devs[by], &devs[to]); }
                }
            }
            let t = paired_trust(&devs[0], &devs[1]);
            let m = membership(&c, &t);
            proptest::prop_assert!(m.is_active(&devs[0].id()));
            proptest::prop_assert!(!m.is_active(&devs[3].id()) && !m.is_active(&devs[4].id()));
        }
    }
}
