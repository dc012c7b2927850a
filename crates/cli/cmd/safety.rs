//! `duo safety`: everything here that could expose you, in plain language; `--guide`:
//! offline guidance for leaving safely.

use crate::args::{Cli, SafetyArgs};
use crate::ctx::Ctx;
use crate::error::Result;
use crate::exit;
use crate::output::{Printer, count, local_time};
use duo_device::membership::{self, Standing};

pub fn run(cli: &Cli, printer: Printer, a: &SafetyArgs) -> Result<i32> {
    if a.guide {
        printer.data(GUIDE);
        return Ok(exit::OK);
    }
    check(&Ctx::open(cli, printer)?)
}

fn check(ctx: &Ctx) -> Result<i32> {
    let both = ctx.read(true)?;
    let view = &both.shared.view;
    let private = both.private.as_ref().map_or(0, |r| r.view.entries.len());
    let trust = membership::trust(&ctx.dev)?;
    let m = membership::membership(&view.members(), &trust);
    let me = &ctx.dev.config;
    let relay = super::relay::relays(&ctx.dev)
        .map(|r| r.relay.to_string())
        .unwrap_or_else(|_| "unreadable (see `duo relay`)".to_string());
    // Together prompts asked and not yet answered by both: whose answer is waiting.
    let pending: Vec<(String, bool)> = super::prompt::practices(ctx, &both.checker)
        .state()
        .map(|st| {
            st.open_together(&me.person_id)
                .into_iter()
                .map(|pr| (pr.text.to_string(), st.has_answered(pr.id, &me.person_id)))
                .collect()
        })
        .unwrap_or_default();
    let notices = super::devices::pending(ctx, view);
    let notice = |id: &str| notices.iter().find(|n| n.device == id).map(|n| n.kind.as_str());
    let p = &ctx.printer;
    let mut devices: Vec<_> = view.devices.values().collect();
    devices.sort_by_key(|d| (d.person != me.person_id, d.added_at));
    if p.json {
        p.json_value(&serde_json::json!({
            "left": trust.left_at.is_some(),
            "devices": devices.iter().map(|d| serde_json::json!({
                "id": d.id, "person": view.person_name(&d.person), "label": d.label,
                "not_valid": duo_journal::text::not_valid([("person", view.person_name(&d.person).as_str()), ("label", d.label.as_str())]),
                "added_at": crate::output::rfc3339(d.added_at),
                "standing": m.standing.get(&d.id).map_or("unconfirmed", Standing::as_str),
                "notice": notice(&d.id),
            })).collect::<Vec<_>>(),
            "relay": relay,
            "shared_entries": view.entries.len(),
            "private_entries": private,
            "pending_together_answers": pending.len(),
            "home": ctx.dev.home.root(),
        }));
        return Ok(ctx.report(&both));
    }
    let mut t = String::new();
    t.push_str("Safety check for this device\n\n");
    if let Some(at) = trust.left_at {
        t.push_str(&format!(
            "You left the shared space on this device ({}). It syncs with nobody and answers nobody.\n\n",
            local_time(at)
        ));
    }
    t.push_str("Devices that can receive the shared space (and when each was added):\n");
    for d in &devices {
        let s = m.standing.get(&d.id).cloned().unwrap_or(Standing::Unconfirmed);
        let state = if s.is_active() {
            String::new()
        } else {
            format!(" - {}, gets nothing new", s.as_str())
        };
        let this = if d.id == me.device_id { " (this device)" } else { "" };
        let state = match notice(&d.id) {
            Some(kind) => format!("{state} - NEW ({kind}), not yet acknowledged"),
            None => state,
        };
        t.push_str(&format!(
            "  - {}'s '{}', added {}{this}{state}  [{}]\n",
            view.shown_name(&d.person),
            crate::output::label(&d.label),
            local_time(d.added_at),
            crate::output::short(&d.id, 12)
        ));
    }
    t.push_str("  If you do not recognise one of your own devices, revoke it: `duo devices revoke ID`.\n");
    if !notices.is_empty() {
        t.push_str(&format!(
            "  {} marked NEW: `duo devices ack` once you have read them (noted on this device only).\n",
            count(notices.len(), "change", "changes")
        ));
    }
    t.push('\n');
    t.push_str(&format!("Relay: {relay}.\n"));
    t.push_str(
        "  With a relay, it sees which devices talk, from where and when (never what). Without one, duo only talks\n  to devices on networks this device is on.\n\n",
    );
    t.push_str(&format!(
        "What is shared: {} in the shared space. Every device above that is active gets each of them,\n  and keeps what it already received.\n",
        count(view.entries.len(), "entry", "entries")
    ));
    t.push_str(&format!(
        "What is private: {} in your private notebook, on this device only; it never leaves it.\n",
        count(private, "entry", "entries")
    ));
    if pending.is_empty() {
        t.push_str("Pending together-answers: none.\n\n");
    } else {
        t.push_str("Pending together-answers (shared only once both of you answered):\n");
        for (text, mine) in &pending {
            let state = if *mine {
                "you answered; your answer waits on this device for your partner's"
            } else {
                "not answered by you yet"
            };
            t.push_str(&format!("  - \"{text}\": {state}\n"));
        }
        t.push('\n');
    }
    if duo_device::lock::is_locked(&ctx.dev.home) {
        t.push_str(&format!(
            "Everything is stored encrypted in {}. Its keys are locked with your passphrase (`duo lock --set`\n  was done): `duo lock` locks them now; after 15 idle minutes they lock again by themselves.\n\n",
            ctx.dev.home.root().display()
        ));
    } else {
        t.push_str(&format!(
            "Everything is stored encrypted in {}; the key is in the same place, so someone who can use this\n  device unlocked can read it. `duo lock --set` puts the keys behind a passphrase only you know.\n\n",
            ctx.dev.home.root().display()
        ));
    }
    t.push_str("What you can do, on your own, without anyone being told:\n");
    t.push_str("  duo devices revoke ID     stop a lost device of yours (or, here only, one of your partner's)\n");
    t.push_str("  duo devices ack           stop showing the notices about devices added or revoked (here only)\n");
    if !duo_device::lock::is_locked(&ctx.dev.home) {
        t.push_str("  duo lock --set            ask a passphrase before anyone reads duo on this device\n");
    }
    t.push_str("  duo leave                 stop syncing on this device; your copy stays readable\n");
    t.push_str(
        "  duo leave --wipe          remove everything duo keeps on this device (--export DIR first keeps a copy)\n",
    );
    t.push_str("  duo safety --guide        guidance for leaving safely (works offline)\n");
    p.data(&t);
    Ok(ctx.report(&both))
}

