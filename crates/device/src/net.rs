//! duo on the network: one iroh endpoint per device, an allowlist enforced right after the
//! TLS handshake, and the sync protocol (`duo/sync/2`) on top.
//!
//! No address lookup service is used here: peers are dialled by their endpoint id plus the
//! addresses (and relay) this device already knows. Relays are off unless the caller
//! passes one ([`crate::relay`]). iroh's QUIC/TLS authenticates both ends by endpoint id,
//! so `conn.remote_id()` is who the peer really is.

use crate::SyncError;
use crate::relay::{Relay, Relays};
use crate::session::{self, Limits, Outcome, Progress, SessionError};
use crate::store::AgeStore;
use automerge::ChangeHash;
use duo_journal::{EntryChanges, Journal, SpaceDoc, Storage};
use iroh::endpoint::{
    AfterHandshakeOutcome, Connection, EndpointHooks, NetReportConfig, PortmapperConfig, VarInt, presets,
};
use iroh::protocol::{AcceptError, ProtocolHandler};
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayMode, SecretKey};
use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The sync protocol.
pub const SYNC_ALPN: &[u8] = b"duo/sync/2";

/// QUIC close code for a peer that is not a device of this space.
pub const NOT_PAIRED: u32 = 403;

/// QUIC close code for a connection refused because [`MAX_SESSIONS`] sessions are running.
pub const BUSY: u32 = 429;

/// Most sync sessions a service runs at once (each holds a copy of the journal in memory);
/// connections beyond it are closed with [`BUSY`] before any byte is read.
pub const MAX_SESSIONS: usize = 4;

/// The endpoint ids allowed to connect: the current, unrevoked devices of the space.
#[derive(Clone, Default)]
pub struct Members(Arc<RwLock<HashSet<EndpointId>>>, Arc<RwLock<Option<LiveCheck>>>);

/// Asks the stored space, at each incoming handshake, whether a device is a current member
/// (`None`: could not tell, use the set). A revocation another session just stored is then
/// in force at once, whatever the loop that refreshes the set is busy with.
pub type LiveCheck = Arc<dyn Fn(&EndpointId) -> Option<bool> + Send + Sync>;

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Members").field(&self.0).finish()
    }
}

impl Members {
    /// Members from the hex endpoint ids in a view's devices.
    pub fn from_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Members {
        let set = ids.into_iter().filter_map(|s| s.parse::<EndpointId>().ok()).collect();
        Members(Arc::new(RwLock::new(set)), Arc::default())
    }

    pub fn contains(&self, id: &EndpointId) -> bool {
        self.0.read().expect("members lock").contains(id)
    }

    /// Replace the set (after a sync brought new devices or revocations).
    pub fn replace<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        *self.0.write().expect("members lock") = ids.into_iter().filter_map(|s| s.parse().ok()).collect();
    }

    /// Check each incoming device against the stored space too (see [`LiveCheck`]).
    pub fn set_live_check(&self, check: LiveCheck) {
        *self.1.write().expect("members lock") = Some(check);
    }

    /// May `id` connect? The live check when there is one and it can tell, else the set.
    async fn admits(&self, id: EndpointId) -> bool {
        let check = self.1.read().expect("members lock").clone();
        if let Some(check) = check
            && let Ok(Some(answer)) = tokio::task::spawn_blocking(move || check(&id)).await
        {
            return answer;
        }
        self.contains(&id)
    }
}

/// Refuses every incoming connection from an endpoint that is not a member, right after
/// the handshake and before any application byte is read.
#[derive(Clone, Debug)]
struct Allowlist(Members);

impl EndpointHooks for Allowlist {
    async fn after_handshake<'a>(&'a self, conn: &'a Connection) -> AfterHandshakeOutcome {
        // Pairing connections come from devices not yet known; the pairing ALPN is only
        // accepted while `duo pair` runs, and the PAKE decides who gets in.
        let pairing = conn.alpn() == crate::invite::PAIR_ALPN;
        if pairing || conn.side() == iroh::endpoint::Side::Client || self.0.admits(conn.remote_id()).await {
            AfterHandshakeOutcome::Accept
        } else {
            AfterHandshakeOutcome::Reject {
                error_code: VarInt::from_u32(NOT_PAIRED),
                reason: b"not paired".to_vec(),
            }
        }
    }
}

