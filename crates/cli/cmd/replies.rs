//! `duo journal ack | reflect | confirm | correct`, and the no-replies marker (`edit
//! --no-replies`). The rules live in duo-journal (`may_reply`, `answerable`, `replies`).

use crate::args::{AckArgs, ConfirmArgs, CorrectArgs, ReflectArgs};
use crate::ctx::{Both, Ctx, now};
use crate::error::{CliError, Result};
use crate::exit;
use crate::output::Item;
use duo_journal::{Ack, Kind, Refusal, ReplyKind, new_id};

fn refused(r: Refusal) -> CliError {
    let hint = match &r {
        Refusal::NoReplies { .. } => {
            Some("if you want to talk about it, you can say so in your own time, in person or in an entry of your own")
        }
        Refusal::OwnEntry => Some("`duo journal edit` changes your own entry"),
        Refusal::NotAuthor => Some("to answer in your own words, `duo journal reflect` your partner's entry"),
        Refusal::OwnNoReplies => Some("lift it with `duo journal edit ID --allow-replies`"),
        _ => None,
    };
    let mut e = CliError::new(&r);
    if matches!(r, Refusal::NoReplies { .. }) {
        e.code = exit::NO_REPLIES;
    }
    match hint {
        Some(h) => e.hint(h),
        None => e,
    }
}

/// What `edit --no-replies` / `--allow-replies` asks for; only the author may ask.
pub fn replies_change(ctx: &Ctx, both: &Both, item: &Item<'_>, off: bool, on: bool) -> Result<Option<bool>> {
    if !off && !on {
        return Ok(None);
    }
    if item.private {
        return Err(CliError::usage(
            "no replies is for shared entries: a private entry is never seen by your partner",
        ));
    }
    if item.entry.author != ctx.dev.config.person_id {
        return Err(CliError::new(format!(
            "this entry is {}'s: only its author decides whether it takes replies",
            both.shared.view.shown_name(&item.entry.author)
        )));
    }
    Ok(Some(off))
}

/// Write one reply to the shared space, as a change made on the whole history: it says
/// what it was written knowing (a "no replies" lifted since, or not), which decides whether
/// a later lift shows it (docs/storage.md, "Concurrent writes").
fn send(ctx: &Ctx, ack: &Ack) -> Result<()> {
    ctx.dev.space.update(|doc| doc.put_ack(ack, &ctx.dev.sealer()))?;
    if let Err(e) = ctx.dev.space.maybe_compact() {
        ctx.printer
            .warn(format!("could not compact the journal ({e}); your reply is saved"));
    }
    Ok(())
}

fn new_ack(ctx: &Ctx, entry: &str, kind: ReplyKind, text: Option<String>, of: Option<String>) -> Result<Ack> {
    Ok(Ack {
        id: new_id(),
        entry: entry.to_string(),
        by: ctx.dev.config.person_id.clone(),
        device: ctx.dev.config.device_id.clone(),
        kind,
        at: now()?,
        text,
        of,
        seals: Vec::new(),
    })
}

/// The partner's entry `id` names, checked: it takes replies from this person.
fn partners_entry<'a>(ctx: &Ctx, both: &'a Both, id: &str) -> Result<Item<'a>> {
    let item = both.resolve(id)?;
    let name = both.shared.view.shown_name(&item.entry.author);
    duo_journal::may_reply(item.entry, &ctx.dev.config.person_id, item.private, &name).map_err(refused)?;
    super::write::refuse_if_damaged(both, false)?;
    Ok(item)
}

fn done(ctx: &Ctx, ack: &Ack, message: &str) -> Result<i32> {
    let p = &ctx.printer;
    if p.json {
        p.json_value(&serde_json::json!({ "id": ack.id, "entry": ack.entry, "kind": ack.kind.as_str() }));
    } else {
        p.info(message);
    }
    Ok(exit::OK)
}

pub fn ack(ctx: &Ctx, a: &AckArgs) -> Result<i32> {
    let both = ctx.read(true)?;
    let item = partners_entry(ctx, &both, &a.id)?;
    let ack = new_ack(ctx, &item.entry.id, a.kind.into(), None, None)?;
    send(ctx, &ack)?;
    let name = both.shared.view.shown_name(&item.entry.author);
    done(
        ctx,
        &ack,
        &format!("Sent \"{}\" to {name} (they see it after your next sync).", ack.kind),
    )
}

