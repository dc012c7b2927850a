//! `duo doctor`: check every stored file. Exit 0 when healthy, 1 when damage was found.

use crate::ctx::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx) -> Result<i32> {
    let p = &ctx.printer;
    let mut healthy = true;
    let mut json = Vec::new();
    for (label, journal) in [("shared space", &ctx.dev.space), ("private notebook", &ctx.dev.private)] {
        let r = journal.doctor()?;
        healthy &= r.healthy();
        if p.json {
            json.push(serde_json::json!({
                "store": label,
                "dir": journal.storage().root(),
                "healthy": r.healthy(),
                "files_checked": r.files_checked,
                "entries": r.entries,
                "problems": r.problems.iter().map(|pr| serde_json::json!({"file": pr.name, "reason": pr.reason})).collect::<Vec<_>>(),
                "cleaned": r.cleaned,
                "view_rebuilt": r.view_rebuilt,
            }));
            continue;
        }
        let mut text = format!(
            "{label}: {} files checked, {} entries — {}\n",
            r.files_checked,
            r.entries,
            if r.healthy() { "healthy" } else { "DAMAGED" }
        );
        for pr in &r.problems {
            text.push_str(&format!(
                "  damaged: {}: {}\n",
                journal.storage().display_path(&pr.name).display(),
                pr.reason
            ));
        }
        for c in &r.cleaned {
            text.push_str(&format!("  removed leftover of an interrupted write: {c}\n"));
        }
        if r.view_rebuilt {
            text.push_str("  refreshed the list cache\n");
        }
        p.data(&text);
    }
    if p.json {
        p.json_value(&serde_json::json!({ "healthy": healthy, "stores": json }));
    } else if !healthy {
        eprintln!(
            "hint: damaged files are left exactly as they are. Entries in them can come back from a paired device at the next sync, or from a backup; the rest of the journal stays readable."
        );
    }
    Ok(if healthy { 0 } else { 1 })
}
