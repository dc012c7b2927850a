//! Nothing from another device reaches a terminal as a control sequence, and pairing
//! cannot take over an identity (docs/security.md, "Terminal control sequences from
//! another device" and "Pairing that takes over an identity").
//!
//! - A hostile partner (the harness of `hostile_partner.rs`: raw automerge in its own
//!   store, then a real sync) renames itself, adds a device record, tags and writes
//!   entries, reflects, and forges an entry under the victim's name, all with ESC
//!   sequences, carriage returns, C1 controls and bidi overrides; every command the victim
//!   runs prints none of them raw, shows them escaped, and marks names, labels and tags as
//!   not valid.
//! - A modified pairing client (duo's own pairing library, the real protocol, a home of
//!   its own whose introduction says what the test wants) against the real `duo pair` and
//!   `duo pair join`: a name with escape codes, or a claim to be the victim or the
//!   victim's partner, is refused before the question; nothing is stored.
//! - A machine in the middle that knows the code and pairs under names whose escape codes
//!   would paint the same fake words on both screens gets refused on both sides.

use crate::harness::*;
use crate::hostile_partner::{Hostile, root_map};
use duo_device::device::{NetOptions, Online, Ticket};
use duo_device::{Home, Opened, invite};

/// Characters a terminal acts on. Listed here on their own (not taken from duo), so the
/// test checks duo's list too: C0 controls but newline and tab, DEL, C1 controls, the
/// bidi embeddings, overrides, isolates and marks.
fn raw_control(text: &str) -> Option<(usize, char)> {
    text.char_indices().find(|(_, c)| {
        let u = *c as u32;
        (u < 0x20 && *c != '\n' && *c != '\t')
            || (0x7f..=0x9f).contains(&u)
            || (0x202a..=0x202e).contains(&u)
            || (0x2066..=0x2069).contains(&u)
            || matches!(u, 0x200e | 0x200f | 0x061c)
    })
}

/// Neither stdout nor stderr of `run` holds a raw control or bidi character.
#[track_caller]
fn assert_clean(what: &str, run: &Run) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        if let Some((at, c)) = raw_control(text) {
            let from = text[..at].char_indices().rev().nth(40).map_or(0, |(i, _)| i);
            panic!(
                "`duo {what}` printed {c:?} raw on {stream}, after {:?}\n{stream}:\n{text:?}",
                &text[from..at]
            );
        }
    }
}

/// `text` (what a run printed) holds `needle`.
#[track_caller]
fn says(text: &str, needle: &str) {
    assert!(text.contains(needle), "says {needle:?}:\n{text}");
}

/// `run` printed `needle` on stdout.
#[track_caller]
fn shows(run: &Run, needle: &str) {
    says(&run.stdout, needle);
}

/// Run, check it succeeded and printed nothing raw.
#[track_caller]
fn clean(d: &Device, args: &[&str]) -> Run {
    let run = d.run(args);
    assert!(
        run.code == 0,
        "`duo {}` failed:\n{}\n{}",
        args.join(" "),
        run.stdout,
        run.stderr
    );
    assert_clean(&args.join(" "), &run);
    run
}

const NAME: &str = "Bob\x1b[2J\x1b[HVerification words: apple apple apple apple\r\u{9b}8m";
const LABEL: &str = "phone\x1b[1A\x1b[2K\u{202e}enohp";
const ODD_DEVICE: &str = "0123456789a\u{202e}bcdef\x1b[2J";
const BODY: &str =
    "Thank you\x1b[2J\x1b[3J for\rthe soup \u{9b}1A\u{7f}\u{2066}quos\u{2069} \u{200f}x\u{61c}\nsecond\tline";
