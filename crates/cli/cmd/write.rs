//! `duo journal add | edit | delete`.

use crate::args::{AddArgs, DeleteArgs, EditArgs};
use crate::ctx::{Ctx, now};
use crate::editor;
use crate::error::{CliError, Result};
use crate::exit;
use duo_journal::{EntryPatch, Kind, NewEntry, StatusChange, new_id};
use std::io::{IsTerminal, Read};

/// The body: the argument, else stdin when piped, else the editor (opened on `initial`,
/// with `guide` below the scissors line).
pub fn body_from(text: Option<&str>, initial: &str, guide: &str) -> Result<String> {
    let raw = match text {
        Some(t) => t.to_string(),
        None if !std::io::stdin().is_terminal() => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::new("could not read the text from stdin").cause(e))?;
            s
        }
        None => editor::edit(initial, guide)?,
    };
    let body = raw.trim_end().trim_start_matches('\n').to_string();
    if body.trim().is_empty() {
        return Err(CliError::new("the text is empty, so nothing was saved")
            .hint("write something, or pass the text as an argument"));
    }
    Ok(body)
}

fn clean_tags(tags: &[String]) -> Result<Vec<String>> {
    duo_journal::normalize_tags(tags).map_err(CliError::usage)
}

/// Refuse to build on a notebook with damaged or missing files.
pub fn refuse_if_damaged(both: &crate::ctx::Both, private: bool) -> Result<()> {
    let blocking = both.blocking(private);
    if blocking.is_empty() {
        return Ok(());
    }
    let mut e = CliError::new("the journal has damaged files, so duo will not change it");
    for d in &blocking {
        e = e.cause(d);
    }
    e.code = crate::exit::FILE_DAMAGED;
    Err(e.hint("run `duo doctor` for a full report, and `duo doctor --repair` to set damaged files aside and go on"))
}

pub fn add(ctx: &Ctx, a: &AddArgs) -> Result<i32> {
    if a.no_replies && a.private {
        return Err(CliError::usage(
            "--no-replies is for shared entries: a private entry is never seen by your partner",
        ));
    }
    super::leave::refuse_if_left(ctx, a.private)?;
    let tags = clean_tags(&a.tags)?;
    let kind: Kind = a.kind.into();
    let guide = if a.private {
        "This is a private note: it stays on this device and is never shared.".to_string()
    } else {
        format!(
            "Your partner will read this {kind}. Speaking from your own side (\"I felt ... when ...\") helps it be heard."
        )
    };
    let body = body_from(a.text.as_deref(), "", &guide)?;
    let mut entry = NewEntry {
        id: new_id(),
        kind,
        author: ctx.dev.config.person_id.clone(),
        device: ctx.dev.config.device_id.clone(),
        created_at: now()?,
        edited_at: 0,
        body,
        tags,
        status: None,
        no_replies: a.no_replies,
        prompt: None,
    };
    entry.edited_at = entry.created_at;
    let journal = if a.private { &ctx.dev.private } else { &ctx.dev.space };
    let mut appended = None;
    journal.append(|doc| {
        doc.add_entry(&entry, &ctx.dev.sealer())?;
        appended = Some(doc.contents());
        Ok(())
    })?;
    ctx.remember_appended(appended, a.private);
    let p = &ctx.printer;
    if p.json {
        p.json_value(&serde_json::json!({ "id": entry.id, "private": a.private }));
    } else {
        p.data(&entry.id);
        p.info(if a.private {
            "Saved to your private notebook (never shared)."
        } else if a.no_replies {
            "Saved, with no replies: your partner can read it, and that is all."
        } else {
            "Saved."
        });
    }
    super::hints::offer_hint(ctx, kind, &entry.body);
    // Housekeeping after the entry is safe on disk: a failure here loses nothing.
    if let Err(e) = journal.maybe_compact() {
        p.warn(format!("could not compact the journal ({e}); your entry is saved"));
    }
    Ok(exit::OK)
}

