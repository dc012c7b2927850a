//! Prompts by depth, answering together, paused topics, `today` and the check-in, between
//! two partners' real `duo` processes syncing over loopback.

use crate::harness::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Every theme but "future": pausing these leaves one open.
const ALL_BUT_FUTURE: [&str; 6] = [
    "communication",
    "appreciation",
    "boundaries",
    "vulnerability",
    "quality-time",
    "past",
];

fn partners() -> (Device, Device) {
    let a = Device::new("Alice");
    let b = Device::new("Bob");
    pair_by_ticket(&a, &b, &[]);
    (a, b)
}

/// `b` goes online, `a` syncs with it (both directions), `b` goes offline again. Prints how
/// long it took (measured, not asserted).
fn sync(a: &Device, b: &Device) {
    let start = Instant::now();
    let mut w = b.spawn(&["sync", "--watch"]);
    w.wait_for("Online as", Duration::from_secs(30));
    let r = a.run(&["sync", "--json"]).json();
    assert_eq!(r["reached"], 1, "{r}");
    drop(w);
    eprintln!("sync took {:?}", start.elapsed());
}

fn offer(d: &Device) -> Value {
    d.run(&["prompt", "--json"]).json()
}

fn depth_rank(v: &Value) -> u8 {
    match v["depth"].as_str().unwrap() {
        "light" => 0,
        "medium" => 1,
        "deep" => 2,
        other => panic!("unknown depth {other}"),
    }
}

#[test]
fn depth_min_rule_between_two_partners_and_only_the_shared_level_shows() {
    let (a, b) = partners();
    let set = a.run(&["prompt", "--set-depth", "deep", "--json"]).json();
    assert_eq!(set["your_depth"], "deep");
    let set = b.run(&["prompt", "--set-depth", "light", "--json"]).json();
    assert_eq!(
        set,
        serde_json::json!({ "your_depth": "light", "shared_depth": "light" })
    );
    sync(&a, &b);

    // A wants deep, B light: both only get light.
    for d in [&a, &b] {
        for _ in 0..8 {
            let o = offer(d);
            assert_eq!(o["depth"], "light", "{o}");
            assert_eq!(o["shared_depth"], "light", "{o}");
            for field in ["id", "text", "theme"] {
                assert!(o[field].is_string(), "{o}");
            }
        }
    }
    // What B sees never shows A's own setting, in text or JSON.
    for args in [
        &["prompt"][..],
        &["prompt", "--json"],
        &["prompt", "--set-depth", "light"],
        &["today"],
        &["today", "--json"],
        &["checkin", "--json"],
        &["status", "--json"],
    ] {
        let r = b.run(args);
        r.ok();
        assert!(
            !r.stdout.contains("deep") && !r.stderr.contains("deep"),
            "B's `{}` shows A's setting:\n{}{}",
            args.join(" "),
            r.stdout,
            r.stderr
        );
    }

    // B raises to medium: after a sync A's device serves up to medium.
    let set = b.run(&["prompt", "--set-depth", "medium", "--json"]).json();
    assert_eq!(
        set["shared_depth"], "medium",
        "A is deeper, so B's own setting is the shared level"
    );
    sync(&a, &b);
    let mut seen_medium = false;
    for _ in 0..20 {
        let o = offer(&a);
        assert_eq!(o["shared_depth"], "medium", "{o}");
        assert!(depth_rank(&o) <= 1, "{o}");
        seen_medium |= o["depth"] == "medium";
    }
    assert!(seen_medium, "twenty offers at shared depth medium were all light");

    // B lowers: at once on B, on A at its next sync.
    let set = b.run(&["prompt", "--set-depth", "light", "--json"]).json();
    assert_eq!(set["shared_depth"], "light");
    for _ in 0..8 {
        assert_eq!(offer(&b)["depth"], "light");
    }
    assert_eq!(offer(&a)["shared_depth"], "medium", "A has not synced yet");
    sync(&a, &b);
    for _ in 0..8 {
        let o = offer(&a);
        assert_eq!(
            (o["depth"].as_str(), o["shared_depth"].as_str()),
            (Some("light"), Some("light"))
        );
    }
    let text = a.run(&["prompt", "--set-depth", "deep"]).ok().to_string();
    assert_eq!(text, "Your comfort depth: deep\nShared depth: light\n");
}

/// Every entry body the device can read, shared and private, via a JSON export.
fn everything(d: &Device) -> String {
    d.run(&["journal", "export", "--format", "json", "--all"])
        .ok()
        .to_string()
}

