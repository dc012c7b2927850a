//! `duo doctor`: check every stored file. Exit 0 when healthy, 11 (`FILE_DAMAGED`) when a
//! file is damaged, 1 when only your words' check found entries you did not write.
//! `--repair` sets damaged and foreign files aside and rebuilds from the rest.

use crate::args::{Cli, DoctorArgs};
use crate::ctx::{Ctx, home_dir};
use crate::error::{Result, local_hint};
use crate::exit;
use crate::output::{Printer, count};
use duo_device::local::{self, LocalReport, Repaired};
use duo_device::{Home, membership};
use duo_journal::Problem;

pub fn run(cli: &Cli, printer: Printer, a: &DoctorArgs) -> Result<i32> {
    let home = Home::new(home_dir(cli)?);
    // The home's own files first: the stores need its keys.
    let first = local::check(&home)?;
    let repaired = if a.repair {
        local::repair(&home, &first)?
    } else {
        Vec::new()
    };
    let report = if repaired.is_empty() {
        first.clone()
    } else {
        local::check(&home)?
    };
    let mut text = String::new();
    local_text(&mut text, &report, &first, &repaired);
    let mut out = serde_json::json!({ "local": local_json(&report, &first, &repaired) });
    let (code, printer) = if report.keys_ok() {
        // Nothing is written before the stores are checked (`open` may take up a rotation,
        // which reads, and so rebuilds, the view).
        let ctx = Ctx {
            printer,
            dev: if a.repair { home.open()? } else { home.open_unchanged()? },
        };
        if repaired.iter().any(|r| r.file == local::LocalFile::Trust) {
            let (_, _, m) = membership::current(&ctx.dev)?;
            let active = m.active().count();
            text.push_str(&format!(
                "  rebuilt this device's trust from the shared space: {} active, {} not confirmed by a signature that leads back to this device\n  devices you had revoked on this device only, and having left the space, were only in that file: if you had, do it again (`duo devices revoke ID`, `duo leave`); `duo devices` shows where each device stands\n",
                count(active, "device", "devices"),
                m.standing.len() - active
            ));
        }
        let code = stores(&ctx, a, &mut text, &mut out)?;
        (if report.healthy() { code } else { exit::FILE_DAMAGED }, ctx.printer)
    } else {
        text.push_str("shared space, private notebook: not checked (they need this device's settings and keys)\n");
        (exit::FILE_DAMAGED, printer)
    };
    out["healthy"] = serde_json::json!(code == 0);
    if printer.json {
        printer.json_value(&out);
    } else {
        printer.data(&text);
        let mut hints: Vec<&str> = report.problems.iter().map(|pr| local_hint(pr.file)).collect();
        hints.dedup();
        for h in hints {
            crate::output::stderr(&format!("hint: {h}"));
        }
    }
    Ok(code)
}

fn local_text(text: &mut String, r: &LocalReport, first: &LocalReport, repaired: &[Repaired]) {
    text.push_str(&format!(
        "local files: {} — {}\n",
        count(r.files_checked, "file checked", "files checked"),
        if r.healthy() { "healthy" } else { "DAMAGED" }
    ));
    for m in repaired {
        let why = first
            .problems
            .iter()
            .find(|p| p.path == m.path)
            .map(|p| p.reason.as_str());
        text.push_str(&format!(
            "  moved aside: {} ({}) -> {}\n",
            m.path.display(),
            why.unwrap_or("damaged"),
            if m.moved_to.is_empty() {
                "(it was missing)"
            } else {
                &m.moved_to
            }
        ));
    }
    for p in &r.problems {
        text.push_str(&format!(
            "  damaged: {} {}: {}\n",
            p.file.what(),
            p.path.display(),
            p.reason
        ));
    }
    if let Some(why) = &r.unchecked {
        text.push_str(&format!("  not checked: {why}\n"));
    }
}

fn local_json(r: &LocalReport, first: &LocalReport, repaired: &[Repaired]) -> serde_json::Value {
    let problem = |p: &local::LocalProblem| serde_json::json!({"file": p.path, "kind": p.file.kind(), "reason": p.reason, "rebuildable": p.file.rebuildable()});
    serde_json::json!({
        "healthy": r.healthy(),
        "files_checked": r.files_checked,
        "problems": r.problems.iter().map(problem).collect::<Vec<_>>(),
        "unchecked": r.unchecked,
        "repaired": repaired.iter().map(|m| serde_json::json!({
            "file": m.path, "kind": m.file.kind(),
            "reason": first.problems.iter().find(|p| p.path == m.path).map(|p| p.reason.clone()),
            "to": (!m.moved_to.is_empty()).then_some(&m.moved_to),
        })).collect::<Vec<_>>(),
    })
}

/// Both stores and your words; adds `stores` and `your_words` to `out`. The exit status.
fn stores(ctx: &Ctx, a: &DoctorArgs, text: &mut String, out: &mut serde_json::Value) -> Result<i32> {
    let p = &ctx.printer;
    let mut healthy = true;
    let mut repairable = false;
    let mut stores = Vec::new();
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
    let words = words_check(ctx, text)?;
    let words_ok = words
        .as_ref()
        .is_none_or(|w| w.not_yours.is_empty() && w.removed.is_empty());
    out["stores"] = serde_json::json!(stores);
    out["your_words"] = serde_json::json!(words);
    if !p.json && repairable {
        crate::output::stderr(
            "hint: duo leaves damaged files as they are and will not change a notebook that has them. `duo doctor --repair` moves them aside (to the quarantine folder in your duo home) and rebuilds from everything that still reads; entries only in those files are then gone from this device.",
        );
    }
    Ok(match (healthy, words_ok) {
        (false, _) => exit::FILE_DAMAGED,
        (true, false) => exit::FAILURE,
        (true, true) => exit::OK,
    })
}

fn problem_json(pr: &Problem) -> serde_json::Value {
    serde_json::json!({"file": pr.name, "reason": pr.reason})
}

/// Your own entries in the shared space, checked against your seals: entries under your
/// name that no device of yours wrote as they read, and entries of yours removed by a
/// device that is not yours, make the report unhealthy. `None` when the space could not be
/// read (its damage is reported above).
fn words_check(ctx: &Ctx, text: &mut String) -> Result<Option<duo_device::seals::Audit>> {
    let Ok(read) = ctx.dev.space.read() else {
        return Ok(None);
    };
    let mut checker = ctx.dev.checker();
    checker.observe(&read.view, false);
    let _ = checker.save(&ctx.dev);
    let mut a = duo_device::seals::audit(&checker.judge(false), &read.view);
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
    let short = |id: &str| crate::output::short(id, 8).into_owned();
    for id in &a.unsettled {
        text.push_str(&format!(
            "  unconfirmed: {} is sealed only with a key or format your devices no longer use; edit it to seal it again\n",
            short(id)
        ));
    }
    for id in &a.not_yours {
        let why = a.why.get(id).map_or("", |w| w.describe());
        text.push_str(&format!(
            "  NOT WRITTEN BY YOU: {id} claims you as author, but no device of yours wrote it as it reads ({why}); see `duo journal show {id}`\n",
            id = short(id)
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
