//! A device on the network: its endpoint, the table of addresses where it last reached its
//! peers, tickets for pairing across networks, and "sync with everyone reachable".
//!
//! The peer table is local and encrypted (`<home>/local/peers.age`): addresses never go
//! into the shared document, whose history would otherwise log where a partner was online.

use crate::code::Code;
use crate::net::{self, Members, Report, SYNC_ALPN};
use crate::relay::{Relay, Relays};
use crate::store::AgeStore;
use crate::{Opened, SyncError};
use duo_journal::Storage;
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayUrl, Watcher};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Every device [`crate::membership::may_sync`] lets in (the endpoint ids, as hex): the
/// network allowlist.
pub fn sync_members(view: &duo_journal::View, trust: &crate::membership::Trust) -> Vec<String> {
    crate::membership::membership(&view.members(), trust)
        .admitted(trust)
        .map(str::to_string)
        .collect()
}

/// The allowlist's check of an incoming device against what is stored now: the members are
/// worked out again only when the space's files or this device's trust file changed since
/// the last check, so a handshake (also a stranger's) costs a directory listing, not a read
/// of the whole space.
fn live_check(o: &Opened) -> net::LiveCheck {
    let home = o.home.clone();
    let space = duo_journal::Journal::new(o.space.storage().clone());
    let trust_file = o.home.root().join("local/members.age");
    let cache: std::sync::Mutex<Option<(String, std::collections::HashSet<String>)>> = Default::default();
    Arc::new(move |id| {
        let trust_stamp = std::fs::metadata(&trust_file)
            .ok()
            .map(|m| (m.len(), m.modified().ok()));
        let stamp = format!("{}|{trust_stamp:?}", space.storage_fingerprint().ok()?);
        let mut cached = cache.lock().ok()?;
        if cached.as_ref().is_none_or(|(s, _)| *s != stamp) {
            let o = home.open().ok()?;
            let trust = crate::membership::trust(&o).ok()?;
            let view = o.space.read_members().ok()?;
            *cached = Some((stamp, sync_members(&view, &trust).into_iter().collect()));
        }
        cached.as_ref().map(|(_, members)| members.contains(&id.to_string()))
    })
}

/// Where this device last reached each peer (endpoint id → addresses and relay). Local only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerTable {
    pub peers: BTreeMap<String, PeerAddrs>,
}

/// How to reach one peer: its direct addresses and the relay it was reachable through.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredPeer")]
pub struct PeerAddrs {
    pub addrs: Vec<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<RelayUrl>,
}

/// A peer as stored: a bare list of addresses before relays existed, an object since.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredPeer {
    Addrs(Vec<SocketAddr>),
    Full {
        addrs: Vec<SocketAddr>,
        #[serde(default)]
        relay: Option<RelayUrl>,
    },
}

impl From<StoredPeer> for PeerAddrs {
    fn from(p: StoredPeer) -> Self {
        match p {
            StoredPeer::Addrs(addrs) => PeerAddrs { addrs, relay: None },
            StoredPeer::Full { addrs, relay } => PeerAddrs { addrs, relay },
        }
    }
}

impl PeerAddrs {
    /// The peer's id with everything known about where it is.
    pub fn endpoint_addr(&self, id: EndpointId) -> EndpointAddr {
        let addr = self.addrs.iter().fold(EndpointAddr::new(id), |a, s| a.with_ip_addr(*s));
        match &self.relay {
            Some(relay) => addr.with_relay_url(relay.clone()),
            None => addr,
        }
    }
}

impl PeerTable {
    fn store(o: &Opened) -> Result<AgeStore, SyncError> {
        Ok(crate::local::store(&o.home, Arc::new(o.home.age_identity()?)))
    }

    pub fn load(o: &Opened) -> Result<PeerTable, SyncError> {
        Self::read(&Self::store(o)?)
    }

