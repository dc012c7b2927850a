//! duo on the network: one iroh endpoint per device, an allowlist enforced right after the
//! TLS handshake, and the sync protocol (`duo/sync/1`) on top.
//!
//! No address lookup service is used here: peers are dialled by their endpoint id plus the
//! addresses (and relay) this device already knows. Relays are off unless the caller
//! passes one ([`crate::relay`]). iroh's QUIC/TLS authenticates both ends by endpoint id,
//! so `conn.remote_id()` is who the peer really is.

use crate::SyncError;
use crate::relay::{Relay, Relays};
use crate::session::{self, Limits, Outcome, SessionError};
use crate::store::AgeStore;
use duo_journal::{Journal, SpaceDoc};
use iroh::endpoint::{
    AfterHandshakeOutcome, Connection, EndpointHooks, NetReportConfig, PortmapperConfig, VarInt, presets,
};
use iroh::protocol::{AcceptError, ProtocolHandler};
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayMode, SecretKey};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The sync protocol.
pub const SYNC_ALPN: &[u8] = b"duo/sync/1";

/// QUIC close code for a peer that is not a device of this space.
pub const NOT_PAIRED: u32 = 403;

/// The endpoint ids allowed to connect: the current, unrevoked devices of the space.
#[derive(Clone, Debug, Default)]
pub struct Members(Arc<RwLock<HashSet<EndpointId>>>);

impl Members {
    /// Members from the hex endpoint ids in a view's devices.
    pub fn from_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Members {
        let set = ids.into_iter().filter_map(|s| s.parse::<EndpointId>().ok()).collect();
        Members(Arc::new(RwLock::new(set)))
    }

    pub fn contains(&self, id: &EndpointId) -> bool {
        self.0.read().expect("members lock").contains(id)
    }

    /// Replace the set (after a sync brought new devices or revocations).
    pub fn replace<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        *self.0.write().expect("members lock") = ids.into_iter().filter_map(|s| s.parse().ok()).collect();
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
        if pairing || conn.side() == iroh::endpoint::Side::Client || self.0.contains(&conn.remote_id()) {
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

/// Run a session on a fresh copy of the journal and store what arrived. Nothing is stored
/// unless the session completed (automerge checked each change as the session applied it).
async fn sync_stream<R, W>(journal: &Journal<AgeStore>, r: &mut R, w: &mut W) -> Result<Report, SyncError>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let before_entries = journal.read()?.view.entries.len();
    let (mut doc, loaded): (SpaceDoc, _) = journal.load_tracked()?;
    let heads = doc.heads();
    let mut state = automerge::sync::State::new();
    let outcome = session::run(&mut doc, &mut state, r, w, Limits::default())
        .await
        .map_err(session_error)?;
    let after_entries = if doc.heads() != heads {
        journal.store_synced(&mut doc, &heads, &loaded)?
    } else {
        before_entries
    };
    Ok(Report {
        outcome,
        entries_before: before_entries,
        entries_after: after_entries,
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
    pub entries_before: usize,
    pub entries_after: usize,
}

/// Serves `duo/sync/1` for a journal.
#[derive(Clone)]
pub struct SyncService {
    journal: Arc<Journal<AgeStore>>,
    done: Option<tokio::sync::mpsc::UnboundedSender<(EndpointId, Result<Report, String>)>>,
}

impl std::fmt::Debug for SyncService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncService")
    }
}

impl SyncService {
    pub fn new(journal: Arc<Journal<AgeStore>>) -> Self {
        Self { journal, done: None }
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
        let result: Result<Report, SyncError> = async {
            let (mut send, mut recv) = conn.accept_bi().await.map_err(net)?;
            let report = sync_stream(&self.journal, &mut recv, &mut send).await;
            wind_down(&mut send, &mut recv).await;
            // The dialer closes once both sides have read everything; wait for it, bounded.
            let _ = tokio::time::timeout(WIND_DOWN, conn.closed()).await;
            report
        }
        .await;
        if let Some(tx) = &self.done {
            let _ = tx.send((peer, result.as_ref().map(Clone::clone).map_err(|e| e.to_string())));
        }
        result.map(|_| ()).map_err(AcceptError::from_err)
    }
}

/// Dial a peer and sync with it.
pub async fn sync_with(
    endpoint: &Endpoint,
    journal: &Journal<AgeStore>,
    peer: EndpointAddr,
) -> Result<Report, SyncError> {
    let conn = endpoint.connect(peer, SYNC_ALPN).await.map_err(net)?;
    let result = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(net)?;
        let report = sync_stream(journal, &mut recv, &mut send).await;
        wind_down(&mut send, &mut recv).await;
        report
    }
    .await;
    // A refusal shows up as a failed stream; the close reason says why.
    if result.is_err()
        && let Some(iroh::endpoint::ConnectionError::ApplicationClosed(close)) = conn.close_reason()
        && close.error_code == VarInt::from_u32(NOT_PAIRED)
    {
        return Err(SyncError::NotPaired);
    }
    conn.close(VarInt::from_u32(0), b"done");
    result
}
