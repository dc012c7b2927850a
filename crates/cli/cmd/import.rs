//! `duo journal import`: Day One JSON exports and duo's own `--json` output.

use crate::args::ImportArgs;
use crate::ctx::{Ctx, now};
use crate::error::{CliError, Result};
use crate::exit;
use duo_journal::NewEntry;
use duo_journal::import::{self, Format};
use std::collections::BTreeSet;
use std::io::Read;

pub fn run(ctx: &Ctx, a: &ImportArgs) -> Result<i32> {
    super::leave::refuse_if_left(ctx, a.private)?;
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
    let mine = ctx.dev.config.person_id.clone();
    let parsed = import::parse(&text, &mine).map_err(|e| {
        CliError::new(format!("{shown} cannot be imported; nothing was imported"))
            .cause(&e)
            .hint("fix the file at that place (or export it again) and run the import again")
    })?;
    let both = ctx.read(true)?;
    // Ids in a damaged file cannot be seen, so an import could add them twice.
    crate::cmd::write::refuse_if_damaged(&both, false)?;
    crate::cmd::write::refuse_if_damaged(&both, true)?;
    let exists = |id: &str| {
        let has = |v: &duo_journal::View| v.entries.contains_key(id) || v.deleted.contains_key(id);
        has(&both.shared.view) || both.private.as_ref().is_some_and(|p| has(&p.view))
    };
    let progress = indicatif::ProgressBar::new(parsed.entries.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("importing {pos}/{len} {wide_bar}").expect("valid template"),
    );
    if parsed.entries.len() < 1000 || p.quiet {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let (mut shared, mut private) = (Vec::new(), Vec::new());
    let mut duplicates = 0usize;
    let mut others: BTreeSet<String> = BTreeSet::new();
    let mut not_mine = 0usize;
    let device = &ctx.dev.config.device_id;
    let _ = now()?; // a bad DUO_NOW is a usage error here too
    for e in parsed.entries {
        progress.inc(1);
        if exists(&e.id) {
            duplicates += 1;
            continue;
        }
        // Importing someone else's words as your own would misattribute them: a duo export
        // names its authors, and only your own person id is taken without --as-mine.
        if let Some(author) = e.author_id.as_ref().filter(|id| **id != mine)
            && !a.as_mine
        {
            not_mine += 1;
            others.insert(e.author.clone().unwrap_or_else(|| author.chars().take(8).collect()));
            continue;
        }
        let new = NewEntry {
            id: e.id,
            kind: e.kind,
            author: mine.clone(),
            device: device.clone(),
            created_at: e.created_at,
            edited_at: e.edited_at,
            body: e.body,
            tags: e.tags,
            status: e.status,
            no_replies: false,
            prompt: None,
        };
        if a.private || e.private {
            private.push(new)
        } else {
            shared.push(new)
        }
    }
    progress.finish_and_clear();
    if not_mine > 0 && shared.is_empty() && private.is_empty() && duplicates == 0 {
        return Err(CliError::new(format!(
            "every entry in {shown} was written by someone else ({}); nothing was imported",
            others.into_iter().collect::<Vec<_>>().join(", ")
        ))
        .hint("duo imports only your own words; if these are yours from an earlier setup of duo, add --as-mine"));
    }
    // Each notebook gets one chunk (or, for a large import, one new snapshot): all of its
    // entries land, or none of them.
    for (journal, entries, in_private) in [(&ctx.dev.space, &shared, false), (&ctx.dev.private, &private, true)] {
        // Imported entries are authored by this person: sealed as they are imported.
        if entries.is_empty() {
            continue;
        }
        let by = ctx.dev.sealer();
        if entries.len() >= 1000 {
            journal.add_bulk(entries, &by)?;
            ctx.remember_writes(in_private);
        } else {
            journal.add(entries, &by)?;
            ctx.remember_writes(in_private);
            if let Err(e) = journal.maybe_compact() {
                p.warn(format!(
                    "could not compact the journal ({e}); the imported entries are saved"
                ));
            }
        }
    }
    if p.json {
        p.json_value(&serde_json::json!({
            "format": match parsed.format { Format::DayOne => "dayone", Format::Duo => "duo" },
            "imported": shared.len() + private.len(),
            "shared": shared.len(),
            "private": private.len(),
            "already_present": duplicates,
            "skipped_empty": parsed.skipped_empty,
            "skipped_not_mine": not_mine,
        }));
    } else {
        let format = match parsed.format {
            Format::DayOne => "Day One export",
            Format::Duo => "duo export",
        };
        let mut msg = format!(
            "Imported {} from a {format}",
            crate::output::count(shared.len() + private.len(), "entry", "entries")
        );
        if !private.is_empty() {
            msg.push_str(&format!(" ({} into your private notebook)", private.len()));
        }
        msg.push('.');
        if duplicates > 0 {
            msg.push_str(&format!(
                " {} already here.",
                crate::output::count(duplicates, "was", "were")
            ));
        }
        if parsed.skipped_empty > 0 {
            msg.push_str(&format!(" {} without text were left out.", parsed.skipped_empty));
        }
        if not_mine > 0 {
            msg.push_str(&format!(
                " {not_mine} written by someone else ({}) were left out; duo imports only your own words (--as-mine if they are yours).",
                others.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        p.info(msg);
    }
    Ok(exit::OK)
}