    /// The table in `local` (the home's local store); none yet is an empty table.
    pub(crate) fn read(local: &AgeStore) -> Result<PeerTable, SyncError> {
        use crate::local::LocalFile;
        let path = local.path_of("peers");
        match local.read("peers") {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| LocalFile::Peers.damaged(&path, format!("not a peer table ({e})"))),
            Err(e) if e.is_not_found() => Ok(PeerTable::default()),
            Err(e) => Err(LocalFile::Peers.storage_error(path, e)),
        }
    }

    pub fn save(&self, o: &Opened) -> Result<(), SyncError> {
        let bytes = serde_json::to_vec(self).expect("serializes");
        Self::store(o)?
            .write("peers", &bytes)
            .map_err(|e| duo_journal::JournalError::from(e).into())
    }

    /// Remember where a peer was reached: its addresses and the relay it uses, if any.
    pub fn remember(&mut self, id: &str, addrs: impl IntoIterator<Item = SocketAddr>, relay: Option<RelayUrl>) {
        let mut v: Vec<SocketAddr> = addrs.into_iter().collect();
        v.sort();
        v.dedup();
        if !v.is_empty() || relay.is_some() {
            self.peers.insert(id.to_string(), PeerAddrs { addrs: v, relay });
        }
    }
}

/// An invitation for a partner on another network: the inviter's endpoint id, addresses
/// and relay plus the one-time code.
/// `duo1:<endpoint id>@<addr>[,<addr>…][,<relay url>]#<code>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: EndpointId,
    pub addrs: Vec<SocketAddr>,
    /// The relay the inviter can be reached through, if it uses one.
    pub relay: Option<RelayUrl>,
    pub code: Code,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Ticket({}, {:?}, {:?}, {:?})",
            self.id, self.addrs, self.relay, self.code
        )
    }
}

impl Ticket {
    /// The ticket as text to hand over (contains the secret code).
    pub fn reveal(&self) -> String {
        let mut items: Vec<String> = self.addrs.iter().map(ToString::to_string).collect();
        items.extend(self.relay.iter().map(ToString::to_string));
        format!("duo1:{}@{}#{}", self.id, items.join(","), self.code.reveal())
    }

    pub fn addr(&self) -> EndpointAddr {
        PeerAddrs {
            addrs: self.addrs.clone(),
            relay: self.relay.clone(),
        }
        .endpoint_addr(self.id)
    }
}

impl FromStr for Ticket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| format!("not a duo ticket ({why}); copy the whole line `duo pair --ticket` printed");
        let rest = s
            .trim()
            .strip_prefix("duo1:")
            .ok_or_else(|| bad("a ticket starts with duo1:, and this does not"))?;
        let (id, rest) = rest.split_once('@').ok_or_else(|| bad("no @"))?;
        let (items, code) = rest.rsplit_once('#').ok_or_else(|| bad("no #"))?;
        let id: EndpointId = id.parse().map_err(|_| bad("the device id is wrong"))?;
        let mut addrs = Vec::new();
        let mut relay = None;
        for item in items.split(',').filter(|a| !a.is_empty()) {
            if item.contains("://") {
                match item.parse::<Relay>() {
                    Ok(Relay::Url(url)) if relay.is_none() => relay = Some(url),
                    Ok(_) => return Err(bad("it names more than one relay")),
                    Err(_) => return Err(bad("the relay is wrong")),
                }
            } else {
                addrs.push(item.parse::<SocketAddr>().map_err(|_| bad("an address is wrong"))?);
            }
        }
        let code: Code = code.parse().map_err(|e| format!("{}: {e}", bad("the code is wrong")))?;
        Ok(Ticket { id, addrs, relay, code })
    }
}

/// Where and how this device goes online.
#[derive(Clone, Debug, Default)]
pub struct NetOptions {
    /// The address to bind; `None` is all interfaces, and a port of 0 this device's
    /// persisted port.
    pub bind: Option<SocketAddr>,
    /// The relay this device may use (none by default).
    pub relays: Relays,
}

/// Whether this device is reachable through its relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayReach {
    /// Relays are off.
    Off,
    /// Connected to this relay.
    Online(RelayUrl),
    /// The relay did not accept a connection in time (with the last error seen, if any).
    Unreachable { relay: String, error: Option<String> },
}

/// Finished incoming sync sessions: the peer and what the session did.
pub type Served = tokio::sync::mpsc::UnboundedReceiver<(EndpointId, Result<Report, String>)>;

/// This device's endpoint and allowlist.
pub struct Online {
    pub endpoint: Endpoint,
    pub members: Members,
    /// Local discovery, when on.
    pub mdns: Option<iroh_mdns_address_lookup::MdnsAddressLookup>,
    /// The shared space kept in memory between this endpoint's sessions.
    pub replica: net::Replica,
    /// The relay choice the endpoint was bound with.
    pub relay: Relay,
}

impl Online {
    /// Bind this device's endpoint. `bind` defaults to all interfaces on the device's
    /// persisted port (so peers' recorded addresses stay valid).
    pub async fn bind(o: &Opened, opts: &NetOptions, pairing: bool) -> Result<Online, SyncError> {
        Self::bind_with(o, opts, pairing, net::Discovery::None).await
    }

