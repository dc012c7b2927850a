//! `duo sync --watch`: starts the watcher of `duo_device::watch` and prints what it reports,
//! as text on stderr and, with `--json`, as one JSON object per line on stdout.

use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::EntryCounts;
use duo_device::device::NetOptions;
use duo_device::handoff::OnlineLock;
use duo_device::watch::{self, End, Event, Peer, WatchError};
use serde_json::json;

/// How a watcher ended.
pub enum Watched {
    /// With this exit status.
    Exit(i32),
    /// `duo lock` stopped it: the caller drops the keys and waits for `duo unlock`.
    Locked,
}

/// Watch until Ctrl-C (exit 130), until this device leaves the space (exit 0), or until
/// `duo lock`.
pub async fn run(ctx: &Ctx, net: NetOptions, mdns: bool, lock: OnlineLock) -> Result<Watched> {
    let options = watch::Options::new(net, mdns);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match watch::watch(&ctx.dev, &options, lock, stop, |e| print(ctx, &e)).await {
        Ok(End::Stopped) => Ok(Watched::Exit(exit::INTERRUPTED)),
        Ok(End::Left) => Ok(Watched::Exit(exit::OK)),
        Ok(End::Locked) => Ok(Watched::Locked),
        Err(WatchError::GoingOnline(e)) => Err(CliError::new("could not go online")
            .cause(e)
            .hint("another program may use this device's port; `duo status` shows it")),
        Err(WatchError::Failed(e)) => Err(e.into()),
    }
}

fn print(ctx: &Ctx, e: &Event) {
    let p = &ctx.printer;
    if p.json {
        p.json_line(&event_json(e));
    }
    match e {
        Event::Online { label, addrs } => p.info(format!(
            "Online as '{}' at {addrs:?}. New entries are exchanged as they are written; Ctrl-C stops.",
            crate::output::label(label)
        )),
        Event::RelayUnreachable { relay, error, waited } => {
            p.warn(super::online::relay_unreachable(relay, error.as_deref(), *waited))
        }
        Event::Synced { peer, dialed, report } => {
            if *dialed && report.outcome.changes_sent > 0 {
                p.info(format!("sent new entries to {}", name(peer)));
            }
            if !report.entries.is_empty() {
                let counts = EntryCounts::from(&report.entries);
                p.info(format!("received {} from {}", counts.text(), name(peer)));
            }
        }
        Event::Notice(n) => super::devices::watcher_notice(ctx, n),
        Event::AnswersShared(n) => p.info(super::prompt::answers_shared(*n)),
        Event::SteppingAside => p.info("Stepping aside while another duo command on this device is online…"),
        Event::BackOnline => p.info("Back online."),
        Event::Left => p.info("This device left the shared space; the watcher stops."),
        Event::Locked => p.info(
            "duo was locked: this device went offline and the watcher forgot the keys; it comes back after `duo unlock`.",
        ),
        // Retried in the background; `--json` shows them.
        Event::LocalWrite | Event::Dialing { .. } | Event::Unreached { .. } | Event::Stopped => {}
    }
}

/// "Alice ('laptop')" (a device that opened a session before its record arrived: its id).
fn name(peer: &Peer) -> String {
    if peer.person.is_empty() {
        format!("device {}", crate::output::short(&peer.device, 12))
    } else {
        format!(
            "{} ('{}')",
            crate::output::name(&peer.person),
            crate::output::label(&peer.label)
        )
    }
}

fn peer_json(event: &str, peer: &Peer) -> serde_json::Value {
    json!({"event": event, "device": peer.device, "label": peer.label, "person": peer.person})
}

/// The `--json` form of an event (docs/cli.md lists them).
fn event_json(e: &Event) -> serde_json::Value {
    match e {
        Event::Online { label, addrs } => json!({
            "event": "online", "label": label,
            "addresses": addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
        Event::RelayUnreachable { relay, error, waited } => json!({
            "event": "relay_unreachable", "relay": relay, "error": error, "waited_secs": waited.as_secs(),
        }),
        Event::LocalWrite => json!({"event": "local_write"}),
        Event::Dialing { peer } => peer_json("dialing", peer),
        Event::Synced { peer, dialed, report } => {
            let mut v = peer_json("synced", peer);
            v["dialed"] = (*dialed).into();
            EntryCounts::from(&report.entries).add_to(&mut v);
            v["bytes_sent"] = report.outcome.bytes_sent.into();
            v["bytes_received"] = report.outcome.bytes_received.into();
            v
        }
        Event::Unreached { peer, error, retry_in } => {
            let mut v = peer_json("unreached", peer);
            v["error"] = error.as_str().into();
            v["retry_in_secs"] = retry_in.as_secs().into();
            v
        }
        Event::Notice(n) => json!({"event": "notice", "kind": n.kind.as_str(), "device": n.device}),
        Event::AnswersShared(n) => json!({"event": "answers_shared", "count": n}),
        Event::SteppingAside => json!({"event": "stepping_aside"}),
        Event::BackOnline => json!({"event": "back_online"}),
        Event::Left => json!({"event": "left"}),
        Event::Locked => json!({"event": "locked"}),
        Event::Stopped => json!({"event": "stopped"}),
    }
}
