//! The sealed entry record against a modified client: every field an author seals, every
//! merge of fields written on two of the author's own devices, and every way of putting
//! something back (a replayed older value, a deletion undone, a "no replies" lifted). The
//! modified client writes raw automerge ([`SpaceDoc::automerge`]), as a patched duo could;
//! it holds its own keys, never the author's.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use duo_journal::schema::*;
use duo_journal::{
    Ack, Authenticity, EntryPatch, Judge, Keyring, Kind, Marks, NewEntry, ReplyKind, SealKey, SpaceDoc, Status,
    StatusChange, View, Why,
};

mod support;
use support::*;

fn new_entry(id: &str, kind: Kind, body: &str, tags: &[&str]) -> NewEntry {
    alices_entry(id, kind, body, tags)
}

fn view(doc: &SpaceDoc) -> View {
    View::new(doc.contents(), Default::default())
}

/// What Alice's device says about entry `id` (with `marks`).
fn check_with(doc: &SpaceDoc, id: &str, marks: &Marks) -> Authenticity {
    let a = ring(ALICE);
    let v = view(doc);
    let judge = Judge::new(&a, marks);
    let shown = judge.shown(&v);
    let s = shown
        .iter()
        .find(|s| s.entry.id == id)
        .unwrap_or_else(|| panic!("{id} is not shown"));
    s.check.expect("Alice's entry is checked on her device")
}

fn check(doc: &SpaceDoc, id: &str) -> Authenticity {
    check_with(doc, id, &Marks::default())
}

/// What Alice's device remembers after reading `doc`.
fn observed(doc: &SpaceDoc, marks: &Marks) -> Marks {
    let a = ring(ALICE);
    Judge::new(&a, marks).observe(&view(doc))
}

fn obj(doc: &mut SpaceDoc, id: &str) -> ObjId {
    match doc.automerge().get(ROOT, entry_key(id)).unwrap() {
        Some((_, o)) => o,
        None => panic!("no entry {id}"),
    }
}

/// A modified client writes `f` straight into the entry's map.
fn raw(doc: &mut SpaceDoc, id: &str, f: impl FnOnce(&mut automerge::AutoCommit, &ObjId)) {
    let o = obj(doc, id);
    f(doc.automerge(), &o);
}

/// What a modified client does to an entry's map.
type Forgery = Box<dyn Fn(&mut automerge::AutoCommit, &ObjId)>;