fn net(e: impl std::fmt::Display) -> SyncError {
    SyncError::Net(e.to_string())
}

/// Local-network discovery for pairing by code.
pub enum Discovery {
    /// No lookup at all: peers are dialled at addresses this device already knows.
    None,
    /// mDNS on the local network. `advertise` is the public user data to announce (the
    /// pairing nameplate, never the secret words); `None` only listens.
    Mdns { advertise: Option<String> },
}

/// The mDNS service name duo announces under.
pub const MDNS_SERVICE: &str = "duo";

/// Bind this device's endpoint on `bind` (e.g. `127.0.0.1:0` in tests, the persisted port
/// on a LAN), with relays off and the allowlist in place.
pub async fn endpoint(
    secret: SecretKey,
    bind: SocketAddr,
    members: Members,
    alpns: Vec<Vec<u8>>,
) -> Result<Endpoint, SyncError> {
    Ok(
        endpoint_with(secret, bind, members, alpns, Discovery::None, &Relays::disabled())
            .await?
            .0,
    )
}

/// [`endpoint`], with optional mDNS and relays; returns the mDNS handle to watch for peers.
pub async fn endpoint_with(
    secret: SecretKey,
    bind: SocketAddr,
    members: Members,
    alpns: Vec<Vec<u8>>,
    discovery: Discovery,
    relays: &Relays,
) -> Result<(Endpoint, Option<iroh_mdns_address_lookup::MdnsAddressLookup>), SyncError> {
    let transport = iroh::endpoint::QuicTransportConfig::builder()
        .max_idle_timeout(Some(Duration::from_secs(15).try_into().map_err(net)?))
        .keep_alive_interval(Duration::from_secs(4))
        .max_concurrent_bidi_streams(VarInt::from_u32(4))
        .build();
    let mut builder = Endpoint::builder(presets::Minimal)
        .secret_key(secret.clone())
        .alpns(alpns)
        .clear_address_lookup()
        .portmapper_config(PortmapperConfig::Disabled)
        .clear_ip_transports()
        .bind_addr(bind)
        .map_err(net)?
        .hooks(Allowlist(members))
        .transport_config(transport);
    builder = with_relays(builder, relays);
    let mut mdns = None;
    if let Discovery::Mdns { advertise } = discovery {
        let lookup = iroh_mdns_address_lookup::MdnsAddressLookup::builder()
            .service_name(MDNS_SERVICE)
            .advertise(advertise.is_some())
            .discovery_cadence(Duration::from_millis(500))
            .build(secret.public())
            .map_err(net)?;
        builder = builder.address_lookup(lookup.clone());
        if let Some(data) = advertise {
            builder = builder.user_data_for_address_lookup(data.parse().map_err(net)?);
        }
        mdns = Some(lookup);
    }
    let endpoint = builder.bind().await.map_err(net)?;
    Ok((endpoint, mdns))
}

/// The relay part of the endpoint: none, or the chosen relays with what they need to be
/// reached (a home relay is only chosen after it answered a net-report probe, so the HTTPS
/// probes stay on; the DNS resolver asks only the system's servers, never public fallbacks).
fn with_relays(builder: iroh::endpoint::Builder, relays: &Relays) -> iroh::endpoint::Builder {
    let mode = match &relays.relay {
        Relay::Disabled => {
            return builder
                .relay_mode(RelayMode::Disabled)
                .net_report_config(NetReportConfig::minimal());
        }
        Relay::N0 => RelayMode::Default,
        // Without QUIC address discovery, which a stock iroh-relay leaves off: probing for it
        // where nothing answers delays going online by 3 s.
        Relay::Url(url) => RelayMode::Custom(iroh::RelayMap::from(iroh::RelayConfig::new(url.clone(), None))),
    };
    let mut builder = builder
        .relay_mode(mode)
        .net_report_config(NetReportConfig::default())
        .dns_resolver(
            iroh::dns::DnsResolver::builder()
                .with_system_defaults()
                .disable_fallback()
                .build(),
        );
    if !relays.extra_roots.is_empty() {
        builder =
            builder.ca_tls_config(iroh::tls::CaTlsConfig::embedded().with_extra_roots(relays.extra_roots.clone()));
    }
    builder
}

