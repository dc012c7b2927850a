//! `duo pair`, `duo pair join`, `duo sync [--watch]` (`duo devices` is in devices.rs).

use crate::args::{PairArgs, PairCommand, SyncArgs};
use crate::ctx::Ctx;
use crate::env;
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::{EntryCounts, count};
use duo_sync::code::Code;
use duo_sync::device::{NetOptions, Online, PeerTable, RelayReach, Ticket};
use duo_sync::net::Discovery;
use duo_sync::{SyncError, invite};
use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn runtime() -> Result<tokio::runtime::Runtime> {
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
fn mdns_enabled() -> Result<bool> {
    match env::var(env::DISCOVERY).as_deref() {
        None | Some("mdns") => Ok(true),
        Some("none") => Ok(false),
        Some(other) => Err(CliError::usage(format!("DUO_DISCOVERY={other}: use mdns or none"))),
    }
}

/// How long a code or ticket stays valid: 10 minutes, or `DUO_PAIR_EXPIRY_SECS` (1–600;
/// documented for tests and for anyone who wants a shorter window).
fn pair_expiry() -> Result<std::time::Duration> {
    match env::var(env::PAIR_EXPIRY_SECS) {
        Some(v) => match v.parse::<u64>() {
            Ok(n @ 1..=600) => Ok(std::time::Duration::from_secs(n)),
            _ => Err(CliError::usage(format!(
                "DUO_PAIR_EXPIRY_SECS='{v}' is not a number of seconds from 1 to 600"
            ))),
        },
        None => Ok(std::time::Duration::from_secs(600)),
    }
}

fn human_duration(d: std::time::Duration) -> String {
    match d.as_secs() {
        s if s % 60 == 0 => count(s as usize / 60, "minute", "minutes"),
        s => count(s as usize, "second", "seconds"),
    }
}

fn pairing_prefix(nameplate: u16) -> String {
    format!("duo-pair={nameplate}")
}

/// Where to bind (`DUO_BIND`) and which relay (`DUO_RELAY`, `duo relay set`) this run uses.
fn net_options(ctx: &Ctx) -> Result<NetOptions> {
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
async fn go_online(
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
async fn relay_warning(ctx: &Ctx, online: &Online, within: Duration) {
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

fn sync_error(e: SyncError) -> CliError {
    match e {
        SyncError::WrongCode | SyncError::Declined | SyncError::SpaceFull | SyncError::NotPaired => CliError::new(e),
        SyncError::TheyDeclined => {
            CliError::new(e).hint("if you both still want to pair, start again with `duo pair` (a new code)")
        }
        SyncError::Introduction(_) => CliError::new(e).hint(
            "if you expected this device, ask its owner what it shows; if you did not, someone else may know your code: start again with a new one, with nobody else listening",
        ),
        SyncError::NotPartnerDevice => CliError::new(e).hint(
            "`duo pair --partner-device` only adds a device of your partner's; for a new partner, or your own device, see `duo pair --help`",
        ),
        other => other.into(),
    }
}

/// Read one line (a code or ticket) from the terminal or stdin; never from argv.
fn read_secret_line(prompt: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        crate::output::prompt(prompt);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// Which side of which pairing this device is, for the question.
#[derive(Clone, Copy)]
enum Side {
    Inviting { own_device: bool, partner_device: bool },
    Joining,
}

/// Who the other device claims to be and what saying yes does. The library has refused
/// names that are not valid and identities the other device cannot have (see
/// `invite::Claim`); the name is escaped all the same.
fn describe(other: &invite::Introduction, side: Side) -> String {
    use invite::Claim;
    let name = crate::output::name(&other.name);
    let label = crate::output::label(&other.device_label);
    match side {
        Side::Inviting { own_device: true, .. } if other.claim == Claim::You => {
            format!(
                "The other device is '{label}', already one of your devices ({name}): it joins again as one of yours."
            )
        }
        Side::Inviting { own_device: true, .. } => format!(
            "The other device is '{label}', set up as {name} (a new person here): it will become one of your devices."
        ),
        Side::Inviting {
            partner_device: true, ..
        } => format!(
            "The other device is {name}'s '{label}': a new device of {name}'s, who is already in this space (your partner). Check with them that it is theirs."
        ),
        Side::Inviting { .. } => format!(
            "The other device is {name}'s '{label}': {name} is a new person here and becomes your partner in this space."
        ),
        Side::Joining if other.own_device && other.claim == Claim::You => format!(
            "The other device is your own '{label}' ({name}): this device joins it as one of your devices again."
        ),
        Side::Joining if other.own_device => format!(
            "The other device is {name}'s '{label}'. Say yes only if it is yours: this device becomes one of {name}'s devices, your name here becomes {name}, and the entries written here become {name}'s (private ones stay on this device)."
        ),
        Side::Joining if other.claim == Claim::Partner => format!(
            "The other device is {name}'s '{label}': {name} is already in this space (your partner), and adds this device back to it."
        ),
        Side::Joining => format!(
            "The other device is {name}'s '{label}': {name} is a new person here and becomes your partner in this space."
        ),
    }
}

/// Set when the person pressed Ctrl-C at the pairing question (the other device was told
/// no, so it stops waiting at once).
static STOPPED_AT_QUESTION: AtomicBool = AtomicBool::new(false);

/// Say who the other device claims to be, then the words, last, right before the question
/// (nothing printed after them could redraw them); ask unless --yes. Runs inside the async
/// runtime, so blocking on the terminal is moved off its worker. After a yes, say whom this
/// device now waits for.
fn confirm_words(words: &str, other: &invite::Introduction, side: Side, yes: bool) -> bool {
    crate::output::stderr(&format!(
        "\n{}\nCheck that the other screen shows the same words.",
        describe(other, side)
    ));
    crate::output::stderr(&format!("Verification words: {words}"));
    let confirmed = yes || tokio::task::block_in_place(ask_on_tty);
    if confirmed {
        crate::output::stderr(&format!(
            "Waiting for {} to confirm on '{}'…",
            crate::output::name(&other.name),
            crate::output::label(&other.device_label)
        ));
    }
    confirmed
}

/// The question, on the terminal. Ctrl-C answers no (and is remembered), so the other
/// device hears it at once instead of waiting for a connection that went silent; from then
/// on Ctrl-C stops duo as usual.
fn ask_on_tty() -> bool {
    let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty");
    let Ok(mut tty) = tty else {
        crate::output::stderr("No terminal to confirm on; run with --yes in scripts.");
        return false;
    };
    let _ = write!(tty, "Do the words match, and do you want this? [y/N] ");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = std::io::BufReader::new(&tty).read_line(&mut answer);
        let _ = tx.send(matches!(answer.trim(), "y" | "Y" | "yes"));
    });
    let rt = tokio::runtime::Handle::current();
    let answer = rt.block_on(async {
        tokio::select! {
            answer = rx => answer.unwrap_or(false),
            _ = tokio::signal::ctrl_c() => {
                STOPPED_AT_QUESTION.store(true, Ordering::SeqCst);
                crate::output::stderr("");
                false
            }
        }
    });
    // duo now handles SIGINT itself: keep Ctrl-C stopping it.
    rt.spawn(async {
        loop {
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(exit::INTERRUPTED);
            }
        }
    });
    answer
}

/// A pairing that ended at the question because of Ctrl-C here.
fn stopped_at_question() -> Option<CliError> {
    STOPPED_AT_QUESTION.load(Ordering::SeqCst).then(|| CliError {
        code: exit::INTERRUPTED,
        ..CliError::new("pairing stopped at the question: nothing was stored, and the other device was told")
    })
}

/// A networked command handles another device's bytes: no core file may ever hold its
/// memory (the journal in plain text, the keys).
fn no_core_dumps() -> Result<()> {
    duo_sync::process::no_core_dumps().map_err(|e| {
        CliError::new(format!("could not turn off core dumps before going online ({e})"))
            .hint("nothing was sent or received; this system refused setrlimit or prctl, which duo needs before it talks to another device")
    })
}

pub fn pair(mut ctx: Ctx, a: &PairArgs) -> Result<i32> {
    no_core_dumps()?;
    super::leave::refuse_network(&ctx)?;
    let opts = net_options(&ctx)?;
    let p = &ctx.printer;
    let _online = duo_sync::handoff::claim_exclusive(ctx.dev.home.root(), || {
        p.info("Another duo command on this device is online; waiting for it (`duo sync --watch` steps aside and comes back after pairing)…")
    })?;
    let rt = runtime()?;
    match &a.join {
        Some(PairCommand::Join(j)) => rt.block_on(join(&mut ctx, &opts, j.ticket, j.yes)),
        None => rt.block_on(invite_cmd(&ctx, &opts, a)),
    }
}

async fn invite_cmd(ctx: &Ctx, opts: &NetOptions, a: &PairArgs) -> Result<i32> {
    let p = &ctx.printer;
    if !a.own_device && !a.partner_device && ctx.dev.space.read()?.view.persons.len() >= 2 {
        return Err(sync_error(SyncError::SpaceFull).hint(
            "if your partner restored a backup on a new device and has no other device left, use `duo pair --partner-device`",
        ));
    }
    if a.partner_device && ctx.dev.space.read()?.view.persons.len() < 2 {
        return Err(CliError::new("there is no partner in this space yet, so there is no device of theirs to add")
            .hint("`duo pair` pairs your partner's first device; `--partner-device` is for a new device of a partner already here"));
    }
    let code = Code::generate();
    let expiry = pair_expiry()?;
    let online = if a.ticket {
        go_online(ctx, opts, true, Discovery::None, true).await?
    } else {
        if !mdns_enabled()? {
            return Err(CliError::new(
                "pairing by code finds the other device on the local network, and DUO_DISCOVERY=none turns that off",
            )
            .hint("use `duo pair --ticket` here and `duo pair join --ticket` on the other device"));
        }
        // Only the nameplate is announced; the secret words never leave this screen.
        let discovery = Discovery::Mdns {
            advertise: Some(pairing_prefix(code.nameplate())),
        };
        go_online(ctx, opts, true, discovery, true).await?
    };
    // Who joins, and where they type: "your partner" runs it on their device, you on your
    // other device.
    let (whom, there) = if a.own_device {
        ("your other device", "On your other device, run")
    } else if a.partner_device {
        ("your partner", "On their new device they run")
    } else {
        ("your partner", "On their device they run")
    };
    if a.ticket {
        let ticket = Ticket {
            id: online.endpoint.id(),
            addrs: online.addrs(),
            relay: online.relay_url(),
            code: code.clone(),
        };
        let text = ticket.reveal();
        p.data(&text);
        // The QR code holds the secret too: only for a person looking at a terminal.
        if !a.no_qr
            && std::io::stderr().is_terminal()
            && let Some(qr) = crate::qr::render(&text)
        {
            p.info(qr);
        }
        if ticket.relay.is_none() {
            p.info(
                "Relays are off, so the joining device must reach one of this device's addresses directly (the same network, a VPN). For devices on different networks, set a relay first: `duo relay set https://your-relay.example.org` (your own iroh-relay) or `duo relay set n0`.",
            );
        }
        let give = if a.own_device {
            "Copy this ticket to your other device".to_string()
        } else {
            format!("Give this ticket to {whom}")
        };
        p.info(format!(
            "{give}. {there}:\n    duo pair join --ticket\nand paste it. Waiting (it works once, for {})…",
            human_duration(expiry)
        ));
    } else {
        p.data(&code.reveal());
        let tell = if a.own_device {
            "Type this code on your other device".to_string()
        } else {
            format!("Tell {whom} this code")
        };
        p.info(format!(
            "{tell}. {there}, on the same network:\n    duo pair join\nand type it. Waiting (it works once, for {})…",
            human_duration(expiry)
        ));
    }
    let side = Side::Inviting {
        own_device: a.own_device,
        partner_device: a.partner_device,
    };
    let wait = async {
        if a.partner_device {
            invite::invite_partner_device(&online.endpoint, &ctx.dev, &code, |w, o| {
                confirm_words(w, o, side, a.yes)
            })
            .await
        } else {
            invite::invite(&online.endpoint, &ctx.dev, &code, a.own_device, |w, o| {
                confirm_words(w, o, side, a.yes)
            })
            .await
        }
    };
    let what = if a.ticket { "ticket" } else { "code" };
    // While waiting, load the space into memory, so the joiner's first sync starts at once.
    let (waited, _) = tokio::join!(
        tokio::time::timeout(expiry, wait),
        online.replica.preload(&ctx.dev.space)
    );
    let paired = waited
        .map_err(|_| {
            CliError::new(format!(
                "nobody joined within {}; the {what} has expired",
                human_duration(expiry)
            ))
            .hint(format!("run `{}` again for a new one", pair_command(a)))
        })?
        .map_err(|e| stopped_at_question().unwrap_or_else(|| sync_error(e)))?;
    let mut table = PeerTable::load(&ctx.dev)?;
    table.remember(
        &paired.other.device_id,
        paired.other.addrs.clone(),
        paired.other.relay.clone(),
    );
    table.save(&ctx.dev)?;
    online.refresh_members(&ctx.dev)?;
    p.info(format!(
        "Paired with {} ('{}'). Sending them the space…",
        crate::output::name(&paired.other.name),
        crate::output::label(&paired.other.device_label)
    ));
    // Serve the joiner's first sync.
    let (router, mut rx) = online.serve_sync(&ctx.dev);
    let served = tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv()).await;
    let _ = router.shutdown().await;
    match served {
        Ok(Some((_, Ok(r)))) => p.info(format!(
            "Done: {} now.",
            count(r.entries_after, "shared entry", "shared entries")
        )),
        _ => p.info("Paired. The first sync did not finish; it happens at the next `duo sync`."),
    }
    Ok(exit::OK)
}

/// The `duo pair` command line that was run (its flags that matter), for "run it again".
fn pair_command(a: &PairArgs) -> String {
    let mut cmd = String::from("duo pair");
    for (on, flag) in [
        (a.own_device, " --own-device"),
        (a.partner_device, " --partner-device"),
        (a.ticket, " --ticket"),
    ] {
        if on {
            cmd.push_str(flag);
        }
    }
    cmd
}

async fn join(ctx: &mut Ctx, opts: &NetOptions, with_ticket: bool, yes: bool) -> Result<i32> {
    let mut ticket_relay = None;
    let (online, code, addr, known_addrs) = if with_ticket {
        let line = read_secret_line("Paste the ticket: ")?;
        let ticket: Ticket = line.parse().map_err(CliError::usage)?;
        let online = go_online(ctx, opts, false, Discovery::None, true).await?;
        ticket_relay = ticket.relay.clone();
        if let Some(url) = &ticket.relay
            && !online.relay.is_enabled()
        {
            ctx.printer.info(format!(
                "The ticket names the relay {url}, but relays are off on this device, so only the other device's direct addresses are tried."
            ));
        }
        (online, ticket.code.clone(), ticket.addr(), ticket.addrs.clone())
    } else {
        if !mdns_enabled()? {
            return Err(CliError::new(
                "pairing by code finds the other device on the local network, and DUO_DISCOVERY=none turns that off",
            )
            .hint("ask for a ticket (`duo pair --ticket`) and run `duo pair join --ticket`"));
        }
        let line = read_secret_line("Type the code: ")?;
        let code: Code = line
            .parse()
            .map_err(|e: duo_sync::code::ParseCodeError| CliError::usage(e))?;
        let discovery = Discovery::Mdns { advertise: None };
        let online = go_online(ctx, opts, false, discovery, true).await?;
        let mdns = online.mdns.as_ref().expect("mdns requested");
        let found = duo_sync::net::find(
            mdns,
            &pairing_prefix(code.nameplate()),
            std::time::Duration::from_secs(10),
        )
        .await;
        let addr = found.ok_or_else(|| {
            CliError::new(format!("no device on this network is waiting with code {}-…", code.nameplate()))
                .hint("check that `duo pair` is running on the other device and both are on the same network, or use tickets (`duo pair --ticket`)")
        })?;
        let addrs: Vec<SocketAddr> = addr.ip_addrs().copied().collect();
        (online, code, addr, addrs)
    };
    let addr = online.usable(addr);
    let attempt = invite::join(&online.endpoint, &mut ctx.dev, addr.clone(), &code, |w, o| {
        confirm_words(w, o, Side::Joining, yes)
    });
    let relay_on = online.relay.is_enabled();
    let paired = attempt.await.map_err(|e| {
        stopped_at_question().unwrap_or_else(|| unreached_hint(e, with_ticket, relay_on, ticket_relay.as_ref()))
    })?;
    let mut table = PeerTable::load(&ctx.dev)?;
    table.remember(
        &paired.other.device_id,
        known_addrs.iter().copied().chain(paired.other.addrs.iter().copied()),
        paired.other.relay.clone().or(ticket_relay),
    );
    table.save(&ctx.dev)?;
    online.refresh_members(&ctx.dev)?;
    let p = &ctx.printer;
    p.info(format!(
        "Paired with {} ('{}'). Receiving the space…",
        crate::output::name(&paired.other.name),
        crate::output::label(&paired.other.device_label)
    ));
    let states = duo_sync::device::sync_states(&ctx.dev)?;
    let bar = p.transfer_bar();
    let progress = crate::output::Printer::transfer_progress(&bar);
    let options = duo_sync::net::SyncOptions {
        states: Some(&states),
        progress: Some(&progress),
        replica: None,
    };
    let report = duo_sync::net::first_sync_with(&online.endpoint, &ctx.dev.space, addr, options).await;
    bar.finish_and_clear();
    online.endpoint.close().await;
    match report {
        Ok(r) => p.info(format!(
            "Done: {} now.",
            count(r.entries_after, "shared entry", "shared entries")
        )),
        Err(e) => p.warn(format!(
            "paired, but the first sync failed ({e}); run `duo sync` when both devices are online"
        )),
    }
    Ok(exit::OK)
}

/// A joiner that did not reach the inviter: say whether a relay would have helped.
fn unreached_hint(
    e: SyncError,
    with_ticket: bool,
    relay_on: bool,
    ticket_relay: Option<&impl std::fmt::Display>,
) -> CliError {
    if let SyncError::PairingOver = e {
        let what = if with_ticket { "ticket" } else { "code" };
        return CliError::new(format!(
            "this {what} was already used or has expired; ask for a new one"
        ))
        .hint("the other device answered, but it no longer waits to pair: a new `duo pair` there gives a new one");
    }
    let unreached = matches!(e, SyncError::Unreached(_));
    let err = sync_error(e);
    if !(unreached && with_ticket) {
        return err;
    }
    match (ticket_relay, relay_on) {
        (Some(url), false) => err.hint(format!(
            "the ticket names the relay {url}, and relays are off on this device: run `duo relay set {url}` (or set DUO_RELAY for one run) and `duo pair join --ticket` again while `duo pair` still waits"
        )),
        (None, _) => err.hint(
            "the ticket names no relay: if the two devices are on different networks, the inviting device needs one (`duo relay set …` there, then a new ticket)",
        ),
        (Some(url), true) => err.hint(format!(
            "check that `duo pair --ticket` still waits on the other device and that this device reaches the relay {url}"
        )),
    }
}

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
    use duo_sync::handoff::{Claim, claim};
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
        // What this sync brought may include new devices: say so now.
        if let Ok(mut read) = ctx.dev.space.read() {
            let _ = duo_sync::membership::show(&ctx.dev, &mut read.view);
            super::devices::notices(ctx, &read.view);
        }
        drop(lock);
        Ok(Watched::Exit(code))
    })
}

