//! `duo topics [list | pause THEME | resume THEME]`.

use crate::args::{TopicsArgs, TopicsCommand};
use crate::ctx::{Ctx, now};
use crate::error::{CliError, Result};
use crate::exit;
use duo_journal::practice::{Resumed, Topic};
use duo_journal::prompts;

fn theme(name: &str) -> Result<&'static str> {
    prompts::theme(name).map_err(CliError::usage)
}

pub fn run(ctx: &Ctx, a: &TopicsArgs) -> Result<i32> {
    let checker = ctx.dev.checker();
    let pr = super::prompt::practices(ctx, &checker);
    let p = &ctx.printer;
    match &a.command {
        None | Some(TopicsCommand::List) => {
            let topics = pr.topics()?;
            if p.json {
                let v: Vec<_> = topics
                    .iter()
                    .map(|(t, s)| serde_json::json!({ "theme": t, "state": s.as_str() }))
                    .collect();
                p.json_value(&v);
            } else {
                let text: String = topics
                    .iter()
                    .map(|(t, s)| format!("{t:<15} {}\n", s.as_str()))
                    .collect();
                p.data(&text);
            }
        }
        Some(TopicsCommand::Pause(t)) => {
            let theme = theme(&t.theme)?;
            let changed = pr.pause(theme, now()?)?;
            if p.json {
                p.json_value(&serde_json::json!({ "theme": theme, "state": Topic::PausedByYou.as_str() }));
            } else if changed {
                p.info(format!(
                    "Paused {theme} for both of you. Your partner sees it as \"paused for now\"; lift it with `duo topics resume {theme}`."
                ));
            } else {
                p.info(format!("You had already paused {theme}."));
            }
        }
        Some(TopicsCommand::Resume(t)) => {
            let theme = theme(&t.theme)?;
            let r = pr.resume(theme)?;
            let state = match r {
                Resumed::Lifted(s) | Resumed::NotPausedByYou(s) => s,
            };
            if p.json {
                p.json_value(&serde_json::json!({
                    "theme": theme, "state": state.as_str(), "lifted": matches!(r, Resumed::Lifted(_)),
                }));
            }
            match r {
                Resumed::Lifted(Topic::PausedForNow) => {
                    p.info(format!("Lifted your pause; {theme} is still paused for now."))
                }
                Resumed::Lifted(_) => p.info(format!("{theme} is open again.")),
                Resumed::NotPausedByYou(Topic::PausedForNow) => {
                    return Err(CliError::new(format!(
                        "{theme} is paused for now: only the person who paused it can lift the pause"
                    ))
                    .hint("prompts on it are skipped until then; `duo topics` shows every theme"));
                }
                Resumed::NotPausedByYou(_) => p.info(format!("{theme} was not paused; nothing changed.")),
            }
        }
    }
    Ok(exit::OK)
}
