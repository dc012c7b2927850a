//! Never lose a word in a merge (docs/storage.md, "Concurrent writes: what a merge
//! keeps"): two of Alice's devices write offline, then sync for real (one device online
//! with `duo sync --watch`, the other running `duo sync`), and every write is there or
//! offered to whoever can act on it.

use crate::harness::{Device, pair_by_ticket};
use std::time::Duration;

/// `other` stays online; `d` syncs with it.
fn sync(d: &Device, other: &Device) {
    let mut watch = other.spawn(&["sync", "--watch"]);
    watch.wait_for("Online", Duration::from_secs(60));
    let report = d.run(&["sync", "--json"]).json();
    assert_eq!(report["reached"], 1, "{report}");
}

fn show_json(d: &Device, id: &str) -> serde_json::Value {
    d.run(&["journal", "show", id, "--json"]).json()
}

fn space_id(d: &Device) -> String {
    d.run(&["status", "--json"]).json()["space_id"]
        .as_str()
        .expect("a space id")
        .to_string()
}

/// Alice's laptop and phone (one person) and Bob's laptop, paired; `id` written on the
/// laptop and known everywhere.
fn three(body: &str, extra: &[&str]) -> (Device, Device, Device, String) {
    let laptop = Device::new("Alice");
    let phone = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&laptop, &phone, &["--own-device"]);
    pair_by_ticket(&laptop, &bob, &[]);
    let id = laptop.add(body, extra);
    sync(&phone, &laptop);
    sync(&bob, &laptop);
    assert!(phone.bodies(&[]).contains(&body.to_string()));
    (laptop, phone, bob, id)
}

#[test]
fn tags_changed_on_two_devices_both_kept() {
    let (laptop, phone, bob, id) = three("Sunday mornings are mine", &["--tag", "start"]);
    let short = &id[..8];
    // Offline, each device changes the tags its own way.
    laptop
        .run(&["journal", "edit", short, "--tag", "start", "--tag", "home"])
        .ok();
    phone
        .run(&["journal", "edit", short, "--tag", "start", "--tag", "work"])
        .ok();
    sync(&phone, &laptop);
    for d in [&laptop, &phone] {
        let e = show_json(d, short);
        assert_eq!(e["tags"], serde_json::json!(["home", "start", "work"]), "{e}");
        assert_eq!(e["authentic"], true, "the merged set of tags still verifies: {e}");
    }
    // A removal removes only the tag it saw.
    phone
        .run(&["journal", "edit", short, "--tag", "home", "--tag", "work"])
        .ok();
    laptop
        .run(&[
            "journal", "edit", short, "--tag", "home", "--tag", "start", "--tag", "work", "--tag", "later",
        ])
        .ok();
    sync(&phone, &laptop);
    sync(&bob, &laptop);
    for d in [&laptop, &phone, &bob] {
        let e = show_json(d, short);
        assert_eq!(e["tags"], serde_json::json!(["home", "later", "work"]), "{e}");
    }
    assert_eq!(show_json(&laptop, short)["authentic"], true);
}

#[test]
fn edit_versus_delete_is_restorable_by_the_author() {
    let (laptop, phone, bob, id) = three("I felt rushed this morning", &[]);
    let short = &id[..8];
    laptop
        .run(&["journal", "edit", short, "I felt rushed, and I want to say why"])
        .ok();
    phone.run(&["journal", "delete", short, "--yes"]).ok();
    sync(&phone, &laptop);
    sync(&bob, &laptop);
    // Deleted everywhere: never shown to the partner.
    for d in [&laptop, &phone, &bob] {
        assert!(d.list(&[]).iter().all(|e| e["id"] != id.as_str()), "still deleted");
    }
    let bobs = bob.run(&["journal", "list"]);
    assert!(
        !bobs.stdout.contains("rushed") && !bobs.stderr.contains("rushed"),
        "{}",
        bobs.stderr
    );
    assert!(!bobs.stderr.contains("restore"), "{}", bobs.stderr);
    bob.run(&["journal", "restore", short]).fails(1);
    // Offered to the author, on each of her devices, with the one command.
    for d in [&laptop, &phone] {
        let r = d.run(&["journal", "list"]);
        assert!(
            r.stderr.contains(&format!("duo journal restore {short}")),
            "{}",
            r.stderr
        );
    }
    let r = phone.run(&["journal", "restore", short]);
    r.ok();
    assert!(r.stderr.contains("Restored"), "{}", r.stderr);
    let e = show_json(&phone, short);
    assert_eq!(e["body"], "I felt rushed, and I want to say why");
    assert_eq!(e["authentic"], true, "a restored entry verifies: {e}");
    assert!(!phone.run(&["journal", "list"]).stderr.contains("restore"));
    sync(&phone, &laptop);
    sync(&bob, &laptop);
    assert!(
        bob.bodies(&[])
            .contains(&"I felt rushed, and I want to say why".to_string())
    );
    // A deletion that saw everything stays a deletion.
    let other = laptop.add("gone for good", &[]);
    laptop.run(&["journal", "delete", &other[..8], "--yes"]).ok();
    laptop.run(&["journal", "restore", &other[..8]]).fails(1);
}