/// The user data a device running `duo sync --watch` announces on the local network (no
/// secret: only that a duo device with this endpoint id is here, which is what mDNS is for).
pub const SYNC_ANNOUNCEMENT: &str = "sync";

/// Where mDNS last saw `id` on the local network (waiting at most `within`): the
/// addresses a device announces while it runs `duo sync --watch`.
pub async fn lookup(
    mdns: &iroh_mdns_address_lookup::MdnsAddressLookup,
    id: EndpointId,
    within: Duration,
) -> Vec<SocketAddr> {
    use iroh::address_lookup::AddressLookup;
    use n0_future::StreamExt;
    let Some(mut items) = mdns.resolve(id) else {
        return Vec::new();
    };
    let first = async {
        while let Some(item) = items.next().await {
            if let Ok(item) = item {
                let addrs: Vec<SocketAddr> = item.endpoint_info().to_endpoint_addr().ip_addrs().copied().collect();
                if !addrs.is_empty() {
                    return addrs;
                }
            }
        }
        Vec::new()
    };
    tokio::time::timeout(within, first).await.unwrap_or_default()
}

/// Wait for a device announcing `user_data` on the local network.
pub async fn find(
    mdns: &iroh_mdns_address_lookup::MdnsAddressLookup,
    user_data: &str,
    within: Duration,
) -> Option<EndpointAddr> {
    use n0_future::StreamExt;
    let mut events = mdns.subscribe().await;
    let search = async {
        while let Some(event) = events.next().await {
            if let iroh_mdns_address_lookup::DiscoveryEvent::Discovered { endpoint_info, .. } = event
                && endpoint_info
                    .user_data()
                    .map(|u| u.as_ref() == user_data)
                    .unwrap_or(false)
            {
                return Some(endpoint_info.to_endpoint_addr());
            }
        }
        None
    };
    tokio::time::timeout(within, search).await.ok().flatten()
}

/// What this device last shared with each peer (the automerge heads both had when their
/// last session completed), so the next session starts from the difference: one round
/// trip for a new entry. Local and encrypted (`<home>/local/sync/<endpoint id>.age`); a
/// missing or unreadable record only makes the next session with that peer longer.
#[derive(Clone)]
pub struct SyncStates(AgeStore);

impl SyncStates {
    /// Records kept in `store` (the device's local directory).
    pub fn new(store: AgeStore) -> Self {
        SyncStates(store)
    }

    fn name(peer: &EndpointId) -> String {
        format!("sync/{peer}")
    }

    /// The heads last shared with `peer` (`None`, a full session, when there is no record or
    /// it is damaged: `duo doctor` names a damaged one).
    pub fn load(&self, peer: &EndpointId) -> Option<Vec<ChangeHash>> {
        Self::decode(&self.0.read(&Self::name(peer)).ok()?)
    }

    fn decode(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(32) {
            return None;
        }
        Some(
            bytes
                .chunks(32)
                .map(|c| ChangeHash(c.try_into().expect("32-byte chunks")))
                .collect(),
        )
    }

    /// Every record that does not read back as [`SyncStates::load`] needs it, with why.
    pub fn damaged(&self) -> Vec<(std::path::PathBuf, String)> {
        let dir = self.0.root().join("sync");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".age").map(String::from))
            .collect();
        names.sort();
        names
            .into_iter()
            .filter_map(|peer| {
                let name = format!("sync/{peer}");
                let reason = match self.0.read(&name) {
                    Ok(bytes) if Self::decode(&bytes).is_some() => return None,
                    Ok(_) => "not a list of change hashes".to_string(),
                    Err(duo_journal::StorageError::Damaged { reason, .. }) => reason,
                    Err(e) => e.to_string(),
                };
                Some((self.0.path_of(&name), reason))
            })
            .collect()
    }

    /// Remember the heads shared with `peer`.
    pub fn save(&self, peer: &EndpointId, heads: &[ChangeHash]) -> Result<(), SyncError> {
        let bytes: Vec<u8> = heads.iter().flat_map(|h| h.0).collect();
        self.0
            .write(&Self::name(peer), &bytes)
            .map_err(|e| duo_journal::JournalError::from(e).into())
    }
}

