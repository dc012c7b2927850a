//! `duo thanks "…"`: the one-line way to add an appreciation; `duo hints on|off`.

use crate::args::{AddArgs, HintsArgs, KindArg, OnOff, ThanksArgs};
use crate::ctx::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx, a: &ThanksArgs) -> Result<i32> {
    super::write::add(
        ctx,
        &AddArgs {
            text: a.text.clone(),
            kind: KindArg::Appreciation,
            tags: a.tags.clone(),
            private: false,
            no_replies: false,
        },
    )
}

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
    Ok(0)
}