#[test]
fn partner_sees_versions_without_the_authors_command() {
    let (laptop, phone, bob, id) = three("first words", &[]);
    let short = &id[..8];
    laptop.run(&["journal", "edit", short, "words from the laptop"]).ok();
    phone.run(&["journal", "edit", short, "words from the phone"]).ok();
    sync(&phone, &laptop);
    sync(&bob, &laptop);
    let mine = laptop.run(&["journal", "show", short]);
    assert!(
        mine.stdout.contains(&format!("duo journal edit {short} --keep N")),
        "{}",
        mine.stdout
    );
    let theirs = bob.run(&["journal", "show", short]);
    assert!(theirs.stdout.contains("words from the laptop") && theirs.stdout.contains("words from the phone"));
    assert!(
        theirs.stdout.contains("Alice has 2 versions of this entry"),
        "{}",
        theirs.stdout
    );
    assert!(
        !theirs.stdout.contains("--keep") && !theirs.stdout.contains("duo journal edit"),
        "{}",
        theirs.stdout
    );
}

#[test]
fn three_devices_agree_on_the_space_id() {
    // One person's three devices, each set up on its own (three space ids), paired to the
    // laptop one after the other without syncing in between.
    let laptop = Device::new("Alice");
    let phone = Device::new("Alice");
    let tablet = Device::new("Alice");
    pair_by_ticket(&laptop, &phone, &["--own-device"]);
    pair_by_ticket(&laptop, &tablet, &["--own-device"]);
    let id = space_id(&laptop);
    assert_eq!(space_id(&phone), id, "the joiner took the inviter's id");
    assert_eq!(space_id(&tablet), id);
    phone.add("from the phone", &[]);
    tablet.add("from the tablet", &[]);
    sync(&tablet, &laptop);
    sync(&phone, &laptop);
    for d in [&laptop, &phone, &tablet] {
        assert_eq!(space_id(d), id, "the id never changed under a device that held it");
    }
    // A bundle between the two that never met is of their own space.
    let path = tablet.dir.path().join("t.duobundle");
    tablet.add("offline on the tablet", &[]);
    tablet.run(&["bundle", "export", path.to_str().unwrap(), "--json"]).ok();
    phone.run(&["bundle", "import", path.to_str().unwrap(), "--json"]).ok();
    assert!(phone.bodies(&[]).contains(&"offline on the tablet".to_string()));
}

#[test]
fn an_answer_names_its_prompt_on_both_devices() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let offered = alice.run(&["prompt", "--json"]).json();
    let prompt = offered["id"].as_str().expect("a prompt").to_string();
    let question = offered["text"].as_str().expect("its text").to_string();
    let r = alice
        .run(&["prompt", "--answer", &prompt, "my answer to it", "--json"])
        .json();
    let id = r["id"].as_str().unwrap().to_string();
    sync(&bob, &alice);
    for d in [&alice, &bob] {
        let listed = d.list(&[]);
        let e = listed.iter().find(|e| e["id"] == id.as_str()).expect("listed");
        assert_eq!(e["prompt"], prompt.as_str(), "{e}");
        assert_eq!(e["prompt_text"], question.as_str(), "{e}");
        let shown = d.run(&["journal", "show", &id[..8]]).ok().to_string();
        assert!(
            shown.contains(&format!("Answering prompt {prompt}: {question}")),
            "{shown}"
        );
        let md = d.dir.path().join("out.md");
        d.run(&["journal", "export", "-o", md.to_str().unwrap()]).ok();
        let text = std::fs::read_to_string(&md).unwrap();
        assert!(
            text.contains(&format!("Answering prompt {prompt}: {question}")),
            "{text}"
        );
    }
}

