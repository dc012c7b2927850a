//! `duo doctor`: check every stored file. Exit 0 when healthy, 1 when damage was found.
//! `--repair` sets damaged and foreign files aside and rebuilds from the rest.

use crate::args::DoctorArgs;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::output::count;
use duo_journal::Problem;

pub fn run(ctx: &Ctx, a: &DoctorArgs) -> Result<i32> {
    let p = &ctx.printer;
    let mut healthy = true;
    let mut repairable = false;
    let mut stores = Vec::new();
    let mut text = String::new();
    let c = &ctx.dev.config;
    for (label, journal, shared) in [
        ("shared space", &ctx.dev.space, true),
        ("private notebook", &ctx.dev.private, false),
    ] {
        let first = journal.doctor()?;
        let mut moved = Vec::new();
        let mut restored = false;
        let r = if a.repair && !first.healthy() {
            moved = journal.repair()?;
            if shared {
                // A set-aside snapshot can take this device's own membership with it.
                restored = journal.update(|doc| doc.restore_identity(&c.person(), &c.device()))?;
            }
            journal.doctor()?
        } else {
            first.clone()
        };
        if !moved.is_empty() || restored {
            // What the repair set aside is accepted as lost: not a removal by a device.
            let mut checker = ctx.dev.checker();
            let view = journal.read()?.view;
            checker.accept_current(&ctx.dev, &view, !shared)?;
        }
        healthy &= r.healthy();
        repairable |= r
            .problems
            .iter()
            .any(|pr| !pr.is_view() && !pr.name.starts_with("(document)"));
        let reason_of = |f: &str| {
            first
                .problems
                .iter()
                .find(|pr| pr.name == f)
                .map(|pr| pr.reason.clone())
        };
        let repaired = a.repair && !first.healthy();
        let cleaned: Vec<&String> = first
            .cleaned
            .iter()
            .chain(r.cleaned.iter().filter(|_| repaired))
            .collect();
        stores.push(serde_json::json!({
            "store": label,
            "dir": journal.storage().root(),
            "healthy": r.healthy(),
            "files_checked": r.files_checked,
            "entries": r.entries,
            "problems": r.problems.iter().map(problem_json).collect::<Vec<_>>(),
            "cleaned": cleaned,
            "view_rebuilt": r.view_rebuilt || first.view_rebuilt,
            "moved_aside": moved.iter().map(|(f, to)| serde_json::json!({"file": f, "to": to, "reason": reason_of(f)})).collect::<Vec<_>>(),
            "identity_restored": restored,
        }));
        text.push_str(&format!(
            "{label}: {} checked, {} — {}\n",
            count(r.files_checked, "file", "files"),
            count(r.entries, "entry", "entries"),
            if r.healthy() { "healthy" } else { "DAMAGED" }
        ));
        for (f, to) in &moved {
            let why = reason_of(f).unwrap_or_else(|| "its changes build on history that is missing".into());
            text.push_str(&format!("  moved aside: {f} ({why}) -> {to}\n"));
        }
        if restored {
            text.push_str("  restored this device's own membership in the space\n");
        }
        for pr in &r.problems {
            let line = if pr.name.starts_with('(') {
                format!("  damaged: {}\n", pr.reason)
            } else if pr.is_view() {
                let fixed = if r.view_rebuilt {
                    "; rebuilt from the chunks"
                } else {
                    ""
                };
                format!(
                    "  damaged list cache {}: {}{fixed}\n",
                    journal.storage().display_path("view").display(),
                    pr.reason
                )
            } else {
                format!(
                    "  damaged: {}: {}\n",
                    journal.storage().display_path(&pr.name).display(),
                    pr.reason
                )
            };
            text.push_str(&line);
        }
        for c in cleaned {
            text.push_str(&format!("  removed leftover of an interrupted write: {c}\n"));
        }
    }
    let words = words_check(ctx, a, &mut text)?;
    healthy &= words
        .as_ref()
        .is_none_or(|w| w.not_yours.is_empty() && w.removed.is_empty());
    healthy &= a.repair || ctx.dev.checker().damaged.is_none();
    if p.json {
        p.json_value(&serde_json::json!({ "healthy": healthy, "stores": stores, "your_words": words }));
    } else {
        p.data(&text);
        if repairable {
            eprintln!(
                "hint: duo leaves damaged files as they are and will not change a notebook that has them. `duo doctor --repair` moves them aside (to the quarantine folder in your duo home) and rebuilds from everything that still reads; entries only in those files are then gone from this device."
            );
        }
    }
    Ok(if healthy { 0 } else { 1 })
}

fn problem_json(pr: &Problem) -> serde_json::Value {
    serde_json::json!({"file": pr.name, "reason": pr.reason})
}

/// Your own entries in the shared space, checked against your seals: entries under your
/// name that no device of yours wrote as they read, and entries of yours removed by a
/// device that is not yours, make the report unhealthy. `None` when the space could not be
/// read (its damage is reported above).
fn words_check(ctx: &Ctx, a: &DoctorArgs, text: &mut String) -> Result<Option<duo_sync::auth::Audit>> {
    let Ok(read) = ctx.dev.space.read() else {
        return Ok(None);
    };
    let mut checker = ctx.dev.checker();
    if let Some(reason) = &checker.damaged {
        if a.repair {
            duo_sync::seals::reset(&ctx.dev)?;
            text.push_str("  reset this device's memory of your entries' versions (local/seals.age was damaged)\n");
            checker = ctx.dev.checker();
        } else {
            text.push_str(&format!(
                "  damaged: {}: {reason}\n",
                ctx.dev.home.root().join("local/seals.age").display()
            ));
        }
    }
    checker.observe(&read.view, false);
    let _ = checker.save(&ctx.dev);
    let mut a = duo_sync::auth::audit(&checker.judge(false), &read.view);
    if read.problems.iter().any(|p| !p.is_view()) {
        // Entries only in damaged files are missing because of the damage (named above).
        a.removed.clear();
    }
    text.push_str(&format!(
        "your words: {} confirmed as yours",
        count(a.authentic, "entry", "entries")
    ));
    if a.unsealed > 0 {
        text.push_str(&format!(", {} written before authenticators", a.unsealed));
    }
    text.push('\n');
    let short = |id: &str| id[..8.min(id.len())].to_string();
    for id in &a.unsettled {
        text.push_str(&format!(
            "  unconfirmed: {} is sealed only with a key or format your devices no longer use; edit it to seal it again\n",
            short(id)
        ));
    }
    for id in &a.not_yours {
        let why = a.why.get(id).map_or("", |w| w.describe());
        text.push_str(&format!(
            "  NOT WRITTEN BY YOU: {} claims you as author, but no device of yours wrote it as it reads ({why}); see `duo journal show {}`\n",
            short(id),
            short(id)
        ));
    }
    for id in &a.removed {
        text.push_str(&format!(
            "  REMOVED: your entry {} was removed, or given another author, by a device that is not yours (a deletion of yours is sealed; this one is not)\n",
            short(id)
        ));
    }
    Ok(Some(a))
}