#[test]
fn together_answers_stay_on_the_answering_device_until_both_answered() {
    let (a, b) = partners();
    let asked = a.run(&["prompt", "--together", "--json"]).json();
    assert_eq!(asked["together"], true);
    let id = asked["id"].as_str().unwrap().to_string();
    sync(&a, &b);

    // B is offered the prompt A asked of both.
    let o = offer(&b);
    assert_eq!(
        (o["id"].as_str(), o["together"].as_bool()),
        (Some(id.as_str()), Some(true))
    );

    let secret = "alice-answer: I feel heard when you put the phone down";
    let r = a.run(&["prompt", "--answer", &id, secret, "--json"]).json();
    assert_eq!(
        (r["shared"].as_bool(), r["together"].as_bool()),
        (Some(false), Some(true))
    );
    let answer_id = r["id"].as_str().unwrap().to_string();
    assert!(a.bodies(&[]).iter().all(|b| b != secret), "not in A's shared space");
    assert!(
        a.bodies(&["--private"]).iter().any(|b| b == secret),
        "kept in A's private notebook"
    );
    sync(&a, &b);

    // B's store has nothing of it: not in the decrypted journal, not in any file.
    assert!(!everything(&b).contains("alice-answer"), "{}", everything(&b));
    assert_eq!(any_file_contains(&b.home(), "alice-answer"), None);
    if let Some(in_private) = decrypted_contains(&a, "private", "alice-answer") {
        assert!(
            in_private,
            "control: A's own private files hold the answer, readable with age"
        );
        assert_eq!(
            decrypted_contains(&a, "space", "alice-answer"),
            Some(false),
            "not in A's space files"
        );
        assert_eq!(
            decrypted_contains(&b, "space", "alice-answer"),
            Some(false),
            "not in B's space files"
        );
    }
    b.run(&["journal", "show", &answer_id[..8]]).fails(1);
    let agenda = b.run(&["checkin", "--json"]).json();
    let waiting = agenda["together"].as_array().unwrap();
    assert_eq!(waiting.len(), 1, "{agenda}");
    assert_eq!(waiting[0]["id"], id.as_str());
    assert_eq!(waiting[0]["answered_by_you"], false);

    // B answers: A had answered, so B's answer is shared at once.
    let mine = "bob-answer: when we cook together";
    let r = b
        .run_stdin(&["prompt", "--answer", &id, "--json"], &format!("{mine}\n"))
        .json();
    assert_eq!(
        (r["shared"].as_bool(), r["together"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(b.bodies(&[]).iter().any(|x| x == mine));
    assert!(
        !everything(&b).contains("alice-answer"),
        "A's answer is still only on A"
    );

    // A syncs: it sees B's marker and shares its answer; then B gets it.
    sync(&a, &b);
    let shared = a.list(&[]);
    let answers: Vec<&Value> = shared
        .iter()
        .filter(|e| e["tags"].as_array().unwrap().iter().any(|t| t == "together"))
        .collect();
    assert_eq!(answers.len(), 2, "{shared:?}");
    assert!(
        answers
            .iter()
            .any(|e| e["body"] == secret && e["id"] == answer_id.as_str())
    );
    assert!(answers.iter().all(|e| e["kind"] == "reflection"));
    assert!(
        a.bodies(&["--private"]).is_empty(),
        "the waiting copy left the private notebook"
    );
    sync(&a, &b);
    assert!(b.bodies(&[]).iter().any(|x| x == secret));
    for d in [&a, &b] {
        let agenda = d.run(&["checkin", "--json"]).json();
        assert_eq!(agenda["together"], serde_json::json!([]), "answered by both: {agenda}");
    }
}

#[test]
fn paused_topics_are_skipped_for_both_and_only_the_pauser_lifts_them() {
    let (a, b) = partners();
    for theme in ALL_BUT_FUTURE {
        a.run(&["topics", "pause", theme]).ok();
    }
    let mine = a.run(&["topics", "--json"]).json();
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .any(|t| t["theme"] == "past" && t["state"] == "paused by you")
    );
    sync(&a, &b);

    let theirs = b.run(&["topics", "--json"]).json();
    for t in theirs.as_array().unwrap() {
        let expected = if t["theme"] == "future" {
            "open"
        } else {
            "paused for now"
        };
        assert_eq!(t["state"], expected, "{theirs}");
        assert_eq!(t.as_object().unwrap().len(), 2, "no reason, no name: {t}");
    }
    let text = b.run(&["topics"]).ok().to_string();
    assert!(
        !text.contains("Alice") && text.contains("past            paused for now"),
        "{text}"
    );
    for d in [&a, &b] {
        for _ in 0..6 {
            assert_eq!(offer(d)["theme"], "future");
        }
    }
    // B cannot lift A's pause, and nothing changes.
    let err = b.run(&["topics", "resume", "past"]).fails(1).to_string();
    assert!(err.contains("paused for now"), "{err}");
    b.run(&["topics", "pause", "future"]).ok();
    let none = offer(&b);
    assert_eq!(none["id"], Value::Null, "every theme paused: {none}");
    assert!(b.run(&["prompt"]).ok().contains("every theme is paused"));
    b.run(&["topics", "resume", "future"]).ok();

    // A lifts the pause on past; after a sync B gets past prompts again.
    a.run(&["topics", "resume", "past"]).ok();
    sync(&a, &b);
    let themes: Vec<String> = (0..10)
        .map(|_| offer(&b)["theme"].as_str().unwrap().to_string())
        .collect();
    assert!(themes.iter().all(|t| t == "past" || t == "future"), "{themes:?}");
    assert!(themes.iter().any(|t| t == "past"), "{themes:?}");
    b.run(&["topics", "pause", "Quality Time"]).ok();
    b.run(&["topics", "pause", "money"]).fails(2);
}

#[test]
fn prompts_do_not_repeat_until_the_pack_is_exhausted_and_passing_is_quiet() {
    let d = Device::new("Alice");
    for theme in ALL_BUT_FUTURE {
        d.run(&["topics", "pause", theme]).ok();
    }
    // Light future prompts only: five of them.
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..4 {
        let o = offer(&d);
        assert_eq!(o["started_over"], false);
        ids.push(o["id"].as_str().unwrap().to_string());
    }
    let last = d.run(&["prompt", "--json"]).json();
    ids.push(last["id"].as_str().unwrap().to_string());
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "no repeats: {ids:?}");
    let r = d.run(&["prompt", "--pass", &ids[0]]);
    r.ok();
    assert!(r.stdout.is_empty() && r.stderr.contains("always fine"), "{}", r.stderr);
    let again = offer(&d);
    assert_eq!(again["started_over"], true, "all five seen: {again}");
    assert!(d.run(&["prompt", "--pass", "no-such"]).fails(2).contains("no prompt"));
    assert!(d.run(&["prompt", "--answer", &ids[1]]).fails(1).contains("empty"));
    let answered = d
        .run(&["prompt", "--answer", &ids[1], "I would like a garden"])
        .ok()
        .to_string();
    assert_eq!(d.bodies(&[]), vec!["I would like a garden"]);
    assert_eq!(d.list(&[])[0]["id"], answered.trim());
    // Nothing of the passing or serving is in the shared space.
    assert_eq!(d.list(&[]).len(), 1);
}

#[test]
fn today_resurfaces_a_partner_appreciation_and_checkin_plans_and_notes_it() {
    let (mut a, mut b) = partners();
    b.now = Some("2025-06-01T10:00:00Z".into());
    b.add("Thank you for carrying the groceries up", &["--kind", "appreciation"]);
    b.now = Some("2025-03-02T10:00:00Z".into());
    b.add("Thank you for the tea", &["--kind", "appreciation"]);
    a.now = Some("2026-06-01T09:00:00Z".into());
    a.add("I need an hour alone after work", &["--kind", "boundary"]);
    a.add("a thank-you of my own", &["--kind", "appreciation"]);
    sync(&a, &b);

    let t = a.run(&["today", "--json"]).json();
    assert_eq!(t["on_this_day"], true, "{t}");
    assert_eq!(t["appreciation"]["body"], "Thank you for carrying the groceries up");
    assert_eq!(t["appreciation"]["author"], "Bob");
    assert!(t["prompt"]["id"].is_string() && t["prompt"]["depth"] == "light", "{t}");
    let text = a.run(&["today"]).ok().to_string();
    assert!(text.starts_with("On this day in 2025, Bob appreciated:"), "{text}");
    a.now = Some("2026-06-05T09:00:00Z".into());
    for _ in 0..4 {
        let t = a.run(&["today", "--json"]).json();
        assert_eq!(t["on_this_day"], false);
        assert_eq!(
            t["appreciation"]["author"], "Bob",
            "only the partner's appreciations: {t}"
        );
    }
    b.now = Some("2026-06-05T09:00:00Z".into());
    let none = b.run(&["today", "--json"]).json();
    assert_eq!(none["appreciation"]["body"], "a thank-you of my own");

    // The agenda: A's new boundary, one prompt, a 20-minute plan.
    let ag = a.run(&["checkin", "--json"]).json();
    assert_eq!(ag["since"], Value::Null);
    assert_eq!(ag["boundaries"][0]["body"], "I need an hour alone after work", "{ag}");
    assert!(ag["prompt"]["text"].is_string());
    let plan = a.run(&["checkin"]).ok().to_string();
    assert!(plan.contains("20 minutes") && plan.contains("boundary:"), "{plan}");
    let bag = b.run(&["checkin", "--json"]).json();
    assert_eq!(bag["boundaries"], serde_json::json!([]), "only your own entries: {bag}");

    a.now = Some("2026-06-07T18:00:00Z".into());
    let done = a.run(&["checkin", "--done", "--json"]).json();
    assert_eq!(done["done"], true);
    assert!(
        done.as_object().unwrap().keys().all(|k| k == "done" || k == "at"),
        "no counts: {done}"
    );
    let ag = a.run(&["checkin", "--json"]).json();
    assert_eq!(ag["since"], "2026-06-07T18:00:00Z");
    assert_eq!(ag["boundaries"], serde_json::json!([]), "talked about: {ag}");
    // The record is for both: B's agenda starts from it after a sync.
    sync(&a, &b);
    let bag = b.run(&["checkin", "--json"]).json();
    assert_eq!(bag["since"], "2026-06-07T18:00:00Z", "{bag}");
    a.now = Some("2026-06-08T08:00:00Z".into());
    a.add("I need a quiet Sunday morning", &["--kind", "boundary"]);
    let ag = a.run(&["checkin", "--json"]).json();
    assert_eq!(ag["boundaries"][0]["body"], "I need a quiet Sunday morning");
}

#[test]
fn practice_usage_errors_say_what_to_do_and_change_nothing() {
    let d = Device::new("Alice");
    let before = d.run(&["topics", "--json"]).json();
    assert!(
        d.run(&["prompt", "--set-depth", "extreme"])
            .fails(2)
            .contains("light, medium, deep")
    );
    d.run(&["prompt", "some text"]).fails(2);
    d.run(&["prompt", "--together", "--answer", "comm-l1", "x"]).fails(2);
    d.run(&["topics", "pause"]).fails(2);
    let err = d.run(&["topics", "pause", "money"]).fails(2).to_string();
    assert!(err.contains("quality-time"), "lists the themes: {err}");
    let err = d.run(&["prompt", "--answer", "zz-9", "text"]).fails(2).to_string();
    assert!(err.contains("no prompt 'zz-9'") && err.contains("hint:"), "{err}");
    d.run(&["prompt", "--answer", "comm-l1", "   "]).fails(1);
    assert_eq!(d.run(&["topics", "--json"]).json(), before);
    assert!(d.list(&["--all"]).is_empty(), "nothing was written");
    let r = d.run(&["topics", "resume", "past"]);
    assert!(r.ok().is_empty() && r.stderr.contains("was not paused"), "{}", r.stderr);
}

#[test]
fn a_watching_device_shares_its_waiting_answer_when_the_partners_arrives() {
    let (a, b) = partners();
    let id = a.run(&["prompt", "--together", "--json"]).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = "alice-waiting: I feel close when we walk after dinner";
    a.run(&["prompt", "--answer", &id, secret]).ok();
    sync(&b, &a);

    // A stays online; B answers (shared at once: A had answered) and syncs with A's watcher.
    let mut watch = a.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", Duration::from_secs(30));
    b.run(&["prompt", "--answer", &id, "bob-answer: the walks"]).ok();
    assert_eq!(b.run(&["sync", "--json"]).json()["reached"], 1);

    // The watcher saw B's marker and moved A's answer into the shared space by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a.bodies(&[]).iter().any(|x| x == secret) {
        assert!(Instant::now() < deadline, "the watcher never shared the waiting answer");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        a.bodies(&["--private"]).is_empty(),
        "the waiting copy left the private notebook"
    );
    // Shared later, by the watcher, it is still sealed as A's own words.
    let answer = a.list(&[]).into_iter().find(|e| e["body"] == secret).unwrap();
    assert_eq!(answer["authenticity"], "authentic", "{answer}");
    assert_eq!(b.run(&["sync", "--json"]).json()["reached"], 1);
    let bobs = b
        .list(&[])
        .into_iter()
        .find(|e| e["body"] == "bob-answer: the walks")
        .unwrap();
    assert_eq!(
        bobs["authenticity"], "authentic",
        "an answer shared at once is sealed: {bobs}"
    );
    assert!(b.bodies(&[]).iter().any(|x| x == secret), "B has A's answer now");
    drop(watch);
}
