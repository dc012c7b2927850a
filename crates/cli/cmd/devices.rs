//! `duo devices` (every device of both people), `duo devices revoke`, and the safety
//! notices (a device added or revoked) every command that reads the space shows until
//! `duo devices ack`.

use crate::args::{DevicesArgs, DevicesCommand, EndorseArgs, RevokeArgs};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::{label, local_time, rfc3339};
use duo_device::membership::{self, Standing};
use duo_journal::Device;
use std::io::IsTerminal;

pub fn run(ctx: &Ctx, a: &DevicesArgs) -> Result<i32> {
    match &a.command {
        None => list(ctx),
        Some(DevicesCommand::Revoke(r)) => revoke(ctx, r),
        Some(DevicesCommand::Endorse(e)) => endorse(ctx, e),
        Some(DevicesCommand::Ack) => ack(ctx),
    }
}

fn list(ctx: &Ctx) -> Result<i32> {
    let both = ctx.read(false)?;
    let view = &both.shared.view;
    let trust = membership::trust(&ctx.dev)?;
    let m = membership::membership(&view.members(), &trust);
    let p = &ctx.printer;
    let mut devs: Vec<&Device> = view.devices.values().collect();
    devs.sort_by(|a, b| {
        view.person_name(&a.person)
            .cmp(&view.person_name(&b.person))
            .then(a.added_at.cmp(&b.added_at))
    });
    let pending = pending(ctx, view);
    let notice = |d: &Device| pending.iter().find(|n| n.device == d.id).map(|n| n.kind.as_str());
    let standing = |d: &Device| m.standing.get(&d.id).cloned().unwrap_or(Standing::Unconfirmed);
    // Only this person's own devices: never a presence signal about the partner.
    let last_synced = |d: &Device| {
        (d.person == ctx.dev.config.person_id)
            .then(|| trust.last_synced.get(&d.id).copied())
            .flatten()
    };
    if p.json {
        p.json_value(
            &devs
                .iter()
                .map(|d| {
                    let s = standing(d);
                    serde_json::json!({
                        "id": d.id, "person": view.person_name(&d.person), "person_id": d.person,
                        "label": d.label, "added_at": rfc3339(d.added_at),
                        "not_valid": duo_journal::text::not_valid([("person", view.person_name(&d.person).as_str()), ("label", d.label.as_str())]),
                        "revoked": matches!(s, Standing::Revoked { .. } | Standing::RevokedWith),
                        "standing": s.as_str(),
                        "this_device": d.id == ctx.dev.config.device_id,
                        "record_changed": view.device_note(&d.id).is_some(),
                        "last_synced": last_synced(d).map(rfc3339),
                        "notice": notice(d),
                    })
                })
                .collect::<Vec<_>>(),
        );
    } else {
        let mut text = String::new();
        for d in devs {
            let mut notes = Vec::new();
            if d.id == ctx.dev.config.device_id {
                notes.push("this device".to_string());
            }
            let s = standing(d);
            if !s.is_active() {
                notes.push(s.as_str().to_string());
            }
            if let Some(note) = view.device_note(&d.id) {
                notes.push(format!("{note}; shown as its signatures have it"));
            }
            if let Some(kind) = notice(d) {
                notes.push(format!("NEW: {kind}, see the notice"));
            }
            if let Some(t) = last_synced(d) {
                notes.push(format!("last synced {}", local_time(t)));
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join("; "))
            };
            text.push_str(&format!(
                "{}  {:<12} {:<16} added {}{notes}\n",
                crate::output::short(&d.id, 12),
                view.shown_name(&d.person),
                label(&d.label),
                local_time(d.added_at)
            ));
        }
        p.data(&text);
        if trust.left_at.is_some() {
            p.info("You left this space on this device: it syncs with none of them.");
        }
    }
    Ok(ctx.report(&both))
}

/// The device a prefix (4+ characters) names.
fn resolve<'a>(view: &'a duo_journal::View, prefix: &str) -> Result<&'a Device> {
    let prefix = prefix.trim().to_lowercase();
    if prefix.len() < 4 {
        return Err(CliError::usage(format!(
            "'{prefix}' is too short: give at least 4 characters of the device id"
        ))
        .hint("`duo devices` lists the ids"));
    }
    let hits: Vec<&Device> = view.devices.values().filter(|d| d.id.starts_with(&prefix)).collect();
    match hits.as_slice() {
        [d] => Ok(d),
        [] => Err(
            CliError::usage(format!("no device of this space has an id starting with '{prefix}'"))
                .hint("`duo devices` lists the ids"),
        ),
        _ => Err(CliError::usage(format!(
            "'{prefix}' matches more than one device; give more characters"
        ))),
    }
}