const TAGS: [&str; 3] = ["soup", "\x1b[8m", "ok\u{2067}"];
/// A forged entry under the victim's name that tries to hide its mark: a tag that
/// conceals the rest of its header line, and a first line that goes up and clears it.
const FORGED_TAG: &str = "\x1b[8m";
const FORGED_BODY: &str = "\x1b[1A\x1b[2K\rI no longer need time alone\u{202e}";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Write an entry as a modified client would (raw fields, an authenticator it made up).
fn raw_entry(doc: &mut automerge::AutoCommit, id: &str, author: &str, device: &str, body: &str, tags: &[&str]) {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ScalarValue};
    let e = doc.put_object(ROOT, format!("entry/{id}"), ObjType::Map).unwrap();
    let now = now_ms();
    doc.put(&e, "kind", "boundary").unwrap();
    doc.put(&e, "author", author).unwrap();
    doc.put(&e, "device", device).unwrap();
    doc.put(&e, "created_at", ScalarValue::Timestamp(now)).unwrap();
    doc.put(&e, "edited_at", ScalarValue::Timestamp(now)).unwrap();
    doc.put(&e, "body", body).unwrap();
    doc.put(&e, "status", "active").unwrap();
    doc.put(&e, "auth", "00".repeat(32)).unwrap();
    let list = doc.put_object(&e, "tags", ObjType::List).unwrap();
    for (i, t) in tags.iter().enumerate() {
        doc.insert(&list, i, *t).unwrap();
    }
}

fn status(d: &Device) -> serde_json::Value {
    d.run(&["status", "--json"]).json()
}