/// Only an entry's author changes or deletes its words: the partner can answer it instead.
fn refuse_if_not_author(ctx: &Ctx, both: &crate::ctx::Both, item: &crate::output::Item<'_>, what: &str) -> Result<()> {
    if item.private || item.entry.author == ctx.dev.config.person_id {
        return Ok(());
    }
    let name = both.shared.view.shown_name(&item.entry.author);
    let short = crate::output::short(&item.entry.id, 8);
    Err(
        CliError::new(format!("this is {name}'s entry: only {name} can {what} it")).hint(format!(
            "you can answer it instead: `duo journal reflect {short}` or `duo journal ack {short} lets-talk`"
        )),
    )
}

pub fn edit(ctx: &Ctx, a: &EditArgs) -> Result<i32> {
    let both = ctx.read(true)?;
    let item = both.resolve(&a.id)?;
    refuse_if_damaged(&both, item.private)?;
    let words = a.text.is_some()
        || a.keep.is_some()
        || !a.tags.is_empty()
        || a.clear_tags
        || (a.status.is_none() && !a.no_replies && !a.allow_replies);
    if words {
        refuse_if_not_author(ctx, &both, &item, "change")?;
    }
    super::leave::refuse_if_left(ctx, item.private)?;
    let entry = item.entry;
    let mut patch = EntryPatch {
        edited_at: now()?.max(entry.created_at),
        ..Default::default()
    };
    if let Some(n) = a.keep {
        let versions: Vec<&String> = std::iter::once(&entry.body).chain(entry.conflicts.iter()).collect();
        if entry.conflicts.is_empty() {
            return Err(CliError::usage(
                "this entry has only one version; --keep is for entries edited on two devices at once",
            ));
        }
        let chosen = n.checked_sub(1).and_then(|i| versions.get(i)).ok_or_else(|| {
            CliError::usage(format!(
                "there is no version {n}: this entry has versions 1 to {}",
                versions.len()
            ))
        })?;
        patch.body = Some((*chosen).clone());
    }
    let mut status = None;
    if let Some(s) = a.status {
        if entry.kind != Kind::Boundary {
            return Err(CliError::usage(format!(
                "entry {} is {}: only boundaries have a status",
                crate::output::short(&entry.id, 8),
                crate::output::a_kind(entry.kind)
            )));
        }
        super::boundaries::check_author(ctx, &both, entry)?;
        status = Some(StatusChange {
            id: new_id(),
            entry: entry.id.clone(),
            by: ctx.dev.config.person_id.clone(),
            device: ctx.dev.config.device_id.clone(),
            status: s.into(),
            at: patch.edited_at,
            seals: Vec::new(),
        });
    }
    let replies = super::replies::replies_change(ctx, &both, &item, a.no_replies, a.allow_replies)?;
    patch.no_replies = replies;
    if !a.tags.is_empty() {
        patch.tags = Some(clean_tags(&a.tags)?);
    } else if a.clear_tags {
        patch.tags = Some(Vec::new());
    }
    let nothing_else = patch.body.is_none() && status.is_none() && patch.tags.is_none() && replies.is_none();
    if a.text.is_some() || nothing_else {
        let body = body_from(
            a.text.as_deref(),
            &entry.body,
            "You are editing your entry. Devices that already have the earlier text keep it in the shared history.",
        )?;
        if body == entry.body && entry.conflicts.is_empty() && nothing_else {
            if ctx.printer.json {
                ctx.printer
                    .json_value(&serde_json::json!({ "id": entry.id, "edited": false }));
            }
            ctx.printer.info("Nothing changed.");
            return Ok(exit::OK);
        }
        patch.body = Some(body);
    }
    let journal = if item.private { &ctx.dev.private } else { &ctx.dev.space };
    let id = entry.id.clone();
    // Sealed by the library with your key; it refuses anyone's entry but your own (only the
    // author changes an entry, checked above with a kinder message).
    let by = ctx.dev.sealer();
    journal.update(|doc| {
        doc.edit_entry(&id, &patch, &by)?;
        if let Some(change) = &status {
            doc.set_boundary_status(change, &by)?;
        }
        Ok(())
    })?;
    ctx.remember_writes(item.private);
    if let Some(body) = patch.body.as_ref().filter(|_| a.keep.is_none()) {
        super::hints::offer_hint(ctx, entry.kind, body);
    }
    let p = &ctx.printer;
    if p.json {
        p.json_value(&serde_json::json!({ "id": id, "edited": true }));
    } else {
        p.info(format!("Edited {}.", crate::output::short(&id, 8)));
    }
    Ok(exit::OK)
}