fn confirm(question: &str, yes: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage("this needs confirmation").hint("pass --yes to go ahead without asking"));
    }
    crate::output::ask(question);
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn revoke(ctx: &Ctx, a: &RevokeArgs) -> Result<i32> {
    let both = ctx.read(false)?;
    let view = &both.shared.view;
    let target = resolve(view, &a.id)?.clone();
    let p = &ctx.printer;
    let me = &ctx.dev.config;
    if target.id == me.device_id {
        return Err(CliError::usage("this is the device you are using")
            .hint("revoke it from another of your devices, or run `duo leave` here"));
    }
    let name = view.shown_name(&target.person);
    let own = target.person == me.person_id;
    let what = if own {
        format!(
            "Revoke your device '{}' for the whole space? Every device that gets this (at its next sync) refuses it.",
            label(&target.label)
        )
    } else {
        format!(
            "Stop syncing with {name}'s device '{}' on this device? It acts here only: {name}'s own devices and the shared space are not changed.",
            label(&target.label)
        )
    };
    if !confirm(&what, a.yes)? {
        p.info("Nothing revoked.");
        return Ok(exit::FAILURE);
    }
    let (c_before, _, before) = membership::current(&ctx.dev)?;
    let mut rotated_to = Vec::new();
    if own {
        super::write::refuse_if_damaged(&both, false)?;
        // The revocation, and a new person key for the devices that remain (a copy of the
        // revoked device holds the old one).
        rotated_to = duo_device::rotation::revoke_own_device(&ctx.dev, &target.id, crate::ctx::now()?)?.rotated_to;
    } else {
        membership::update_trust(&ctx.dev, |t| t.local_revoked.insert(target.id.clone()))?;
    }
    let (c_after, t_after, after) = membership::current(&ctx.dev)?;
    let ours: Vec<_> = membership::notices(&c_after, &t_after, &after)
        .into_iter()
        .filter(|n| {
            n.kind == membership::NoticeKind::Revoked && before.standing.get(&n.device).is_none_or(|s| s.is_active())
        })
        .collect();
    membership::acknowledge(&ctx.dev, &ours)?;
    let cascade: Vec<&Device> = c_before
        .devices
        .values()
        .filter(|d| d.id != target.id && before.is_active(&d.id) && !after.is_active(&d.id))
        .collect();
    // A watcher on this device applies the change now (its allowlist is refreshed by a sync).
    refresh_watcher(ctx);
    if p.json {
        p.json_value(&serde_json::json!({
            "revoked": target.id,
            "whole_space": own,
            "also_revoked": cascade.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            "new_key_for": rotated_to,
        }));
    } else {
        if own {
            p.info(format!(
                "Revoked '{}'. This device refuses it now; your other devices and {}'s refuse it after their next sync with a device that has this.",
                label(&target.label),
                partner_name(view, me)
            ));
            p.info(format!(
                "Your devices seal your words with a new key from now on ({} of yours get it at their next sync): words sealed with the old key after this are not taken as yours.",
                rotated_to.len()
            ));
        } else {
            p.info(format!(
                "This device no longer syncs with {name}'s '{}'. Run the same on each of your other devices.",
                label(&target.label)
            ));
        }
        for d in &cascade {
            p.info(format!(
                "Also revoked: '{}' ({}), which only that device had added.",
                label(&d.label),
                crate::output::short(&d.id, 12)
            ));
        }
    }
    Ok(exit::OK)
}

/// Sign another of this person's devices' record from this device: it then stays a member
/// as long as this device is one, whichever device added it.
fn endorse(ctx: &Ctx, a: &EndorseArgs) -> Result<i32> {
    let both = ctx.read(false)?;
    let view = &both.shared.view;
    let target = resolve(view, &a.id)?.clone();
    let me = &ctx.dev.config;
    let p = &ctx.printer;
    if target.id == me.device_id {
        return Err(
            CliError::usage("this is the device you are using").hint("endorse another of your devices from this one")
        );
    }
    if target.person != me.person_id {
        let name = view.shown_name(&target.person);
        return Err(CliError::new(format!(
            "'{}' is {name}'s device: only {name}'s own devices can vouch for it",
            label(&target.label)
        )));
    }
    let (_, _, before) = membership::current(&ctx.dev)?;
    if !before.is_active(&me.device_id) {
        return Err(CliError::new(
            "this device is not an active member of the space, so its word would not count",
        ));
    }
    if let Some(Standing::Revoked { .. }) = before.standing.get(&target.id) {
        return Err(CliError::new(format!(
            "'{}' was revoked: a revoked device cannot be vouched for again",
            label(&target.label)
        ))
        .hint("pair it again with `duo pair --own-device` if it is yours and safe"));
    }
    super::write::refuse_if_damaged(&both, false)?;
    let e = ctx.dev.endorsement(&target, crate::ctx::now()?);
    ctx.dev.space.update(|doc| doc.put_endorsement(&e))?;
    let (_, _, after) = membership::current(&ctx.dev)?;
    let active = after.is_active(&target.id);
    refresh_watcher(ctx);
    if p.json {
        p.json_value(&serde_json::json!({ "endorsed": target.id, "active": active }));
    } else if active && !before.is_active(&target.id) {
        p.info(format!(
            "This device vouches for '{}' now: it is a member again.",
            label(&target.label)
        ));
    } else {
        p.info(format!(
            "This device vouches for '{}' now: it stays a member even if the device that added it is revoked.",
            label(&target.label)
        ));
    }
    Ok(exit::OK)
}