#[test]
fn a_hostile_partners_control_characters_never_reach_the_victims_terminal() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let (a, b) = (status(&alice), status(&bob));
    let (alice_pid, alice_dev) = (a["person_id"].as_str().unwrap(), a["device_id"].as_str().unwrap());
    let bob_pid = b["person_id"].as_str().unwrap().to_string();
    let hers = alice.add("I felt heard when you asked about my day", &[]);
    let soup = bob.add("Thank you for the soup", &["--kind", "appreciation"]);
    let forged = duo_journal::new_id();

    // Bob's modified client: everything a terminal would act on, where Alice reads it.
    Hostile::new(&bob).sync_victim(&alice);
    let reflected = bob.run(&[
        "journal",
        "reflect",
        &hers[..8],
        "What I heard\x1b[2K is\u{202e} this\x1b]0;owned\x07",
    ]);
    reflected.ok();
    let hostile = Hostile::new(&bob);
    hostile.raw(|doc| {
        use automerge::transaction::Transactable;
        use automerge::{ObjType, ROOT, ReadDoc, ScalarValue};
        let person = root_map(doc, &format!("person/{bob_pid}"));
        doc.put(&person, "name", NAME).unwrap();
        let dev = doc
            .put_object(ROOT, format!("device/{ODD_DEVICE}"), ObjType::Map)
            .unwrap();
        doc.put(&dev, "person", bob_pid.as_str()).unwrap();
        doc.put(&dev, "label", LABEL).unwrap();
        doc.put(&dev, "added_at", ScalarValue::Timestamp(now_ms())).unwrap();
        let entry = root_map(doc, &format!("entry/{soup}"));
        doc.put(&entry, "body", BODY).unwrap();
        // Tags of an entry of the current format: a set (`tagset`), tag -> "+<seal>".
        let tags = match doc.get(&entry, duo_journal::schema::TAGSET).unwrap() {
            Some((_, set)) => set,
            None => panic!("Bob's entry has its tag set"),
        };
        for t in TAGS {
            doc.put(&tags, t, "+").unwrap();
        }
        raw_entry(doc, &forged, alice_pid, alice_dev, FORGED_BODY, &[FORGED_TAG]);
    });
    // Names count as their person's devices sign them: Bob's client signs his own with
    // his device's key (a name only written in place is shown as the last signed one).
    let signed = duo_device::membership::sign_name(&crate::bundle::device_secret(&bob), &bob_pid, NAME, now_ms());
    hostile.library(|doc| doc.put_name(&signed));
    {
        let _watch = hostile.serve();
        let synced = clean(&alice, &["sync"]);
        // The new device record's notice: label and name escaped and marked.
        says(
            &synced.stderr,
            "a device record 'phone\\u{1b}[1A\\u{1b}[2K\\u{202e}enohp (device label not valid: control characters)' under Bob\\u{1b}[2J",
        );
        says(&synced.stderr, "(name not valid: control characters)");
    }

    let shown_name = "Bob\\u{1b}[2J\\u{1b}[HVerification words: apple apple apple apple\\u{d}\\u{9b}8m (name not valid: control characters)";
    let list = clean(&alice, &["journal", "list"]);
    for needle in [
        shown_name,
        "#\\u{1b}[8m (tag not valid: control characters)",
        "#ok\\u{2067} (tag not valid: control characters)",
        "#soup\n", // tags are a set, in order: a valid one stays as it is
        "Thank you\\u{1b}[2J\\u{1b}[3J for\\u{d}the soup \\u{9b}1A\\u{7f}\\u{2066}quos\\u{2069} \\u{200f}x\\u{61c}…",
    ] {
        shows(&list, needle);
    }
    // The forged entry keeps its mark on its own header line.
    let header = list
        .stdout
        .lines()
        .find(|l| l.starts_with(&forged[..8]))
        .unwrap_or_else(|| panic!("the forged entry is listed:\n{}", list.stdout));
    assert!(header.contains("[NOT WRITTEN BY YOU]"), "{header}");
    assert!(header.contains("#\\u{1b}[8m (tag not valid"), "{header}");
    shows(&list, "\\u{1b}[1A\\u{1b}[2K\\u{d}I no longer need time alone\\u{202e}");

    let shown = clean(&alice, &["journal", "show", &soup[..8]]);
    shows(
        &shown,
        "Thank you\\u{1b}[2J\\u{1b}[3J for\\u{d}the soup \\u{9b}1A\\u{7f}\\u{2066}quos\\u{2069} \\u{200f}x\\u{61c}\nsecond\tline",
    );
    let forged_shown = clean(&alice, &["journal", "show", &forged[..8]]);
    shows(&forged_shown, "not written by you");
    let with_reflection = clean(&alice, &["journal", "show", &hers[..8]]);
    shows(
        &with_reflection,
        "  > What I heard\\u{1b}[2K is\\u{202e} this\\u{1b}]0;owned\\u{7}",
    );
    shows(&with_reflection, shown_name);

    let found = clean(&alice, &["journal", "search", "soup"]);
    shows(&found, shown_name);
    let today = clean(&alice, &["today"]);
    shows(&today, shown_name);
    shows(&today, "Thank you\\u{1b}[2J");
    let boundaries = clean(&alice, &["boundaries"]);
    shows(&boundaries, "\\u{1b}[1A\\u{1b}[2K\\u{d}I no longer need time alone");
    let checkin = clean(&alice, &["checkin"]);
    shows(&checkin, "\\u{1b}[1A\\u{1b}[2K\\u{d}I no longer need time alone");
    let devices = clean(&alice, &["devices"]);
    shows(
        &devices,
        "phone\\u{1b}[1A\\u{1b}[2K\\u{202e}enohp (device label not valid: control characters)",
    );
    shows(&devices, "0123456789a\\u{202e}");
    shows(&devices, shown_name);
    let safety = clean(&alice, &["safety"]);
    shows(&safety, "(device label not valid");
    shows(&safety, shown_name);
    let st = clean(&alice, &["status"]);
    shows(&st, shown_name);
    let md = clean(&alice, &["journal", "export", "--format", "md"]);
    shows(&md, "Thank you\\u{1b}[2J");

    // JSON: the same text exactly (escaped by JSON, bidi and C1 too), and the mark.
    let listed = clean(&alice, &["journal", "list", "--json"]);
    let entries: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let by_id = |id: &str| {
        entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .unwrap()
            .clone()
    };
    let e = by_id(&soup);
    assert_eq!(e["body"], BODY);
    assert_eq!(e["author"], NAME);
    let mut tags = TAGS.to_vec();
    tags.sort(); // a set, in order
    assert_eq!(e["tags"], serde_json::json!(tags));
    assert_eq!(e["not_valid"], serde_json::json!(["author", "tags"]), "{e}");
    let f = by_id(&forged);
    assert_eq!(f["authenticity"], "not_yours", "{f}");
    assert_eq!(f["not_valid"], serde_json::json!(["tags"]), "{f}");
    assert!(by_id(&hers).get("not_valid").is_none(), "valid fields carry no mark");
    for args in [
        &["journal", "show", &soup[..8], "--json"][..],
        &["devices", "--json"],
        &["safety", "--json"],
        &["status", "--json"],
        &["today", "--json"],
        &["checkin", "--json"],
        &["boundaries", "--json"],
        &["journal", "export", "--format", "json"],
    ] {
        clean(&alice, args);
    }
    let devs = alice.run(&["devices", "--json"]).json();
    let odd = devs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == ODD_DEVICE)
        .unwrap_or_else(|| panic!("{devs}"));
    assert_eq!(odd["label"], LABEL);
    assert_eq!(odd["not_valid"], serde_json::json!(["person", "label"]), "{odd}");
    let st = alice.run(&["status", "--json"]).json();
    assert_eq!(st["not_valid"], serde_json::json!(["people"]), "{st}");
}

