//! `duo sync [--watch]`: one sync with every device, or the watcher (watch.rs).

use super::online::{go_online, human_duration, mdns_enabled, net_options, no_core_dumps, relay_warning, runtime};
use crate::args::SyncArgs;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::{EntryCounts, count};
use duo_device::SyncError;
use duo_device::device::{NetOptions, Online};
use duo_device::net::Discovery;
use std::io::IsTerminal;
use std::time::Duration;

/// How long a one-shot `duo sync` stays reachable when no device answered (`--wait`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// What `duo sync` says when no device answered: a device answers only while something
/// keeps it online.
const NOBODY: &str = "None of the other devices answered. A device answers only while `duo sync --watch`, `duo sync --wait` or the background service (`duo service install`) runs on it: start one there, or run `duo sync` on both devices within a few seconds of each other. Your entries are safe here and go out at the next sync.";

/// `duo sync [--watch]`; a watcher that `duo lock` stopped says so.
pub fn watch_or_sync(ctx: &Ctx, a: &SyncArgs) -> Result<super::watch::Watched> {
    use super::watch::Watched;
    no_core_dumps()?;
    super::leave::refuse_network(ctx)?;
    use duo_device::handoff::{Claim, claim};
    let opts = net_options(ctx)?;
    let p = &ctx.printer;
    let lock = match claim(ctx.dev.home.root(), || {
        p.info("Another duo command on this device is online; waiting for it to finish…")
    })? {
        Claim::Mine(lock) => lock,
        Claim::Watcher(_) if a.watch => {
            return Err(CliError::new("`duo sync --watch` is already running on this device")
                .hint("it keeps this device in sync; stop it with Ctrl-C first if you want to restart it"));
        }
        Claim::Watcher(w) => {
            // One endpoint per device: the running watcher syncs for us.
            p.info("`duo sync --watch` is running on this device; it syncs now for this command.");
            let results = w.sync()?;
            let code = report(ctx, &results, None);
            if code == exit::NOBODY_REACHABLE && !p.json {
                p.info("This device stays reachable while `duo sync --watch` runs here: it syncs as soon as one of them comes online.");
            }
            return Ok(Watched::Exit(code));
        }
    };
    let rt = runtime()?;
    rt.block_on(async {
        if a.watch {
            return super::watch::run(ctx, opts, mdns_enabled()?, lock).await;
        }
        refuse_damaged(ctx)?;
        let online = online_for_sync(ctx, &opts).await?;
        // Answer while dialling and waiting: a device that dials this one meanwhile (its
        // owner typed `duo sync` too) syncs as well.
        let (router, mut served) = online.serve_sync(&ctx.dev);
        let waited = a.wait.unwrap_or(DEFAULT_WAIT);
        let outcome = dial_and_wait(ctx, &online, &mut served, waited).await;
        let _ = router.shutdown().await;
        let mut results = outcome?;
        if results.iter().any(|r| r.result.is_err()) {
            relay_warning(ctx, &online, Duration::from_secs(2)).await;
        }
        online.endpoint.close().await;
        // A problem on this device is said as such, never as "not reachable".
        if let Some(i) = results.iter().position(|r| r.result.as_ref().is_err_and(is_local)) {
            let e = results.swap_remove(i).result.expect_err("an error");
            return Err(e.into());
        }
        let code = report(ctx, &results, Some(waited));
        // What this sync brought may include new devices: say so now (who is in the space
        // only, not the entries).
        if let Ok(mut view) = ctx.dev.space.read_members() {
            let _ = duo_device::membership::show(&ctx.dev, &mut view);
            super::devices::notices(ctx, &view);
        }
        drop(lock);
        Ok(Watched::Exit(code))
    })
}

/// Damaged files in the shared space stop a sync before it goes online, said as damage
/// (exit [`exit::FILE_DAMAGED`]): a session would fail to load them, which must never read
/// as "nobody answered".
fn refuse_damaged(ctx: &Ctx) -> Result<()> {
    let problems: Vec<_> = ctx.dev.space.problems()?.into_iter().filter(|p| !p.is_view()).collect();
    if problems.is_empty() {
        return Ok(());
    }
    let err = CliError::from(duo_journal::JournalError::Damaged { problems });
    Err(CliError {
        code: exit::FILE_DAMAGED,
        message: "the shared space has damaged files on this device, so duo did not sync".into(),
        ..err
    })
}

/// A failure of this device's own (its files, its keys), not of the network.
fn is_local(e: &SyncError) -> bool {
    matches!(
        e,
        SyncError::Journal(_) | SyncError::LocalDamaged { .. } | SyncError::Io { .. } | SyncError::Locked
    )
}