pub fn reflect(ctx: &Ctx, a: &ReflectArgs) -> Result<i32> {
    let both = ctx.read(true)?;
    let item = partners_entry(ctx, &both, &a.id)?;
    let text = super::write::body_from(
        a.text.as_deref(),
        "What I heard is ",
        "Say back what you heard, in your own words and without judging; your partner can confirm or correct it.",
    )?;
    let ack = new_ack(ctx, &item.entry.id, ReplyKind::Reflection, Some(text), None)?;
    send(ctx, &ack)?;
    super::hints::offer_hint(ctx, Kind::Reflection, ack.text.as_deref().unwrap_or_default());
    let name = both.shared.view.shown_name(&item.entry.author);
    done(
        ctx,
        &ack,
        &format!("Reflected back to {name}. They can confirm it or gently correct it."),
    )
}

fn answer(ctx: &Ctx, id: &str, reflection: Option<&str>, kind: ReplyKind, text: Option<&str>) -> Result<i32> {
    let both = ctx.read(true)?;
    let item = both.resolve(id)?;
    let me = &ctx.dev.config.person_id;
    if item.private {
        return Err(refused(Refusal::Private));
    }
    let mut prefix = reflection.map(str::to_ascii_lowercase);
    let shown: Vec<&Ack> = item.replies.reflections.iter().map(|r| r.reflection).collect();
    if prefix.is_none() && shown.len() > 1 && item.entry.author == *me && !item.entry.no_replies {
        prefix = Some(choose_reflection(&both, &shown, &item.entry.id)?);
    }
    let r = duo_journal::answerable(&item.replies, item.entry, me, prefix.as_deref()).map_err(refused)?;
    super::write::refuse_if_damaged(&both, false)?;
    let text = match kind {
        ReplyKind::Correct => Some(super::write::body_from(
            text,
            "What I meant is ",
            "Say what you meant; your partner sees it beside their reflection.",
        )?),
        _ => None,
    };
    let ack = new_ack(ctx, &item.entry.id, kind, text, Some(r.id.clone()))?;
    send(ctx, &ack)?;
    let name = both.shared.view.shown_name(&r.by);
    let quoted = quote(r);
    let msg = match kind {
        ReplyKind::Confirm => format!("Confirmed {name}'s reflection {quoted}: {name} heard you."),
        _ => format!("Sent your correction of {name}'s reflection {quoted} to {name}."),
    };
    done(ctx, &ack, &msg)
}

/// A reflection quoted in a message: its short id and the start of its words, escaped.
fn quote(r: &Ack) -> String {
    let words = r.text.as_deref().unwrap_or_default();
    let first = words.lines().next().unwrap_or("");
    let mut cut: String = first.chars().take(60).collect();
    if cut.len() < words.trim_end().len() {
        cut.push('…');
    }
    format!(
        "{} (\"{}\")",
        crate::output::short(&r.id, 8),
        duo_journal::text::line(&cut)
    )
}

/// Several reflections and none named: ask which on a terminal, else refuse with the list.
fn choose_reflection(both: &Both, shown: &[&Ack], entry: &str) -> Result<String> {
    use std::io::IsTerminal;
    let view = &both.shared.view;
    let list: Vec<String> = shown
        .iter()
        .enumerate()
        .map(|(i, r)| format!("[{}] {} reflected {}", i + 1, view.shown_name(&r.by), quote(r)))
        .collect();
    let short = crate::output::short(entry, 8);
    if !std::io::stdin().is_terminal() {
        let mut e = CliError::usage(format!(
            "there are {} reflections on this entry: say which one you answer",
            shown.len()
        ));
        for l in &list {
            e = e.cause(l);
        }
        let first = crate::output::short(&shown[0].id, 8);
        return Err(e.hint(format!(
            "add --reflection ID, e.g. `duo journal confirm {short} --reflection {first}`"
        )));
    }
    crate::output::prompt(&format!(
        "There are {} reflections on this entry:\n{}\nWhich one do you answer? [1-{}] ",
        shown.len(),
        list.join("\n"),
        shown.len()
    ));
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    match answer
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| shown.get(i))
    {
        Some(r) => Ok(r.id.clone()),
        None => Err(CliError::usage("no reflection chosen; nothing was sent").hint(format!(
            "run it again and give a number, or add --reflection ID to `duo journal confirm {short}`"
        ))),
    }
}

pub fn confirm(ctx: &Ctx, a: &ConfirmArgs) -> Result<i32> {
    answer(ctx, &a.id, a.reflection.as_deref(), ReplyKind::Confirm, None)
}

pub fn correct(ctx: &Ctx, a: &CorrectArgs) -> Result<i32> {
    answer(
        ctx,
        &a.id,
        a.reflection.as_deref(),
        ReplyKind::Correct,
        a.text.as_deref(),
    )
}
