//! `duo today`: one appreciation from your partner, resurfaced, and one prompt.

use crate::ctx::{Ctx, now};
use crate::error::Result;
use crate::exit;

/// The system time zone, looked up once (`today` dates every appreciation).
static TZ: std::sync::LazyLock<jiff::tz::TimeZone> = std::sync::LazyLock::new(jiff::tz::TimeZone::system);

/// The local calendar day of a time.
fn day_of(ms: i64) -> (i16, i8, i8) {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            let d = TZ.to_datetime(t).date();
            (d.year(), d.month(), d.day())
        })
        .unwrap_or((0, 0, 0))
}

pub fn run(ctx: &Ctx) -> Result<i32> {
    let both = ctx.read(false)?;
    let pr = super::prompt::practices(ctx, &both.checker);
    let at = now()?;
    let today = pr.today(at, day_of)?;
    let p = &ctx.printer;
    let view = &both.shared.view;
    // The appreciation as every reader shows it (`Both::resolve`: the same checks and
    // reply rules as `list`).
    let item = match &today.appreciation {
        Some(e) => Some(both.resolve(&e.id)?),
        None => None,
    };
    if p.json {
        let appreciation = item
            .as_ref()
            .map(|i| serde_json::to_value(i.json(view)).unwrap_or_default());
        p.json_value(&serde_json::json!({
            "appreciation": appreciation,
            "not_written_by_you": both.not_yours(),
            "on_this_day": today.on_this_day.is_some(),
            "prompt": today.offer.prompt.map(super::prompt::prompt_json),
            "shared_depth": today.offer.shared.as_str(),
        }));
        return Ok(exit::OK);
    }
    both.warn_not_yours(p);
    match &item {
        Some(i) => {
            let e = i.entry;
            let when = match today.on_this_day {
                Some(year) => format!("On this day in {year}"),
                None => crate::output::capitalized(&crate::output::time_ago(at, e.created_at)),
            };
            let mark = match i.check {
                Some(duo_journal::Authenticity::NotYours(_)) => "  [NOT WRITTEN BY YOU]",
                _ => "",
            };
            p.data(&format!(
                "{when}, {} appreciated:{mark}\n  {}\n",
                view.shown_name(&e.author),
                duo_journal::text::body(&e.body)
            ));
        }
        None => p.data("No appreciations from your partner yet.\n"),
    }
    super::prompt::print_offer(ctx, &today.offer);
    Ok(exit::OK)
}