    /// [`Online::bind`] with local discovery.
    pub async fn bind_with(
        o: &Opened,
        opts: &NetOptions,
        pairing: bool,
        discovery: net::Discovery,
    ) -> Result<Online, SyncError> {
        let trust = crate::membership::trust(o)?;
        if trust.left_at.is_some() {
            return Err(SyncError::Left);
        }
        // A space from before signed names gets this person's, signed, before it syncs (a
        // failure here only leaves the name unsigned until the next time).
        let _ = crate::membership::sign_own_name(o, now_ms());
        let view = o.space.read_members()?;
        let members = Members::from_ids(sync_members(&view, &trust).iter().map(String::as_str));
        members.set_live_check(live_check(o));
        let mut alpns = vec![SYNC_ALPN.to_vec()];
        if pairing {
            alpns.push(crate::invite::PAIR_ALPN.to_vec());
        }
        // Port 0 means "this device's persisted port" (a fresh one the first time). Read
        // from disk when this run has none yet: a long-running watcher that went online
        // first, stepped aside and comes back keeps the port it persisted then.
        let persisted = o.config.port.or_else(|| o.home.read_config().ok().and_then(|c| c.port));
        let port = persisted.unwrap_or(0);
        let bind = match opts.bind {
            Some(b) if b.port() == 0 => SocketAddr::new(b.ip(), port),
            Some(b) => b,
            None => SocketAddr::from(([0, 0, 0, 0], port)),
        };
        let (endpoint, mdns) =
            net::endpoint_with(o.secret.clone(), bind, members.clone(), alpns, discovery, &opts.relays).await?;
        if persisted.is_none()
            && bind.port() == 0
            && let Some(port) = endpoint.bound_sockets().first().map(SocketAddr::port)
        {
            o.home.set_port(port)?;
        }
        Ok(Online {
            endpoint,
            members,
            mdns,
            replica: net::Replica::default(),
            relay: opts.relays.relay.clone(),
        })
    }

    /// The relay this device can be reached through: the configured one, or with n0's
    /// relays the one it picked as its home (known once it is connected).
    pub fn relay_url(&self) -> Option<RelayUrl> {
        match &self.relay {
            Relay::Disabled => None,
            Relay::Url(url) => Some(url.clone()),
            Relay::N0 => self.endpoint.addr().relay_urls().next().cloned(),
        }
    }

    /// Wait (at most `within`) until this device is connected to its relay.
    pub async fn wait_for_relay(&self, within: Duration) -> RelayReach {
        if !self.relay.is_enabled() {
            return RelayReach::Off;
        }
        if tokio::time::timeout(within, self.endpoint.online()).await.is_ok()
            && let Some(url) = self
                .endpoint
                .home_relay_status()
                .get()
                .into_iter()
                .find(|s| s.is_connected())
        {
            return RelayReach::Online(url.url().clone());
        }
        let error = self
            .endpoint
            .home_relay_status()
            .get()
            .iter()
            .find_map(|s| s.last_error().map(|e| e.to_string()));
        RelayReach::Unreachable {
            relay: self.relay.to_string(),
            error,
        }
    }

    /// `addr` as this device can use it: without relays when relays are off here, so that
    /// a relay named by a peer is never contacted without this person's consent.
    pub fn usable(&self, addr: EndpointAddr) -> EndpointAddr {
        if self.relay.is_enabled() {
            return addr;
        }
        addr.ip_addrs()
            .fold(EndpointAddr::new(addr.id), |a, s| a.with_ip_addr(*s))
    }

