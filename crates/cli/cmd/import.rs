//! `duo journal import`: Day One JSON exports and duo's own `--json` output.

use crate::args::ImportArgs;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use duo_journal::import::{self, Format};
use duo_journal::{EntryPatch, NewEntry};
use std::collections::BTreeSet;
use std::io::Read;

pub fn run(ctx: &Ctx, a: &ImportArgs) -> Result<i32> {
    let p = &ctx.printer;
    let shown = a.file.display().to_string();
    let mut text = String::new();
    let read = if shown == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(&a.file)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map(|_| ())
    };
    read.map_err(|e| CliError::new(format!("cannot read {shown}")).cause(e))?;
    let parsed = import::parse(&text).map_err(|e| {
        CliError::new(format!("{shown} cannot be imported; nothing was imported"))
            .cause(&e)
            .hint("fix the file at that place (or export it again) and run the import again")
    })?;
    let (both, _) = ctx.read(true)?;
    let mine = &ctx.dev.config.person_id;
    let partner_ids: BTreeSet<&String> = both.shared.view.persons.keys().filter(|id| *id != mine).collect();
    let exists = |id: &str| {
        both.shared.view.entries.contains_key(id)
            || both.private.as_ref().is_some_and(|p| p.view.entries.contains_key(id))
    };
    let progress = indicatif::ProgressBar::new(parsed.entries.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("importing {pos}/{len} {wide_bar}").expect("valid template"),
    );
    if parsed.entries.len() < 1000 || p.quiet {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let (mut shared, mut private) = (Vec::new(), Vec::new());
    let (mut duplicates, mut not_yours) = (0usize, 0usize);
    let mut edits = Vec::new();
    for e in parsed.entries {
        progress.inc(1);
        if exists(&e.id) {
            duplicates += 1;
            continue;
        }
        // Importing your partner's words as your own would misattribute them.
        if e.author_id.as_ref().is_some_and(|id| partner_ids.contains(id)) {
            not_yours += 1;
            continue;
        }
        let to_private = a.private || e.private;
        if e.edited_at != e.created_at {
            edits.push((e.id.clone(), to_private, e.edited_at));
        }
        let new = NewEntry {
            id: e.id,
            kind: e.kind,
            author: mine.clone(),
            device: ctx.dev.config.device_id.clone(),
            created_at: e.created_at,
            body: e.body,
            tags: e.tags,
            status: e.status,
        };
        if to_private {
            private.push(new)
        } else {
            shared.push(new)
        }
    }
    progress.finish_and_clear();
    // Each notebook gets one chunk: all of the file's entries land, or none of them.
    ctx.dev.space.add(&shared)?;
    ctx.dev.private.add(&private)?;
    if !edits.is_empty() {
        // Keep the original "edited" times: one change per notebook, after the entries.
        for (journal, want_private) in [(&ctx.dev.space, false), (&ctx.dev.private, true)] {
            let mine: Vec<_> = edits.iter().filter(|(_, pr, _)| *pr == want_private).collect();
            if mine.is_empty() {
                continue;
            }
            journal.update(|doc| {
                for (id, _, at) in &mine {
                    doc.edit_entry(
                        id,
                        &EntryPatch {
                            edited_at: *at,
                            ..Default::default()
                        },
                    )?;
                }
                Ok(())
            })?;
        }
    }
    let _ = ctx.dev.space.maybe_compact();
    let format = match parsed.format {
        Format::DayOne => "Day One export",
        Format::Duo => "duo export",
    };
    if p.json {
        p.json_value(&serde_json::json!({
            "format": match parsed.format { Format::DayOne => "dayone", Format::Duo => "duo" },
            "imported": shared.len() + private.len(),
            "shared": shared.len(),
            "private": private.len(),
            "already_present": duplicates,
            "skipped_empty": parsed.skipped_empty,
            "skipped_partner": not_yours,
        }));
    } else {
        let mut msg = format!("Imported {} entries from a {format}", shared.len() + private.len());
        if !private.is_empty() {
            msg.push_str(&format!(" ({} into your private notebook)", private.len()));
        }
        msg.push('.');
        if duplicates > 0 {
            msg.push_str(&format!(" {duplicates} were already here."));
        }
        if parsed.skipped_empty > 0 {
            msg.push_str(&format!(" {} without text were left out.", parsed.skipped_empty));
        }
        if not_yours > 0 {
            msg.push_str(&format!(
                " {not_yours} written by your partner were left out (duo imports only your own words)."
            ));
        }
        p.info(msg);
    }
    Ok(0)
}
