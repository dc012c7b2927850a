//! `duo boundaries [--all] [revisit|keep|retire ID]`: boundaries as living agreements.

use crate::args::{BoundariesArgs, BoundariesCommand};
use crate::ctx::{Both, Ctx, now};
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::{Item, local_time, rfc3339};
use duo_journal::{Entry, Kind, Status, StatusChange, StatusRefusal, new_id};
use serde::Serialize;

/// Refuse a status change by anyone but the boundary's author.
pub fn check_author(ctx: &Ctx, both: &Both, entry: &Entry) -> Result<()> {
    let name = both.shared.view.shown_name(&entry.author);
    duo_journal::may_change_status(entry, &ctx.dev.config.person_id, &name).map_err(|r| match r {
        StatusRefusal::NotABoundary => CliError::usage(format!(
            "entry {} is {}: {r}",
            crate::output::short(&entry.id, 8),
            crate::output::a_kind(entry.kind)
        )),
        StatusRefusal::NotAuthor { .. } => CliError::new(&r).hint(format!(
            "if you would like to talk about it, `duo journal ack {} lets-talk` tells {name} so",
            crate::output::short(&entry.id, 8)
        )),
    })
}

pub fn run(ctx: &Ctx, a: &BoundariesArgs) -> Result<i32> {
    match &a.command {
        None => show(ctx, a.all),
        Some(BoundariesCommand::Revisit(id)) => change(ctx, &id.id, Status::Revisit),
        Some(BoundariesCommand::Keep(id)) => change(ctx, &id.id, Status::Active),
        Some(BoundariesCommand::Retire(id)) => change(ctx, &id.id, Status::Retired),
    }
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    status: &'a str,
    at: String,
}

#[derive(Serialize)]
struct BoundaryJson<'a> {
    id: &'a str,
    author: String,
    author_id: &'a str,
    body: &'a str,
    status: &'a str,
    private: bool,
    set_at: String,
    revisited_at: Option<String>,
    history: Vec<ChangeJson<'a>>,
}

fn show(ctx: &Ctx, all: bool) -> Result<i32> {
    let both = ctx.read(true)?;
    let view = &both.shared.view;
    let me = &ctx.dev.config.person_id;
    let mut items: Vec<Item<'_>> = both
        .items(true)
        .into_iter()
        .filter(|i| i.entry.kind == Kind::Boundary && (all || i.entry.status != Some(Status::Retired)))
        .collect();
    // Yours first, then your partner's; in force before retired; newest first.
    items.sort_by(|a, b| {
        (a.entry.author != *me)
            .cmp(&(b.entry.author != *me))
            .then(a.entry.author.cmp(&b.entry.author))
            .then(duo_journal::entry_order(a.entry, b.entry, true))
    });
    let history = |i: &Item<'_>| {
        let v = if i.private {
            &both.private.as_ref().expect("read with private").view
        } else {
            view
        };
        v.history(i.entry)
    };
    let p = &ctx.printer;
    if p.json {
        let out: Vec<BoundaryJson<'_>> = items
            .iter()
            .map(|i| {
                let h = history(i);
                BoundaryJson {
                    id: &i.entry.id,
                    author: view.person_name(&i.entry.author),
                    author_id: &i.entry.author,
                    body: &i.entry.body,
                    status: i.entry.status.unwrap_or(Status::Active).as_str(),
                    private: i.private,
                    set_at: rfc3339(i.entry.created_at),
                    revisited_at: h.last().map(|c| rfc3339(c.at)),
                    history: h
                        .iter()
                        .map(|c| ChangeJson {
                            status: c.status.as_str(),
                            at: rfc3339(c.at),
                        })
                        .collect(),
                }
            })
            .collect();
        p.json_value(&out);
        return Ok(ctx.report(&both));
    }
    if items.is_empty() {
        p.info(if all {
            "No boundaries yet. `duo journal add --kind boundary \"…\"` sets one."
        } else {
            "No boundaries in force. (`--all` shows retired ones.)"
        });
        return Ok(ctx.report(&both));
    }
    let mut out = String::new();
    let mut last_author: Option<&str> = None;
    for i in &items {
        let e = i.entry;
        if last_author != Some(e.author.as_str()) {
            let who = if e.author == *me {
                "Your".to_string()
            } else {
                format!("{}'s", view.shown_name(&e.author))
            };
            if last_author.is_some() {
                out.push('\n');
            }
            out.push_str(&p.bold(&format!("{who} boundaries")));
            out.push('\n');
            last_author = Some(&e.author);
        }
        let h = history(i);
        let status = e.status.unwrap_or(Status::Active);
        let label = match status {
            Status::Active => "active".to_string(),
            Status::Revisit => "to revisit".to_string(),
            Status::Retired => "retired".to_string(),
        };
        out.push_str(&format!(
            "  {}  {label}  set {}",
            p.bold(&crate::output::short(&e.id, 8)),
            local_time(e.created_at)
        ));
        if let Some(c) = h.last() {
            out.push_str(&format!(", last revisited {}", local_time(c.at)));
        }
        if i.private {
            out.push_str(&format!("  {}", p.dim("[private]")));
        }
        out.push('\n');
        for line in e.body.lines() {
            out.push_str("      ");
            out.push_str(&duo_journal::text::body(line));
            out.push('\n');
        }
        if all {
            for c in &h {
                out.push_str(
                    &p.dim(&format!("      {}  {}\n", local_time(c.at), c.status))
                        .to_string(),
                );
            }
        }
    }
    p.data(&out);
    Ok(ctx.report(&both))
}

fn change(ctx: &Ctx, id: &str, status: Status) -> Result<i32> {
    let both = ctx.read(true)?;
    let item = both.resolve(id)?;
    let e = item.entry;
    check_author(ctx, &both, e)?;
    super::write::refuse_if_damaged(&both, item.private)?;
    let p = &ctx.printer;
    let unchanged = e.status == Some(status) && status != Status::Active;
    if !unchanged {
        let change = StatusChange {
            id: new_id(),
            entry: e.id.clone(),
            by: ctx.dev.config.person_id.clone(),
            device: ctx.dev.config.device_id.clone(),
            status,
            at: now()?,
        };
        let journal = if item.private { &ctx.dev.private } else { &ctx.dev.space };
        // Only the author changes a boundary's status (checked above): sealed as it now reads.
        let key = ctx.dev.person_key.bytes();
        journal.update(|doc| {
            doc.set_boundary_status(&change)?;
            doc.seal_entry(&change.entry, key)
        })?;
    }
    if p.json {
        p.json_value(&serde_json::json!({ "id": e.id, "status": status.as_str(), "changed": !unchanged }));
    } else if unchanged {
        p.info(format!(
            "{} is already marked {status}.",
            crate::output::short(&e.id, 8)
        ));
    } else {
        p.info(match status {
            Status::Revisit => format!(
                "Marked {} to revisit. It stays in force until you change it.",
                crate::output::short(&e.id, 8)
            ),
            Status::Active => format!("Kept {}: in force, revisited today.", crate::output::short(&e.id, 8)),
            Status::Retired => format!("Retired {}. Its history is kept.", crate::output::short(&e.id, 8)),
        });
    }
    Ok(exit::OK)
}