    /// Addresses a peer can reach this device at.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        let bound = self.endpoint.bound_sockets();
        let mut v: Vec<SocketAddr> = self.endpoint.addr().ip_addrs().copied().collect();
        v.extend(bound.iter().filter(|s| !s.ip().is_unspecified()));
        v.sort();
        v.dedup();
        v
    }

    /// Answer `duo/sync/2` for this device's shared space until the router is shut down;
    /// each finished session is reported on the returned channel.
    pub fn serve_sync(&self, o: &Opened) -> (iroh::protocol::Router, Served) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let space = Arc::new(duo_journal::Journal::new(o.space.storage().clone()));
        let mut service = net::SyncService::new(space)
            .with_reports(tx)
            .with_replica(self.replica.clone());
        if let Ok(states) = sync_states(o) {
            service = service.with_states(states);
        }
        let router = iroh::protocol::Router::builder(self.endpoint.clone())
            .accept(SYNC_ALPN, service)
            .spawn();
        (router, rx)
    }

    /// This device's id, addresses and relay, for dialling it.
    pub fn endpoint_addr(&self) -> EndpointAddr {
        PeerAddrs {
            addrs: self.addrs(),
            relay: self.relay_url(),
        }
        .endpoint_addr(self.endpoint.id())
    }

    /// Let newly paired devices in.
    pub fn refresh_members(&self, o: &Opened) -> Result<(), SyncError> {
        self.refresh_members_from(o, &o.space.read_members()?)
    }

    /// [`Online::refresh_members`] from a view just read.
    pub fn refresh_members_from(&self, o: &Opened, view: &duo_journal::View) -> Result<(), SyncError> {
        let trust = crate::membership::trust(o)?;
        self.members
            .replace(sync_members(view, &trust).iter().map(String::as_str));
        Ok(())
    }
}

/// The result of syncing with one device.
#[derive(Debug)]
pub struct PeerResult {
    pub device: String,
    pub label: String,
    pub person: String,
    pub result: Result<Report, SyncError>,
}

/// How long `sync_all` waits for mDNS to say where the peers are.
const MDNS_LOOKUP: std::time::Duration = std::time::Duration::from_millis(1500);

/// What this device last shared with each peer (kept beside the peer table).
pub fn sync_states(o: &Opened) -> Result<net::SyncStates, SyncError> {
    Ok(net::SyncStates::new(PeerTable::store(o)?))
}

/// Sync with every other device of the space that has a known address. `progress` hears
/// how much of a whole document has arrived (a first sync).
pub async fn sync_all(
    o: &Opened,
    online: &Online,
    progress: Option<crate::session::Progress<'_>>,
) -> Result<Vec<PeerResult>, SyncError> {
    sync_all_but(o, online, progress, &BTreeSet::new()).await
}

/// How long dialling one device may take before it counts as not answering this time (a
/// device on the same network answers in milliseconds, through a relay in well under a
/// second). A device that does not answer is tried again later (a watcher's backoff), never
/// in front of the others: every device is dialled at once.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(4);

/// How long a whole sync with one device may take once it answered, before it is cut off
/// (a first sync of a large journal takes longer: the session's own limits apply inside).
const SYNC_WITHIN: Duration = Duration::from_secs(120);

/// One device to dial: who it is and every address known for it (iroh sends the first
/// packets to all of them, and the relay, at once, and keeps the path that answers).
pub struct Dial {
    pub device: String,
    pub label: String,
    pub person: String,
    addr: EndpointAddr,
    known: PeerAddrs,
    /// Where mDNS saw it just now, if anywhere.
    seen: Option<Vec<SocketAddr>>,
}

/// The devices [`sync_all_but`] dials: every active device of the space but this one and
/// `skip`, with a known address (from the peer table, or from mDNS when it is on).
pub async fn dials(o: &Opened, online: &Online, skip: &BTreeSet<String>) -> Result<Vec<Dial>, SyncError> {
    let view = o.space.read_members()?;
    let trust = crate::membership::trust(o)?;
    let membership = crate::membership::membership(&view.members(), &trust);
    if trust.left_at.is_some() {
        return Err(SyncError::Left);
    }
    // Keep the allowlist as current as the list of devices this run dials.
    online
        .members
        .replace(membership.active().filter(|d| **d != o.config.device_id));
    let table = PeerTable::load(o)?;
    // With local discovery on, ask mDNS where each peer is now (all at once, bounded): a
    // device whose address changed since pairing is found again on the local network.
    let mut seen: BTreeMap<String, Vec<SocketAddr>> = BTreeMap::new();
    if let Some(mdns) = &online.mdns {
        let mut lookups = tokio::task::JoinSet::new();
        // Every active device, also those this one never reached (e.g. the partner's
        // other devices): a watcher announces itself on the local network.
        for id in membership
            .active()
            .filter(|id| *id != o.config.device_id && !skip.contains(*id))
        {
            if let Ok(eid) = id.parse::<EndpointId>() {
                let (mdns, id) = (mdns.clone(), id.to_string());
                lookups.spawn(async move { (id, net::lookup(&mdns, eid, MDNS_LOOKUP).await) });
            }
        }
        while let Some(Ok((id, addrs))) = lookups.join_next().await {
            if !addrs.is_empty() {
                seen.insert(id, addrs);
            }
        }
    }
    let mut out = Vec::new();
    for (id, dev) in view
        .devices
        .iter()
        .filter(|(id, _)| **id != o.config.device_id && membership.is_active(id) && !skip.contains(*id))
    {
        let Some(mut known) = table.peers.get(id).cloned().or_else(|| {
            seen.get(id).map(|addrs| PeerAddrs {
                addrs: addrs.clone(),
                relay: None,
            })
        }) else {
            continue;
        };
        let Ok(eid) = id.parse::<EndpointId>() else { continue };
        let mut dial_known = known.clone();
        if let Some(now) = seen.get(id) {
            // Where it is now first, then where it was.
            let mut addrs = now.clone();
            addrs.extend(known.addrs.iter().filter(|a| !now.contains(a)));
            dial_known.addrs = addrs;
            known.addrs = now.clone();
        }
        out.push(Dial {
            device: id.clone(),
            label: dev.label.clone(),
            person: view.person_name(&dev.person),
            addr: online.usable(dial_known.endpoint_addr(eid)),
            known,
            seen: seen.get(id).cloned(),
        });
    }
    Ok(out)
}