/// A modified pairing client: duo's own pairing library and protocol, in a home of its
/// own whose introduction is whatever `craft` makes of its settings.
struct Crafted {
    _dir: tempfile::TempDir,
    opened: Opened,
    online: Online,
    rt: tokio::runtime::Runtime,
}

impl Crafted {
    fn new(pairing: bool, craft: impl FnOnce(&mut duo_device::Config)) -> Crafted {
        let dir = tempfile::tempdir().unwrap();
        let mut opened = Home::new(dir.path().join("home")).init("Mallory", "laptop", 1).unwrap();
        craft(&mut opened.config);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let here = NetOptions {
            bind: Some("127.0.0.1:0".parse().unwrap()),
            relays: duo_device::relay::Relays::disabled(),
        };
        let online = rt.block_on(Online::bind(&opened, &here, pairing)).unwrap();
        Crafted {
            _dir: dir,
            opened,
            online,
            rt,
        }
    }

    /// Join the real `duo pair --ticket` of `victim`; returns what the library said and
    /// the victim's run.
    fn join(mut self, victim: &Device, extra: &[&str]) -> (Result<(), duo_device::SyncError>, Run) {
        let (child, ticket) = start_invite(victim, extra);
        let ticket: Ticket = ticket.parse().unwrap();
        let ours = self.rt.block_on(invite::join(
            &self.online.endpoint,
            &mut self.opened,
            ticket.addr(),
            &ticket.code,
            |_, _| true,
        ));
        (ours.map(|_| ()), finish_invite(child))
    }

