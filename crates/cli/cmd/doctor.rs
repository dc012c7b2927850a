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
    let words = words_check(ctx, &mut text)?;
    healthy &= words.as_ref().is_none_or(|a| a.not_yours.is_empty());
    if p.json {
        p.json_value(&serde_json::json!({ "healthy": healthy, "stores": stores, "your_words": words }));
    } else {
        p.data(&text);
        if repairable {
            crate::output::stderr(
                "hint: duo leaves damaged files as they are and will not change a notebook that has them. `duo doctor --repair` moves them aside (to the quarantine folder in your duo home) and rebuilds from everything that still reads; entries only in those files are then gone from this device.",
            );
        }
    }
    Ok(if healthy { 0 } else { 1 })
}

fn problem_json(pr: &Problem) -> serde_json::Value {
    serde_json::json!({"file": pr.name, "reason": pr.reason})
}

/// Your own entries in the shared space, checked against your authenticators: entries under
/// your name that no device of yours wrote make the report unhealthy. `None` when the space
/// could not be read (its damage is reported above).
fn words_check(ctx: &Ctx, text: &mut String) -> Result<Option<duo_sync::auth::Audit>> {
    let Ok(read) = ctx.dev.space.read() else {
        return Ok(None);
    };
    let a = duo_sync::auth::audit(&ctx.dev, &read.view);
    text.push_str(&format!(
        "your words: {} confirmed as yours",
        count(a.authentic, "entry", "entries")
    ));
    if a.unsealed > 0 {
        text.push_str(&format!(", {} written before authenticators", a.unsealed));
    }
    text.push('\n');
    for id in &a.unsettled {
        text.push_str(&format!(
            "  unconfirmed: {} was edited on two devices at once; edit it to settle it\n",
            crate::output::short(id, 8)
        ));
    }
    for id in &a.not_yours {
        text.push_str(&format!(
            "  NOT WRITTEN BY YOU: {id} claims you as author, but no device of yours wrote it as it reads (altered or invented on another device); see `duo journal show {id}`\n",
            id = crate::output::short(id, 8)
        ));
    }
    Ok(Some(a))
}
