//! Listening without pressure, boundaries as living agreements, thanks and "I"-statement
//! hints: two partners, each with their own real `duo`, paired by ticket over loopback.

use crate::harness::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// Two paired partners.
fn partners() -> (Device, Device) {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    (alice, bob)
}

/// One sync between the two: `b` online (`sync --watch`), `a` runs `duo sync`.
fn sync(a: &Device, b: &Device) {
    let mut watch = b.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", WAIT);
    let started = Instant::now();
    let r = a.run_within(&["sync", "--json"], WAIT).json();
    eprintln!("sync took {:?}: {r}", started.elapsed());
    assert_eq!(r["reached"], 1, "{r}");
}

fn show(d: &Device, id: &str) -> Value {
    d.run(&["journal", "show", id, "--json"]).json()
}

fn kinds(acks: &Value) -> Vec<String> {
    acks.as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ack_and_reflect_round_trip_across_sync() {
    let (alice, bob) = partners();
    let entry = alice.add("I felt alone when the evening went by without talking.", &[]);
    sync(&alice, &bob);

    // Bob chooses what to send; nothing is sent by reading.
    bob.run(&["journal", "show", &entry[..8]]).ok();
    assert!(
        show(&bob, &entry)["acks"].as_array().unwrap().is_empty(),
        "reading sends nothing"
    );
    let sent = bob.run(&["journal", "ack", &entry[..8], "heard", "--json"]).json();
    assert_eq!(sent["kind"], "heard");
    bob.run(&["journal", "ack", &entry[..8], "lets-talk"]).ok();
    let r = bob.run(&[
        "journal",
        "reflect",
        &entry[..8],
        "What I heard is that you missed our talks.",
    ]);
    r.ok();
    assert!(r.stderr.contains("Reflected back to Alice"), "{}", r.stderr);
    // Bob's own entry takes no acknowledgement from himself.
    let own = bob.add("bob's own reflection", &[]);
    let err = bob.run(&["journal", "ack", &own[..8], "thanks"]).fails(1).to_string();
    assert!(err.contains("your own entry"), "{err}");
    // No plaintext of the reflection on disk.
    assert_eq!(any_file_contains(&bob.home(), "you missed our talks"), None);

    sync(&bob, &alice);
    let shown = show(&alice, &entry);
    assert_eq!(kinds(&shown["acks"]), ["heard", "lets-talk"]);
    for a in shown["acks"].as_array().unwrap() {
        assert_eq!(a["by"], "Bob");
        assert!(a["at"].as_str().unwrap().ends_with('Z'), "{a}");
    }
    let reflections = shown["reflections"].as_array().unwrap();
    assert_eq!(reflections.len(), 1);
    assert_eq!(reflections[0]["text"], "What I heard is that you missed our talks.");
    assert_eq!(reflections[0]["by"], "Bob");
    let text = alice.run(&["journal", "show", &entry[..8]]).ok().to_string();
    assert!(
        text.contains("Bob heard you") && text.contains("Bob reflected"),
        "{text}"
    );

    // Only the author answers a reflection; Bob cannot confirm his own reflection.
    let err = bob.run(&["journal", "confirm", &entry[..8]]).fails(1).to_string();
    assert!(err.contains("only the author"), "{err}");
    alice.run(&["journal", "confirm", &entry[..8]]).ok();
    let rid = reflections[0]["id"].as_str().unwrap();
    alice
        .run(&[
            "journal",
            "correct",
            &entry[..8],
            "Mostly — I missed you, not only the talks.",
            "--reflection",
            &rid[..8],
        ])
        .ok();
    // An answer with no reflection to answer is refused kindly.
    let lone = alice.add("a second entry", &[]);
    let err = alice.run(&["journal", "confirm", &lone[..8]]).fails(1).to_string();
    assert!(err.contains("no reflection"), "{err}");

    sync(&alice, &bob);
    let shown = show(&bob, &entry);
    let answers = shown["reflections"][0]["answers"].as_array().unwrap().clone();
    assert_eq!(answers.len(), 2, "{shown}");
    assert_eq!(answers[0]["kind"], "confirm");
    assert_eq!(answers[1]["kind"], "correct");
    assert_eq!(answers[1]["text"], "Mostly — I missed you, not only the talks.");
    // Both see the same thing, except that only the author's devices check her words.
    let mut on_alices = show(&alice, &entry);
    let checked = on_alices.as_object_mut().unwrap();
    assert_eq!(checked.remove("authentic"), Some(serde_json::json!(true)));
    assert_eq!(checked.remove("authenticity"), Some(serde_json::json!("authentic")));
    assert_eq!(on_alices, shown);
}

#[test]
fn no_replies_is_respected_on_both_sides() {
    let (alice, bob) = partners();
    let held = alice.add("Today was hard. I just want to put it down.", &["--no-replies"]);
    let open = alice.add("Something we can talk about", &[]);
    sync(&alice, &bob);
    assert_eq!(show(&bob, &held)["no_replies"], true);
    let listed = bob.run(&["journal", "list"]).ok().to_string();
    assert!(listed.contains("[no replies]"), "{listed}");
    let shown = bob.run(&["journal", "show", &held[..8]]).ok().to_string();
    assert!(shown.contains("no replies — just holding this"), "{shown}");

    // Refused kindly, with its own exit status, and nothing is written.
    let err = bob.run(&["journal", "ack", &held[..8], "heard"]).fails(3).to_string();
    assert!(err.contains("Alice asked for no replies"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let err = bob
        .run(&["journal", "reflect", &held[..8], "What I heard is…"])
        .fails(3)
        .to_string();
    assert!(err.contains("no replies"), "{err}");
    // Only the author decides.
    let err = bob
        .run(&["journal", "edit", &open[..8], "--no-replies"])
        .fails(1)
        .to_string();
    assert!(err.contains("only its author"), "{err}");
    assert_eq!(show(&bob, &open)["no_replies"], false);

    // Bob acknowledges the open entry; meanwhile (before they sync) Alice asks for no
    // replies on it. What Bob sent is then not shown anywhere, and the same holds for any
    // client that ignores the marker: the filter is on read.
    bob.run(&["journal", "ack", &open[..8], "thanks"]).ok();
    alice.run(&["journal", "edit", &open[..8], "--no-replies"]).ok();
    sync(&alice, &bob);
    for d in [&alice, &bob] {
        let e = show(d, &open);
        assert_eq!(e["no_replies"], true);
        assert!(e["acks"].as_array().unwrap().is_empty(), "{e}");
    }
    // Lifted: Bob's acknowledgement, written while the mark was on (before he had it),
    // stays hidden for good; new ones are taken.
    alice.run(&["journal", "edit", &held[..8], "--allow-replies"]).ok();
    alice.run(&["journal", "edit", &open[..8], "--allow-replies"]).ok();
    sync(&alice, &bob);
    assert!(kinds(&show(&bob, &open)["acks"]).is_empty());
    bob.run(&["journal", "ack", &held[..8], "heard"]).ok();
    sync(&bob, &alice);
    assert_eq!(kinds(&show(&alice, &held)["acks"]), ["heard"]);
    // A private entry takes no --no-replies (there is nobody to reply).
    alice
        .run(&["journal", "add", "private", "--private", "--no-replies"])
        .fails(2);
}

fn boundaries(d: &Device, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["boundaries", "--json"];
    args.extend_from_slice(extra);
    d.run(&args).json().as_array().unwrap().clone()
}

#[test]
fn boundaries_are_living_agreements_only_their_author_changes() {
    let (mut alice, bob) = partners();
    alice.now = Some("2026-11-01T08:00:00Z".into());
    let mine = alice.add("No phones at dinner.", &["--kind", "boundary"]);
    let theirs = bob.add("I need an hour alone after work.", &["--kind", "boundary"]);
    sync(&alice, &bob);

    // Both partners' active boundaries, on both devices.
    for d in [&alice, &bob] {
        let all = boundaries(d, &[]);
        let mut bodies: Vec<&str> = all.iter().map(|b| b["body"].as_str().unwrap()).collect();
        bodies.sort();
        assert_eq!(bodies, ["I need an hour alone after work.", "No phones at dinner."]);
    }
    let text = alice.run(&["boundaries"]).ok().to_string();
    assert!(
        text.contains("Your boundaries") && text.contains("Bob's boundaries"),
        "{text}"
    );
    assert!(text.contains("set 2026-11-01 08:00"), "{text}");

    // A partner can neither retire nor re-mark your boundary, by any command.
    let err = bob.run(&["boundaries", "retire", &mine[..8]]).fails(1).to_string();
    assert!(err.contains("only the person who set a boundary"), "{err}");
    assert!(err.contains("lets-talk"), "the hint offers the kind way: {err}");
    bob.run(&["journal", "edit", &mine[..8], "--status", "retired"])
        .fails(1);
    bob.run(&["boundaries", "revisit", &mine[..8]]).fails(1);

    alice.now = Some("2026-11-10T08:00:00Z".into());
    alice.run(&["boundaries", "revisit", &mine[..8]]).ok();
    alice.now = Some("2026-11-12T08:00:00Z".into());
    alice.run(&["boundaries", "keep", &mine[..8]]).ok();
    sync(&alice, &bob);
    let b = boundaries(&bob, &[]);
    let m = b.iter().find(|x| x["id"] == mine.as_str()).unwrap();
    assert_eq!(m["status"], "active");
    assert_eq!(m["set_at"], "2026-11-01T08:00:00Z");
    assert_eq!(m["revisited_at"], "2026-11-12T08:00:00Z");
    assert_eq!(m["author"], "Alice");

    alice.now = Some("2026-11-20T08:00:00Z".into());
    alice.run(&["journal", "edit", &mine[..8], "--status", "retired"]).ok();
    sync(&alice, &bob);
    for d in [&alice, &bob] {
        assert!(
            boundaries(d, &[]).iter().all(|x| x["id"] != mine.as_str()),
            "a retired boundary is not in force"
        );
        let all = boundaries(d, &["--all"]);
        let m = all.iter().find(|x| x["id"] == mine.as_str()).unwrap();
        assert_eq!(m["status"], "retired");
        let history: Vec<(&str, &str)> = m["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["status"].as_str().unwrap(), h["at"].as_str().unwrap()))
            .collect();
        assert_eq!(
            history,
            [
                ("revisit", "2026-11-10T08:00:00Z"),
                ("active", "2026-11-12T08:00:00Z"),
                ("retired", "2026-11-20T08:00:00Z")
            ]
        );
        assert!(all.iter().any(|x| x["id"] == theirs.as_str()));
    }
    let text = bob.run(&["boundaries", "--all"]).ok().to_string();
    assert!(text.contains("retired"), "{text}");
}

#[test]
fn thanks_is_a_one_line_appreciation() {
    let d = Device::new("Alice");
    let r = d.run(&["thanks", "You always make tea for me in the morning"]);
    let id = r.ok().trim().to_string();
    assert!(
        !r.stderr.contains("hint:"),
        "an appreciation is never hinted at: {}",
        r.stderr
    );
    let e = show(&d, &id);
    assert_eq!(e["kind"], "appreciation");
    assert_eq!(e["private"], false);
    assert_eq!(e["body"], "You always make tea for me in the morning");
    d.run_stdin(&["thanks", "--tag", "home"], "for fixing the tap\n").ok();
    let list = d.list(&["--kind", "appreciation", "--tag", "home"]);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["body"], "for fixing the tap");
}

#[test]
fn i_statement_hints_are_local_gentle_and_can_be_turned_off() {
    let mut d = Device::new("Alice");
    let blame = "You never listen when I talk about work.";
    let r = d.run(&["journal", "add", blame]);
    let id = r.ok().trim().to_string();
    assert!(
        r.stderr.contains("hint:") && r.stderr.contains("I feel … when … I need …"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("I feel"), "the hint is on stderr only");
    // Never stored: the entry is exactly what was written.
    assert_eq!(show(&d, &id)["body"], blame);
    let r = d.run(&[
        "journal",
        "add",
        "--kind",
        "boundary",
        "You make me feel small when you joke about my job.",
    ]);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    // Not flagged: an "I" statement, quoted speech, an idiom.
    for fine in [
        "I feel lonely when we don't talk. I need an evening together.",
        "She said \"you never listen\" and I laughed",
        "You never know what tomorrow brings",
    ] {
        let r = d.run(&["journal", "add", fine]);
        r.ok();
        assert!(!r.stderr.contains("hint:"), "{fine}: {}", r.stderr);
    }
    // Editing to blame shows it too; --json output stays clean.
    let r = d.run(&["journal", "edit", &id[..8], "You always interrupt me.", "--json"]);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert_eq!(r.json()["edited"], true);

    // Off by setting, and by environment for one run.
    assert_eq!(d.run(&["hints"]).ok().trim(), "on");
    d.run(&["hints", "off"]).ok();
    assert_eq!(d.run(&["hints", "--json"]).json()["hints"], false);
    let r = d.run(&["journal", "add", blame]);
    assert!(!r.stderr.contains("hint:"), "{}", r.stderr);
    d.env = vec![("DUO_HINTS".into(), "on".into())];
    assert!(d.run(&["journal", "add", blame]).stderr.contains("hint:"));
    d.run(&["hints", "on"]).ok();
    d.env = vec![("DUO_HINTS".into(), "off".into())];
    assert!(!d.run(&["journal", "add", blame]).stderr.contains("hint:"));
}

#[test]
fn only_the_author_changes_or_deletes_an_entrys_words() {
    let (alice, bob) = partners();
    let entry = alice.add("I would like more quiet mornings together.", &["--tag", "mornings"]);
    sync(&alice, &bob);

    for args in [
        vec!["journal", "edit", &entry[..8], "Something Alice never wrote."],
        vec!["journal", "edit", &entry[..8], "--tag", "other"],
        vec!["journal", "delete", &entry[..8], "--yes"],
    ] {
        let r = bob.run(&args);
        assert_eq!(r.code, 1, "{args:?} must be refused: {}", r.stderr);
        assert!(r.stderr.contains("only Alice can"), "{}", r.stderr);
        assert!(
            r.stderr.contains("duo journal reflect"),
            "points to answering: {}",
            r.stderr
        );
    }
    let after = show(&bob, &entry);
    assert_eq!(after["body"], "I would like more quiet mornings together.");
    assert_eq!(after["tags"], serde_json::json!(["mornings"]));

    // The author still can.
    alice
        .run(&["journal", "edit", &entry[..8], "I would like quiet mornings."])
        .ok();
    assert_eq!(show(&alice, &entry)["body"], "I would like quiet mornings.");
    alice.run(&["journal", "delete", &entry[..8], "--yes"]).ok();
}
