//! Who is a current member of the space: signed device records, revocations, names and
//! rotations, and the one function every "may this device sync?" question goes through
//! ([`membership`]).
//!
//! The shared document can be written by any replica, so a record in it proves nothing by
//! itself, and what a key holds now can have been overwritten or deleted. Records are read
//! from the change history (`duo_journal::history`: every record ever written, each with the
//! change that wrote it, in causal order), and a device counts only when this device can
//! trace it back to something it knows first-hand:
//!
//! - **Anchors** ([`Trust::anchors`], kept locally in `local/members.age`, never synced):
//!   this device itself, the device it paired with over the verified PAKE channel, and, for
//!   an own-device join, the anchors of the inviting device (sent over that same channel);
//!   for a restored device, what the backup's device trusted ([`Carried`]). A space opened
//!   for the first time by a duo with this module anchors every device it already holds
//!   ("legacy, confirmed at pairing"), so no existing journal loses members.
//! - **Endorsements** (`endorse/<device>/<by>`): device `by` signs a value of `device`'s
//!   record (its person, label and time added) with its iroh ed25519 key; any value the
//!   record ever had counts, so an overwrite changes nothing. An endorsement counts when
//!   its signer is an active device of the **same person**, or when the signer is a device
//!   of the person this device belongs to and the endorsed device is the partner's (the
//!   inviter's countersignature at pairing). So nobody can add a device under the other
//!   person: from Alice's devices' point of view, a record under Alice signed only by Bob's
//!   devices is never valid.
//! - **Revocations** (`revoke/<device>/<by>`), signed like endorsements, count for the
//!   whole space when the revoker was, as far as what it had when it signed shows, a device
//!   of the revoked device's person, and it had the revoked device's record. A revoked
//!   device's endorsements stop counting, so devices it added are revoked with it unless
//!   another active device of that person endorsed them.
//! - **A revoked device's keys**: whatever it signs after its revocation (causally: the
//!   change that wrote it descends from the revocation's) counts for nothing; its names and
//!   rotations count only if written before its revocation. Two devices that revoke each
//!   other concurrently are both revoked.
//! - **Names** (`name/<person>/<by>`) count when signed by a device of that person; the
//!   newest is shown ([`Roster::names`]). **Rotations** (`rotate/<person>/<key>`, see
//!   [`crate::rotation`]) count when signed by a device of that person.
//! - **Local revocations** ([`Trust::local_revoked`]): what `duo devices revoke` does to
//!   the partner's devices and what `duo leave` does to all of them. They act on this device
//!   only and are never written to the shared document, so they send nothing to anyone.

use duo_journal::{Contents, Device, Endorsement, Record, Revocation, Rotation, SignedName};
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
    /// Devices whose addition this device's user acknowledged (`duo devices ack`): until
    /// then every command shows a notice. Kept on this device only, never synced, so it is
    /// never a read receipt.
    #[serde(default)]
    pub seen: BTreeSet<String>,
    /// Devices whose revocation this device's user acknowledged, likewise.
    #[serde(default)]
    pub seen_revoked: BTreeSet<String>,
    /// When this device left the space (`duo leave`), in milliseconds since the epoch.
    #[serde(default)]
    pub left_at: Option<i64>,
    /// When this device last synced with each of its own person's other devices (never
    /// kept for the partner's devices: duo gives no presence signal about a partner).
    #[serde(default)]
    pub last_synced: BTreeMap<String, i64>,
}

/// What a backup carries of a device's trust (see [`crate::backup`]): what it knew
/// first-hand and what it decided locally. Never when it last synced with anything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    pub anchors: BTreeMap<String, String>,
    pub local_revoked: BTreeSet<String>,
    pub seen: BTreeSet<String>,
    #[serde(default)]
    pub seen_revoked: BTreeSet<String>,
    pub left_at: Option<i64>,
}

impl Trust {
    /// What a backup of this device carries.
    pub fn carried(&self) -> Carried {
        Carried {
            anchors: self.anchors.clone(),
            local_revoked: self.local_revoked.clone(),
            seen: self.seen.clone(),
            seen_revoked: self.seen_revoked.clone(),
            left_at: self.left_at,
        }
    }

    /// The trust of a device restored from a backup of `from` (a device of `person`):
    /// what that device trusted, when the backup carries it, else that device only. Never
    /// [`Trust::legacy`]: a restored device must not take a forged record for a member.
    pub fn restored(me: &str, person: &str, from: &str, carried: Option<&Carried>) -> Trust {
        let mut t = Trust::new(me, person);
        t.anchors.insert(from.to_string(), person.to_string());
        if let Some(c) = carried {
            for (id, p) in &c.anchors {
                t.anchors.entry(id.clone()).or_insert_with(|| p.clone());
            }
            t.local_revoked.extend(c.local_revoked.iter().cloned());
            t.seen.extend(c.seen.iter().cloned());
            t.seen_revoked.extend(c.seen_revoked.iter().cloned());
            t.left_at = c.left_at;
        }
        t
    }

    /// Take in what a backup of another device of this person carries (a restore into an
    /// existing device): its anchors (never replacing one of this device's own), its local
    /// revocations and notices. Leaving is this device's own decision and is not taken.
    pub fn merge_carried(&mut self, c: &Carried) {
        for (id, p) in &c.anchors {
            self.anchors.entry(id.clone()).or_insert_with(|| p.clone());
        }
        self.local_revoked
            .extend(c.local_revoked.iter().filter(|d| **d != self.me).cloned());
        self.seen.extend(c.seen.iter().cloned());
        self.seen_revoked.extend(c.seen_revoked.iter().cloned());
    }

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
            t.seen_revoked.insert(d.id.clone());
        }
        t
    }

    /// Note on this device that its user has read `n` (never synced).
    pub fn acknowledge(&mut self, n: &Notice) -> bool {
        match n.kind {
            NoticeKind::Revoked => self.seen_revoked.insert(n.device.clone()),
            NoticeKind::Added | NoticeKind::Unconfirmed => self.seen.insert(n.device.clone()),
        }
    }
}