const GUIDE: &str = "\
Leaving safely: guidance that works offline

If you are afraid of your partner, your safety matters more than this journal.

- Cutting off access can make a controlling partner angrier. If they are likely to notice
  that you left, revoked a device or wiped this one, think first about when it is safe to
  do it, and where you will be when they notice. `duo leave` sends no message, but your
  partner will see, sooner or later, that nothing new arrives from you.
- What your partner already received stays with them: leaving or wiping cannot take it back.
  Your private notebook never left this device.
- Someone who can unlock this device can read what duo keeps here. If that is a risk, keep a
  copy somewhere only you control (`duo leave --export DIR`) and then `duo leave --wipe`.
- Check your other devices too: `duo devices` lists them; run `duo leave` on each, or revoke
  a device you no longer have with `duo devices revoke ID`.
- Put duo on this device behind a passphrase only you know: `duo lock --set`. `duo lock`
  then locks it at once (before you hand the device to someone, for example).
- Your shell remembers the commands you type (for example in ~/.bash_history or
  ~/.zsh_history). duo asks codes and passphrases at its own prompts, so they are not there,
  but words you put on a command line (`duo journal add \"...\"`, a search) are: clear that
  history if someone else may read it.
- Consider whether this device itself is safe: a partner who had access to it may have
  installed other software or know its passwords.

Support

- You do not have to work this out alone. A local domestic-violence or domestic-abuse
  helpline can talk through your situation in confidence and help you plan; many have a
  phone line, a text or chat service, and an option to leave a website quickly.
- A trusted friend, family member, doctor, counsellor or community organisation can help,
  and can be someone who knows where you are.
- If you are in immediate danger, call your local emergency number.
";