#[test]
fn confirm_says_which_reflection_and_asks_when_there_are_several() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let id = alice.add("I felt unheard when plans changed", &[]);
    let short = &id[..8];
    sync(&bob, &alice);
    bob.run(&["journal", "reflect", short, "What I heard is \u{1b}[31mplans matter"])
        .ok();
    sync(&bob, &alice);
    let r = alice.run(&["journal", "confirm", short]);
    r.ok();
    assert!(r.stderr.contains("Confirmed Bob's reflection"), "{}", r.stderr);
    assert!(
        r.stderr.contains("What I heard is \\u{1b}[31mplans matter"),
        "quoted, escaped: {}",
        r.stderr
    );
    assert!(!r.stderr.contains('\u{1b}'));
    // A second reflection: without --reflection and without a terminal, refused with both.
    bob.run(&["journal", "reflect", short, "What I heard is that you want a say"])
        .ok();
    sync(&bob, &alice);
    let r = alice.run(&["journal", "confirm", short]);
    r.fails(2);
    assert!(r.stderr.contains("2 reflections"), "{}", r.stderr);
    assert!(
        r.stderr.contains("you want a say") && r.stderr.contains("plans matter"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--reflection"), "{}", r.stderr);
    let shown = show_json(&alice, short);
    let second = shown["reflections"][1]["id"].as_str().unwrap().to_string();
    let r = alice.run(&["journal", "confirm", short, "--reflection", &second[..8]]);
    r.ok();
    assert!(r.stderr.contains("you want a say"), "{}", r.stderr);
}

/// The ids of the replies `d` shows under `id` (acknowledgements and reflections), from
/// `show --json`, checked against what `list --json` says of the entry.
fn reply_ids(d: &Device, id: &str) -> Vec<String> {
    let ids = |e: &serde_json::Value| {
        let mut out: Vec<String> = ["acks", "reflections"]
            .iter()
            .flat_map(|k| e[*k].as_array().cloned().unwrap_or_default())
            .map(|r| r["id"].as_str().expect("a reply id").to_string())
            .collect();
        out.sort();
        out
    };
    let shown = ids(&show_json(d, &id[..8]));
    let listed = d.list(&[]).into_iter().find(|e| e["id"] == id).expect("listed");
    assert_eq!(ids(&listed), shown, "list and show agree");
    shown
}

#[test]
fn a_reply_written_while_no_replies_was_on_never_appears() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let id = alice.add("I need to sit with this for a while", &[]);
    sync(&bob, &alice);
    // Alice asks for no replies; Bob, offline, has not received it and reflects.
    alice.run(&["journal", "edit", &id[..8], "--no-replies"]).ok();
    bob.run(&["journal", "reflect", &id[..8], "What I heard is you need time"])
        .ok();
    sync(&bob, &alice);
    for d in [&alice, &bob] {
        assert_eq!(show_json(d, &id[..8])["no_replies"], true);
        assert!(reply_ids(d, &id).is_empty());
    }
    // Alice lifts it and they sync: Bob's reflection, written while it was on, stays hidden.
    alice.run(&["journal", "edit", &id[..8], "--allow-replies"]).ok();
    sync(&bob, &alice);
    for d in [&alice, &bob] {
        assert_eq!(show_json(d, &id[..8])["no_replies"], false);
        assert!(reply_ids(d, &id).is_empty(), "held for good");
    }
    // A reflection Bob writes now, knowing of the lift, is shown on both devices.
    bob.run(&["journal", "reflect", &id[..8], "What I heard is it matters a lot"])
        .ok();
    sync(&bob, &alice);
    for d in [&alice, &bob] {
        let e = show_json(d, &id[..8]);
        let texts: Vec<&str> = e["reflections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts, ["What I heard is it matters a lot"], "{e}");
        assert_eq!(reply_ids(d, &id).len(), 1);
    }
}