/// What a safety notice is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoticeKind {
    /// A device was added to the space (and counts as a member).
    Added,
    /// A device record nobody this device trusts vouches for appeared (duo ignores it).
    Unconfirmed,
    /// A device was revoked from the whole space (not here only: that was this user's act).
    Revoked,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Added => "added",
            NoticeKind::Unconfirmed => "unconfirmed",
            NoticeKind::Revoked => "revoked",
        }
    }
}

/// A change to the space's devices this device's user has not acknowledged yet. Shown by
/// every command until acknowledged; the acknowledgement stays in the trust file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Notice {
    pub kind: NoticeKind,
    pub device: String,
}

/// The notices of the devices of `c` as `m` (worked out from `t`) has them: additions and
/// revocations this device's user has not acknowledged, additions first.
pub fn notices(c: &Contents, t: &Trust, m: &Roster) -> Vec<Notice> {
    let mut out: Vec<Notice> = c
        .devices
        .keys()
        .filter_map(|id| {
            let kind = match m.standing.get(id)? {
                Standing::Active if !t.seen.contains(id) => NoticeKind::Added,
                Standing::Unconfirmed if !t.seen.contains(id) => NoticeKind::Unconfirmed,
                Standing::Revoked { local: false, .. } | Standing::RevokedWith if !t.seen_revoked.contains(id) => {
                    NoticeKind::Revoked
                }
                _ => return None,
            };
            Some(Notice {
                kind,
                device: id.clone(),
            })
        })
        .collect();
    out.sort();
    out
}

/// Acknowledge `which` on this device (under the trust lock); returns those not already
/// acknowledged.
pub fn acknowledge(o: &crate::Opened, which: &[Notice]) -> Result<Vec<Notice>, crate::SyncError> {
    update_trust(o, |t| which.iter().filter(|n| t.acknowledge(n)).cloned().collect())
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

/// A record as its signatures show it: the last value validly signed, and whether the
/// document holds something else now (another device overwrote or deleted it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown<T> {
    pub value: T,
    pub changed: bool,
}

/// Every device of the document with its standing, and what the signatures say about
/// devices and names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roster {
    pub standing: BTreeMap<String, Standing>,
    /// Each device's record: the last value signed by a device that counts for it (or the
    /// record as it is, for a device nobody this device trusts vouches for).
    pub records: BTreeMap<String, Shown<Device>>,
    /// Each person's name as the last valid signature by one of their devices has it (only
    /// persons with such a signature: names from before signed names are shown as they are).
    pub names: BTreeMap<String, Shown<String>>,
    /// Revocations that count, as (revoked device, revoking device) pairs.
    pub revocations: Vec<(String, String)>,
    /// Valid person-key rotations (see [`crate::rotation`]).
    pub rotations: Vec<Rotated>,
}

/// Whether a device may exchange the space with this one (over the network or by bundle):
/// the answer of [`may_sync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// A current device of the space.
    Member,
    /// Not a device of the space (or this device itself).
    Unknown,
    /// Once a device of the space, now revoked.
    Revoked,
}

/// A valid rotation of a person's key: signed by a device of that person that spoke for it
/// then (not revoked, or before its revocation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotated {
    pub person: String,
    /// The new key's id.
    pub key: String,
    /// The id of the key it retires.
    pub retires: String,
    pub by: String,
    pub at: i64,
    /// The new key, age-encrypted to each device it was made for.
    pub keys: BTreeMap<String, Vec<u8>>,
    /// No other valid rotation of the person was written knowing this one (the newest; two
    /// made concurrently are both newest).
    pub latest: bool,
}

impl Roster {
    pub fn is_active(&self, id: &str) -> bool {
        self.standing.get(id).is_some_and(Standing::is_active)
    }

    /// Whether `id` may exchange the space with the device `trust` describes (the one rule,
    /// see [`may_sync`]): another active device, and nobody once this device left.
    pub fn admission(&self, trust: &Trust, id: &str) -> Admission {
        match self.standing.get(id) {
            _ if id == trust.me => Admission::Unknown,
            Some(Standing::Active) if trust.left_at.is_none() => Admission::Member,
            Some(Standing::Active) => Admission::Revoked,
            Some(Standing::Revoked { .. } | Standing::RevokedWith) => Admission::Revoked,
            Some(Standing::Unconfirmed) | None => Admission::Unknown,
        }
    }

    /// Every device [`Roster::admission`] lets in (the endpoint ids, as hex).
    pub fn admitted<'a>(&'a self, trust: &'a Trust) -> impl Iterator<Item = &'a str> {
        self.active()
            .filter(move |id| self.admission(trust, id) == Admission::Member)
    }

    /// The active devices' ids.
    pub fn active(&self) -> impl Iterator<Item = &str> {
        self.standing
            .iter()
            .filter(|(_, s)| s.is_active())
            .map(|(id, _)| id.as_str())
    }

    /// The person a device belongs to, as its signed record says.
    pub fn person_of(&self, id: &str) -> Option<&str> {
        self.records.get(id).map(|r| r.value.person.as_str())
    }

    /// Show what the signatures say in `view`: every device's signed record and every
    /// signed name, each marked when the document held something else (see
    /// [`duo_journal::View::notes`]).
    pub fn apply_to(&self, view: &mut duo_journal::View) {
        for (id, r) in &self.records {
            view.devices.insert(id.clone(), r.value.clone());
            if r.changed {
                view.notes
                    .insert(format!("device/{id}"), "record changed on another device".into());
            }
        }
        for (person, n) in &self.names {
            view.persons.insert(
                person.clone(),
                duo_journal::Person {
                    id: person.clone(),
                    name: n.value.clone(),
                },
            );
            if n.changed {
                view.notes
                    .insert(format!("person/{person}"), "name changed on another device".into());
            }
        }
    }
}