#[test]
fn what_the_author_writes_is_authentic_and_every_sealed_field_changed_alone_is_not() {
    let mut e = new_entry(
        ID,
        Kind::Boundary,
        "I need an hour alone after work",
        &["evenings", "home"],
    );
    e.no_replies = true;
    e.prompt = Some("comm-l1".into());
    let mut base = space_with(&e);
    assert_eq!(check(&base, ID), Authenticity::Authentic);
    let bytes = base.save();
    let forgeries: Vec<(&str, Forgery, Why)> = vec![
        (
            "body",
            Box::new(|d, o| d.put(o, BODY, "I never need time alone").map(drop).unwrap()),
            Why::Altered,
        ),
        (
            "kind",
            Box::new(|d, o| d.put(o, KIND, "appreciation").map(drop).unwrap()),
            Why::Altered,
        ),
        (
            "status",
            Box::new(|d, o| d.put(o, STATUS, "retired").map(drop).unwrap()),
            Why::Altered,
        ),
        (
            "no_replies",
            Box::new(|d, o| d.put(o, NO_REPLIES, false).map(drop).unwrap()),
            Why::RepliesReopened,
        ),
        (
            "no_replies gone",
            Box::new(|d, o| d.delete(o, NO_REPLIES).unwrap()),
            Why::RepliesReopened,
        ),
        (
            "prompt",
            Box::new(|d, o| d.put(o, PROMPT, "past-d3").map(drop).unwrap()),
            Why::Altered,
        ),
        (
            "prompt gone",
            Box::new(|d, o| d.delete(o, PROMPT).unwrap()),
            Why::Altered,
        ),
        (
            "device",
            Box::new(|d, o| d.put(o, DEVICE_FIELD, "phone").map(drop).unwrap()),
            Why::Altered,
        ),
        (
            "created_at",
            Box::new(|d, o| d.put(o, CREATED_AT, ScalarValue::Timestamp(5)).map(drop).unwrap()),
            Why::Altered,
        ),
        (
            "made",
            Box::new(|d, o| d.put(o, MADE, "body\nkind").map(drop).unwrap()),
            Why::Altered,
        ),
        (
            "a tag added",
            Box::new(|d, o| {
                let set = d.get(o, TAGSET).unwrap().unwrap().1;
                d.put(&set, "blame", "+s2.00000000.1.00000000000000000000000000000000")
                    .unwrap();
            }),
            Why::Altered,
        ),
        (
            "a tag removed",
            Box::new(|d, o| {
                let set = d.get(o, TAGSET).unwrap().unwrap().1;
                d.delete(&set, "home").unwrap();
            }),
            Why::Altered,
        ),
        (
            "a tag's seal moved to a removal",
            Box::new(|d, o| {
                let set = d.get(o, TAGSET).unwrap().unwrap().1;
                let (v, _) = d.get(&set, "home").unwrap().unwrap();
                let v = v.as_str().unwrap().replacen('+', "-", 1);
                d.put(&set, "home", v).unwrap();
            }),
            Why::Altered,
        ),
        (
            "a forged tombstone",
            Box::new(|d, o| d.put(o, DELETED, true).map(drop).unwrap()),
            Why::Altered,
        ),
        (
            "the seals dropped",
            Box::new(|d, o| {
                for k in [SEAL, "seal.body", "seal.kind"] {
                    d.delete(o, k).unwrap();
                }
            }),
            Why::Altered,
        ),
    ];
    for (what, forge, why) in forgeries {
        let mut doc = SpaceDoc::load(&bytes).unwrap();
        raw(&mut doc, ID, |d, o| forge(d, o));
        assert_eq!(check(&doc, ID), Authenticity::NotYours(why), "{what}");
        // Bob's devices make no claim about Alice's words either way.
        let b = ring(BOB);
        let v = view(&doc);
        let none = Judge::new(&b, &Marks::default()).shown(&v);
        assert!(none.iter().all(|s| s.check.is_none()), "{what}");
    }
}

#[test]
fn two_own_devices_that_add_different_tags_or_edit_at_once_still_verify() {
    let mut laptop = space_with(&new_entry(ID, Kind::Reflection, "I felt heard", &["us"]));
    let mut phone = fork(&mut laptop);
    let a = ring(ALICE);
    let tags = |t: &[&str], at| EntryPatch {
        tags: Some(t.iter().map(|x| x.to_string()).collect()),
        ..patch(at)
    };
    laptop
        .edit_entry(ID, &tags(&["us", "walks"], 10), &a.sealer("laptop"))
        .unwrap();
    phone
        .edit_entry(ID, &tags(&["us", "sunday"], 11), &a.sealer("phone"))
        .unwrap();
    let mut m = merged(&mut laptop, &mut phone);
    let e = &m.contents().entries[ID];
    assert_eq!(e.tags, vec!["sunday", "us", "walks"], "tags merge as a set");
    assert_eq!(check(&m, ID), Authenticity::Authentic);

    // A removal removes only what it saw: the phone removes "us" while the laptop adds it
    // again concurrently (a new sealed value); the addition it did not see stays.
    let mut phone = fork(&mut m);
    let mut laptop = fork(&mut m);
    phone
        .edit_entry(ID, &tags(&["sunday", "walks"], 20), &a.sealer("phone"))
        .unwrap();
    laptop.edit_entry(ID, &tags(&[], 21), &a.sealer("laptop")).unwrap();
    laptop.edit_entry(ID, &tags(&["us"], 22), &a.sealer("laptop")).unwrap();
    let m2 = merged(&mut phone, &mut laptop);
    assert!(m2.contents().entries[ID].tags.contains(&"us".to_string()));
    assert_eq!(check(&m2, ID), Authenticity::Authentic);

    // Both devices edit the body and flip "no replies" at once: every value is theirs.
    let mut phone = fork(&mut m);
    let mut laptop = fork(&mut m);
    let body = |b: &str, at| EntryPatch {
        body: Some(b.into()),
        ..patch(at)
    };
    laptop
        .edit_entry(ID, &body("from the laptop", 30), &a.sealer("laptop"))
        .unwrap();
    phone
        .edit_entry(ID, &body("from the phone", 31), &a.sealer("phone"))
        .unwrap();
    laptop.set_no_replies(ID, true, 32, &a.sealer("laptop")).unwrap();
    phone.set_no_replies(ID, false, 33, &a.sealer("phone")).unwrap();
    let m3 = merged(&mut laptop, &mut phone);
    let e = &m3.contents().entries[ID];
    assert_eq!(e.conflicts.len(), 1, "both versions of the body are kept");
    assert!(e.no_replies, "on when any concurrent value is on");
    assert_eq!(check(&m3, ID), Authenticity::Authentic);
}

