//! `duo doctor`: check every stored file. Exit 0 when healthy, 1 when damage was found.
//! `--repair` sets damaged and foreign files aside and rebuilds from the rest.

use crate::args::DoctorArgs;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::output::count;

pub fn run(ctx: &Ctx, a: &DoctorArgs) -> Result<i32> {
    let p = &ctx.printer;
    let mut healthy = true;
    let mut stores = Vec::new();
    let mut text = String::new();
    for (label, journal) in [("shared space", &ctx.dev.space), ("private notebook", &ctx.dev.private)] {
        let mut moved = Vec::new();
        let before = journal.doctor()?;
        let r = if a.repair && !before.healthy() {
            moved = journal.repair()?;
            journal.doctor()?
        } else {
            before
        };
        healthy &= r.healthy();
        let dir = journal.storage().root();
        stores.push(serde_json::json!({
            "store": label,
            "dir": dir,
            "healthy": r.healthy(),
            "files_checked": r.files_checked,
            "entries": r.entries,
            "problems": r.problems.iter().map(|pr| serde_json::json!({"file": pr.name, "reason": pr.reason})).collect::<Vec<_>>(),
            "cleaned": r.cleaned,
            "view_rebuilt": r.view_rebuilt,
            "moved_aside": moved.iter().map(|(f, to)| serde_json::json!({"file": f, "to": to})).collect::<Vec<_>>(),
        }));
        text.push_str(&format!(
            "{label}: {} checked, {} — {}\n",
            count(r.files_checked, "file", "files"),
            count(r.entries, "entry", "entries"),
            if r.healthy() { "healthy" } else { "DAMAGED" }
        ));
        for (f, to) in &moved {
            text.push_str(&format!("  moved aside: {f} -> {to}\n"));
        }
        for pr in &r.problems {
            if pr.name.starts_with('(') {
                text.push_str(&format!("  damaged: {}\n", pr.reason));
            } else if pr.is_view() {
                let fixed = if r.view_rebuilt {
                    "; rebuilt from the chunks"
                } else {
                    ""
                };
                text.push_str(&format!(
                    "  damaged list cache {}: {}{fixed}\n",
                    journal.storage().display_path("view").display(),
                    pr.reason
                ));
            } else {
                text.push_str(&format!(
                    "  damaged: {}: {}\n",
                    journal.storage().display_path(&pr.name).display(),
                    pr.reason
                ));
            }
        }
        for c in &r.cleaned {
            text.push_str(&format!("  removed leftover of an interrupted write: {c}\n"));
        }
    }
    if p.json {
        p.json_value(&serde_json::json!({ "healthy": healthy, "stores": stores }));
    } else {
        p.data(&text);
        if !healthy {
            eprintln!(
                "hint: duo leaves damaged files as they are and will not change a notebook that has them. `duo doctor --repair` moves them aside (to the quarantine folder in your duo home) and rebuilds from everything that still reads; entries only in those files are then gone from this device."
            );
        }
    }
    Ok(if healthy { 0 } else { 1 })
}