fn device_message(d: &Device) -> Vec<u8> {
    format!("duo/device/1\0{}\0{}\0{}\0{}", d.id, d.person, d.label, d.added_at).into_bytes()
}

fn revocation_message(device: &str, by: &str, at: i64) -> Vec<u8> {
    format!("duo/revoke/1\0{device}\0{by}\0{at}").into_bytes()
}

fn name_message(person: &str, by: &str, name: &str, at: i64) -> Vec<u8> {
    format!("duo/name/1\0{person}\0{by}\0{name}\0{at}").into_bytes()
}

/// What a rotation's signature covers: its fields, and each encrypted key by its hash.
fn rotation_message(r: &Rotation) -> Vec<u8> {
    use sha2::Digest;
    let mut m = format!(
        "duo/rotate/1\0{}\0{}\0{}\0{}\0{}\0",
        r.person, r.key, r.retires, r.by, r.at
    )
    .into_bytes();
    for (device, blob) in &r.keys {
        m.extend_from_slice(format!("{device}\0{}\0", duo_journal::hex(&sha2::Sha256::digest(blob))).as_bytes());
    }
    m
}

/// `secret`'s device signs rotation `r` (its `by` and `sig` are set here).
pub fn sign_rotation(secret: &SecretKey, mut r: Rotation) -> Rotation {
    r.by = secret.public().to_string();
    r.sig = sign(secret, &rotation_message(&r));
    r
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

/// `secret`'s device signs `name` as the name of `person` (its own person).
pub fn sign_name(secret: &SecretKey, person: &str, name: &str, at: i64) -> SignedName {
    let by = secret.public().to_string();
    SignedName {
        person: person.to_string(),
        sig: sign(secret, &name_message(person, &by, name, at)),
        by,
        name: name.to_string(),
        at,
    }
}

/// A device as a person's: the unit that signatures make valid. One device id normally has
/// one; a record rewritten under another person (by an own-device join, or by a forger)
/// gives it another, which counts only if signed by a device that counts for that person.
type Node = (String, String);

/// An endorsement whose signature holds over one value the device's record had.
struct Endorsed<'a> {
    node: Node,
    value: Device,
    by: &'a str,
    at: i64,
    rec: &'a Record,
}

/// A revocation whose signature holds.
struct Revoked<'a> {
    device: &'a str,
    by: &'a str,
    rec: &'a Record,
}

/// The rules, worked out once for a document and a device's trust.
struct Rules<'a> {
    c: &'a Contents,
    trust: &'a Trust,
    /// Every value each device's record ever had (history and now).
    values: BTreeMap<String, Vec<Device>>,
    endorsed: Vec<Endorsed<'a>>,
    /// Validly signed revocations, each after those it was written knowing.
    revocations: Vec<Revoked<'a>>,
    /// Which of them count (indexes into `revocations`).
    counted: Vec<usize>,
}

fn pair(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('/'))
}

