//! Pairing over the network (`duo/pair/1`): the inviter waits for one connection, the
//! joiner dials it, both run [`crate::pair`], exchange introductions, and after both people
//! confirmed the
//! verification words each side records the other's device (and person) in its space.
//! The joiner then receives the whole space on its first sync.

use crate::code::Code;
use crate::pair::{self, Context, PairError, Role};
use crate::{Opened, SyncError};
use duo_journal::{Device, Person};
use iroh::endpoint::{Connection, VarInt};
use iroh::{Endpoint, EndpointAddr};
use serde::{Deserialize, Serialize};

/// The pairing protocol.
pub const PAIR_ALPN: &[u8] = b"duo/pair/1";
const EKM_LABEL: &[u8] = b"EXPORTER-duo-pair-1";
const WIND_DOWN: std::time::Duration = std::time::Duration::from_secs(3);

/// What each side tells the other once both confirmed the words.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Introduction {
    pub person_id: String,
    pub name: String,
    pub device_id: String,
    pub device_label: String,
    /// From the inviter: the joiner becomes one of the inviter's own devices.
    pub own_device: bool,
    pub at: i64,
    /// Where the sender can be reached (kept in the other side's local peer table).
    #[serde(default)]
    pub addrs: Vec<std::net::SocketAddr>,
    /// The relay the sender can be reached through, when it uses one (also kept in the
    /// peer table). Older versions leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<iroh::RelayUrl>,
    /// From the inviter of an own-device join only: the devices it knows first-hand (device
    /// id → person id), which the joiner then trusts too (see [`crate::membership`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub anchors: std::collections::BTreeMap<String, String>,
    /// From the inviter of `duo pair --partner-device`: the joiner is a new device of the
    /// inviter's partner, so the inviter is already a person of the joiner's space.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partner_device: bool,
    /// The sender's space id. The joiner takes the inviter's before anything of its own
    /// reaches the space, so every device of a space holds the same id (an older duo sends
    /// none: the joiner then keeps its own, and the smallest id present counts everywhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_id: Option<String>,
    /// Never sent: who this device found the other claims to be, set once the
    /// introduction passed [`vet`], before the question.
    #[serde(skip)]
    pub claim: Claim,
}

/// Who the other device claims to be, as this device sees it; the question says so.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Claim {
    /// A person this space does not have.
    #[default]
    NewPerson,
    /// This device's own person: one of your devices (an own-device pairing).
    You,
    /// The other person already in this space (`duo pair --partner-device`).
    Partner,
}

/// Which pairing this device is in, for [`vet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `duo pair`: the joiner is a new partner.
    Partner,
    /// `duo pair --own-device`: the joiner becomes one of this person's devices.
    OwnDevice,
    /// `duo pair --partner-device`: the joiner is a new device of the partner.
    PartnerDevice,
    /// `duo pair join`: whatever the inviter says it is doing.
    Join,
}

/// Who this device is and who its space holds, taken before the pairing starts.
struct Known {
    me: String,
    persons: std::collections::BTreeMap<String, String>,
}

impl Known {
    fn of(me: &Opened) -> Result<Known, SyncError> {
        let view = me.space.read()?.view;
        Ok(Known {
            me: me.config.person_id.clone(),
            persons: view.contents.persons.into_iter().map(|(id, p)| (id, p.name)).collect(),
        })
    }
}

fn refuse(why: String) -> SyncError {
    SyncError::Introduction(format!(
        "{why}; duo refused it before asking you anything, and nothing was stored"
    ))
}

