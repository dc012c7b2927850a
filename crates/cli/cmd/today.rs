//! `duo today`: one appreciation from your partner, resurfaced, and one prompt.

use crate::ctx::{Ctx, now};
use crate::error::Result;
use crate::exit;
use crate::output::Item;

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
    let pr = super::prompt::practices(ctx);
    let at = now()?;
    let today = pr.today(at, day_of)?;
    let p = &ctx.printer;
    let view = ctx.dev.space.read()?.view;
    if p.json {
        let appreciation = today.appreciation.as_ref().map(|entry| {
            serde_json::to_value(
                Item {
                    entry,
                    private: false,
                    check: None,
                }
                .json(&view),
            )
            .unwrap_or_default()
        });
        p.json_value(&serde_json::json!({
            "appreciation": appreciation,
            "on_this_day": today.on_this_day.is_some(),
            "prompt": today.offer.prompt.map(super::prompt::prompt_json),
            "shared_depth": today.offer.shared.as_str(),
        }));
        return Ok(exit::OK);
    }
    match &today.appreciation {
        Some(e) => {
            let when = match today.on_this_day {
                Some(year) => format!("On this day in {year}"),
                None => crate::output::capitalized(&crate::output::time_ago(at, e.created_at)),
            };
            p.data(&format!(
                "{when}, {} appreciated:\n  {}\n",
                view.shown_name(&e.author),
                duo_journal::text::body(&e.body)
            ));
        }
        None => p.data("No appreciations from your partner yet.\n"),
    }
    super::prompt::print_offer(ctx, &today.offer);
    Ok(exit::OK)
}
