//! `duo journal export`: the only command that writes plaintext, and only where asked.

use crate::args::{ExportArgs, ExportFormat};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::output::{Item, local_time};
use duo_journal::entry_order;

pub fn run(ctx: &Ctx, a: &ExportArgs) -> Result<i32> {
    let (shared, private) = (!a.scope.private, a.scope.private || a.scope.all);
    let both = ctx.read(private)?;
    let mut items: Vec<Item<'_>> = both.items(shared);
    items.sort_by(|x, y| entry_order(y.entry, x.entry, false)); // oldest first reads like a journal
    let view = &both.shared.view;
    let text = match a.format {
        ExportFormat::Json => {
            let v: Vec<_> = items.iter().map(|i| i.json(view)).collect();
            serde_json::to_string_pretty(&v).expect("serializes") + "\n"
        }
        ExportFormat::Md => markdown(&items, view),
    };
    match &a.output {
        None => ctx.printer.data(&text),
        Some(path) => {
            // Written whole under a temporary name and renamed: the file is 0600 even if one
            // with looser permissions was there before, and never half-written.
            let path = if path.parent().is_some_and(|p| p.as_os_str().is_empty()) {
                std::path::Path::new(".").join(path)
            } else {
                path.clone()
            };
            duo_sync::write_durably(&path, text.as_bytes())
                .map_err(|e| CliError::new(format!("cannot write {}", path.display())).cause(e))?;
            ctx.printer.info(format!(
                "Exported {} to {} — this file is plaintext: keep it somewhere safe, delete it when done.",
                crate::output::count(items.len(), "entry", "entries"),
                path.display()
            ));
        }
    }
    Ok(ctx.report(&both))
}

fn markdown(items: &[Item<'_>], view: &duo_journal::View) -> String {
    let mut s = String::from("# duo journal\n");
    for i in items {
        let e = i.entry;
        s.push_str(&format!(
            "\n## {} · {} · {}",
            local_time(e.created_at),
            e.kind,
            view.person_name(&e.author)
        ));
        if let Some(st) = e.status {
            s.push_str(&format!(" · {st}"));
        }
        if i.private {
            s.push_str(" · private");
        }
        s.push('\n');
        if !e.tags.is_empty() {
            s.push_str(&format!(
                "\nTags: {}\n",
                e.tags.iter().map(|t| format!("#{t}")).collect::<Vec<_>>().join(" ")
            ));
        }
        s.push_str(&format!("\n{}\n", e.body));
        for (n, c) in e.conflicts.iter().enumerate() {
            s.push_str(&format!("\n(Another version, {}:)\n\n{c}\n", n + 2));
        }
    }
    s
}