/// Check the other device's introduction before anyone is asked: its name and label must
/// be valid (no control or bidi characters, 1 to 64 characters, see
/// [`duo_journal::text::problem`]), its person id well formed, and it must not claim an
/// identity it cannot have: this device's own person outside an own-device pairing, or
/// the other person already in this space outside `--partner-device`.
fn vet(known: &Known, mode: Mode, other: &Introduction) -> Result<Claim, SyncError> {
    use duo_journal::text::{Field, field, problem};
    for (what, value) in [(Field::Name, &other.name), (Field::Label, &other.device_label)] {
        if let Some(why) = problem(value) {
            return Err(refuse(format!(
                "the other device sent a {} that is not valid ({why}): {}, which could redraw your screen or hide who it is",
                what.as_str(),
                duo_journal::text::line(value)
            )));
        }
    }
    let id = &other.person_id;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refuse(format!(
            "the other device sent a person id that is not one ({})",
            duo_journal::text::short(id, 64)
        )));
    }
    let name = field(Field::Name, &other.name);
    let yours = *id == known.me;
    let existing = known.persons.get(id).filter(|_| !yours);
    let in_space = |n: &String| field(Field::Name, n).into_owned();
    match mode {
        Mode::Partner if yours => Err(refuse(format!(
            "the other device ('{name}') says it is you (your own person), without joining as one of your devices: it would write as you"
        ))),
        Mode::Partner => match existing {
            Some(n) => Err(refuse(format!(
                "the other device says it is {}, who is already in this space: only `duo pair --partner-device` adds a device of theirs",
                in_space(n)
            ))),
            None => Ok(Claim::NewPerson),
        },
        Mode::OwnDevice if yours => Ok(Claim::You),
        Mode::OwnDevice => match existing {
            Some(n) => Err(refuse(format!(
                "the other device says it is {}'s, who is already in this space as the other person: it cannot become one of your devices",
                in_space(n)
            ))),
            None => Ok(Claim::NewPerson),
        },
        Mode::PartnerDevice => match existing {
            Some(_) => Ok(Claim::Partner),
            None => Err(SyncError::NotPartnerDevice),
        },
        Mode::Join if other.own_device => match existing {
            Some(n) => Err(refuse(format!(
                "the other device wants this device to become one of {}'s, who is already in this space as another person: your entries here would become theirs",
                in_space(n)
            ))),
            None if yours => Ok(Claim::You),
            None => Ok(Claim::NewPerson),
        },
        Mode::Join if yours => Err(refuse(format!(
            "the other device ('{name}') says it is you (your own person), without making this one of its devices: it would write as you"
        ))),
        Mode::Join if other.partner_device => match existing {
            Some(_) => Ok(Claim::Partner),
            None => Err(refuse(format!(
                "the other device ('{name}') says it is adding this device for its partner, but it is not in this device's space"
            ))),
        },
        Mode::Join => match existing {
            Some(n) => Err(refuse(format!(
                "the other device says it is {}, who is already in this space: only `duo pair --partner-device` on their side adds this device to them again",
                in_space(n)
            ))),
            None => Ok(Claim::NewPerson),
        },
    }
}

impl Introduction {
    /// The introduced device's person.
    pub fn person(&self) -> Person {
        Person {
            id: self.person_id.clone(),
            name: self.name.clone(),
        }
    }

    /// The introduced device, recorded under `person`.
    pub fn device_of(&self, person: &str) -> Device {
        Device {
            id: self.device_id.clone(),
            person: person.to_string(),
            label: self.device_label.clone(),
            added_at: self.at,
        }
    }
}

/// How a pairing ended well.
#[derive(Clone, Debug)]
pub struct Paired {
    pub words: String,
    pub other: Introduction,
    /// Own-device join, joiner side: the inviter's person key, and the keys it retired.
    pub person_key: Option<crate::person_key::PersonKey>,
    pub retired_keys: Vec<crate::person_key::PersonKey>,
}

fn net(e: impl std::fmt::Display) -> SyncError {
    SyncError::Net(e.to_string())
}

fn pair_err(e: PairError) -> SyncError {
    match e {
        PairError::WrongCode => SyncError::WrongCode,
        PairError::Declined => SyncError::Declined,
        PairError::TheyDeclined => SyncError::TheyDeclined,
        other => SyncError::Net(other.to_string()),
    }
}

fn introduce(me: &Opened, mode: Mode, endpoint: &Endpoint) -> Result<Introduction, SyncError> {
    let own_device = mode == Mode::OwnDevice;
    // Only one's own new device learns whom this device trusts.
    let anchors = if own_device {
        crate::membership::load_trust(me)?.anchors
    } else {
        Default::default()
    };
    let mut addrs: Vec<std::net::SocketAddr> = endpoint.addr().ip_addrs().copied().collect();
    addrs.extend(
        endpoint
            .bound_sockets()
            .into_iter()
            .filter(|s| !s.ip().is_unspecified()),
    );
    addrs.sort();
    addrs.dedup();
    Ok(Introduction {
        anchors,
        addrs,
        // Known once the endpoint is connected to its relay (the CLI waits for that).
        relay: endpoint.addr().relay_urls().next().cloned(),
        person_id: me.config.person_id.clone(),
        name: me.config.name.clone(),
        device_id: me.config.device_id.clone(),
        device_label: me.config.device_label.clone(),
        own_device,
        partner_device: mode == Mode::PartnerDevice,
        space_id: me.space.read()?.view.contents.space_id,
        claim: Claim::default(),
        // When this device was set up: both sides then record it with the same values.
        at: me.config.created_at,
    })
}