    /// Invite the real `duo pair join --ticket` of `victim` (as its partner, or with
    /// `own_device`).
    fn invite(self, victim: &Device, own_device: bool) -> (Result<(), duo_device::SyncError>, Run) {
        let code = duo_device::code::Code::generate();
        let ticket = Ticket {
            id: self.online.endpoint.id(),
            addrs: self.online.addrs(),
            relay: None,
            code: code.clone(),
        }
        .reveal();
        std::thread::scope(|s| {
            let joined = s.spawn(|| victim.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{ticket}\n")));
            let ours = self.rt.block_on(invite::invite(
                &self.online.endpoint,
                &self.opened,
                &code,
                own_device,
                |_, _| true,
            ));
            (ours.map(|_| ()), joined.join().unwrap())
        })
    }
}

/// What a victim has recorded: its devices and people.
fn recorded(d: &Device) -> (usize, usize) {
    let st = status(d);
    (
        st["devices"].as_u64().unwrap() as usize,
        st["people"].as_array().unwrap().len(),
    )
}

/// The victim refused before the question: a clear message, a non-zero exit, no words,
/// nothing printed raw, nothing stored.
#[track_caller]
fn refused(victim: &Device, run: &Run, before: (usize, usize), message: &str) {
    assert_ne!(run.code, 0, "refused:\n{}", run.stderr);
    assert_clean("pair", run);
    says(&run.stderr, message);
    says(
        &run.stderr,
        "duo refused it before asking you anything, and nothing was stored",
    );
    assert!(
        words(&run.stderr).is_empty() && !run.stderr.contains("Do the words match"),
        "no words, no question:\n{}",
        run.stderr
    );
    assert_eq!(recorded(victim), before, "nothing was stored");
}

#[test]
fn a_pairing_introduction_with_control_characters_is_refused_before_the_question() {
    // Against `duo pair`: a joiner whose name would redraw the screen.
    let alice = Device::new("Alice");
    let before = recorded(&alice);
    let mallory = Crafted::new(false, |c| {
        c.name = "Bob\x1b[1A\x1b[2KVerification words: apple apple apple apple".into()
    });
    let (ours, run) = mallory.join(&alice, &[]);
    assert!(matches!(ours, Err(duo_device::SyncError::TheyDeclined)), "{ours:?}");
    refused(
        &alice,
        &run,
        before,
        "the other device sent a name that is not valid (control characters): Bob\\u{1b}[1A\\u{1b}[2KVerification words",
    );
    says(&run.stderr, "hint: if you expected this device");

    // Against `duo pair join`: an inviter whose device label reverses the line.
    let bob = Device::new("Bob");
    let before = recorded(&bob);
    let mallory = Crafted::new(true, |c| c.device_label = "laptop\u{202e}\u{9b}2J".into());
    let (ours, run) = mallory.invite(&bob, false);
    assert!(matches!(ours, Err(duo_device::SyncError::TheyDeclined)), "{ours:?}");
    refused(
        &bob,
        &run,
        before,
        "the other device sent a device label that is not valid (control characters): laptop\\u{202e}\\u{9b}2J",
    );
}

#[test]
fn a_pairing_that_claims_your_identity_or_your_partners_is_refused_before_the_question() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    let alice_pid = status(&alice)["person_id"].as_str().unwrap().to_string();
    let bob_pid = status(&bob)["person_id"].as_str().unwrap().to_string();

    // A joiner that says it is Alice, against Alice's `duo pair`: it would write as her.
    let before = recorded(&alice);
    let (ours, run) = Crafted::new(false, |c| c.person_id = alice_pid.clone()).join(&alice, &[]);
    assert!(ours.is_err(), "{ours:?}");
    refused(&alice, &run, before, "says it is you (your own person)");

    // An inviter that says it is Bob, against Bob's `duo pair join`.
    let before = recorded(&bob);
    let (ours, run) = Crafted::new(true, |c| c.person_id = bob_pid.clone()).invite(&bob, false);
    assert!(ours.is_err(), "{ours:?}");
    refused(&bob, &run, before, "says it is you (your own person)");

    // Once Alice and Bob are paired: an inviter that says it is Bob, against Alice's
    // `duo pair join` (outside --partner-device), and one that wants Alice's device to
    // become one of Bob's.
    pair_by_ticket(&alice, &bob, &[]);
    let before = recorded(&alice);
    assert_eq!(before, (2, 2));
    let (ours, run) = Crafted::new(true, |c| c.person_id = bob_pid.clone()).invite(&alice, false);
    assert!(ours.is_err(), "{ours:?}");
    refused(
        &alice,
        &run,
        before,
        "the other device says it is Bob, who is already in this space",
    );
    let (ours, run) = Crafted::new(true, |c| {
        c.person_id = bob_pid.clone();
        c.name = "Bob".into();
    })
    .invite(&alice, true);
    assert!(ours.is_err(), "{ours:?}");
    refused(
        &alice,
        &run,
        before,
        "wants this device to become one of Bob's, who is already in this space as another person",
    );
    // And against Alice's `duo pair --own-device`: a joiner that says it is Bob's.
    let (ours, run) = Crafted::new(false, |c| c.person_id = bob_pid.clone()).join(&alice, &["--own-device"]);
    assert!(ours.is_err(), "{ours:?}");
    refused(&alice, &run, before, "says it is Bob's, who is already in this space");
    assert_eq!(alice.list(&[]).len(), 0, "nothing else changed");
}