#[test]
fn the_partners_concurrent_change_of_any_field_is_not_yours_whichever_value_wins() {
    let mut e = new_entry(ID, Kind::Boundary, "No phones at dinner", &["home"]);
    e.no_replies = true;
    e.prompt = Some("comm-l1".into());
    let mut alices = space_with(&e);
    let forgeries: Vec<(&str, Why, Forgery)> = vec![
        (
            "kind",
            Why::Altered,
            Box::new(|d, o| d.put(o, KIND, "reflection").unwrap()),
        ),
        (
            "no_replies",
            Why::RepliesReopened,
            Box::new(|d, o| d.put(o, NO_REPLIES, false).unwrap()),
        ),
        (
            "prompt",
            Why::Altered,
            Box::new(|d, o| d.put(o, PROMPT, "past-d3").unwrap()),
        ),
        (
            "tags",
            Why::Altered,
            Box::new(|d, o| {
                let set = d.get(o, TAGSET).unwrap().unwrap().1;
                d.put(&set, "controlling", "+").unwrap();
            }),
        ),
        (
            "body",
            Why::Altered,
            Box::new(|d, o| d.put(o, BODY, "Phones are fine").unwrap()),
        ),
    ];
    for (what, why, forge) in forgeries {
        let mut bobs = fork(&mut alices);
        let mut mine = fork(&mut alices);
        // Alice edits the body meanwhile, honestly.
        mine.edit_entry(
            ID,
            &EntryPatch {
                body: Some("No phones at dinner, please".into()),
                ..patch(50)
            },
            &ring(ALICE).sealer("laptop"),
        )
        .unwrap();
        raw(&mut bobs, ID, |d, o| forge(d, o));
        let m = merged(&mut mine, &mut bobs);
        assert_eq!(check(&m, ID), Authenticity::NotYours(why), "{what}");
    }
}

#[test]
fn a_replayed_older_version_is_rolled_back_on_a_device_that_saw_the_newer_one() {
    let mut doc = space_with(&new_entry(ID, Kind::Reflection, "first words", &[]));
    let a = ring(ALICE);
    let first_seal = doc.contents().entries[ID].seals.fields["body"].seals[0].clone();
    doc.edit_entry(
        ID,
        &EntryPatch {
            body: Some("second words".into()),
            ..patch(2_000)
        },
        &a.sealer("laptop"),
    )
    .unwrap();
    let marks = observed(&doc, &Marks::default());
    assert_eq!(check_with(&doc, ID, &marks), Authenticity::Authentic);
    // The partner's client puts the first words back, with their own (genuine) seal.
    raw(&mut doc, ID, |d, o| {
        d.put(o, BODY, "first words").unwrap();
        d.put(o, "seal.body", first_seal.as_str()).unwrap();
    });
    assert_eq!(
        check(&doc, ID),
        Authenticity::Authentic,
        "a device that never saw the newer version cannot tell (the stated limit)"
    );
    assert_eq!(check_with(&doc, ID, &marks), Authenticity::NotYours(Why::RolledBack));
    // Reading the replay does not lower what is remembered.
    assert_eq!(observed(&doc, &marks), marks);
    // Forged seals claiming a huge version are not remembered either.
    raw(&mut doc, ID, |d, o| {
        d.put(
            o,
            "seal.body",
            "s2.00000000.18446744073709551615.00000000000000000000000000000000",
        )
        .unwrap();
    });
    assert_eq!(observed(&doc, &marks), marks);
    // The author writes again: newer than anything before, authentic.
    doc.edit_entry(
        ID,
        &EntryPatch {
            body: Some("third words".into()),
            ..patch(3_000)
        },
        &a.sealer("laptop"),
    )
    .unwrap();
    assert_eq!(check_with(&doc, ID, &marks), Authenticity::Authentic);
}