fn id_bytes(id: &iroh::EndpointId) -> [u8; 32] {
    *id.as_bytes()
}

async fn run(
    local: iroh::EndpointId,
    conn: &Connection,
    code: &Code,
    mine: &Introduction,
    person_key: Option<(&crate::person_key::PersonKey, &[crate::person_key::PersonKey])>,
    checked: (&Known, Mode),
    confirm: impl FnOnce(&str, &Introduction) -> bool,
) -> Result<Paired, SyncError> {
    let role = if checked.1 == Mode::Join {
        Role::Joiner
    } else {
        Role::Inviter
    };
    let mut channel = [0u8; 32];
    conn.export_keying_material(&mut channel, EKM_LABEL, b"")
        .map_err(|e| SyncError::Net(format!("{e:?}")))?;
    let (mut send, mut recv) = match role {
        Role::Inviter => conn.accept_bi().await.map_err(net)?,
        Role::Joiner => conn.open_bi().await.map_err(net)?,
    };
    let result = async {
        let me = id_bytes(&local);
        let peer = id_bytes(&conn.remote_id());
        let (inviter, joiner) = match role {
            Role::Inviter => (me, peer),
            Role::Joiner => (peer, me),
        };
        let password = code.reveal();
        let ctx = Context {
            role,
            password: &password,
            inviter,
            joiner,
            channel,
        };
        let verified = pair::handshake(&mut recv, &mut send, &ctx).await.map_err(pair_err)?;
        // Introductions come before the question, so each person confirms knowing who is
        // joining and how (an own-device join hands this device's entries to the inviter's
        // person). Nothing is stored until both said yes.
        let mut other: Introduction = pair::exchange(&mut recv, &mut send, mine).await.map_err(pair_err)?;
        if other.device_id != conn.remote_id().to_string() {
            return Err(SyncError::Net(
                "the other device introduced itself with an id that is not its own".into(),
            ));
        }
        // Refused before the question: the person is never asked about a name that could
        // redraw the screen, or an identity the other device cannot have.
        other.claim = match vet(checked.0, checked.1, &other) {
            Ok(claim) => claim,
            Err(e) => {
                let _ = pair::decline(&mut send).await;
                return Err(e);
            }
        };
        let yes = confirm(&verified.words, &other);
        pair::agree(&mut recv, &mut send, yes).await.map_err(pair_err)?;
        // Own device: the person key goes from inviter to joiner, only after both agreed.
        let (mut received, mut retired_keys) = (None, Vec::new());
        match (role, person_key) {
            (Role::Inviter, Some((k, retired))) if mine.own_device => {
                pair::send_person_key(&mut send, &verified, k, retired)
                    .await
                    .map_err(pair_err)?
            }
            (Role::Joiner, _) if other.own_device => {
                let (k, retired) = pair::recv_person_key(&mut recv, &verified).await.map_err(pair_err)?;
                received = Some(k);
                retired_keys = retired;
            }
            _ => {}
        }
        Ok(Paired {
            words: verified.words,
            other,
            person_key: received,
            retired_keys,
        })
    }
    .await;
    // Wind down so that neither side's last message is lost to an early close: finish our
    // stream, read theirs to its end, and wait until ours was read to its end (bounded).
    crate::net::wind_down(&mut send, &mut recv).await;
    result
}