impl<'a> Rules<'a> {
    fn new(c: &'a Contents, trust: &'a Trust) -> Rules<'a> {
        let h = &c.records;
        let mut values: BTreeMap<String, Vec<Device>> = BTreeMap::new();
        let history_values = h.under("device/").filter_map(|r| {
            Some(Device {
                id: r.id("device/")?.to_string(),
                person: r.str("person")?.to_string(),
                label: r.str("label")?.to_string(),
                added_at: r.int("added_at").unwrap_or(0),
            })
        });
        for d in history_values.chain(c.devices.values().cloned()) {
            let known = values.entry(d.id.clone()).or_default();
            if !known.contains(&d) {
                known.push(d);
            }
        }
        let mut endorsed = Vec::new();
        for r in h.under("endorse/") {
            let (Some((device, by)), Some(sig)) = (r.id("endorse/").and_then(pair), r.str("sig")) else {
                continue;
            };
            for v in values.get(device).into_iter().flatten() {
                if verify(by, &device_message(v), sig) {
                    endorsed.push(Endorsed {
                        node: (v.id.clone(), v.person.clone()),
                        value: v.clone(),
                        by,
                        at: r.int("at").unwrap_or(0),
                        rec: r,
                    });
                }
            }
        }
        let mut revocations: Vec<Revoked<'a>> = h
            .under("revoke/")
            .filter_map(|r| {
                let (device, by) = r.id("revoke/").and_then(pair)?;
                let ok = verify(by, &revocation_message(device, by, r.int("at")?), r.str("sig")?);
                ok.then_some(Revoked { device, by, rec: r })
            })
            .collect();
        revocations.sort_by_key(|r| h.depth(r.rec));
        let mut rules = Rules {
            c,
            trust,
            values,
            endorsed,
            revocations,
            counted: Vec::new(),
        };
        rules.count_revocations();
        rules
    }

    /// Decide which revocations count, each after those it was written knowing: one counts
    /// when it was not written after a counting revocation of its signer, it was written
    /// knowing the revoked device's record (nobody revokes a device it never heard of: so a
    /// device made after a copy's revocation is out of the copy's reach), and its signer
    /// was, as far as what it was written knowing shows, a device of the revoked device's
    /// person.
    fn count_revocations(&mut self) {
        for i in 0..self.revocations.len() {
            let r = &self.revocations[i];
            if self.void(r.rec, r.by) {
                continue;
            }
            let h = &self.c.records;
            let knew = |e: &Record| h.before(e, r.rec) || e.change == r.rec.change;
            let record = format!("device/{}", r.device);
            if !h.under(&record).any(|d| d.key == record && knew(d)) {
                continue;
            }
            let known: Vec<&Endorsed> = self
                .endorsed
                .iter()
                .filter(|e| (h.before(e.rec, r.rec) || e.rec.change == r.rec.change) && !self.void(e.rec, e.by))
                .collect();
            let then = self.traced(&known, &BTreeSet::new());
            let revoked_persons: BTreeSet<&str> = self
                .values
                .get(r.device)
                .into_iter()
                .flatten()
                .map(|v| v.person.as_str())
                .collect();
            if then
                .iter()
                .any(|(id, p)| id == r.by && revoked_persons.contains(p.as_str()))
            {
                self.counted.push(i);
            }
        }
    }

    /// Does something `by` signed in `rec` come after a counting revocation of `by`? Then
    /// it counts for nothing.
    fn void(&self, rec: &Record, by: &str) -> bool {
        self.counted.iter().any(|&i| {
            let r = &self.revocations[i];
            r.device == by && self.c.records.before(r.rec, rec)
        })
    }

    /// Does what `by` signed in `rec` speak for its person (a name, how a record reads)? Only
    /// if `by` is not revoked, or signed it before a revocation of it was written (what a
    /// revoked device signed without knowing of its revocation may be a copy's work).
    fn speaks(&self, rec: &Record, by: &str) -> bool {
        let mut revocations = self
            .counted
            .iter()
            .map(|&i| &self.revocations[i])
            .filter(|r| r.device == by)
            .peekable();
        !self.void(rec, by) && (revocations.peek().is_none() || revocations.any(|r| self.c.records.before(rec, r.rec)))
    }

    /// The nodes traced to an anchor through `endorsements`, leaving out `excluded` devices.
    fn traced(&self, endorsements: &[&Endorsed], excluded: &BTreeSet<&str>) -> BTreeSet<Node> {
        let mut valid: BTreeSet<Node> = self
            .trust
            .anchors
            .iter()
            .filter(|(id, p)| {
                !excluded.contains(id.as_str())
                    && self
                        .values
                        .get(*id)
                        .is_some_and(|vs| vs.iter().any(|v| v.person == **p))
            })
            .map(|(id, p)| (id.clone(), p.clone()))
            .collect();
        loop {
            let mut grew = false;
            for e in endorsements {
                if valid.contains(&e.node) || excluded.contains(e.node.0.as_str()) {
                    continue;
                }
                let person = &e.node.1;
                let counts = valid.iter().filter(|(id, _)| id == e.by).any(|(_, bp)| {
                    let same_person = bp == person;
                    let countersigned_partner = *bp == self.trust.person && *person != self.trust.person;
                    same_person || countersigned_partner
                });
                if counts {
                    valid.insert(e.node.clone());
                    grew = true;
                }
            }
            if !grew {
                return valid;
            }
        }
    }

    /// Of `nodes`, the person device `id` counts under: the one this device anchored it
    /// with, else this device's own person, else the first.
    fn person_in<'n>(&self, nodes: &'n BTreeSet<Node>, id: &str) -> Option<&'n str> {
        let mine: Vec<&str> = nodes.iter().filter(|(d, _)| d == id).map(|(_, p)| p.as_str()).collect();
        let anchored = self.trust.anchors.get(id).map(String::as_str);
        mine.iter()
            .find(|p| Some(**p) == anchored)
            .or_else(|| mine.iter().find(|p| **p == self.trust.person))
            .or_else(|| mine.first())
            .copied()
    }

    /// Device `id`'s record as the signatures that count show it.
    fn shown_record(&self, id: &str, person: Option<&str>, endorsements: &[&Endorsed]) -> Option<Shown<Device>> {
        let current = self.c.devices.get(id);
        let all = self.values.get(id)?;
        let Some(person) = person else {
            let value = current.or_else(|| all.last())?.clone();
            return Some(Shown { value, changed: false });
        };
        let mut signed: Vec<&Endorsed> = endorsements
            .iter()
            .filter(|e| e.node.0 == id && e.node.1 == person && self.speaks(e.rec, e.by))
            .copied()
            .collect();
        signed.sort_by_key(|e| (e.at, self.c.records.depth(e.rec)));
        let anchored = self.trust.anchors.get(id).is_some_and(|p| p == person);
        let fits = |v: &Device| v.person == person && (anchored || signed.iter().any(|e| e.value == *v));
        if let Some(cur) = current.filter(|v| fits(v)) {
            return Some(Shown {
                value: cur.clone(),
                changed: false,
            });
        }
        let value = match signed.last() {
            Some(e) => e.value.clone(),
            None => all.iter().rev().find(|v| v.person == person)?.clone(),
        };
        Some(Shown { value, changed: true })
    }

    /// Every valid rotation.
    fn rotations(&self, structural: &BTreeSet<Node>) -> Vec<Rotated> {
        use duo_journal::schema::{AT, BY, KEY_FOR, RETIRES, ROTATE, SIG};
        let h = &self.c.records;
        let mut valid: Vec<(&Record, Rotated)> = Vec::new();
        for r in h.under(ROTATE) {
            let (Some((person, key)), Some(by), Some(retires), Some(at), Some(sig)) = (
                r.id(ROTATE).and_then(pair),
                r.str(BY),
                r.str(RETIRES),
                r.int(AT),
                r.str(SIG),
            ) else {
                continue;
            };
            let keys: BTreeMap<String, Vec<u8>> = r
                .fields
                .keys()
                .filter_map(|f| Some((f.strip_prefix(KEY_FOR)?.to_string(), r.bytes(f)?.to_vec())))
                .collect();
            let rotation = Rotation {
                person: person.into(),
                key: key.into(),
                retires: retires.into(),
                by: by.into(),
                at,
                sig: sig.into(),
                keys,
            };
            if structural.contains(&(by.to_string(), person.to_string()))
                && verify(by, &rotation_message(&rotation), sig)
                && self.speaks(r, by)
            {
                let Rotation { keys, .. } = rotation;
                valid.push((
                    r,
                    Rotated {
                        person: person.into(),
                        key: key.into(),
                        retires: retires.into(),
                        by: by.into(),
                        at,
                        keys,
                        latest: true,
                    },
                ));
            }
        }
        let later: Vec<bool> = valid
            .iter()
            .map(|(r, x)| valid.iter().any(|(o, y)| y.person == x.person && h.before(r, o)))
            .collect();
        valid
            .into_iter()
            .zip(later)
            .map(|((_, mut x), superseded)| {
                x.latest = !superseded;
                x
            })
            .collect()
    }

    /// Every person's last validly signed name.
    fn names(&self, structural: &BTreeSet<Node>) -> BTreeMap<String, Shown<String>> {
        let h = &self.c.records;
        let mut best: BTreeMap<&str, (i64, usize, &str)> = BTreeMap::new();
        for r in h.under("name/") {
            let (Some((person, by)), Some(name), Some(sig), Some(at)) =
                (r.id("name/").and_then(pair), r.str("name"), r.str("sig"), r.int("at"))
            else {
                continue;
            };
            let valid = structural.contains(&(by.to_string(), person.to_string()))
                && verify(by, &name_message(person, by, name, at), sig)
                && self.speaks(r, by);
            let rank = (at, h.depth(r), name);
            if valid && best.get(person).is_none_or(|b| *b < rank) {
                best.insert(person, rank);
            }
        }
        best.into_iter()
            .map(|(person, (_, _, name))| {
                let changed = self.c.persons.get(person).is_none_or(|p| p.name != name);
                (
                    person.to_string(),
                    Shown {
                        value: name.to_string(),
                        changed,
                    },
                )
            })
            .collect()
    }
}

