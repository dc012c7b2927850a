//! What `duo pair`, `duo pair join` and `duo sync` share to go online: the runtime, where to
//! bind (`DUO_BIND`), local discovery (`DUO_DISCOVERY`), the relay and its warning, and no
//! core dumps for a networked command.

use crate::ctx::Ctx;
use crate::env;
use crate::error::{CliError, Result};
use crate::output::count;
use duo_device::SyncError;
use duo_device::device::{NetOptions, Online, RelayReach};
use duo_device::net::Discovery;
use std::net::SocketAddr;
use std::time::Duration;

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::from)
}

/// `DUO_BIND` (an address like `127.0.0.1:0`) overrides where the endpoint binds.
fn bind_override() -> Result<Option<SocketAddr>> {
    match env::var(env::BIND) {
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| CliError::usage(format!("DUO_BIND='{s}' is not an address like 127.0.0.1:0"))),
        None => Ok(None),
    }
}

/// `DUO_DISCOVERY=mdns|none` (default mdns): whether pairing by code may use the local network.
pub(super) fn mdns_enabled() -> Result<bool> {
    match env::var(env::DISCOVERY).as_deref() {
        None | Some("mdns") => Ok(true),
        Some("none") => Ok(false),
        Some(other) => Err(CliError::usage(format!("DUO_DISCOVERY={other}: use mdns or none"))),
    }
}

pub(super) fn human_duration(d: std::time::Duration) -> String {
    match d.as_secs() {
        s if s % 60 == 0 => count(s as usize / 60, "minute", "minutes"),
        s => count(s as usize, "second", "seconds"),
    }
}

/// Where to bind (`DUO_BIND`) and which relay (`DUO_RELAY`, `duo relay set`) this run uses.
pub(super) fn net_options(ctx: &Ctx) -> Result<NetOptions> {
    Ok(NetOptions {
        bind: bind_override()?,
        relays: super::relay::relays(&ctx.dev)?,
    })
}

/// How long going online waits for the relay to accept this device (normally well under a
/// second).
const RELAY_WAIT: Duration = Duration::from_secs(5);

/// Bind this device's endpoint. With `reachable` and a relay configured, wait (bounded)
/// until the relay accepted this device, so devices on other networks can reach it through
/// the relay, and say once if it did not.
pub(super) async fn go_online(
    ctx: &Ctx,
    opts: &NetOptions,
    pairing: bool,
    discovery: Discovery,
    reachable: bool,
) -> std::result::Result<Online, SyncError> {
    let online = Online::bind_with(&ctx.dev, opts, pairing, discovery).await?;
    if reachable {
        relay_warning(ctx, &online, RELAY_WAIT).await;
    }
    Ok(online)
}

/// One warning if a relay is configured and this device is not connected to it (waiting at
/// most `within`).
pub(super) async fn relay_warning(ctx: &Ctx, online: &Online, within: Duration) {
    if let RelayReach::Unreachable { relay, error } = online.wait_for_relay(within).await {
        ctx.printer.warn(relay_unreachable(&relay, error.as_deref(), within));
    }
}

/// The warning for a relay that did not accept this device within `within`.
pub(super) fn relay_unreachable(relay: &str, error: Option<&str>, within: Duration) -> String {
    let why = error.map(|e| format!(" ({e})")).unwrap_or_default();
    format!(
        "the relay {relay} did not accept this device within {} s{why}; devices on other networks cannot reach it through the relay (`duo relay` shows the setting)",
        within.as_secs()
    )
}

/// A networked command handles another device's bytes: no core file may ever hold its
/// memory (the journal in plain text, the keys).
pub(super) fn no_core_dumps() -> Result<()> {
    duo_device::process::no_core_dumps().map_err(|e| {
        CliError::new(format!("could not turn off core dumps before going online ({e})"))
            .hint("nothing was sent or received; this system refused setrlimit or prctl, which duo needs before it talks to another device")
    })
}
