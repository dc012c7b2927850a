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
            let path = journal.storage().display_path(&pr.name);
            if pr.name.starts_with('(') {
                text.push_str(&format!("  damaged: {}\n", pr.reason));
            } else if pr.name == "view" {
                let fixed = if r.view_rebuilt {
                    "; rebuilt from the chunks"
                } else {
                    ""
                };
                text.push_str(&format!(
                    "  damaged list cache {}: {}{fixed}\n",
                    path.display(),
                    pr.reason
                ));
            } else {
                text.push_str(&format!("  damaged: {}: {}\n", path.display(), pr.reason));
            }
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
            "hint: duo leaves damaged files exactly as they are and will not change the journal while they are there; entries in them are unreadable on this device, everything else stays readable. Move a damaged file out of the store (keep a copy) to use the journal again."
        );
    }
    Ok(if healthy { 0 } else { 1 })
}
