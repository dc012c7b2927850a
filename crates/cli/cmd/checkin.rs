//! `duo checkin [--done]`: a short plan for 20 minutes together, and noting it happened.

use crate::args::CheckinArgs;
use crate::ctx::{Ctx, now};
use crate::error::Result;
use crate::exit;
use crate::output::{local_time, rfc3339};
use duo_journal::Entry;

fn line(e: &Entry) -> String {
    let first = e.body.lines().next().unwrap_or_default();
    let short: String = first.chars().take(72).collect();
    let more = if short.len() < e.body.len() { "…" } else { "" };
    format!(
        "{}  {}{more}",
        crate::output::short(&e.id, 8),
        duo_journal::text::body(&short)
    )
}

pub fn run(ctx: &Ctx, a: &CheckinArgs) -> Result<i32> {
    let pr = super::prompt::practices(ctx);
    let p = &ctx.printer;
    if a.done {
        let at = now()?;
        pr.checkin_done(at)?;
        if p.json {
            p.json_value(&serde_json::json!({ "done": true, "at": rfc3339(at) }));
        } else {
            p.info("Noted: you had your check-in. The next agenda starts from here.");
        }
        return Ok(exit::OK);
    }
    let ag = pr.agenda(now()?)?;
    if p.json {
        let entry = |e: &Entry| serde_json::json!({ "id": e.id, "kind": e.kind.as_str(), "body": e.body });
        p.json_value(&serde_json::json!({
            "since": ag.since.map(rfc3339),
            "lets_talk": ag.lets_talk.iter().map(entry).collect::<Vec<_>>(),
            "boundaries": ag.boundaries.iter().map(entry).collect::<Vec<_>>(),
            "together": ag.together.iter().map(|(pr, mine)| {
                let mut v = super::prompt::prompt_json(pr);
                v["answered_by_you"] = (*mine).into();
                v
            }).collect::<Vec<_>>(),
            "prompt": ag.offer.prompt.map(super::prompt::prompt_json),
            "minutes": 20,
        }));
        return Ok(exit::OK);
    }
    let mut out = String::from("Check-in: about 20 minutes, phones away.\n");
    if let Some(s) = ag.since {
        out.push_str(&format!("(what is new since your last check-in, {})\n", local_time(s)));
    }
    out.push_str("\n1. Arrive (2 min): one thing each that went well this week.\n");
    let mut talk: Vec<String> = ag
        .lets_talk
        .iter()
        .map(|e| format!("   - let's talk: {}", line(e)))
        .collect();
    talk.extend(ag.boundaries.iter().map(|e| format!("   - boundary: {}", line(e))));
    talk.extend(ag.together.iter().map(|(pr, mine)| {
        let note = if *mine {
            "you answered"
        } else {
            "not answered by you yet"
        };
        format!("   - together: {} ({note}) {}", pr.id, pr.text)
    }));
    if talk.is_empty() {
        out.push_str("2. Talk (10 min): nothing flagged; talk about whatever is on your minds.\n");
    } else {
        out.push_str("2. Talk (10 min), one at a time, listening first:\n");
        for t in talk {
            out.push_str(&t);
            out.push('\n');
        }
    }
    match ag.offer.prompt {
        Some(pr) => out.push_str(&format!(
            "3. One question (5 min), pass if you like: {}  {}\n",
            pr.id, pr.text
        )),
        None => out.push_str("3. One question (5 min): every theme is paused for now; choose your own.\n"),
    }
    out.push_str("4. Close (3 min): one thank-you each.\n");
    p.data(&out);
    p.info("Afterwards: `duo checkin --done` notes that it happened (no streaks, no scores).");
    Ok(exit::OK)
}
