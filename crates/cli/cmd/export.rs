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
    let mut left_out = 0;
    let text = match a.format {
        ExportFormat::Json if a.signed => {
            // Only your own words, and only those your devices confirm as yours: a forged
            // entry under your name is never signed, and nobody else's words ever are.
            let total = items.len();
            items.retain(|i| i.check == Some(duo_journal::Authenticity::Authentic));
            let partner_or_unconfirmed = total - items.len();
            left_out = partner_or_unconfirmed;
            let entries: Vec<&duo_journal::Entry> = items.iter().map(|i| i.entry).collect();
            let signed = duo_device::signed_export::sign_export(&ctx.dev, &entries, crate::ctx::now()?)?;
            serde_json::to_string_pretty(&signed).expect("serializes") + "\n"
        }
        ExportFormat::Md if a.signed => {
            return Err(CliError::usage("--signed needs --format json"));
        }
        ExportFormat::Json => {
            let v: Vec<_> = items.iter().map(|i| i.json(view)).collect();
            serde_json::to_string_pretty(&v).expect("serializes") + "\n"
        }
        ExportFormat::Md => markdown(&items, view),
    };
    if a.signed && left_out > 0 {
        ctx.printer.info(format!(
            "Left out {}: a signed export holds only your own entries that your devices confirm as yours (`duo doctor` lists any that are not).",
            crate::output::count(left_out, "entry", "entries")
        ));
    }
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
            duo_device::write_durably(&path, text.as_bytes())
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
            view.shown_name(&e.author)
        ));
        if let Some(st) = e.status {
            s.push_str(&format!(" · {st}"));
        }
        if i.private {
            s.push_str(" · private");
        }
        if let Some(duo_journal::Authenticity::NotYours(why)) = i.check {
            s.push_str(&format!(" · NOT WRITTEN BY YOU ({})", why.describe()));
        }
        s.push('\n');
        if let Some(line) = crate::output::answers_line(e) {
            s.push_str(&format!("\n{line}\n"));
        }
        if !e.tags.is_empty() {
            s.push_str(&format!(
                "\nTags: {}\n",
                e.tags
                    .iter()
                    .map(|t| format!("#{}", duo_journal::text::field(duo_journal::text::Field::Tag, t)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        // Markdown is for reading: escaped like anything printed (JSON keeps the text exactly).
        s.push_str(&format!("\n{}\n", duo_journal::text::body(&e.body)));
        for (n, c) in e.conflicts.iter().enumerate() {
            s.push_str(&format!(
                "\n(Another version, {}:)\n\n{}\n",
                n + 2,
                duo_journal::text::body(c)
            ));
        }
    }
    s
}