/// Dial one device and sync with it: [`CONNECT_WITHIN`] for it to answer, then the sync.
/// Nothing is recorded here ([`after_dials`] does that).
pub async fn dial(o: &Opened, online: &Online, options: net::SyncOptions<'_>, d: &Dial) -> PeerResult {
    let result = net::sync_within(
        &online.endpoint,
        &o.space,
        d.addr.clone(),
        options,
        CONNECT_WITHIN,
        SYNC_WITHIN,
    )
    .await;
    PeerResult {
        device: d.device.clone(),
        label: d.label.clone(),
        person: d.person.clone(),
        result,
    }
}

/// After dials: remember where each device answered (what mDNS saw if anything, else what
/// was known), when this person's own devices last synced with this one, and take up a
/// key rotation that arrived.
pub fn after_dials(o: &Opened, done: &[(&Dial, &PeerResult)]) -> Result<(), SyncError> {
    let mut table = PeerTable::load(o)?;
    for (d, r) in done {
        if r.result.is_ok() {
            let addrs = d.seen.clone().unwrap_or_else(|| d.known.addrs.clone());
            table.remember(&d.device, addrs, d.known.relay.clone());
        }
    }
    table.save(o)?;
    let view = o.space.read_members()?;
    let reached: Vec<String> = done
        .iter()
        .filter(|(_, r)| r.result.is_ok())
        .filter(|(d, _)| {
            view.devices
                .get(&d.device)
                .is_some_and(|x| x.person == o.config.person_id)
        })
        .map(|(d, _)| d.device.clone())
        .collect();
    crate::membership::record_synced(o, &reached, now_ms())?;
    crate::rotation::after_arrival(&o.home);
    Ok(())
}

/// [`sync_all`], leaving out the devices in `skip` (endpoint ids): a watcher passing on
/// what one device just sent does not dial that device back. Every device is dialled at
/// once; this returns when each has synced or not answered within [`CONNECT_WITHIN`].
pub async fn sync_all_but(
    o: &Opened,
    online: &Online,
    progress: Option<crate::session::Progress<'_>>,
    skip: &BTreeSet<String>,
) -> Result<Vec<PeerResult>, SyncError> {
    sync_all_each(o, online, progress, skip, &|_| {}).await
}

/// [`sync_all_but`], telling `each` about every device as soon as its sync ended (the
/// devices that answered are then known before the silent ones time out).
pub async fn sync_all_each(
    o: &Opened,
    online: &Online,
    progress: Option<crate::session::Progress<'_>>,
    skip: &BTreeSet<String>,
    each: &(dyn Fn(&PeerResult) + Sync),
) -> Result<Vec<PeerResult>, SyncError> {
    let dials = dials(o, online, skip).await?;
    let states = sync_states(o)?;
    let options = net::SyncOptions {
        states: Some(&states),
        progress,
        replica: Some(&online.replica),
    };
    let results = n0_future::join_all(dials.iter().map(|d| async move {
        let r = dial(o, online, options, d).await;
        each(&r);
        r
    }))
    .await;
    let done: Vec<(&Dial, &PeerResult)> = dials.iter().zip(results.iter()).collect();
    after_dials(o, &done)?;
    Ok(results)
}

/// Now, in milliseconds since the epoch (this device's clock).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