/// Damaged files in the shared space stop a sync before it goes online, said as damage
/// (exit [`exit::FILE_DAMAGED`]): a session would fail to load them, which must never read
/// as "nobody answered".
fn refuse_damaged(ctx: &Ctx) -> Result<()> {
    let read = ctx.dev.space.read()?;
    let problems: Vec<_> = read.problems.into_iter().filter(|p| !p.is_view()).collect();
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
    served: &mut duo_sync::device::Served,
    wait: Duration,
) -> Result<Vec<duo_sync::device::PeerResult>> {
    use duo_sync::device::{after_dials, dial, dials, sync_states};
    let p = &ctx.printer;
    let dials = dials(&ctx.dev, online, &Default::default()).await?;
    let states = sync_states(&ctx.dev)?;
    let bar = p.transfer_bar();
    let progress = crate::output::Printer::transfer_progress(&bar);
    let options = duo_sync::net::SyncOptions {
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
fn answered(r: &duo_sync::device::PeerResult) -> bool {
    matches!(r.result, Ok(_) | Err(SyncError::NotPaired))
}

/// "Bob's 'laptop'", escaped.
fn who(person: &str, label: &str) -> String {
    format!("{}'s '{}'", crate::output::name(person), crate::output::label(label))
}

/// A session another device opened (while this one dialled or waited): its result stands
/// for that device's.
fn take_served(
    ctx: &Ctx,
    results: &mut Vec<duo_sync::device::PeerResult>,
    device: &str,
    report: duo_sync::net::Report,
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
    results.retain(|r| r.device != device);
    results.push(duo_sync::device::PeerResult {
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
fn report(ctx: &Ctx, results: &[duo_sync::device::PeerResult], waited: Option<Duration>) -> i32 {
    let p = &ctx.printer;
    let code = if !results.is_empty() && !results.iter().any(answered) {
        exit::NOBODY_REACHABLE
    } else {
        exit::OK
    };
    let reached: Vec<_> = results.iter().filter(|r| r.result.is_ok()).collect();
    let counts = |r: &duo_sync::device::PeerResult| {
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