#[test]
fn a_deleted_entry_brought_back_is_flagged_and_a_deletion_is_the_authors_alone() {
    let mut doc = space_with(&new_entry(ID, Kind::Reflection, "something I regret writing", &[]));
    let a = ring(ALICE);
    doc.delete_entry(ID, 2_000, &a.sealer("laptop")).unwrap();
    let c = doc.contents();
    assert!(
        !c.entries.contains_key(ID) && c.deleted.contains_key(ID),
        "a tombstone, not a removal"
    );
    assert!(doc.entry_ids().contains(&ID.to_string()));
    let marks = observed(&doc, &Marks::default());
    let v = view(&doc);
    assert!(
        Judge::new(&a, &marks).shown(&v).is_empty(),
        "a sealed deletion hides it"
    );
    let b = ring(BOB);
    assert!(
        Judge::new(&b, &Marks::default()).shown(&v).is_empty(),
        "on Bob's devices too"
    );

    // Undone by removing the tombstone, or by putting back the earlier "not deleted".
    for undo in [0, 1] {
        let mut d2 = fork(&mut doc);
        raw(&mut d2, ID, |d, o| {
            if undo == 0 {
                d.delete(o, DELETED).unwrap();
                d.delete(o, "seal.deleted").unwrap();
            } else {
                d.put(o, DELETED, false).unwrap();
            }
        });
        assert_eq!(
            check_with(&d2, ID, &marks),
            Authenticity::NotYours(Why::Undeleted),
            "undo {undo}"
        );
    }

    // A deletion by anyone else: ignored on the author's devices (shown, not yours).
    let mut doc = space_with(&new_entry(ID, Kind::Reflection, "mine to keep", &[]));
    assert!(
        doc.delete_entry(ID, 5, &b.sealer("bobs-phone")).is_err(),
        "the library refuses"
    );
    raw(&mut doc, ID, |d, o| {
        d.put(o, DELETED, true).unwrap();
    });
    assert_eq!(check(&doc, ID), Authenticity::NotYours(Why::Altered));
    let v = view(&doc);
    assert!(
        Judge::new(&b, &Marks::default()).shown(&v).is_empty(),
        "Bob's client hides it from Bob"
    );
    // Alice's next change of it lifts the tombstone that is not hers: hers again.
    doc.edit_entry(
        ID,
        &EntryPatch {
            body: Some("mine to keep, still".into()),
            ..patch(60)
        },
        &a.sealer("laptop"),
    )
    .unwrap();
    assert!(doc.contents().entries.contains_key(ID));
    assert_eq!(check(&doc, ID), Authenticity::Authentic);

    // A bare removal of the key: the entry is gone, and named as removed.
    let mut doc = space_with(&new_entry(ID, Kind::Reflection, "remember me", &[]));
    let marks = observed(&doc, &Marks::default());
    doc.automerge().delete(ROOT, entry_key(ID)).unwrap();
    assert_eq!(Judge::new(&a, &marks).removed(&view(&doc)), vec![ID.to_string()]);
    // Or given to Bob: no longer under Alice's name, and named as removed too.
    let mut doc = space_with(&new_entry(ID, Kind::Reflection, "my words", &[]));
    let marks = observed(&doc, &Marks::default());
    raw(&mut doc, ID, |d, o| {
        d.put(o, AUTHOR, BOB).unwrap();
    });
    assert_eq!(Judge::new(&a, &marks).removed(&view(&doc)), vec![ID.to_string()]);
}