/// Where every device of `c` stands as seen from the device `trust` describes. The one
/// answer to "is this device a current member": the allowlist, `duo sync`, `duo devices`
/// and bundle imports all use it. `c` must hold the membership records of its history
/// ([`duo_journal::SpaceDoc::contents_with_history`], as every stored view does).
pub fn membership(c: &Contents, trust: &Trust) -> Roster {
    let rules = Rules::new(c, trust);
    let endorsements: Vec<&Endorsed> = rules.endorsed.iter().filter(|e| !rules.void(e.rec, e.by)).collect();
    let structural = rules.traced(&endorsements, &BTreeSet::new());
    let mut revoked_by: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for &i in &rules.counted {
        let r = &rules.revocations[i];
        let by = revoked_by.entry(r.device).or_default();
        if !by.iter().any(|b| b == r.by) {
            by.push(r.by.to_string());
        }
    }
    let mut excluded: BTreeSet<&str> = revoked_by.keys().copied().collect();
    excluded.extend(trust.local_revoked.iter().map(String::as_str));
    let active = rules.traced(&endorsements, &excluded);
    let has = |nodes: &BTreeSet<Node>, id: &str| nodes.iter().any(|(d, _)| d == id);
    let mut m = Roster::default();
    for id in rules.values.keys() {
        let s = if has(&active, id) {
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
        } else if has(&structural, id) {
            Standing::RevokedWith
        } else {
            Standing::Unconfirmed
        };
        let person = rules
            .person_in(&active, id)
            .or_else(|| rules.person_in(&structural, id));
        if let Some(r) = rules.shown_record(id, person, &endorsements) {
            m.records.insert(id.clone(), r);
        }
        m.standing.insert(id.clone(), s);
    }
    m.names = rules.names(&structural);
    m.rotations = rules.rotations(&structural);
    m.revocations = rules
        .counted
        .iter()
        .map(|&i| {
            (
                rules.revocations[i].device.to_string(),
                rules.revocations[i].by.to_string(),
            )
        })
        .collect();
    m
}

/// THE rule for "is `id` a current, unrevoked device of this space, other than this one":
/// the network allowlist ([`crate::device::Online`], through [`crate::device::sync_members`]),
/// `duo sync` and bundle import ([`crate::bundle`]) all ask here (see [`Roster::admission`]).
/// After `duo leave`, nobody is a member.
pub fn may_sync(c: &Contents, trust: &Trust, id: &str) -> Admission {
    membership(c, trust).admission(trust, id)
}

