//! `duo prompt`: offer a prompt, set your depth, answer, pass, ask together. The logic is
//! in `duo_journal::practice`.

use crate::args::PromptArgs;
use crate::ctx::{Ctx, now};
use crate::error::{CliError, Result};
use crate::exit;
use duo_device::AgeStore;
use duo_journal::practice::{AnswerPlace, Offer, Practices};
use duo_journal::prompts::{self, Prompt};

/// The practices of this device's person: they write with this device's sealer and show
/// through `checker` (from [`duo_device::Opened::checker`]).
pub fn practices<'a>(ctx: &'a Ctx, checker: &'a duo_device::seals::Checker) -> Practices<'a, AgeStore> {
    ctx.dev.practices(checker)
}

/// Share together-answers that were waiting for the partner, if the partner has answered
/// now. Runs on every command that opens the journal and after a sync; a failure is left
/// for the next command (nothing is lost: the answer stays in the private notebook).
pub fn settle(ctx: &Ctx) {
    let n = ctx.dev.settle_answers();
    if n > 0 {
        ctx.printer.info(answers_shared(n));
    }
}

/// What [`settle`] (or a watcher) says when it shared `n` together-answers.
pub fn answers_shared(n: usize) -> String {
    if n == 1 {
        "You have both answered a together prompt: your answer is shared now.".to_string()
    } else {
        format!("You have both answered {n} together prompts: your answers are shared now.")
    }
}

/// [`settle`], passing the context on.
pub fn settled(ctx: Ctx) -> Ctx {
    settle(&ctx);
    ctx
}

/// A prompt named on the command line.
pub fn named(id: &str) -> Result<&'static Prompt> {
    prompts::prompt(id).ok_or_else(|| {
        CliError::usage(format!("there is no prompt '{id}'"))
            .hint("`duo prompt` offers one; prompt ids look like comm-l1 or past-m3")
    })
}

/// The JSON of a prompt: `id`, `text`, `depth`, `theme`.
pub fn prompt_json(p: &Prompt) -> serde_json::Value {
    serde_json::json!({ "id": p.id, "text": p.text, "depth": p.depth.as_str(), "theme": p.theme })
}

/// The JSON of an offer: the prompt's fields (null when none), plus how it was chosen.
pub fn offer_json(o: &Offer) -> serde_json::Value {
    let mut v = match o.prompt {
        Some(p) => prompt_json(p),
        None => serde_json::json!({ "id": null, "text": null, "depth": null, "theme": null }),
    };
    v["together"] = o.together.into();
    v["shared_depth"] = o.shared.as_str().into();
    v["started_over"] = o.started_over.into();
    v
}

/// An offer for people: the prompt on stdout, how to answer on stderr.
pub fn print_offer(ctx: &Ctx, o: &Offer) {
    let p = &ctx.printer;
    let Some(prompt) = o.prompt else {
        p.data("No prompt right now: every theme is paused for now.");
        return;
    };
    if o.started_over {
        p.info("You have seen every prompt at this depth; starting over.");
    }
    let together = if o.together { "  (asked of you both)" } else { "" };
    p.data(&format!(
        "{}  {} · {}{together}\n{}",
        p.bold(prompt.id),
        prompt.depth,
        prompt.theme,
        prompt.text
    ));
    p.info(format!(
        "Answer: duo prompt --answer {id}   Not now: duo prompt --pass {id} (always fine)",
        id = prompt.id
    ));
    if o.together {
        p.info("Your answer stays on this device until you have both answered; then both are shared.");
    }
}

pub fn run(ctx: &Ctx, a: &PromptArgs) -> Result<i32> {
    let checker = ctx.dev.checker();
    let pr = practices(ctx, &checker);
    let p = &ctx.printer;
    if let Some(depth) = a.set_depth {
        let shared = pr.set_depth(depth.into())?;
        let mine: duo_journal::prompts::Depth = depth.into();
        if p.json {
            p.json_value(&serde_json::json!({ "your_depth": mine.as_str(), "shared_depth": shared.as_str() }));
        } else {
            p.data(&format!("Your comfort depth: {mine}\nShared depth: {shared}"));
            p.info("duo offers prompts up to the shared depth, the lower of your two settings. Your partner sees only the shared depth.");
        }
        return Ok(exit::OK);
    }
    if let Some(id) = &a.pass {
        let prompt = named(id)?;
        pr.pass(prompt, now()?)?;
        if p.json {
            p.json_value(&serde_json::json!({ "id": prompt.id, "passed": true }));
        } else {
            p.info("Passed. That is always fine; it stays on this device.");
        }
        return Ok(exit::OK);
    }
    if let Some(id) = &a.answer {
        let prompt = named(id)?;
        let body = super::write::body_from(a.text.as_deref(), "", &format!("Your answer to: {}", prompt.text))?;
        let (entry, place) = pr.answer(prompt, body, now()?)?;
        ctx.remember_writes(place == AnswerPlace::KeptUntilBoth);
        let shared = place != AnswerPlace::KeptUntilBoth;
        if p.json {
            p.json_value(&serde_json::json!({
                "id": entry, "prompt": prompt.id, "shared": shared, "together": place != AnswerPlace::Shared,
            }));
        } else {
            p.data(&entry);
            p.info(match place {
                AnswerPlace::Shared => "Saved as a reflection on this prompt.",
                AnswerPlace::KeptUntilBoth => "Saved on this device only: it is shared once you have both answered.",
                AnswerPlace::SharedWithPartners => "Saved and shared: you have both answered.",
            });
        }
        return Ok(exit::OK);
    }
    let offer = pr.offer(now()?, a.together)?;
    if p.json {
        p.json_value(&offer_json(&offer));
    } else {
        print_offer(ctx, &offer);
    }
    Ok(exit::OK)
}