#[test]
fn unsealed_entries_after_sealing_began_are_not_yours_and_older_ones_stay_unsealed() {
    // A space from before seals: an entry of Alice's with no seal at all.
    let mut doc = SpaceDoc::new();
    doc.init_schema().unwrap();
    let old = "0000000000000000000000000000000a";
    let write_unsealed = |doc: &mut SpaceDoc, id: &str, body: &str| {
        let am = doc.automerge();
        let o = am.put_object(ROOT, entry_key(id), ObjType::Map).unwrap();
        am.put(&o, AUTHOR, ALICE).unwrap();
        am.put(&o, DEVICE_FIELD, "laptop").unwrap();
        am.put(&o, KIND, "reflection").unwrap();
        am.put(&o, BODY, body).unwrap();
        am.put(&o, CREATED_AT, ScalarValue::Timestamp(1)).unwrap();
    };
    write_unsealed(&mut doc, old, "written before seals");
    assert_eq!(check(&doc, old), Authenticity::Unsealed, "no marker yet");
    let a = ring(ALICE);
    assert!(doc.begin_sealing(&a.sealer("laptop"), 5).unwrap());
    assert!(!doc.begin_sealing(&a.sealer("laptop"), 6).unwrap(), "once");
    assert_eq!(check(&doc, old), Authenticity::Unsealed, "listed by the marker");
    // A new unsealed entry, however it was written (here in a document with no history,
    // so not causally after anything): not in any marker, so not Alice's.
    let forged = "0000000000000000000000000000000b";
    let mut detached = SpaceDoc::new();
    write_unsealed(&mut detached, forged, "I take it all back");
    doc.load_more(&detached.save()).unwrap();
    assert_eq!(check(&doc, forged), Authenticity::NotYours(Why::Unsealed));
    // Removing the marker does not make it Alice's on a device that knows sealing began.
    let marks = observed(&doc, &Marks::default());
    assert!(marks.began);
    let key = format!("{SEALING}{ALICE}/laptop");
    doc.automerge().delete(ROOT, key.as_str()).unwrap();
    assert_eq!(check_with(&doc, forged, &marks), Authenticity::NotYours(Why::Unsealed));
    // A marker sealed with another key does not count.
    let mut doc2 = SpaceDoc::new();
    doc2.init_schema().unwrap();
    write_unsealed(&mut doc2, old, "written before seals");
    let wrong = Keyring::new(ALICE, SealKey::from_bytes([9; 32]));
    doc2.begin_sealing(&wrong.sealer("laptop"), 5).unwrap();
    write_unsealed(&mut doc2, forged, "forged");
    assert_eq!(
        check(&doc2, forged),
        Authenticity::Unsealed,
        "no marker of Alice's: before seals"
    );
}

#[test]
fn first_format_entries_are_sealed_again_when_a_device_begins_sealing() {
    let mut doc = SpaceDoc::new();
    doc.init_schema().unwrap();
    let id = "0000000000000000000000000000000c";
    let am = doc.automerge();
    let o = am.put_object(ROOT, entry_key(id), ObjType::Map).unwrap();
    am.put(&o, AUTHOR, ALICE).unwrap();
    am.put(&o, DEVICE_FIELD, "laptop").unwrap();
    am.put(&o, KIND, "reflection").unwrap();
    am.put(&o, BODY, "sealed the old way").unwrap();
    am.put(&o, CREATED_AT, ScalarValue::Timestamp(1)).unwrap();
    am.put(&o, EDITED_AT, ScalarValue::Timestamp(1)).unwrap();
    let tags = am.put_object(&o, TAGS_V1, ObjType::List).unwrap();
    am.insert(&tags, 0, "old").unwrap();
    let a = ring(ALICE);
    let e = doc.contents().entries[id].clone();
    let v1 = duo_journal::seal::legacy_v1_seal(a.current(), &e);
    doc.automerge().put(&o, AUTH_V1, v1.as_str()).unwrap();
    assert_eq!(
        check(&doc, id),
        Authenticity::Authentic,
        "first format, before sealing began"
    );
    doc.begin_sealing(&a.sealer("laptop"), 5).unwrap();
    let e = &doc.contents().entries[id];
    assert!(e.seals.is_current_format());
    assert_eq!(e.tags, vec!["old"]);
    assert_eq!(
        check(&doc, id),
        Authenticity::Authentic,
        "sealed again in the current format"
    );
    assert_eq!(doc.schema(), duo_journal::SCHEMA_VERSION);
}

