//! `duo journal list | search | show`.

use crate::args::{ListArgs, Scope, SearchArgs};
use crate::ctx::{Both, Ctx};
use crate::error::{CliError, Result};
use duo_journal::{Kind, Query, View};

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

/// One entry as a list prints it: where it sorts ([`duo_journal::entry_order_key`]) and
/// its text (its summary, or its JSON).
struct Row {
    key: (u8, std::cmp::Reverse<i64>, String),
    text: String,
}

/// What a list makes of one view (a notebook's, or one part of it): the matching entries'
/// rows, and the restore notices of this person's entries in it.
type Listed = (Vec<Row>, Vec<String>);

/// Read the notebooks in scope, then filter, sort and print; exit 1 if damaged files were
/// found. With `restores`, name this person's entries waiting to be restored. Each view
/// is turned into rows as it is read (part by part when the stored views are current and
/// already observed: [`Ctx::read_heads`]), so what is held is the rows, not the entries.
fn print_matching(
    ctx: &Ctx,
    (shared, private): (bool, bool),
    q: &Query,
    limit: Option<usize>,
    restores: bool,
) -> Result<i32> {
    let p = &ctx.printer;
    let by_status = q.kinds == [Kind::Boundary];
    let me = ctx.dev.config.person_id.as_str();
    let matches = q.matcher();
    let list = |both: &Both, view: &View, private: bool| -> Listed {
        // Names are the shared space's, for the entries of either notebook.
        let names = &both.shared.view;
        let rows = (both.items_of(view, private, &matches).into_iter())
            .map(|i| Row {
                key: {
                    let (rank, created, id) = duo_journal::entry_order_key(i.entry, by_status);
                    (rank, created, id.to_string())
                },
                text: if p.json {
                    serde_json::to_string_pretty(&i.json(names)).expect("output serializes")
                } else {
                    let mut text = String::with_capacity(160);
                    i.write_summary(&mut text, names, p);
                    text
                },
            })
            .collect();
        let notices = match restores {
            true => super::write::restorable_of(view, me).map(restore_notice).collect(),
            false => Vec::new(),
        };
        (rows, notices)
    };
    let (both, listed) = match ctx.read_heads(private)? {
        Some(both) => match both.each_view(ctx, shared, &|view, private| list(&both, view, private))? {
            Some(listed) => (both, listed),
            None => whole(ctx, shared, private, &list)?,
        },
        None => whole(ctx, shared, private, &list)?,
    };
    let (mut rows, mut notices): (Vec<Row>, Vec<String>) = (Vec::new(), Vec::new());
    for (r, n) in listed {
        rows.extend(r);
        notices.extend(n);
    }
    rows.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    rows.truncate(limit.unwrap_or(usize::MAX));
    if p.json {
        p.data(&duo_journal::text::json(&json_array(&rows)));
    } else if rows.is_empty() {
        p.info("No entries match.");
    } else {
        let mut text = String::with_capacity(rows.iter().map(|r| r.text.len()).sum());
        rows.iter().for_each(|r| text.push_str(&r.text));
        p.data(&text);
    }
    let status = ctx.report(&both);
    notices.iter().for_each(|n| p.info(n));
    Ok(status)
}

/// [`print_matching`]'s rows from a whole read of the notebooks.
fn whole(
    ctx: &Ctx,
    shared: bool,
    private: bool,
    list: &(dyn Fn(&Both, &View, bool) -> Listed + Sync),
) -> Result<(Both, Vec<Listed>)> {
    let both = ctx.read(private)?;
    let listed = both
        .each_view(ctx, shared, &|view, private| list(&both, view, private))?
        .unwrap_or_default();
    Ok((both, listed))
}

/// Rows' JSON texts as one pretty JSON array, as `serde_json::to_string_pretty` writes it.
fn json_array(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "[]".to_string();
    }
    let mut out = String::with_capacity(rows.iter().map(|r| r.text.len() + r.text.len() / 8).sum::<usize>() + 4);
    out.push('[');
    for (n, row) in rows.iter().enumerate() {
        out.push_str(if n == 0 { "\n" } else { ",\n" });
        for (k, line) in row.text.split('\n').enumerate() {
            if k > 0 {
                out.push('\n');
            }
            out.push_str("  ");
            out.push_str(line);
        }
    }
    out.push_str("\n]");
    out
}

pub fn list(ctx: &Ctx, a: &ListArgs) -> Result<i32> {
    let q = Query {
        kinds: a.kind.iter().map(|k| (*k).into()).collect(),
        tags: duo_journal::normalize_tags(&a.tags).map_err(CliError::usage)?,
        since: a.since.as_deref().map(|s| parse_date("since", s)).transpose()?,
        until: a.until.as_deref().map(|s| parse_date("until", s)).transpose()?,
        text: None,
    };
    print_matching(ctx, scope(&a.scope), &q, a.limit, !ctx.printer.json)
}

/// Name an entry of this person's that a deletion on one device and an edit on another
/// left waiting for them (never the partner's: only the author can restore them).
fn restore_notice(e: &duo_journal::Entry) -> String {
    let id = crate::output::short(&e.id, 8);
    let first = e.body.lines().next().unwrap_or("");
    let first: String = first.chars().take(60).collect();
    format!(
        "You deleted {id} (\"{}\") on one device while another of your devices edited it; \
         the edit is kept. `duo journal restore {id}` brings it back with the edit; otherwise it stays deleted.",
        duo_journal::text::body(&first)
    )
}

pub fn search(ctx: &Ctx, a: &SearchArgs) -> Result<i32> {
    if a.query.trim().is_empty() {
        return Err(CliError::usage("give some text to search for"));
    }
    let q = Query {
        text: Some(a.query.clone()),
        ..Default::default()
    };
    print_matching(ctx, scope(&a.scope), &q, None, false)
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