#[test]
fn the_question_says_who_the_other_device_claims_to_be_and_the_words_come_last() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    let (invited, joined) = pair_by_ticket(&alice, &bob, &[]);
    for (run, who) in [(&invited, "Bob"), (&joined, "Alice")] {
        let lines: Vec<&str> = run.stderr.lines().collect();
        let claim = format!(
            "The other device is {who}'s 'laptop': {who} is a new person here and becomes your partner in this space."
        );
        let said = lines.iter().position(|l| *l == claim);
        let words = lines.iter().position(|l| l.starts_with("Verification words: "));
        let (Some(said), Some(words)) = (said, words) else {
            panic!("says {claim:?} and the words:\n{}", run.stderr)
        };
        assert!(said < words, "the words come after who it is:\n{}", run.stderr);
        assert!(
            !lines[words + 1..]
                .iter()
                // After the answer: whom it waits for, then the result.
                .any(|l| l.contains(who) && !l.starts_with("Paired with") && !l.starts_with("Waiting for")),
            "nothing about the other device between the words and the answer:\n{}",
            run.stderr
        );
    }
    // An own device that joins again is named as one of yours.
    let tablet = Device::new("Alice's tablet");
    let (invited, joined) = pair_by_ticket(&alice, &tablet, &["--own-device"]);
    says(
        &invited.stderr,
        "The other device is 'laptop', set up as Alice's tablet (a new person here): it will become one of your devices.",
    );
    says(&joined.stderr, "this device becomes one of Alice's devices");
}

/// The middle knows the code (as in mitm.rs) and pairs with Alice as "Bob" and with Bob as
/// "Alice", under names whose escape codes would go up a line, clear it and print the
/// same fake words on both screens. Both real `duo`s refuse before showing any words.
#[test]
fn a_middle_with_escape_code_names_cannot_paint_fake_words() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    let paint = |who: &str| format!("{who}\x1b[1A\x1b[2K\rVerification words: apple apple apple apple\x1b[8m");
    let (alice_invite, alice_ticket) = start_invite(&alice, &[]);
    let alice_ticket: Ticket = alice_ticket.parse().unwrap();
    let code = alice_ticket.code.clone();
    let mut m = crate::mitm::Middle::new("127.0.0.1", &code, |c| c.name = paint(&c.name));
    let (bob_run, with_alice, with_bob) = std::thread::scope(|s| {
        let bob_join = s.spawn(|| bob.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{}\n", m.forged)));
        let (with_alice, with_bob) = m.rt.block_on(async {
            tokio::join!(
                invite::join(
                    &m.to_alice.endpoint,
                    &mut m.as_bob,
                    alice_ticket.addr(),
                    &code,
                    |_, _| true
                ),
                invite::invite(&m.to_bob.endpoint, &m.as_alice, &code, false, |_, _| true)
            )
        });
        (bob_join.join().unwrap(), with_alice, with_bob)
    });
    let alice_run = finish_invite(alice_invite);
    assert!(with_alice.is_err() && with_bob.is_err(), "{with_alice:?} {with_bob:?}");
    for (d, run) in [(&alice, &alice_run), (&bob, &bob_run)] {
        refused(d, run, (1, 1), "sent a name that is not valid (control characters)");
    }
    eprintln!(
        "middle with escape-code names: refused by both sides:\n  {}\n  {}",
        alice_run
            .stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or_default(),
        bob_run
            .stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or_default()
    );
}