/// The shared space kept in memory between sessions by a long-running process (a sync
/// watcher): each session then loads only the chunk files that appeared since the last
/// one ([`Journal::refresh`]) instead of the whole journal. A session takes the document
/// out and puts it back when it completed (after bringing the view up to date); a session
/// that starts meanwhile waits up to [`REPLICA_WAIT`] for it, then loads from disk, as one
/// that follows a failed session does.
#[derive(Clone, Default)]
pub struct Replica(Arc<ReplicaSlot>);

#[derive(Default)]
struct ReplicaSlot {
    loaded: std::sync::Mutex<Option<Loaded>>,
    /// The view the last session stored, kept so the next one does not read it back
    /// ([`Journal::refresh_synced_view_kept`]).
    view: std::sync::Mutex<Option<duo_journal::View>>,
    /// A session has the document (until it puts it back, or ends without doing so).
    out: std::sync::atomic::AtomicBool,
}

type Loaded = (SpaceDoc, BTreeSet<String>);

/// How long a session waits for the document another session is finishing with (it
/// brings the view up to date after winding down) before loading its own copy.
const REPLICA_WAIT: Duration = Duration::from_secs(1);

impl Replica {
    fn take(&self) -> Option<Loaded> {
        let taken = self.0.loaded.lock().ok()?.take();
        if taken.is_some() {
            self.0.out.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        taken
    }

    /// [`Replica::take`], waiting a little while another session still has the document.
    async fn take_soon(&self) -> Option<Loaded> {
        let deadline = tokio::time::Instant::now() + REPLICA_WAIT;
        loop {
            if let Some(loaded) = self.take() {
                return Some(loaded);
            }
            if !self.0.out.load(std::sync::atomic::Ordering::SeqCst) || tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Load the journal into memory now (in the background of something slower, such as
    /// people comparing verification words), so the next session starts at once.
    pub async fn preload(&self, journal: &Journal<AgeStore>) -> Result<(), SyncError> {
        let loaded = load_current(journal, self.take()).await;
        self.release();
        self.put_back(loaded?);
        Ok(())
    }

    fn put_back(&self, loaded: Loaded) {
        if let Ok(mut slot) = self.0.loaded.lock()
            && slot.is_none()
        {
            *slot = Some(loaded);
        }
        self.release();
    }

    fn take_view(&self) -> Option<duo_journal::View> {
        self.0.view.lock().ok()?.take()
    }

    fn keep_view(&self, view: Option<duo_journal::View>) {
        if let Ok(mut slot) = self.0.view.lock() {
            *slot = view;
        }
    }

    /// The session that took the document ended (whether or not it put it back).
    fn release(&self) {
        self.0.out.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Releases a taken replica when a session ends on any path.
struct Release<'a>(Option<&'a Replica>);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.0 {
            r.release();
        }
    }
}

/// Per-session options for [`sync_with`] and [`SyncService`].
#[derive(Clone, Copy, Default)]
pub struct SyncOptions<'a> {
    /// Where sync states are kept (none: every session starts from scratch).
    pub states: Option<&'a SyncStates>,
    /// Told how much of a whole document has arrived.
    pub progress: Option<Progress<'a>>,
    /// The document kept in memory between sessions, if any.
    pub replica: Option<&'a Replica>,
}

/// `cached` (if any) brought up to date with the journal, or the journal loaded (off the
/// async threads; see [`Journal::refresh`]).
async fn load_current(journal: &Journal<AgeStore>, mut cached: Option<Loaded>) -> Result<Loaded, SyncError> {
    let j = Journal::new(journal.storage().clone());
    tokio::task::spawn_blocking(move || {
        j.refresh(&mut cached)?;
        Ok(cached.expect("refreshed"))
    })
    .await
    .map_err(net)?
}

/// Which side of a connection runs [`sync_stream`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Opened the connection: stores while winding down (the service is not kept waiting).
    Dialer,
    /// Answered it: stores, then winds down, so that when the dialer's sync returns, both
    /// sides have stored (`duo sync` saying "synced" means the partner has it).
    Service,
}

/// Run a session on a copy of the journal in memory, wind the stream down and store what
/// arrived (in the order `side` says). Nothing is stored unless the session completed
/// (every change was checked as it was applied, and every head the peer announced is
/// here). Loading and storing run off the async threads, so a large journal does not
/// stall the endpoint.
async fn sync_stream(
    journal: &Journal<AgeStore>,
    peer: &EndpointId,
    options: SyncOptions<'_>,
    side: Side,
    limits: Limits,
    send: &mut iroh::endpoint::SendStream,
    recv: &mut iroh::endpoint::RecvStream,
) -> Result<Report, SyncError> {
    let cached = match options.replica {
        Some(r) => r.take_soon().await,
        None => None,
    };
    let _release = Release(options.replica);
    let (mut doc, mut loaded) = match load_current(journal, cached).await {
        Ok(x) => x,
        Err(e) => {
            wind_down(send, recv).await;
            return Err(e);
        }
    };
    let heads = doc.heads();
    let shared = options.states.and_then(|s| s.load(peer));
    let outcome = session::run(&mut doc, shared.as_deref(), recv, send, limits, options.progress).await;
    let mut outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            wind_down(send, recv).await;
            return Err(session_error(e));
        }
    };
    let whole = outcome.document.take();
    let before = heads.clone();
    let store = async move {
        if doc.heads() == heads {
            return Ok((doc, loaded, None));
        }
        let j = Journal::new(journal.storage().clone());
        tokio::task::spawn_blocking(move || {
            j.store_synced_changes(&mut doc, &heads, &mut loaded, whole.as_deref())
                .map(|view| (doc, loaded, Some(view)))
        })
        .await
        .map_err(net)?
        .map_err(SyncError::from)
    };
    let stored = match side {
        // The dialer stores while the stream winds down: the service is not kept waiting.
        Side::Dialer => tokio::join!(wind_down(send, recv), store).1,
        Side::Service => {
            let stored = store.await;
            wind_down(send, recv).await;
            stored
        }
    };
    let (mut doc, loaded, stored) = stored?;
    let mut entries = EntryChanges::default();
    // Something was stored: the view (a local cache) is brought up to date once the peer
    // is no longer waiting, after the wind-down on both sides (a failure only means the
    // next read rebuilds it), and what happened to the entries is worked out from the
    // change itself.
    if let Some(view) = stored {
        let j = Journal::new(journal.storage().clone());
        let kept = options.replica.and_then(Replica::take_view);
        let shown;
        (doc, entries, shown) = tokio::task::spawn_blocking(move || {
            // A view that could not be stored is not kept: the next session reads the
            // stored one.
            let shown = view.and_then(|view| j.refresh_synced_view_kept(&mut doc, view, kept).ok().flatten());
            let entries = doc.entry_changes(&before);
            (doc, entries, shown)
        })
        .await
        .map_err(net)?;
        if let Some(replica) = options.replica {
            replica.keep_view(shown);
        }
    }
    let entries_after = doc.entry_ids().len();
    if let Some(replica) = options.replica {
        replica.put_back((doc, loaded));
    }
    if let Some(states) = options.states {
        // Only an optimisation: a record that cannot be written makes the next session longer.
        let _ = states.save(peer, &outcome.shared_heads);
    }
    Ok(Report {
        outcome,
        entries,
        entries_after,
    })
}

