//! The gentle "I"-statement hint: offered when a reflection or boundary reads as blame, and
//! `duo hints on|off`. The rule lives in duo-journal (`i_statement_hint`).

use crate::args::{HintsArgs, OnOff};
use crate::ctx::Ctx;
use crate::env;
use crate::error::Result;
use crate::exit;
use duo_journal::Kind;

/// Show the writer a gentle "I"-statement suggestion when a reflection or boundary reads as
/// blame. Never stored, never blocking; off with `duo hints off` or `DUO_HINTS=off`.
pub fn offer_hint(ctx: &Ctx, kind: Kind, text: &str) {
    if !matches!(kind, Kind::Reflection | Kind::Boundary) || !hints_on(ctx) {
        return;
    }
    if let Some(h) = duo_journal::i_statement_hint(text) {
        ctx.printer.info(format!(
            "hint: {}\n      (`duo hints off` turns these hints off)",
            h.suggestion
        ));
    }
}

/// Are hints on for this device? `DUO_HINTS` (`on`/`off`) overrides the setting.
pub fn hints_on(ctx: &Ctx) -> bool {
    match env::var(env::HINTS).as_deref() {
        Some("off" | "0" | "false") => false,
        Some("on" | "1" | "true") => true,
        _ => !ctx.dev.config.hints_off,
    }
}

/// `duo hints [on|off]`.
pub fn hints(ctx: &Ctx, a: &HintsArgs) -> Result<i32> {
    if let Some(state) = a.state {
        ctx.dev.home.set_hints(state == OnOff::On)?;
    }
    let on = match a.state {
        Some(s) => s == OnOff::On,
        None => !ctx.dev.config.hints_off,
    };
    let p = &ctx.printer;
    if p.json {
        p.json_value(&serde_json::json!({ "hints": on }));
    } else {
        p.data(if on { "on" } else { "off" });
        if a.state.is_some() {
            p.info(if on {
                "Hints are on: a reflection or boundary that reads as blame gets a gentle suggestion, shown only to you."
            } else {
                "Hints are off on this device."
            });
        }
    }
    Ok(exit::OK)
}
