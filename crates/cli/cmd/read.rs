//! `duo journal list | search | show`.

use crate::args::{ListArgs, Scope, SearchArgs};
use crate::ctx::{Both, Ctx};
use crate::error::{CliError, Result};
use crate::output::Item;
use duo_journal::{Kind, Query, entry_order};

/// Parse `--since`/`--until`: a local calendar date (start of that day) or an RFC 3339 instant.
pub fn parse_date(flag: &str, s: &str) -> Result<i64> {
    if let Some(ms) = duo_journal::import::parse_time(s) {
        return Ok(ms);
    }
    let date: jiff::civil::Date = s.parse().map_err(|_| {
        CliError::usage(format!(
            "--{flag} '{s}' is not a date: use YYYY-MM-DD (or an RFC 3339 date-time)"
        ))
    })?;
    date.to_zoned_datetime(jiff::tz::TimeZone::system())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|e| CliError::usage(format!("--{flag} '{s}': {e}")))
}

/// Which notebooks a scope reads: (shared, private).
fn scope(s: &Scope) -> (bool, bool) {
    (!s.private, s.private || s.all)
}

/// Filter, sort and print; exit 1 if damaged files were found.
fn print_matching(ctx: &Ctx, both: &Both, shared: bool, q: &Query, limit: Option<usize>) -> Result<i32> {
    let mut items: Vec<Item<'_>> = both.items(shared).into_iter().filter(|i| q.matches(i.entry)).collect();
    let only_boundaries = q.kinds == [Kind::Boundary];
    items.sort_by(|a, b| entry_order(a.entry, b.entry, only_boundaries));
    items.truncate(limit.unwrap_or(usize::MAX));
    let view = &both.shared.view;
    let p = &ctx.printer;
    if p.json {
        let out: Vec<_> = items.iter().map(|i| i.json(view)).collect();
        p.json_value(&out);
    } else if items.is_empty() {
        p.info("No entries match.");
    } else {
        let mut text = String::with_capacity(items.len() * 160);
        for i in &items {
            i.write_summary(&mut text, view, p);
        }
        p.data(&text);
    }
    Ok(ctx.report(both))
}

pub fn list(ctx: &Ctx, a: &ListArgs) -> Result<i32> {
    let q = Query {
        kinds: a.kind.iter().map(|k| (*k).into()).collect(),
        tags: duo_journal::normalize_tags(&a.tags).map_err(CliError::usage)?,
        since: a.since.as_deref().map(|s| parse_date("since", s)).transpose()?,
        until: a.until.as_deref().map(|s| parse_date("until", s)).transpose()?,
        text: None,
    };
    let (shared, private) = scope(&a.scope);
    let both = ctx.read(private)?;
    let status = print_matching(ctx, &both, shared, &q, a.limit)?;
    if !ctx.printer.json {
        offer_restores(ctx, &both);
    }
    Ok(status)
}

/// Name this person's entries that a deletion on one device and an edit on another left
/// waiting for them (never the partner's: only the author can restore them).
fn offer_restores(ctx: &Ctx, both: &Both) {
    let me = ctx.dev.config.person_id.as_str();
    let views = std::iter::once(&both.shared.view).chain(both.private.as_ref().map(|r| &r.view));
    for e in views.flat_map(|v| super::write::restorable_of(v, me)) {
        let id = crate::output::short(&e.id, 8);
        let first = e.body.lines().next().unwrap_or("");
        let first: String = first.chars().take(60).collect();
        ctx.printer.info(format!(
            "You deleted {id} (\"{}\") on one device while another of your devices edited it; \
             the edit is kept. `duo journal restore {id}` brings it back with the edit; otherwise it stays deleted.",
            duo_journal::text::body(&first)
        ));
    }
}

pub fn search(ctx: &Ctx, a: &SearchArgs) -> Result<i32> {
    if a.query.trim().is_empty() {
        return Err(CliError::usage("give some text to search for"));
    }
    let q = Query {
        text: Some(a.query.clone()),
        ..Default::default()
    };
    let (shared, private) = scope(&a.scope);
    let both = ctx.read(private)?;
    print_matching(ctx, &both, shared, &q, None)
}

pub fn show(ctx: &Ctx, id: &str) -> Result<i32> {
    let both = ctx.read_entry(id)?;
    let status = ctx.report(&both);
    let item = both.resolve(id)?;
    let p = &ctx.printer;
    if p.json {
        p.json_value(&item.json(&both.shared.view));
    } else {
        p.data(&item.full(&both.shared.view, p));
    }
    Ok(status)
}
