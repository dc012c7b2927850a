//! "Your words can't be altered unnoticed": a modified client on the partner's side (this
//! test, writing into Bob's store through duo's own library, as a patched `duo` could)
//! alters and invents Alice's words; after a real sync Alice's devices show them as not
//! hers, while Bob's devices make no claim either way about Alice's words.

use crate::harness::*;
use duo_device::Home;
use duo_journal::{Kind, NewEntry};
use std::time::Duration;

/// Bob stays online; Alice syncs with him.
fn sync(alice: &Device, bob: &Device) {
    let mut watch = bob.spawn(&["sync", "--watch"]);
    watch.wait_for("Online", Duration::from_secs(60));
    let report = alice.run(&["sync", "--json"]).json();
    assert_eq!(report["reached"], 1, "{report}");
}

fn show_json(d: &Device, id: &str) -> serde_json::Value {
    d.run(&["journal", "show", id, "--json"]).json()
}

#[test]
fn words_altered_or_invented_on_the_partners_side_are_flagged_on_the_authors_devices_only() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    let kept = alice.add("I need an hour alone after work", &["--kind", "boundary"]);
    let altered = alice.add("I felt heard when you asked about my day", &[]);
    let bobs = bob.add("Thank you for the soup", &["--kind", "appreciation"]);
    pair_by_ticket(&alice, &bob, &[]);
    assert_eq!(bob.list(&[]).len(), 3, "bob has alice's entries");

    // The modified client on Bob's side: it has Bob's keys, not Alice's person key.
    let alice_me = Home::new(alice.home()).open().unwrap().config;
    let invented = duo_journal::new_id();
    let replayed = duo_journal::new_id();
    {
        let bob_dev = Home::new(bob.home()).open().unwrap();
        let kept_seals = bob_dev.space.read().unwrap().view.entries[&kept].seals.clone();
        // A keyring for Alice's person id with a key that is not hers.
        let wrong = duo_journal::Keyring::for_tests(&alice_me.person_id);
        bob_dev
            .space
            .update(|doc| {
                use automerge::ReadDoc;
                use automerge::transaction::Transactable;
                use duo_journal::schema::*;
                let am = doc.automerge();
                // Alice's words changed in place, her seals left as they were.
                let (_, obj) = am.get(automerge::ROOT, entry_key(&altered)).unwrap().unwrap();
                am.put(&obj, BODY, "I felt ignored and it was my fault").unwrap();
                // An entry invented under her name, sealed with a key that is not hers.
                doc.add_entry(
                    &NewEntry {
                        id: invented.clone(),
                        kind: Kind::Boundary,
                        author: alice_me.person_id.clone(),
                        device: alice_me.device_id.clone(),
                        created_at: 1_900_000_000_000,
                        edited_at: 1_900_000_000_000,
                        body: "I no longer need time alone".into(),
                        tags: vec![],
                        status: None,
                        no_replies: false,
                        prompt: None,
                    },
                    &wrong.sealer(&alice_me.device_id),
                )?;
                // One with the seals of a genuine entry copied onto it: they do not fit.
                let am = doc.automerge();
                let o = am
                    .put_object(automerge::ROOT, entry_key(&replayed), automerge::ObjType::Map)
                    .unwrap();
                am.put(&o, AUTHOR, alice_me.person_id.as_str()).unwrap();
                am.put(&o, DEVICE_FIELD, alice_me.device_id.as_str()).unwrap();
                am.put(&o, CREATED_AT, automerge::ScalarValue::Timestamp(1_900_000_000_000))
                    .unwrap();
                am.put(&o, KIND, "boundary").unwrap();
                am.put(&o, BODY, "I no longer need time alone").unwrap();
                am.put(&o, STATUS, "active").unwrap();
                am.put(&o, MADE, kept_seals.made[0].as_str()).unwrap();
                am.put(&o, SEAL, kept_seals.origin[0].as_str()).unwrap();
                for (field, sealed) in &kept_seals.fields {
                    if !field.starts_with(TAG_FIELD) {
                        am.put(&o, seal_key(field).as_str(), sealed.seals[0].as_str()).unwrap();
                    }
                }
                Ok(())
            })
            .unwrap();
    }
    sync(&alice, &bob);

    // Alice's device: the altered and invented entries are not hers; the others are.
    let started = std::time::Instant::now();
    let list = alice.list(&[]);
    eprintln!("alice's list with checks: {:?}", started.elapsed());
    assert_eq!(list.len(), 5);
    let by_id = |id: &str| list.iter().find(|e| e["id"] == id).unwrap().clone();
    assert_eq!(by_id(&kept)["authentic"], true);
    for id in [&altered, &invented, &replayed] {
        let e = by_id(id);
        assert_eq!(e["authentic"], false, "{e}");
        assert_eq!(e["authenticity"], "not_yours", "{e}");
    }
    assert!(
        by_id(&bobs).get("authentic").is_none(),
        "alice cannot check bob's words"
    );
    let shown = alice.run(&["journal", "show", &altered[..8]]);
    assert!(shown.ok().contains("not written by you"), "{}", shown.stdout);
    let listed = alice.run(&["journal", "list"]);
    assert_eq!(
        listed.ok().matches("[NOT WRITTEN BY YOU]").count(),
        3,
        "{}",
        listed.stdout
    );
    let doctor = alice.run(&["doctor", "--json"]);
    assert_eq!(doctor.code, 1, "{}", doctor.stdout);
    let report: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    let mut flagged: Vec<String> = report["your_words"]["not_yours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    flagged.sort();
    let mut expected = vec![altered.clone(), invented.clone(), replayed.clone()];
    expected.sort();
    assert_eq!(flagged, expected);
    assert_eq!(report["healthy"], false);
    let text = alice.run(&["doctor"]);
    assert!(text.stdout.contains("NOT WRITTEN BY YOU"), "{}", text.stdout);

    // Bob's devices say nothing either way about Alice's words (no "verified" claim);
    // Bob's own entry checks out for Bob.
    for e in bob.list(&[]) {
        if e["author"] == "Alice" {
            assert!(e.get("authentic").is_none() && e.get("authenticity").is_none(), "{e}");
        } else {
            assert_eq!(e["authentic"], true, "{e}");
        }
    }
    let on_bobs = bob.run(&["journal", "show", &altered[..8]]);
    let out = on_bobs.ok().to_lowercase();
    assert!(
        !out.contains("not written") && !out.contains("verified") && !out.contains("authentic"),
        "{out}"
    );
    let bob_doctor = bob.run(&["doctor", "--json"]).json();
    assert_eq!(bob_doctor["your_words"]["not_yours"].as_array().unwrap().len(), 0);

    // A signed export of Alice's holds only what her devices confirm as hers.
    let out = alice.dir.path().join("signed.json");
    let exported = alice.run(&[
        "journal",
        "export",
        "--format",
        "json",
        "--signed",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    assert!(exported.stderr.contains("Left out 4 entries"), "{}", exported.stderr);
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let ids: Vec<&str> = file["signed"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![kept.as_str()]);

    // Alice settles the altered entry by writing her own words again: it is hers again.
    alice
        .run(&[
            "journal",
            "edit",
            &altered[..8],
            "I felt heard when you asked about my day",
        ])
        .ok();
    assert_eq!(show_json(&alice, &altered[..8])["authentic"], true);
    let doctor = alice.run(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    assert_eq!(report["your_words"]["not_yours"].as_array().unwrap().len(), 2);
}

#[test]
fn a_signed_export_verifies_offline_and_any_change_is_caught() {
    let alice = Device::new("Alice");
    alice.add("I appreciated the walk", &["--kind", "appreciation", "--tag", "us"]);
    alice.add("a private thought", &["--private"]);
    let out = alice.dir.path().join("mine.json");
    let path = out.to_str().unwrap();
    alice
        .run(&["journal", "export", "--format", "json", "--signed", "-o", path])
        .ok();
    let other = Device::blank(); // verify needs no duo home
    let ok = other.run(&["verify", path]);
    let said = ok.ok();
    assert!(said.contains("Valid: 1 entry by Alice"), "{said}");
    let dev = Home::new(alice.home()).open().unwrap().config.device_id;
    assert!(said.contains(&dev), "names the signing device: {said}");
    let j = other.run(&["verify", path, "--json"]).json();
    assert_eq!(j["valid"], true);
    assert_eq!(j["entries"], 1);
    assert_eq!(j["device"], dev.as_str());

    // --all includes her private notes (also hers); md cannot be signed.
    alice
        .run(&["journal", "export", "--format", "json", "--signed", "--all", "-o", path])
        .ok();
    assert!(other.run(&["verify", path]).ok().contains("Valid: 2 entries"));
    alice.run(&["journal", "export", "--signed"]).fails(2);

    let original = std::fs::read_to_string(&out).unwrap();
    let tampered = [
        original.replace("I appreciated the walk", "I hated the walk"),
        original.replace("\"us\"", "\"them\""),
        original.replacen("\"signature\": \"", "\"signature\": \"00", 1),
        original.replace("Alice", "Mallory"),
    ];
    for (i, t) in tampered.iter().enumerate() {
        assert_ne!(t, &original, "case {i} changes the file");
        std::fs::write(&out, t).unwrap();
        let r = other.run(&["verify", path]);
        let err = r.fails(1);
        assert!(err.contains("does not verify"), "case {i}: {err}");
    }
    std::fs::write(&out, "not json").unwrap();
    assert!(
        other
            .run(&["verify", path])
            .fails(1)
            .contains("not a duo signed export")
    );
}

#[test]
fn own_devices_share_the_person_key_and_a_partner_never_gets_it() {
    let laptop = Device::new("Alice");
    let phone = Device::new("Alice");
    let bob = Device::new("Bob");
    let before = phone.add("written on the phone before pairing", &[]);
    pair_by_ticket(&laptop, &phone, &["--own-device"]);
    pair_by_ticket(&laptop, &bob, &[]);
    let key = |d: &Device| Home::new(d.home()).open().unwrap().key_id();
    assert_eq!(key(&laptop), key(&phone), "the phone received the laptop's person key");
    assert_ne!(key(&laptop), key(&bob), "bob has his own");
    // The phone's earlier entry was sealed again under the shared key when it joined.
    assert_eq!(show_json(&phone, &before[..8])["authentic"], true);
    let after = phone.add("written on the phone after pairing", &[]);
    sync(&laptop, &phone);
    for id in [&before, &after] {
        assert_eq!(
            show_json(&laptop, &id[..8])["authentic"],
            true,
            "the laptop confirms the phone's words"
        );
    }
    assert_eq!(laptop.run(&["doctor", "--json"]).json()["healthy"], true);
}

#[test]
fn a_device_restored_from_a_backup_still_recognises_your_words() {
    let mut alice = Device::new("Alice");
    alice.env.push(("DUO_BACKUP_WORK_FACTOR".into(), "10".into()));
    let id = alice.add("I loved our walk by the river", &["--kind", "appreciation"]);
    let pf = alice.dir.path().join("pw");
    std::fs::write(&pf, "correct horse battery staple\n").unwrap();
    let file = alice.dir.path().join("alice.duobackup");
    let (file, pf) = (file.to_str().unwrap(), pf.to_str().unwrap());
    alice.run(&["backup", file, "--passphrase-file", pf]).ok();
    let mut fresh = Device::blank();
    fresh.env.push(("DUO_BACKUP_WORK_FACTOR".into(), "10".into()));
    fresh.run(&["restore", file, "--passphrase-file", pf]).ok();
    assert_eq!(
        show_json(&fresh, &id[..8])["authentic"],
        true,
        "the backup carried the person key"
    );
    let written_there = fresh.add("written on the restored device", &[]);
    assert_eq!(show_json(&fresh, &written_there[..8])["authentic"], true);
    let report = fresh.run(&["doctor", "--json"]).json();
    assert_eq!(report["your_words"]["authentic"], 2, "{report}");
}

#[test]
fn your_own_status_changes_and_edits_keep_your_words_yours() {
    let alice = Device::new("Alice");
    let b = alice.add("I need quiet mornings", &["--kind", "boundary", "--tag", "home"]);
    alice.run(&["boundaries", "revisit", &b[..8]]).ok();
    assert_eq!(show_json(&alice, &b[..8])["authentic"], true);
    alice.run(&["journal", "edit", &b[..8], "--tag", "mornings"]).ok();
    alice.run(&["journal", "edit", &b[..8], "--no-replies"]).ok();
    alice.run(&["boundaries", "retire", &b[..8]]).ok();
    let e = show_json(&alice, &b[..8]);
    assert_eq!(
        (e["status"].as_str(), e["authentic"].as_bool()),
        (Some("retired"), Some(true)),
        "{e}"
    );
    let t = alice.run(&["thanks", "for the tea"]);
    let id = t.ok().trim().to_string();
    assert_eq!(show_json(&alice, &id[..8])["authentic"], true);
    assert_eq!(alice.run(&["doctor", "--json"]).json()["healthy"], true);
}
