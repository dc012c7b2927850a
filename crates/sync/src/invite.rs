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
    pub person_key: Option<crate::auth::PersonKey>,
    pub retired_keys: Vec<crate::auth::PersonKey>,
}

fn net(e: impl std::fmt::Display) -> SyncError {
    SyncError::Net(e.to_string())
}

fn pair_err(e: PairError) -> SyncError {
    match e {
        PairError::WrongCode => SyncError::WrongCode,
        PairError::Declined => SyncError::Declined,
        other => SyncError::Net(other.to_string()),
    }
}

fn introduce(me: &Opened, own_device: bool, endpoint: &Endpoint) -> Result<Introduction, SyncError> {
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
    role: Role,
    code: &Code,
    mine: &Introduction,
    person_key: Option<(&crate::auth::PersonKey, &[crate::auth::PersonKey])>,
    confirm: impl FnOnce(&str, &Introduction) -> bool,
) -> Result<Paired, SyncError> {
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
        let other: Introduction = pair::exchange(&mut recv, &mut send, mine).await.map_err(pair_err)?;
        if other.device_id != conn.remote_id().to_string() {
            return Err(SyncError::Net(
                "the other device introduced itself with an id that is not its own".into(),
            ));
        }
        let yes = confirm(&verified.words, &other);
        pair::agree(&mut recv, &mut send, yes).await.map_err(pair_err)?;
        // Own device: the person key goes from inviter to joiner, only after both agreed.
        let (mut received, mut retired_keys) = (None, Vec::new());
        match (role, person_key) {
            (Role::Inviter, Some((k, retired))) if mine.own_device => {
                pair::send_person_key(&mut send, &verified, k, retired).await.map_err(pair_err)?
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
    let conn = accept_pairing(endpoint).await?;
    let result = run(
        endpoint.id(),
        &conn,
        Role::Inviter,
        code,
        &introduce(me, own_device, endpoint)?,
        Some((&me.person_key, &retired)),
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
    let view = me.space.read()?.view;
    let partner: Vec<String> = view
        .persons
        .keys()
        .filter(|p| **p != me.config.person_id)
        .cloned()
        .collect();
    if partner.is_empty() {
        return Err(SyncError::NotPartnerDevice);
    }
    let conn = accept_pairing(endpoint).await?;
    let mut stranger = false;
    let result = run(
        endpoint.id(),
        &conn,
        Role::Inviter,
        code,
        &introduce(me, false, endpoint)?,
        None,
        |words, other| {
            if partner.contains(&other.person_id) {
                confirm(words, other)
            } else {
                stranger = true;
                false
            }
        },
    )
    .await;
    let recorded = record_then_close(me, &conn, &result, false);
    let paired = result.map_err(|e| if stranger { SyncError::NotPartnerDevice } else { e })?;
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
        .map_err(|e| SyncError::Unreached(e.to_string()))?;
    let result = run(
        endpoint.id(),
        &conn,
        Role::Joiner,
        code,
        &introduce(me, false, endpoint)?,
        None,
        confirm,
    )
    .await;
    // The inviter closes once both sides have read everything; wait for that, bounded.
    let _ = tokio::time::timeout(WIND_DOWN, conn.closed()).await;
    conn.close(VarInt::from_u32(u32::from(result.is_err())), b"done");
    let paired = result?;
    let other = &paired.other;
    trust_inviter(me, other)?;
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
            crate::rotation::store_retired(&crate::rotation::pending_retired_path(&home), &identity, &paired.retired_keys)?;
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