/// This device's trust, from `<home>/local/members.age`. The first time a space is opened
/// by a duo with signed membership, every device it holds is anchored (see the module
/// documentation) and the file is written.
pub fn load_trust(o: &crate::Opened) -> Result<Trust, crate::SyncError> {
    let identity = std::sync::Arc::new(o.home.age_identity()?);
    match read_trust(&o.home, identity, &o.config)? {
        Some(t) => Ok(t),
        None => {
            let c = o.space.read_members()?.members();
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
            // Read without `read()`: that would rewrite a damaged view before `duo doctor`
            // could name it. A store that cannot be loaded is the stores' damage to report.
            let space = duo_journal::Journal::new(crate::AgeStore::new(home.space_dir(), identity));
            let Ok(c) = space.contents() else {
                return Ok(None);
            };
            let me = &config.device_id;
            // Endorsements and revocations are read from the history: one overwritten or
            // deleted since still shows that this device signed.
            let by_me = format!("/{me}");
            let signed = c.signatures.endorsements.values().any(|e| &e.by == me)
                || c.signatures.revocations.values().any(|r| &r.by == me)
                || c.records.records.iter().any(|r| {
                    (r.key.starts_with("endorse/") || r.key.starts_with("revoke/")) && r.key.ends_with(&by_me)
                });
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
    let c = space.read_members()?.members();
    let mut t = Trust::new(&config.device_id, &config.person_id);
    t.seen.extend(c.devices.keys().cloned());
    t.seen_revoked.extend(c.devices.keys().cloned());
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

/// Write a trust file into `store` (a home's `local/` store).
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

/// The membership of this device's space as it stands now.
pub fn current(o: &crate::Opened) -> Result<(Contents, Trust, Roster), crate::SyncError> {
    let c = o.space.read_members()?.members();
    let t = trust(o)?;
    let m = membership(&c, &t);
    Ok((c, t, m))
}

/// Show in `view` (read from this device's space) what the signatures say: signed device
/// records and names, marked where the document holds something else. Returns the
/// membership it worked out.
pub fn show(o: &crate::Opened, view: &mut duo_journal::View) -> Result<Roster, crate::SyncError> {
    let m = membership(&view.members(), &trust(o)?);
    m.apply_to(view);
    Ok(m)
}

/// Make sure the space holds this person's name as this device knows it (`config.json`),
/// signed by this device, unless a valid signature of it is there already. A space from
/// before signed names gets one the first time a device of each person goes online; a
/// device writes at most one signature per name, so two devices never take turns.
pub fn sign_own_name(o: &crate::Opened, now: i64) -> Result<bool, crate::SyncError> {
    let (c, t, m) = current(o)?;
    let (person, name, me) = (&o.config.person_id, &o.config.name, &o.config.device_id);
    let mine = m.is_active(me) && m.person_of(me) == Some(person.as_str());
    if t.left_at.is_some() || !mine || m.names.get(person).is_some_and(|n| n.value == *name) {
        return Ok(false);
    }
    let key = format!("name/{person}/{me}");
    if c.records
        .under(&key)
        .any(|r| r.key == key && r.str("name") == Some(name.as_str()))
    {
        return Ok(false);
    }
    let signed = sign_name(&o.secret, person, name, now);
    o.space.update(|doc| doc.put_name(&signed))?;
    Ok(true)
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
    use duo_journal::{Person, SpaceDoc};

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

    /// A shared space as a document: every write below is its own change, as on a device.
    struct Space(SpaceDoc);

    impl Space {
        fn new(devs: &[&Dev]) -> Space {
            let mut doc = SpaceDoc::new();
            doc.init_schema().unwrap();
            let mut s = Space(doc);
            for d in devs {
                s.write(|doc| {
                    let p = Person {
                        id: d.person.into(),
                        name: d.person.into(),
                    };
                    doc.add_member(&p, &d.record())
                });
            }
            s
        }
        fn write(&mut self, f: impl FnOnce(&mut SpaceDoc) -> Result<(), duo_journal::JournalError>) {
            f(&mut self.0).unwrap();
            self.0.automerge().commit();
        }
        fn contents(&mut self) -> Contents {
            self.0.contents_with_history(None)
        }
        /// Another replica with the same history so far.
        fn fork(&mut self) -> Space {
            Space(SpaceDoc::load(&self.0.save()).unwrap())
        }
        fn merge(&mut self, other: &mut Space) {
            self.0.merge(&mut other.0).unwrap();
        }
        fn endorse(&mut self, by: &Dev, dev: &Dev) {
            let e = endorse(&by.key, &dev.record(), 5);
            self.write(|doc| doc.put_endorsement(&e));
        }
        fn revoke(&mut self, by: &Dev, dev: &Dev) {
            let r = revoke(&by.key, &dev.id(), 9);
            self.write(|doc| doc.put_revocation(&r));
        }
    }

    /// Alice: a1 (root), a2 (added by a1); Bob: b1 (paired with a1), b2 (added by b1).
    fn couple() -> (Space, [Dev; 4]) {
        let [a1, a2, b1, b2] = [Dev::new(1, "A"), Dev::new(2, "A"), Dev::new(3, "B"), Dev::new(4, "B")];
        let mut s = Space::new(&[&a1, &a2, &b1, &b2]);
        s.endorse(&a1, &a2);
        s.endorse(&a1, &b1); // countersigned at pairing
        s.endorse(&b1, &a1);
        s.endorse(&b1, &b2);
        (s, [a1, a2, b1, b2])
    }

    fn paired_trust(me: &Dev, peer: &Dev) -> Trust {
        let mut t = Trust::new(&me.id(), me.person);
        t.anchors.insert(peer.id(), peer.person.into());
        t
    }

    #[test]
    fn everyone_is_active_from_every_device() {
        let (mut s, [a1, a2, b1, b2]) = couple();
        let c = s.contents();
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
                assert_eq!(may_sync(&c, &t, &d.id()) == Admission::Member, d.id() != t.me);
                assert_eq!(m.person_of(&d.id()), Some(d.person));
            }
        }
    }

    #[test]
    fn a_device_added_under_the_other_person_is_refused() {
        let (mut s, [a1, a2, b1, b2]) = couple();
        // Bob's modified client records its own key as one of Alice's devices and signs it
        // with his devices (and itself).
        let evil = Dev::new(9, "A");
        s.write(|doc| doc.put_device_record(&evil.record()));
        s.endorse(&b1, &evil);
        s.endorse(&b2, &evil);
        s.endorse(&evil, &evil);
        let c = s.contents();
        for t in [paired_trust(&a1, &b1), paired_trust(&a2, &a1)] {
            let m = membership(&c, &t);
            assert_eq!(m.standing[&evil.id()], Standing::Unconfirmed);
            assert_ne!(may_sync(&c, &t, &evil.id()), Admission::Member);
            assert_eq!(m.active().count(), 4);
        }
    }

    #[test]
    fn forged_signatures_do_not_count_and_an_overwritten_record_keeps_its_signed_value() {
        let (mut s, [a1, a2, b1, _b2]) = couple();
        let x = Dev::new(7, "A");
        s.write(|doc| doc.put_device_record(&x.record()));
        // A signature made by another key, filed under a1's name.
        let mut e = endorse(&x.key, &x.record(), 5);
        e.by = a1.id();
        s.write(|doc| doc.put_endorsement(&e));
        assert_ne!(
            may_sync(&s.contents(), &paired_trust(&b1, &a1), &x.id()),
            Admission::Member
        );
        // a1 really endorsed x, then Bob's client changed x's label, and rewrote a2's record
        // under Bob: both stay Alice's active devices, shown as they were signed, marked.
        s.endorse(&a1, &x);
        let renamed = Device {
            label: "renamed".into(),
            ..x.record()
        };
        let stolen = Device {
            person: "B".into(),
            ..a2.record()
        };
        s.write(|doc| doc.put_device_record(&renamed));
        s.write(|doc| doc.put_device_record(&stolen));
        let c = s.contents();
        for t in [paired_trust(&b1, &a1), paired_trust(&a1, &b1), paired_trust(&a2, &a1)] {
            let m = membership(&c, &t);
            assert!(m.is_active(&x.id()) && m.is_active(&a2.id()), "{m:?}");
            assert_eq!(
                m.records[&x.id()],
                Shown {
                    value: x.record(),
                    changed: true
                }
            );
            assert_eq!(
                m.records[&a2.id()],
                Shown {
                    value: a2.record(),
                    changed: true
                }
            );
            assert_eq!(
                m.records[&a1.id()],
                Shown {
                    value: a1.record(),
                    changed: false
                }
            );
        }
        // Deleting the records and signatures changes nothing either: the history has them.
        s.write(|doc| {
            for key in [format!("device/{}", x.id()), format!("endorse/{}/{}", x.id(), a1.id())] {
                automerge::transaction::Transactable::delete(doc.automerge(), automerge::ROOT, key.as_str()).unwrap();
            }
            Ok(())
        });
        let c = s.contents();
        assert!(!c.devices.contains_key(&x.id()));
        assert_eq!(may_sync(&c, &paired_trust(&a2, &a1), &x.id()), Admission::Member);
    }

    #[test]
    fn revocation_spreads_and_cascades_unless_endorsed_elsewhere() {
        let (mut s, [a1, a2, b1, b2]) = couple();
        // a2 (stolen) added a thief's device t and Alice's new laptop a3, which a1 also endorsed.
        let t = Dev::new(5, "A");
        let a3 = Dev::new(6, "A");
        s.write(|doc| doc.put_device_record(&t.record()));
        s.write(|doc| doc.put_device_record(&a3.record()));
        s.endorse(&a2, &t);
        s.endorse(&a2, &a3);
        s.endorse(&a1, &a3);
        s.revoke(&a1, &a2);
        let c = s.contents();
        for trust in [paired_trust(&a1, &b1), paired_trust(&b1, &a1), paired_trust(&b2, &b1)] {
            let m = membership(&c, &trust);
            assert!(matches!(m.standing[&a2.id()], Standing::Revoked { local: false, .. }));
            assert_eq!(m.standing[&t.id()], Standing::RevokedWith);
            assert!(m.is_active(&a3.id()) && m.is_active(&a1.id()) && m.is_active(&b2.id()));
        }
        // Deleting the revocation does not bring a2 back.
        let key = format!("revoke/{}/{}", a2.id(), a1.id());
        s.write(|doc| {
            automerge::transaction::Transactable::delete(doc.automerge(), automerge::ROOT, key.as_str()).unwrap();
            Ok(())
        });
        assert_ne!(
            may_sync(&s.contents(), &paired_trust(&b1, &a1), &a2.id()),
            Admission::Member
        );
    }

    /// A copy of a2 (stolen with its keys) acts after a1 revoked it: whatever it signs
    /// knowing the revocation counts for nothing; what it signs not knowing it (concurrent)
    /// counts, and two devices that revoke each other that way are both revoked.
    #[test]
    fn a_revoked_devices_signatures_made_after_its_revocation_count_for_nothing() {
        let (mut s, [a1, a2, b1, b2]) = couple();
        let mut thief = s.fork();
        s.revoke(&a1, &a2);
        // Causally after: the copy got the revocation (e.g. through the partner) and then
        // revokes a1, adds a device of its own and renames Alice.
        let mut after = s.fork();
        let t = Dev::new(8, "A");
        after.revoke(&a2, &a1);
        after.write(|doc| doc.put_device_record(&t.record()));
        after.endorse(&a2, &t);
        let n = sign_name(&a2.key, "A", "Mallory", 99);
        after.write(|doc| doc.put_name(&n));
        after.revoke(&t, &a1);
        let c = after.contents();
        for trust in [paired_trust(&a1, &b1), paired_trust(&b1, &a1), paired_trust(&b2, &b1)] {
            let m = membership(&c, &trust);
            assert!(m.is_active(&a1.id()), "{m:?}");
            assert!(matches!(m.standing[&a2.id()], Standing::Revoked { .. }));
            assert_eq!(m.standing[&t.id()], Standing::Unconfirmed, "{m:?}");
            assert!(m.names.get("A").is_none_or(|n| n.value != "Mallory"));
        }
        // Concurrent: the copy, not knowing the revocation, revokes a1. Both are revoked.
        thief.revoke(&a2, &a1);
        s.merge(&mut thief);
        let c = s.contents();
        for trust in [paired_trust(&b1, &a1), paired_trust(&b2, &b1)] {
            let m = membership(&c, &trust);
            assert!(matches!(m.standing[&a1.id()], Standing::Revoked { .. }), "{m:?}");
            assert!(matches!(m.standing[&a2.id()], Standing::Revoked { .. }));
            assert!(m.is_active(&b1.id()) && m.is_active(&b2.id()));
        }
    }

    /// What a copy of a2 can still do without knowing of its revocation, and what not.
    #[test]
    fn a_copy_cannot_reach_a_device_made_after_its_revocation_nor_rename_its_person() {
        let (mut s, [a1, a2, b1, _b2]) = couple();
        let n = sign_name(&a1.key, "A", "Alice", 10);
        s.write(|doc| doc.put_name(&n));
        let mut copy = s.fork();
        s.revoke(&a1, &a2);
        // Alice's new tablet, added after the revocation.
        let a3 = Dev::new(6, "A");
        s.write(|doc| doc.put_device_record(&a3.record()));
        s.endorse(&a1, &a3);
        // The copy, forking from before the revocation, revokes the tablet (whose id it
        // learnt elsewhere) and renames Alice with a time far in the future.
        copy.revoke(&a2, &a3);
        let late = sign_name(&a2.key, "A", "Mallory", i64::MAX);
        copy.write(|doc| doc.put_name(&late));
        s.merge(&mut copy);
        // With the tablet's record in the copy's past, it is after the revocation: void too.
        let mut after = s.fork();
        after.revoke(&a2, &a3);
        s.merge(&mut after);
        let c = s.contents();
        for t in [paired_trust(&a1, &b1), paired_trust(&b1, &a1), paired_trust(&a3, &a1)] {
            let m = membership(&c, &t);
            assert!(m.is_active(&a3.id()) && m.is_active(&a1.id()), "{m:?}");
            assert!(matches!(m.standing[&a2.id()], Standing::Revoked { .. }));
            assert_eq!(m.names["A"].value, "Alice");
        }
    }

    #[test]
    fn names_count_only_as_their_persons_devices_signed_them() {
        let (mut s, [a1, a2, b1, _b2]) = couple();
        assert!(
            membership(&s.contents(), &paired_trust(&a1, &b1)).names.is_empty(),
            "unsigned names"
        );
        let n = sign_name(&a2.key, "A", "Alice", 10);
        s.write(|doc| doc.put_name(&n));
        let shown = |s: &mut Space, t: &Trust| membership(&s.contents(), t).names.get("A").cloned();
        let ok = Shown {
            value: "Alice".to_string(),
            changed: false,
        };
        assert_eq!(shown(&mut s, &paired_trust(&a1, &b1)), Some(ok.clone()));
        assert_eq!(shown(&mut s, &paired_trust(&b1, &a1)), Some(ok));
        // Bob's client renames Alice: a new map under person/A, and a name he signs himself.
        s.write(|doc| {
            use automerge::transaction::Transactable;
            let am = doc.automerge();
            let o = am
                .put_object(automerge::ROOT, "person/A", automerge::ObjType::Map)
                .unwrap();
            am.put(&o, "name", "Mallory").unwrap();
            Ok(())
        });
        let forged = sign_name(&b1.key, "A", "Mallory", 50);
        s.write(|doc| doc.put_name(&forged));
        let c = s.contents();
        assert_eq!(c.persons.get("A").map(|p| p.name.as_str()), Some("Mallory"));
        for t in [paired_trust(&a1, &b1), paired_trust(&a2, &a1)] {
            let m = membership(&c, &t);
            assert_eq!(
                m.names["A"],
                Shown {
                    value: "Alice".into(),
                    changed: true
                }
            );
        }
    }

    #[test]
    fn nobody_revokes_the_other_persons_devices_for_the_space() {
        let (mut s, [a1, _a2, b1, b2]) = couple();
        s.revoke(&a1, &b2);
        let c = s.contents();
        assert_eq!(may_sync(&c, &paired_trust(&b1, &a1), &b2.id()), Admission::Member);
        assert_eq!(may_sync(&c, &paired_trust(&a1, &b1), &b2.id()), Admission::Member);
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
        let c = Space::new(&[&a1, &b1]).contents(); // no signatures at all
        let mut t = Trust::legacy(&a1.id(), "A", &c);
        assert_eq!(may_sync(&c, &t, &b1.id()), Admission::Member);
        t.left_at = Some(1);
        assert_ne!(may_sync(&c, &t, &b1.id()), Admission::Member);
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
        assert!(
            m.is_active(&bob.id()) && may_sync(&c, &t, &bob.id()) == Admission::Member,
            "{m:?}"
        );
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
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever endorsements, revocations and names Bob's devices write, no device
        /// recorded under Alice that Alice's devices did not endorse becomes active for Alice,
        /// and Alice's name stays hers.
        #[test]
        fn bob_never_adds_alices_devices(edges in proptest::collection::vec((0usize..6, 0usize..6, 0u8..3), 0..16)) {
            let devs = [Dev::new(1, "A"), Dev::new(3, "B"), Dev::new(4, "B"), Dev::new(20, "A"), Dev::new(21, "A"), Dev::new(22, "B")];
            let mut s = Space::new(&devs.iter().collect::<Vec<_>>());
            s.endorse(&devs[0], &devs[1]);
            s.endorse(&devs[1], &devs[0]);
            let n = sign_name(&devs[0].key, "A", "Alice", 1);
            s.write(|doc| doc.put_name(&n));
            // Bob's side (devs 1, 2, 5 and any key he holds: 3, 4 are forged "Alice" keys).
            for (by, to, what) in edges {
                if devs[by].person == "B" || by >= 3 {
                    match what {
                        0 => s.revoke(&devs[by], &devs[to]),
                        1 => s.endorse(&devs[by], &devs[to]),
                        _ => {
                            let n = sign_name(&devs[by].key, "A", "Mallory", 2);
                            s.write(|doc| doc.put_name(&n));
                        }
                    }
                }
            }
            let t = paired_trust(&devs[0], &devs[1]);
            let m = membership(&s.contents(), &t);
            proptest::prop_assert!(m.is_active(&devs[0].id()));
            proptest::prop_assert!(!m.is_active(&devs[3].id()) && !m.is_active(&devs[4].id()));
            proptest::prop_assert_eq!(m.names["A"].value.as_str(), "Alice");
        }
    }
}