fn session_error(e: SessionError) -> SyncError {
    SyncError::Net(e.to_string())
}

const WIND_DOWN: Duration = Duration::from_secs(3);

/// Finish our stream, read the peer's to its end, and wait until ours was read to its end
/// (bounded), so that an early close cannot cut off either side's last frame.
pub(crate) async fn wind_down(send: &mut iroh::endpoint::SendStream, recv: &mut iroh::endpoint::RecvStream) {
    let _ = send.finish();
    let _ = tokio::time::timeout(WIND_DOWN, async {
        tokio::join!(recv.read_to_end(64 * 1024), send.stopped())
    })
    .await;
}

/// What one sync with one peer did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    /// The entries this side received, saw edited and saw deleted (from the change itself,
    /// [`duo_journal::SpaceDoc::entry_changes`]): empty when nothing was stored.
    pub entries: EntryChanges,
    /// Entries in the shared space after the session.
    pub entries_after: usize,
}

impl Report {
    /// Add what another session with the same device did (this device dialled it while it
    /// opened a session here): its entries count too, once each, and its bytes and rounds.
    /// Without this, a dial that brought an entry followed by a served session that found
    /// nothing new read as "0 received".
    pub fn absorb(&mut self, other: Report) {
        fn union(a: &mut Vec<String>, b: Vec<String>) {
            for id in b {
                if !a.contains(&id) {
                    a.push(id);
                }
            }
        }
        union(&mut self.entries.added, other.entries.added);
        union(&mut self.entries.edited, other.entries.edited);
        union(&mut self.entries.deleted, other.entries.deleted);
        // An entry added by one session and edited by the other is new here.
        let added = self.entries.added.clone();
        self.entries.edited.retain(|id| !added.contains(id));
        let o = &mut self.outcome;
        o.rounds += other.outcome.rounds;
        o.bytes_sent += other.outcome.bytes_sent;
        o.bytes_received += other.outcome.bytes_received;
        o.changes_received += other.outcome.changes_received;
        o.changes_sent += other.outcome.changes_sent;
        o.whole_document |= other.outcome.whole_document;
        o.shared_heads = other.outcome.shared_heads;
        self.entries_after = other.entries_after;
    }
}