/// `duo journal restore ID`: lift the deletion of one of your entries that another of your
/// devices edited at the same time (docs/storage.md, "Concurrent writes").
pub fn restore(ctx: &Ctx, prefix: &str) -> Result<i32> {
    let both = ctx.read(true)?;
    let me = ctx.dev.config.person_id.as_str();
    let prefix = prefix.to_ascii_lowercase();
    let found: Vec<(bool, String)> = std::iter::once((false, &both.shared.view))
        .chain(both.private.as_ref().map(|r| (true, &r.view)))
        .flat_map(|(private, view)| restorable_of(view, me).map(move |e| (private, e.id.clone())))
        .filter(|(_, id)| id.starts_with(&prefix))
        .collect();
    let (private, id) = match found.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(CliError::new(format!(
                "no entry of yours starting with '{}' is waiting to be restored",
                duo_journal::text::line(&prefix)
            ))
            .hint("only an entry deleted on one of your devices while another edited it can be restored; `duo journal list` names them"));
        }
        _ => {
            return Err(CliError::usage(format!(
                "'{}' matches several entries waiting to be restored",
                duo_journal::text::line(&prefix)
            ))
            .hint("give more characters of the id"));
        }
    };
    refuse_if_damaged(&both, private)?;
    super::leave::refuse_if_left(ctx, private)?;
    let journal = if private { &ctx.dev.private } else { &ctx.dev.space };
    let at = now()?;
    journal.update(|doc| doc.restore_entry(&id, at, &ctx.dev.sealer()))?;
    ctx.remember_writes(private);
    if ctx.printer.json {
        ctx.printer
            .json_value(&serde_json::json!({ "id": id, "restored": true }));
    } else {
        ctx.printer.info(format!(
            "Restored {}, with the edit made on your other device.",
            crate::output::short(&id, 8)
        ));
    }
    Ok(exit::OK)
}

/// This person's deleted entries that an edit made at the same time keeps (their author
/// alone is offered them).
pub fn restorable_of<'a>(
    view: &'a duo_journal::View,
    me: &'a str,
) -> impl Iterator<Item = &'a duo_journal::Entry> + 'a {
    view.restorable
        .iter()
        .filter_map(|id| view.deleted.get(id))
        .filter(move |e| e.author == me)
}

pub fn delete(ctx: &Ctx, a: &DeleteArgs) -> Result<i32> {
    let both = ctx.read(true)?;
    let item = both.resolve(&a.id)?;
    refuse_if_damaged(&both, item.private)?;
    refuse_if_not_author(ctx, &both, &item, "delete")?;
    super::leave::refuse_if_left(ctx, item.private)?;
    let id = item.entry.id.clone();
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::usage("deleting needs confirmation").hint("pass --yes to delete without asking"));
        }
        crate::output::ask(&format!(
            "{}\nDelete this entry? Its earlier text stays in the journal's history.",
            item.summary(&both.shared.view, &ctx.printer).trim_end()
        ));
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            ctx.printer.info("Nothing deleted.");
            return Ok(exit::FAILURE);
        }
    }
    let journal = if item.private { &ctx.dev.private } else { &ctx.dev.space };
    let at = now()?;
    journal.update(|doc| doc.delete_entry(&id, at, &ctx.dev.sealer()))?;
    ctx.remember_writes(item.private);
    if ctx.printer.json {
        ctx.printer
            .json_value(&serde_json::json!({ "id": id, "deleted": true }));
    } else {
        ctx.printer.info(format!("Deleted {}.", crate::output::short(&id, 8)));
    }
    Ok(exit::OK)
}