/// A space id as duo makes them (hex, 32 characters; at most 64 taken from another device).
fn plausible_space_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Did the other device answer, but refuse the pairing protocol (TLS alert 120,
/// no_application_protocol)? A device stops offering it when its `duo pair` ends: the code
/// or ticket was used or expired, and `duo sync --watch` (which only syncs) took its place.
fn pairing_refused(e: &iroh::endpoint::ConnectError) -> bool {
    use iroh::endpoint::{ConnectError, ConnectingError, ConnectionError, TransportErrorCode};
    const NO_APPLICATION_PROTOCOL: u8 = 120;
    let conn = match e {
        ConnectError::Connection { source, .. } => source,
        ConnectError::Connecting {
            source: ConnectingError::ConnectionError { source, .. },
            ..
        } => source,
        _ => return false,
    };
    let refused = TransportErrorCode::crypto(NO_APPLICATION_PROTOCOL);
    match conn {
        ConnectionError::ConnectionClosed(c) => c.error_code == refused,
        ConnectionError::TransportError(t) => t.code == refused,
        _ => false,
    }
}

/// Record the joiner in the inviter's space.
fn record_joiner(me: &Opened, other: &Introduction, own_device: bool) -> Result<(), SyncError> {
    let person = if own_device { me.config.person() } else { other.person() };
    let device = other.device_of(&person.id);
    // The inviter signs the joiner's record: for a partner, this is the countersignature
    // that lets the inviter's other devices accept the partner's first device.
    let endorsement = crate::membership::endorse(&me.secret, &device, device.added_at);
    // Trusted first: a crash between the two steps leaves an anchor without a record (which
    // counts for nothing), never a record this device does not trust.
    crate::membership::update_trust(me, |trust| {
        trust.anchors.insert(device.id.clone(), person.id.clone());
        trust.seen.insert(device.id.clone());
        trust.local_revoked.remove(&device.id);
    })?;
    me.space.update(|doc| {
        doc.add_member(&person, &device)?;
        doc.put_endorsement(&endorsement)
    })?;
    Ok(())
}

/// The joiner trusts the inviter, and for an own-device join whom the inviter trusts
/// (before recording anything, see [`record_joiner`]).
fn trust_inviter(me: &Opened, other: &Introduction) -> Result<(), SyncError> {
    crate::membership::update_trust(me, |trust| {
        trust.anchors.insert(other.device_id.clone(), other.person_id.clone());
        if other.own_device {
            trust.anchors.extend(other.anchors.clone());
            trust.seen.extend(other.anchors.keys().cloned());
        }
        trust.seen.insert(other.device_id.clone());
        trust.local_revoked.remove(&other.device_id);
    })
}

/// The joiner signs the inviter's record: both people confirm at pairing.
fn endorse_inviter(me: &Opened, other: &Introduction) -> Result<(), SyncError> {
    let device = other.device_of(&other.person_id);
    let endorsement = crate::membership::endorse(&me.secret, &device, device.added_at);
    me.space.update(|doc| doc.put_endorsement(&endorsement))?;
    Ok(())
}

/// Inviter: wait on `endpoint` (which must accept [`PAIR_ALPN`]) for the joiner, pair, and
/// record it. One guess: any failure uses the code up.
pub async fn invite(
    endpoint: &Endpoint,
    me: &Opened,
    code: &Code,
    own_device: bool,
    confirm: impl FnOnce(&str, &Introduction) -> bool,
) -> Result<Paired, SyncError> {
    if !own_device && me.space.read()?.view.persons.len() >= 2 {
        return Err(SyncError::SpaceFull);
    }
    let retired = crate::rotation::load_retired(&crate::rotation::retired_path(&me.home), &me.identity)?;
    let mode = if own_device { Mode::OwnDevice } else { Mode::Partner };
    let known = Known::of(me)?;
    let conn = accept_pairing(endpoint).await?;
    let result = run(
        endpoint.id(),
        &conn,
        code,
        &introduce(me, mode, endpoint)?,
        Some((&me.person_key, &retired)),
        (&known, mode),
        confirm,
    )
    .await;
    let recorded = record_then_close(me, &conn, &result, own_device);
    let paired = result?;
    recorded?;
    Ok(paired)
}

/// Both sides have read everything (see `run`): record the joiner, then close. The joiner
/// waits for this close before it dials for its first sync, which the allowlist admits only
/// once the joiner is recorded (closing first let a quick joiner be refused as a stranger).
fn record_then_close(
    me: &Opened,
    conn: &Connection,
    result: &Result<Paired, SyncError>,
    own_device: bool,
) -> Result<(), SyncError> {
    let recorded = match result {
        Ok(paired) => record_joiner(me, &paired.other, own_device),
        Err(_) => Ok(()),
    };
    conn.close(
        VarInt::from_u32(u32::from(result.is_err() || recorded.is_err())),
        b"done",
    );
    recorded
}

/// The first pairing connection that arrives on `endpoint`.
async fn accept_pairing(endpoint: &Endpoint) -> Result<Connection, SyncError> {
    loop {
        let incoming = endpoint.accept().await.ok_or_else(|| net("the endpoint closed"))?;
        let Ok(accepting) = incoming.accept() else { continue };
        match accepting.await {
            Ok(conn) if conn.alpn() == PAIR_ALPN => return Ok(conn),
            Ok(conn) => conn.close(VarInt::from_u32(0), b"not now"),
            Err(_) => continue,
        }
    }
}

/// Inviter, for a NEW device of the partner: one restored from a backup (`duo restore`)
/// when none of the partner's devices is left to pair it with. A partner pairing in a
/// space that already has both people, where the joiner must introduce itself as the
/// partner's person (already in this space, and not this device's person); any other
/// joiner is refused before the question, so nothing is stored on either side.
pub async fn invite_partner_device(
    endpoint: &Endpoint,
    me: &Opened,
    code: &Code,
    confirm: impl FnOnce(&str, &Introduction) -> bool,
) -> Result<Paired, SyncError> {
    let known = Known::of(me)?;
    if !known.persons.keys().any(|p| *p != known.me) {
        return Err(SyncError::NotPartnerDevice);
    }
    let conn = accept_pairing(endpoint).await?;
    let result = run(
        endpoint.id(),
        &conn,
        code,
        &introduce(me, Mode::PartnerDevice, endpoint)?,
        None,
        (&known, Mode::PartnerDevice),
        confirm,
    )
    .await;
    let recorded = record_then_close(me, &conn, &result, false);
    let paired = result?;
    recorded?;
    Ok(paired)
}

/// Joiner: dial the inviter, pair, and record it. With `own_device`, this device becomes
/// one of the inviter's person's devices: its own name is replaced and the entries it wrote
/// before pairing are attributed to that person.
pub async fn join(
    endpoint: &Endpoint,
    me: &mut Opened,
    inviter: EndpointAddr,
    code: &Code,
    confirm: impl FnOnce(&str, &Introduction) -> bool,
) -> Result<Paired, SyncError> {
    let known = Known::of(me)?;
    // Only reaching the inviter is timed here; the steps after it have their own deadlines
    // that leave people time to compare the words.
    let connect = tokio::time::timeout(std::time::Duration::from_secs(15), endpoint.connect(inviter, PAIR_ALPN));
    let conn = connect
        .await
        .map_err(|_| {
            SyncError::Unreached(
                "it did not answer within 15 s (a code works once: if `duo pair` has stopped, ask for a new one)"
                    .into(),
            )
        })?
        .map_err(|e| {
            if pairing_refused(&e) {
                SyncError::PairingOver
            } else {
                SyncError::Unreached(e.to_string())
            }
        })?;
    let result = run(
        endpoint.id(),
        &conn,
        code,
        &introduce(me, Mode::Join, endpoint)?,
        None,
        (&known, Mode::Join),
        confirm,
    )
    .await;
    // The inviter closes once both sides have read everything; wait for that, bounded.
    let _ = tokio::time::timeout(WIND_DOWN, conn.closed()).await;
    conn.close(VarInt::from_u32(u32::from(result.is_err())), b"done");
    let paired = result?;
    let other = &paired.other;
    trust_inviter(me, other)?;
    // The inviter's space id, before anything else is written: every value of it that
    // this device's changes carry is then the inviter's (docs/storage.md, the `space` row).
    if let Some(id) = other.space_id.as_deref().filter(|id| plausible_space_id(id)) {
        me.space.update(|doc| doc.adopt_space_id(id))?;
    }
    let inviter_person = other.person();
    let inviter_device = other.device_of(&other.person_id);
    if other.own_device {
        let join = crate::home::PendingJoin {
            old_person: me.config.person_id.clone(),
            person: inviter_person,
            inviter: inviter_device,
        };
        let home = me.home.clone();
        if let Some(k) = &paired.person_key {
            let identity = home.age_identity()?;
            crate::rotation::store_retired(
                &crate::rotation::pending_retired_path(&home),
                &identity,
                &paired.retired_keys,
            )?;
            k.store(&home.pending_person_key_path(), &identity)?;
        }
        home.join_person(me, join)?;
    } else {
        me.space
            .update(|doc| doc.add_member(&inviter_person, &inviter_device))?;
    }
    endorse_inviter(me, other)?;
    Ok(paired)
}