/// Serves `duo/sync/2` for a journal.
#[derive(Clone)]
pub struct SyncService {
    journal: Arc<Journal<AgeStore>>,
    states: Option<SyncStates>,
    replica: Option<Replica>,
    done: Option<tokio::sync::mpsc::UnboundedSender<(EndpointId, Result<Report, String>)>>,
    limits: Limits,
    sessions: Arc<tokio::sync::Semaphore>,
    busy: Arc<std::sync::atomic::AtomicU64>,
    /// Sessions running now, and the most that ever ran at once.
    running: Arc<(std::sync::atomic::AtomicUsize, std::sync::atomic::AtomicUsize)>,
}

impl std::fmt::Debug for SyncService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncService")
    }
}

impl SyncService {
    pub fn new(journal: Arc<Journal<AgeStore>>) -> Self {
        Self {
            journal,
            states: None,
            replica: None,
            done: None,
            limits: Limits::default(),
            sessions: Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS)),
            busy: Arc::default(),
            running: Arc::default(),
        }
    }

    /// Bounds on what a peer can make this service do (tests shorten the deadlines).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How many connections were refused with [`BUSY`] so far.
    pub fn refused_busy(&self) -> u64 {
        self.busy.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most sessions that ran at once so far (at most [`MAX_SESSIONS`]).
    pub fn most_at_once(&self) -> usize {
        self.running.1.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keep per-peer sync states (see [`SyncStates`]).
    pub fn with_states(mut self, states: SyncStates) -> Self {
        self.states = Some(states);
        self
    }

    /// Keep the document in memory between sessions (see [`Replica`]).
    pub fn with_replica(mut self, replica: Replica) -> Self {
        self.replica = Some(replica);
        self
    }

    /// Also report each finished session on a channel.
    pub fn with_reports(
        mut self,
        tx: tokio::sync::mpsc::UnboundedSender<(EndpointId, Result<Report, String>)>,
    ) -> Self {
        self.done = Some(tx);
        self
    }
}

impl ProtocolHandler for SyncService {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let peer = conn.remote_id();
        // Bounded concurrency: a peer that opens connection after connection gets at most
        // MAX_SESSIONS sessions (and copies of the journal); the rest are refused at once.
        let Ok(_permit) = self.sessions.clone().try_acquire_owned() else {
            self.busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            conn.close(VarInt::from_u32(BUSY), b"busy");
            return Ok(());
        };
        let now = self.running.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        self.running.1.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
        let result: Result<Report, SyncError> = async {
            let (mut send, mut recv) = conn.accept_bi().await.map_err(net)?;
            let options = SyncOptions {
                states: self.states.as_ref(),
                progress: None,
                replica: self.replica.as_ref(),
            };
            let report = sync_stream(
                &self.journal,
                &peer,
                options,
                Side::Service,
                self.limits,
                &mut send,
                &mut recv,
            )
            .await;
            // The dialer closes once both sides have read everything; wait for it, bounded.
            let _ = tokio::time::timeout(WIND_DOWN, conn.closed()).await;
            report
        }
        .await;
        self.running.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(tx) = &self.done {
            let _ = tx.send((peer, result.as_ref().map(Clone::clone).map_err(|e| e.to_string())));
        }
        result.map(|_| ()).map_err(AcceptError::from_err)
    }
}

