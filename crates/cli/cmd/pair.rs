//! `duo pair` and `duo pair join` (`duo sync` is in sync.rs, `duo devices` in devices.rs).

use super::online::{go_online, human_duration, mdns_enabled, net_options, no_core_dumps, runtime};
use crate::args::{PairArgs, PairCommand};
use crate::ctx::Ctx;
use crate::env;
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::count;
use duo_device::code::Code;
use duo_device::device::{NetOptions, PeerTable, Ticket};
use duo_device::net::Discovery;
use duo_device::{SyncError, invite};
use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

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

fn pairing_prefix(nameplate: u16) -> String {
    format!("duo-pair={nameplate}")
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

pub fn pair(mut ctx: Ctx, a: &PairArgs) -> Result<i32> {
    no_core_dumps()?;
    super::leave::refuse_network(&ctx)?;
    let opts = net_options(&ctx)?;
    let p = &ctx.printer;
    let _online = duo_device::handoff::claim_exclusive(ctx.dev.home.root(), || {
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
        // Only the joiner knows whether it could store what it received (its own screen
        // says so): this side says what it sent.
        Ok(Some((_, Ok(r)))) => p.info(format!(
            "Done: sent the space ({}); the other device says when it has stored it.",
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
            .map_err(|e: duo_device::code::ParseCodeError| CliError::usage(e))?;
        let discovery = Discovery::Mdns { advertise: None };
        let online = go_online(ctx, opts, false, discovery, true).await?;
        let mdns = online.mdns.as_ref().expect("mdns requested");
        let found = duo_device::net::find(
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
    let states = duo_device::device::sync_states(&ctx.dev)?;
    let bar = p.transfer_bar();
    let progress = crate::output::Printer::transfer_progress(&bar);
    let options = duo_device::net::SyncOptions {
        states: Some(&states),
        progress: Some(&progress),
        replica: None,
    };
    let report = duo_device::net::first_sync_with(&online.endpoint, &ctx.dev.space, addr, options).await;
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
