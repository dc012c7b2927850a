//! What an entry's seal covers, played through the hostile partner harness against the
//! real binary: Bob's modified client lifts Alice's "no replies", puts back an older
//! version of her words, brings back an entry she deleted, and invents one under her name
//! without any seal. Alice's real duo shows each as not written by her in every reader
//! (list, show, search, `--json`, both exports, `today`, `checkin`), and `duo doctor`
//! exits 1 naming them.

use crate::harness::*;
use crate::hostile_partner::{Hostile, copy_of};
use automerge::transaction::Transactable;
use duo_journal::schema::*;

/// Alice's view of one entry in `journal list --json`.
fn listed(alice: &Device, id: &str) -> serde_json::Value {
    alice
        .list(&[])
        .into_iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed"))
}

#[test]
fn lifted_no_replies_rollback_undeletion_and_an_unsealed_entry_are_not_yours_everywhere() {
    let mut alice = Device::new("Alice");
    let bob = Device::new("Bob");
    alice.now = Some("2030-03-04T09:00:00Z".into());
    pair_by_ticket(&alice, &bob, &[]);
    let hostile = Hostile::new(&bob);

    // Alice writes three boundaries (so her check-in lists them too).
    let held = alice.add(
        "I need you to just hold this, no replies",
        &["--kind", "boundary", "--no-replies"],
    );
    let edited = alice.add("I need an hour alone after work", &["--kind", "boundary"]);
    let deleted = alice.add("I need us to split the chores", &["--kind", "boundary"]);
    hostile.sync_victim(&alice);
    // What Bob's client keeps of the first version of her words, with its genuine seal.
    let first_seal = hostile.view().entries[&edited].seals.fields[BODY].seals[0].clone();
    alice
        .run(&[
            "journal",
            "edit",
            &edited[..8],
            "I need an hour alone after work, then I want to talk",
        ])
        .ok();
    alice.run(&["journal", "delete", &deleted[..8], "--yes"]).ok();
    assert!(alice.list(&[]).iter().all(|e| e["id"] != deleted));
    hostile.sync_victim(&alice);

    // Bob's modified client.
    hostile.raw_entry(&held, |doc, o| {
        doc.put(o, NO_REPLIES, false).unwrap();
    });
    bob.run(&["journal", "ack", &held[..8], "lets-talk"]).ok();
    hostile.raw_entry(&edited, |doc, o| {
        doc.put(o, BODY, "I need an hour alone after work").unwrap();
        doc.put(o, seal_key(BODY).as_str(), first_seal.as_str()).unwrap();
    });
    hostile.raw_entry(&deleted, |doc, o| {
        doc.delete(o, DELETED).unwrap();
        doc.delete(o, seal_key(DELETED).as_str()).unwrap();
    });
    let alice_id = listed(&alice, &held)["author_id"].as_str().unwrap().to_string();
    let invented = duo_journal::new_id();
    hostile.raw(|doc| {
        let o = doc
            .put_object(automerge::ROOT, entry_key(&invented), automerge::ObjType::Map)
            .unwrap();
        doc.put(&o, AUTHOR, alice_id.as_str()).unwrap();
        doc.put(&o, DEVICE_FIELD, "laptop").unwrap();
        doc.put(&o, KIND, "boundary").unwrap();
        doc.put(&o, BODY, "I no longer need time alone").unwrap();
        doc.put(&o, CREATED_AT, automerge::ScalarValue::Timestamp(1_900_000_000_000))
            .unwrap();
    });
    hostile.sync_victim(&alice);

    let forged = [
        (&held, "replies_reopened"),
        (&edited, "rolled_back"),
        (&deleted, "undeleted"),
        (&invented, "unsealed"),
    ];
    // list --json
    for (id, why) in forged {
        let e = listed(&alice, id);
        assert_eq!(e["authentic"], false, "{e}");
        assert_eq!(e["authenticity"], "not_yours", "{e}");
        assert_eq!(e["not_yours"], why, "{e}");
    }
    assert!(
        listed(&alice, &held)["acks"].as_array().unwrap().is_empty(),
        "Bob's flag stays hidden"
    );
    // list, search, show
    let list = alice.run(&["journal", "list"]);
    let search = alice.run(&["journal", "search", "need"]);
    for (id, _) in forged {
        for (what, out) in [("list", &list.stdout), ("search", &search.stdout)] {
            let line = out
                .lines()
                .find(|l| l.contains(&id[..8]))
                .unwrap_or_else(|| panic!("{what}: {id} missing in {out}"));
            assert!(line.contains("[NOT WRITTEN BY YOU]"), "{what}: {line}");
        }
        let shown = alice.run(&["journal", "show", &id[..8]]);
        assert!(shown.ok().contains("WARNING: not written by you"), "{}", shown.stdout);
        let json = alice.run(&["journal", "show", &id[..8], "--json"]).json();
        assert_eq!(json["authentic"], false);
    }
    let shown = alice.run(&["journal", "show", &held[..8]]).ok().to_string();
    assert!(
        shown.contains("you asked for no replies; another device lifted that"),
        "{shown}"
    );
    assert!(!shown.contains("would like to talk"), "{shown}");
    // Both exports.
    let json: serde_json::Value =
        serde_json::from_str(alice.run(&["journal", "export", "--format", "json"]).ok()).unwrap();
    for (id, why) in forged {
        let e = json.as_array().unwrap().iter().find(|e| e["id"] == *id).unwrap();
        assert_eq!(
            (e["authentic"].as_bool(), e["not_yours"].as_str()),
            (Some(false), Some(why))
        );
    }
    let md = alice.run(&["journal", "export", "--format", "md"]).ok().to_string();
    assert_eq!(md.matches("NOT WRITTEN BY YOU").count(), 4, "{md}");
    let path = alice.dir.path().join("signed.json");
    let signed = path.to_str().unwrap();
    alice
        .run(&["journal", "export", "--format", "json", "--signed", "-o", signed])
        .ok();
    let signed: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(
        signed["signed"]["entries"].as_array().unwrap().is_empty(),
        "nothing forged is ever signed: {signed}"
    );
    // today and the check-in.
    let today = alice.run(&["today"]);
    assert!(
        today
            .stderr
            .contains("4 entries under your name were not written by you"),
        "{}",
        today.stderr
    );
    let today = alice.run(&["today", "--json"]).json();
    let mut named: Vec<&str> = today["not_written_by_you"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    named.sort();
    let mut expected: Vec<&str> = forged.iter().map(|(id, _)| id.as_str()).collect();
    expected.sort();
    assert_eq!(named, expected);
    let checkin = alice.run(&["checkin"]);
    for (id, _) in forged {
        let line = checkin.ok().lines().find(|l| l.contains(&id[..8])).unwrap_or("");
        assert!(line.contains("[NOT WRITTEN BY YOU]"), "{id}: {}", checkin.stdout);
    }
    assert!(
        !checkin.stdout.contains("let's talk"),
        "Bob's flag past her no replies: {}",
        checkin.stdout
    );
    let agenda = alice.run(&["checkin", "--json"]).json();
    assert!(agenda["lets_talk"].as_array().unwrap().is_empty(), "{agenda}");
    for b in agenda["boundaries"].as_array().unwrap() {
        assert_eq!(b["authenticity"], "not_yours", "{b}");
    }
    // doctor
    let doctor = alice.run(&["doctor", "--json"]);
    assert_eq!(doctor.code, 1, "{}", doctor.stdout);
    let report: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    let mut flagged: Vec<&str> = report["your_words"]["not_yours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    flagged.sort();
    assert_eq!(flagged, expected);
    assert_eq!(report["your_words"]["why"][&edited], "rolled_back");

    // Bob's devices make no claim about Alice's words either way.
    for e in bob.list(&[]) {
        assert!(e.get("authentic").is_none() || e["author"] == "Bob", "{e}");
    }
}

#[test]
fn a_deletion_by_the_partner_is_ignored_and_a_removal_is_named() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let hostile = Hostile::new(&bob);
    let kept = alice.add("I want to keep this", &[]);
    let removed = alice.add("And this one too", &[]);
    hostile.sync_victim(&alice);
    // A tombstone Bob's client writes hides the entry from Bob only; a bare removal of the
    // key takes it from the space, and Alice's devices say so.
    hostile.raw_entry(&kept, |doc, o| {
        doc.put(o, DELETED, true).unwrap();
    });
    hostile.raw(|doc| {
        doc.delete(automerge::ROOT, entry_key(&removed).as_str()).unwrap();
    });
    assert!(bob.list(&[]).iter().all(|e| e["id"] != kept));
    hostile.sync_victim(&alice);
    let e = listed(&alice, &kept);
    assert_eq!(
        (e["body"].as_str(), e["not_yours"].as_str()),
        (Some("I want to keep this"), Some("altered"))
    );
    let list = alice.run(&["journal", "list"]);
    assert!(list.stderr.contains("1 entry of yours was removed"), "{}", list.stderr);
    let doctor = alice.run(&["doctor", "--json"]);
    assert_eq!(doctor.code, 1);
    let report: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    assert_eq!(report["your_words"]["removed"], serde_json::json!([removed]));
    assert!(
        alice
            .run(&["doctor"])
            .stdout
            .contains(&format!("REMOVED: your entry {}", &removed[..8]))
    );
}

/// `duo journal add` does not read the journal or the whole marks file (they grow with it):
/// it leaves a small encrypted note of the new entry's seal in `local/seals.d/`, and the
/// next read folds it in. An entry Bob's modified client removes before Alice's duo ever
/// read it again is still noticed as hers, removed.
#[test]
fn an_entry_removed_by_the_partners_client_before_any_read_is_still_noticed() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let hostile = Hostile::new(&bob);
    let notes = alice.home().join("local").join("seals.d");
    let noted = || std::fs::read_dir(&notes).map(|d| d.count()).unwrap_or(0);
    assert_eq!(noted(), 0);

    let id = alice.add("I felt heard when you asked about my day", &[]);
    assert_eq!(noted(), 1, "the add left one note of what it sealed");
    let note = std::fs::read_dir(&notes).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(&note).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/"), "the note is age-encrypted");
    assert!(
        !String::from_utf8_lossy(&bytes).contains(&id),
        "no entry id in the clear"
    );

    hostile.sync_victim(&alice);
    hostile.raw(|doc| {
        doc.delete(automerge::ROOT, entry_key(&id).as_str()).unwrap();
    });
    hostile.sync_victim(&alice);

    let listed = alice.run(&["journal", "list"]);
    assert!(
        listed
            .stderr
            .contains("1 entry of yours was removed or given another author"),
        "{}",
        listed.stderr
    );
    assert_eq!(noted(), 0, "the read folded the note into the marks file");
    let again = alice.run(&["journal", "list"]);
    assert!(
        again.stderr.contains("1 entry of yours was removed"),
        "{}",
        again.stderr
    );
}