/// Dial every device at once (a spinner per device still dialling after half a second, on
/// a terminal); when none answered, stay reachable up to `wait` for one to dial this one.
async fn dial_and_wait(
    ctx: &Ctx,
    online: &Online,
    served: &mut duo_device::device::Served,
    wait: Duration,
) -> Result<Vec<duo_device::device::PeerResult>> {
    use duo_device::device::{after_dials, dial, dials, sync_states};
    let p = &ctx.printer;
    let dials = dials(&ctx.dev, online, &Default::default()).await?;
    let states = sync_states(&ctx.dev)?;
    let bar = p.transfer_bar();
    let progress = crate::output::Printer::transfer_progress(&bar);
    let options = duo_device::net::SyncOptions {
        states: Some(&states),
        progress: Some(&progress),
        replica: Some(&online.replica),
    };
    let spinners = Spinners::new(p);
    let all = n0_future::join_all(dials.iter().map(|d| {
        let spinners = &spinners;
        async move {
            let r = dial(&ctx.dev, online, options, d).await;
            spinners.done(&d.device);
            r
        }
    }));
    tokio::pin!(all);
    let mut results = tokio::select! {
        r = &mut all => r,
        _ = tokio::time::sleep(Duration::from_millis(500)) => {
            for d in &dials {
                spinners.start(&d.device, format!("{}: dialling…", who(&d.person, &d.label)));
            }
            all.await
        }
    };
    spinners.clear();
    bar.finish_and_clear();
    let done: Vec<_> = dials.iter().zip(results.iter()).collect();
    after_dials(&ctx.dev, &done)?;
    // Sessions other devices opened meanwhile count as answers too.
    let mut answered = results.iter().any(answered);
    while let Ok((id, Ok(report))) = served.try_recv() {
        answered = true;
        take_served(ctx, &mut results, &id.to_string(), report);
    }
    if answered || results.is_empty() || wait.is_zero() {
        return Ok(results);
    }
    // Nobody answered: stay reachable a little, so that either side can start first.
    for r in &results {
        spinners.start(
            &r.device,
            format!("waiting for {} to come online…", who(&r.person, &r.label)),
        );
    }
    if !p.json {
        p.info(format!(
            "No other device answered; this device stays reachable for {} in case one comes online (e.g. your partner runs `duo sync` too)…",
            human_duration(wait)
        ));
    }
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            got = served.recv() => match got {
                Some((id, Ok(report))) => {
                    take_served(ctx, &mut results, &id.to_string(), report);
                    break;
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    spinners.clear();
    Ok(results)
}

/// The device answered: it synced, or it refused this one (it does not know it); either
/// way nothing is gained by waiting for it.
fn answered(r: &duo_device::device::PeerResult) -> bool {
    matches!(r.result, Ok(_) | Err(SyncError::NotPaired))
}

/// "Bob's 'laptop'", escaped.
fn who(person: &str, label: &str) -> String {
    format!("{}'s '{}'", crate::output::name(person), crate::output::label(label))
}

/// A session another device opened (while this one dialled or waited): added to what the
/// dial to that device did when it succeeded, else its result stands for that device's.
fn take_served(
    ctx: &Ctx,
    results: &mut Vec<duo_device::device::PeerResult>,
    device: &str,
    report: duo_device::net::Report,
) {
    let (label, person) = match ctx.dev.space.read() {
        Ok(read) => read
            .view
            .devices
            .get(device)
            .map(|d| (d.label.clone(), read.view.person_name(&d.person)))
            .unwrap_or_default(),
        Err(_) => Default::default(),
    };
    if let Some(Ok(dialled)) = results.iter_mut().find(|r| r.device == device).map(|r| &mut r.result) {
        dialled.absorb(report);
        return;
    }
    results.retain(|r| r.device != device);
    results.push(duo_device::device::PeerResult {
        device: device.to_string(),
        label,
        person,
        result: Ok(report),
    });
}

/// One spinner per device on a terminal (indicatif; hidden when not a terminal, quiet or
/// `--json`).
struct Spinners {
    multi: indicatif::MultiProgress,
    bars: std::sync::Mutex<std::collections::BTreeMap<String, indicatif::ProgressBar>>,
    finished: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Spinners {
    fn new(p: &crate::output::Printer) -> Spinners {
        let target = if p.quiet || p.json || !std::io::stderr().is_terminal() {
            indicatif::ProgressDrawTarget::hidden()
        } else {
            indicatif::ProgressDrawTarget::stderr()
        };
        Spinners {
            multi: indicatif::MultiProgress::with_draw_target(target),
            bars: Default::default(),
            finished: Default::default(),
        }
    }

    /// Show a spinner for `device` (unless its dial already ended), or change its message.
    fn start(&self, device: &str, message: String) {
        let mut bars = self.bars.lock().expect("spinners");
        if let Some(bar) = bars.get(device) {
            bar.set_message(message);
            return;
        }
        if self.finished.lock().expect("spinners").contains(device) {
            return;
        }
        let bar = self
            .multi
            .add(indicatif::ProgressBar::new_spinner().with_message(message));
        bar.enable_steady_tick(Duration::from_millis(120));
        bars.insert(device.to_string(), bar);
    }

    fn done(&self, device: &str) {
        self.finished.lock().expect("spinners").insert(device.to_string());
        if let Some(bar) = self.bars.lock().expect("spinners").remove(device) {
            bar.finish_and_clear();
        }
    }

    fn clear(&self) {
        self.finished.lock().expect("spinners").clear();
        for (_, bar) in std::mem::take(&mut *self.bars.lock().expect("spinners")) {
            bar.finish_and_clear();
        }
    }
}

/// Go online for `duo sync`. With local discovery on (`DUO_DISCOVERY`, default mdns), the
/// peers' current addresses are looked up by mDNS (a watcher announces itself there).
async fn online_for_sync(ctx: &Ctx, opts: &NetOptions) -> Result<Online> {
    let discovery = if mdns_enabled()? {
        Discovery::Mdns { advertise: None }
    } else {
        Discovery::None
    };
    go_online(ctx, opts, false, discovery, false)
        .await
        .map_err(|e| match e {
            // A damaged local file has its own hint.
            SyncError::LocalDamaged { .. } => CliError::from(e),
            e => CliError::new("could not go online")
                .cause(e)
                .hint("another program may use this device's port; `duo status` shows it"),
        })
}

/// Print what a sync did; its exit status ([`exit::NOBODY_REACHABLE`] when devices were
/// tried and none answered; `waited`: how long this run stayed reachable for them).
fn report(ctx: &Ctx, results: &[duo_device::device::PeerResult], waited: Option<Duration>) -> i32 {
    let p = &ctx.printer;
    let code = if !results.is_empty() && !results.iter().any(answered) {
        exit::NOBODY_REACHABLE
    } else {
        exit::OK
    };
    let reached: Vec<_> = results.iter().filter(|r| r.result.is_ok()).collect();
    let counts = |r: &duo_device::device::PeerResult| {
        r.result
            .as_ref()
            .map(|x| EntryCounts::from(&x.entries))
            .unwrap_or_default()
    };
    let total = results.iter().map(counts).fold(EntryCounts::default(), |a, b| a + b);
    if p.json {
        let peers: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                let mut v = serde_json::json!({
                    "device": r.device, "label": r.label, "person": r.person,
                    "not_valid": duo_journal::text::not_valid([("person", r.person.as_str()), ("label", r.label.as_str())]),
                    "reached": r.result.is_ok(),
                    "error": r.result.as_ref().err().map(|e| e.to_string()),
                    "bytes_sent": r.result.as_ref().map(|x| x.outcome.bytes_sent).unwrap_or(0),
                    "bytes_received": r.result.as_ref().map(|x| x.outcome.bytes_received).unwrap_or(0),
                });
                counts(r).add_to(&mut v);
                v
            })
            .collect();
        let mut v = serde_json::json!({ "peers": peers, "reached": reached.len() });
        if code == exit::NOBODY_REACHABLE {
            v["waited_secs"] = waited.map_or(0, |w| w.as_secs()).into();
        }
        total.add_to(&mut v);
        p.json_value(&v);
        return code;
    }
    if results.is_empty() {
        p.info("No other device of this space has an address on this device yet (pair first), so nothing was synced.");
    } else if results.iter().all(|r| matches!(r.result, Err(SyncError::NotPaired))) {
        p.info("Every device this one reached refused it: this device was revoked in the space (or was never paired with them), so nothing was synced, and entries written here no longer go out. If it should still belong, pair it again: `duo pair --own-device` on another of your devices, `duo pair join` here.");
    } else if code == exit::NOBODY_REACHABLE {
        p.info(NOBODY);
    } else if reached.is_empty() {
        p.info("Nothing was synced: the devices that answered do not know this one (see below).");
    } else {
        p.info(format!(
            "Synced with {}; received {}.",
            count(reached.len(), "device", "devices"),
            total.text()
        ));
    }
    for r in results {
        if let Err(e) = &r.result {
            p.info(format!(
                "  {} ('{}'): not reached ({e})",
                crate::output::name(&r.person),
                crate::output::label(&r.label)
            ));
        }
    }
    code
}