#[test]
fn status_changes_and_replies_in_the_authors_name_must_be_theirs() {
    let mut doc = space_with(&new_entry(ID, Kind::Boundary, "I need Sundays", &[]));
    let a = ring(ALICE);
    let change = |id: &str, status, at| StatusChange {
        id: id.into(),
        entry: ID.into(),
        by: ALICE.into(),
        device: "laptop".into(),
        status,
        at,
        seals: Vec::new(),
    };
    doc.set_boundary_status(&change("c1", Status::Revisit, 10), &a.sealer("laptop"))
        .unwrap();
    assert_eq!(check(&doc, ID), Authenticity::Authentic);
    // A forged change in Alice's name (it would decide the status shown).
    let am = doc.automerge();
    let o = am.put_object(ROOT, format!("{BSTATUS}{ID}/c2"), ObjType::Map).unwrap();
    am.put(&o, BY, ALICE).unwrap();
    am.put(&o, STATUS, "retired").unwrap();
    am.put(&o, AT, ScalarValue::Timestamp(20)).unwrap();
    assert_eq!(doc.contents().entries[ID].status, Some(Status::Retired));
    assert_eq!(check(&doc, ID), Authenticity::NotYours(Why::Altered));

    // Replies: a reflection by Bob, a genuine "confirm" by Alice, and a forged one.
    let mut doc = space_with(&new_entry(ID, Kind::Reflection, "I felt alone", &[]));
    let b = ring(BOB);
    let reply = |id: &str, by: &str, kind, of: Option<&str>| Ack {
        id: id.into(),
        entry: ID.into(),
        by: by.into(),
        device: "d".into(),
        kind,
        at: 10,
        text: (kind == ReplyKind::Reflection).then(|| "what I heard".into()),
        of: of.map(str::to_string),
        seals: Vec::new(),
    };
    doc.put_ack(&reply("r1", BOB, ReplyKind::Reflection, None), &b.sealer("d"))
        .unwrap();
    doc.put_ack(&reply("c1", ALICE, ReplyKind::Confirm, Some("r1")), &a.sealer("d"))
        .unwrap();
    assert!(
        doc.put_ack(&reply("c2", ALICE, ReplyKind::Confirm, Some("r1")), &b.sealer("d"))
            .is_err(),
        "the library writes replies only as their sender"
    );
    let am = doc.automerge();
    let o = am.put_object(ROOT, format!("{ACK}{ID}/c2"), ObjType::Map).unwrap();
    am.put(&o, BY, ALICE).unwrap();
    am.put(&o, KIND, "confirm").unwrap();
    am.put(&o, OF, "r1").unwrap();
    am.put(&o, AT, ScalarValue::Timestamp(11)).unwrap();
    let v = view(&doc);
    let marks = Marks::default();
    let judge = Judge::new(&a, &marks);
    let shown = judge.shown(&v);
    let replies = judge.replies(&v, &shown[0]);
    let answers: Vec<&str> = replies.reflections[0].answers.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(
        answers,
        vec!["c1"],
        "the forged confirmation is not shown on Alice's devices"
    );
}

#[test]
fn replies_past_a_lifted_no_replies_are_hidden_on_the_authors_devices() {
    let mut e = new_entry(ID, Kind::Reflection, "just hold this", &[]);
    e.no_replies = true;
    let mut doc = space_with(&e);
    let b = ring(BOB);
    raw(&mut doc, ID, |d, o| {
        d.put(o, NO_REPLIES, false).unwrap();
    });
    doc.put_ack(
        &Ack {
            id: "l1".into(),
            entry: ID.into(),
            by: BOB.into(),
            device: "d".into(),
            kind: ReplyKind::LetsTalk,
            at: 10,
            text: None,
            of: None,
            seals: Vec::new(),
        },
        &b.sealer("d"),
    )
    .unwrap();
    let v = view(&doc);
    assert_eq!(
        duo_journal::replies(&v.acks, &v.entries[ID]).acks.len(),
        1,
        "the stored flag says off"
    );
    let a = ring(ALICE);
    let marks = Marks::default();
    let judge = Judge::new(&a, &marks);
    let shown = judge.shown(&v);
    assert_eq!(shown[0].check, Some(Authenticity::NotYours(Why::RepliesReopened)));
    assert!(judge.replies(&v, &shown[0]).is_empty());
}

#[test]
fn a_retired_key_confirms_nothing_by_itself() {
    let old = SealKey::from_bytes([1; 32]);
    let old_ring = Keyring::new(ALICE, old.clone());
    let mut doc = space_with(&new_entry(ID, Kind::Reflection, "placeholder", &[]));
    let id2 = "e0000000000000000000000000000002";
    doc.add_entry(
        &new_entry(id2, Kind::Reflection, "sealed with the old key", &[]),
        &old_ring.sealer("laptop"),
    )
    .unwrap();
    let mut after = Keyring::for_tests(ALICE);
    assert_eq!(
        check(&doc, id2),
        Authenticity::NotYours(Why::Altered),
        "a key not in the ring"
    );
    after.add_retired(old);
    let v = view(&doc);
    let marks = Marks::default();
    let s = Judge::new(&after, &marks).check(&v, &v.entries[id2]);
    assert_eq!(s, Some(Authenticity::Unsettled));
}