fn partner_name(view: &duo_journal::View, me: &duo_device::Config) -> String {
    view.persons.values().find(|p| p.id != me.person_id).map_or_else(
        || "your partner".to_string(),
        |p| crate::output::name(&p.name).into_owned(),
    )
}

/// If `duo sync --watch` runs on this device, have it sync now, which refreshes its list of
/// allowed devices.
fn refresh_watcher(ctx: &Ctx) {
    use duo_device::handoff::{Claim, claim};
    if let Ok(Claim::Watcher(w)) = claim(ctx.dev.home.root(), || {}) {
        // It answers at once and passes the change on in the background.
        let _ = w.refresh();
    }
}

/// The safety notices this device's user has not acknowledged, for `view` (read from this
/// device's space).
pub fn pending(ctx: &Ctx, view: &duo_journal::View) -> Vec<membership::Notice> {
    let Ok(trust) = membership::trust(&ctx.dev) else {
        return Vec::new();
    };
    let c = view.members();
    membership::notices(&c, &trust, &membership::membership(&c, &trust))
}

/// A notice in words: what happened to which device, and what to do.
fn says(ctx: &Ctx, view: &duo_journal::View, n: &membership::Notice) -> String {
    use membership::NoticeKind;
    let Some(d) = view.devices.get(&n.device) else {
        return format!("device {} changed", crate::output::short(&n.device, 12));
    };
    let name = view.shown_name(&d.person);
    let id = crate::output::short(&d.id, 12);
    let own = d.person == ctx.dev.config.person_id;
    match n.kind {
        NoticeKind::Added if own => format!(
            "a new device '{}' was added to {name} on {}; if this wasn't you, run `duo devices revoke {id}`",
            label(&d.label),
            local_time(d.added_at)
        ),
        NoticeKind::Added => format!(
            "a new device '{}' was added to {name} on {}; if you did not expect it, talk with {name}, or stop syncing with it here: `duo devices revoke {id}`",
            label(&d.label),
            local_time(d.added_at)
        ),
        NoticeKind::Unconfirmed => format!(
            "a device record '{}' under {name} is signed by none of {name}'s devices; duo ignores it (`duo devices` lists it as unconfirmed)",
            label(&d.label)
        ),
        NoticeKind::Revoked if own => format!(
            "your device '{}' ({id}) was revoked from the space: no device syncs with it any more; if this wasn't you, see `duo safety --guide`",
            label(&d.label)
        ),
        NoticeKind::Revoked => format!(
            "{name}'s device '{}' ({id}) was revoked from the space by {name}: no device syncs with it any more",
            label(&d.label)
        ),
    }
}

/// One notice a watcher reported (`duo sync --watch`), in words, on stderr.
pub fn watcher_notice(ctx: &Ctx, n: &membership::Notice) {
    if let Ok(read) = ctx.dev.space.read() {
        ctx.printer.notice(says(ctx, &read.view, n));
    }
}

/// Every safety notice not yet acknowledged, on stderr, each time a command reads the space
/// (`shown`: those this process already showed, for a watcher that reads again and again).
pub fn notices_except(ctx: &Ctx, view: &duo_journal::View, shown: &mut std::collections::BTreeSet<membership::Notice>) {
    let fresh: Vec<_> = pending(ctx, view)
        .into_iter()
        .filter(|n| shown.insert(n.clone()))
        .collect();
    for n in &fresh {
        ctx.printer.notice(says(ctx, view, n));
    }
    if !fresh.is_empty() {
        ctx.printer
            .notice("shown until you run `duo devices ack` (noted on this device only; nobody else learns of it)");
    }
}

/// Every safety notice not yet acknowledged, on stderr.
pub fn notices(ctx: &Ctx, view: &duo_journal::View) {
    notices_except(ctx, view, &mut Default::default());
}

/// `duo devices ack`: the notices shown are read; stop showing them on this device.
fn ack(ctx: &Ctx) -> Result<i32> {
    let read = ctx.dev.space.read()?;
    let mut view = read.view;
    let _ = membership::show(&ctx.dev, &mut view);
    let done = membership::acknowledge(&ctx.dev, &pending(ctx, &view))?;
    let p = &ctx.printer;
    if p.json {
        p.json_value(&serde_json::json!({
            "acknowledged": done.iter().map(|n| serde_json::json!({"device": n.device, "notice": n.kind.as_str()})).collect::<Vec<_>>(),
        }));
    } else if done.is_empty() {
        p.info("No notices to acknowledge.");
    } else {
        for n in &done {
            p.info(format!("Read: {}", says(ctx, &view, n)));
        }
        p.info("Noted on this device only; your other devices and your partner's still show their notices.");
    }
    Ok(exit::OK)
}
