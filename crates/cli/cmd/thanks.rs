//! `duo thanks "…"`: the one-line way to add an appreciation.

use crate::args::{AddArgs, KindArg, ThanksArgs};
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