/// `duo journal show` reads one part of the view and only the marks of the entries it can
/// show, once this device has read the notebooks as they are; whatever changed since (here
/// Bob's modified client removes one of Alice's entries) makes it read everything, so the
/// first read after the removal reports it, `show` included, and the entry shown is still
/// checked as hers.
#[test]
fn show_reads_one_part_yet_the_first_read_after_a_removal_reports_it() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let hostile = Hostile::new(&bob);
    let kept = alice.add("I felt calm when we cooked together", &[]);
    let gone = alice.add("I felt heard when you asked about my day", &[]);
    let shown = alice.run(&["journal", "show", &kept[..8]]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown.stdout.contains("I felt calm when we cooked together"));
    // Read as it is now: the next show takes the quick path and says the same.
    let again = alice.run(&["journal", "show", &kept[..8], "--json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let json: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(json["id"], serde_json::json!(kept));
    assert_eq!(json["body"], serde_json::json!("I felt calm when we cooked together"));
    let quick_check = json["authenticity"].clone();
    assert_eq!(
        quick_check,
        serde_json::json!("authentic"),
        "her own entry is checked: {json}"
    );

    hostile.sync_victim(&alice);
    hostile.raw(|doc| {
        doc.delete(automerge::ROOT, entry_key(&gone).as_str()).unwrap();
    });
    hostile.sync_victim(&alice);
    let after = alice.run(&["journal", "show", &kept[..8], "--json"]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert!(
        after
            .stderr
            .contains("1 entry of yours was removed or given another author"),
        "{}",
        after.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&after.stdout).unwrap();
    assert_eq!(json["authenticity"], quick_check, "checked as before");
    // The removed entry is gone for show too.
    assert_ne!(alice.run(&["journal", "show", &gone[..8]]).code, 0);
}

/// Once this device has read a notebook as it is, `journal list` and `search` read its
/// stored view part by part, holding the rows they print rather than every entry. They
/// say exactly what a whole read says: replies, boundaries by status, private notes,
/// entries altered by another device, filters, limits, JSON, and an entry appended since
/// the view was written.
#[test]
fn a_list_read_part_by_part_says_exactly_what_a_whole_read_says() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let hostile = Hostile::new(&bob);
    let ids: Vec<String> = (0..24)
        .map(|i| {
            alice.add(
                &format!("I felt grateful for the small things, day {i}"),
                &["--tag", "daily"],
            )
        })
        .collect();
    let boundary = alice.add("I need quiet mornings", &["--kind", "boundary"]);
    alice
        .run(&["journal", "edit", &boundary[..8], "--status", "revisit"])
        .ok();
    alice.add("I felt unsure today, just for me", &["--private"]);
    hostile.sync_victim(&alice);
    bob.add("I appreciated our walk by the river", &["--kind", "appreciation"]);
    bob.run(&["journal", "ack", &ids[0][..8], "heard"]).ok();
    bob.run(&[
        "journal",
        "reflect",
        &ids[1][..8],
        "What I heard is that the small things matter to you",
    ])
    .ok();
    hostile.raw_entry(&ids[2], |doc, o| {
        doc.put(o, BODY, "I felt nothing at all").unwrap();
    });
    hostile.sync_victim(&alice);
    alice.run(&["journal", "delete", &ids[3][..8], "--yes"]).ok();

    let same = |args: &[&str], whole: &Run, parts: &Run| {
        assert_eq!(whole.code, 0, "{args:?}: {}", whole.stderr);
        assert_eq!(
            (parts.code, &parts.stdout, &parts.stderr),
            (whole.code, &whole.stdout, &whole.stderr),
            "{args:?}"
        );
    };
    let reads: &[&[&str]] = &[
        &["journal", "list"],
        &["journal", "list", "--json"],
        &["journal", "list", "--all"],
        &["journal", "list", "--private", "--json"],
        &["journal", "list", "--kind", "boundary"],
        &["journal", "list", "--tag", "daily", "--limit", "5"],
        &["journal", "search", "grateful"],
        &["journal", "search", "nothing", "--json"],
        &["journal", "search", "no entry says this"],
    ];
    for args in reads {
        // Without the stored views, the read is whole (and stores them again); the next
        // one reads them part by part.
        for view in ["space/view.age", "private/view.age"] {
            let _ = std::fs::remove_file(alice.home().join(view));
        }
        let whole = alice.run(args);
        same(args, &whole, &alice.run(args));
    }
    let listed = alice.run(&["journal", "list", "--all"]).ok().to_string();
    for shown in ["I felt nothing at all", "I appreciated our walk", "just for me"] {
        assert!(listed.contains(shown), "{shown}: {listed}");
    }
    assert!(
        !listed.contains("unknown"),
        "her private note is hers by name: {listed}"
    );
    let json = alice.run(&["journal", "list", "--json"]).json();
    let acked = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == ids[0].as_str())
        .unwrap();
    assert_eq!(acked["acks"][0]["by"], "Bob", "{acked}");
    let reflected = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == ids[1].as_str())
        .unwrap();
    assert_eq!(
        reflected["reflections"].as_array().map(Vec::len),
        Some(1),
        "{reflected}"
    );
    assert!(!listed.contains("day 3\n"), "the deleted entry is not listed: {listed}");

    // Entries appended since the view was written are read on top of the parts, and
    // observed alone. A copy of the home reads everything (every file of a copy looks
    // changed) and says the same.
    let args = ["journal", "list", "--json"];
    for text in ["I felt close to you at dinner", "I felt thankful for the tea"] {
        let added = alice.add(text, &["--tag", "daily"]);
        let whole = copy_of(&alice).run(&args);
        same(&args, &whole, &alice.run(&args));
        assert_eq!(whole.json()[0]["id"], serde_json::json!(added));
        let search = ["journal", "search", "thankful"];
        same(&search, &copy_of(&alice).run(&search), &alice.run(&search));
    }
}