/// A joiner's first sync, right after pairing. The inviter records the joiner before it
/// closes the pairing connection, but a refusal as "not paired" (the record not yet in
/// force) is tried again a few times, over about 4 s, before it counts.
pub async fn first_sync_with(
    endpoint: &Endpoint,
    journal: &Journal<AgeStore>,
    peer: EndpointAddr,
    options: SyncOptions<'_>,
) -> Result<Report, SyncError> {
    let mut delay = Duration::from_millis(250);
    for _ in 0..4 {
        match sync_with(endpoint, journal, peer.clone(), options).await {
            Err(SyncError::NotPaired) => tokio::time::sleep(delay).await,
            other => return other,
        }
        delay *= 2;
    }
    sync_with(endpoint, journal, peer, options).await
}

/// Dial a peer and sync with it, bounded only by the session's own deadline.
pub async fn sync_with(
    endpoint: &Endpoint,
    journal: &Journal<AgeStore>,
    peer: EndpointAddr,
    options: SyncOptions<'_>,
) -> Result<Report, SyncError> {
    let most = Limits::default().deadline;
    sync_within(endpoint, journal, peer, options, most, most).await
}

/// Dial a peer and sync with it: `connect` for it to answer (iroh sends the first packets
/// to every address and relay `peer` names at once), then `sync` for the session.
pub async fn sync_within(
    endpoint: &Endpoint,
    journal: &Journal<AgeStore>,
    peer: EndpointAddr,
    options: SyncOptions<'_>,
    connect: Duration,
    sync: Duration,
) -> Result<Report, SyncError> {
    let id = peer.id;
    let conn = tokio::time::timeout(connect, endpoint.connect(peer, SYNC_ALPN))
        .await
        .map_err(|_| SyncError::Net(format!("no answer within {} s", connect.as_secs())))?
        .map_err(net)?;
    let session = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(net)?;
        sync_stream(
            journal,
            &id,
            options,
            Side::Dialer,
            Limits::default(),
            &mut send,
            &mut recv,
        )
        .await
    };
    let result = tokio::time::timeout(sync, session).await.unwrap_or_else(|_| {
        Err(SyncError::Net(format!(
            "the sync did not finish within {} s",
            sync.as_secs()
        )))
    });
    // A refusal shows up as a failed stream; the close reason says why.
    if result.is_err()
        && let Some(iroh::endpoint::ConnectionError::ApplicationClosed(close)) = conn.close_reason()
        && close.error_code == VarInt::from_u32(NOT_PAIRED)
    {
        return Err(SyncError::NotPaired);
    }
    if result.is_err()
        && let Some(iroh::endpoint::ConnectionError::ApplicationClosed(close)) = conn.close_reason()
        && close.error_code == VarInt::from_u32(BUSY)
    {
        return Err(SyncError::Net(
            "the other device is busy with other syncs; try again in a moment".into(),
        ));
    }
    conn.close(VarInt::from_u32(0), b"done");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(added: &[&str], edited: &[&str], bytes: u64, after: usize) -> Report {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Report {
            outcome: Outcome {
                rounds: 1,
                bytes_received: bytes,
                ..Default::default()
            },
            entries: EntryChanges {
                added: ids(added),
                edited: ids(edited),
                deleted: vec![],
            },
            entries_after: after,
        }
    }

    /// A dial that brought an entry, then a session the same device opened that found
    /// nothing new: one entry received, not zero; an entry both saw counts once.
    #[test]
    fn two_sessions_with_one_device_add_up() {
        let mut dialled = report(&["e1"], &[], 1200, 5);
        dialled.absorb(report(&[], &[], 30, 5));
        assert_eq!(dialled.entries.added, vec!["e1".to_string()]);
        assert_eq!((dialled.outcome.rounds, dialled.outcome.bytes_received), (2, 1230));

        let mut dialled = report(&["e1"], &["e0"], 1200, 5);
        dialled.absorb(report(&["e2"], &["e1", "e0"], 900, 6));
        assert_eq!(dialled.entries.added, vec!["e1".to_string(), "e2".to_string()]);
        assert_eq!(
            dialled.entries.edited,
            vec!["e0".to_string()],
            "an entry new here is not also an edit"
        );
        assert_eq!(dialled.entries_after, 6);
    }
}
