//! The merge rules of docs/storage.md ("Concurrent writes: what a merge keeps"), one test
//! per rule: two of Alice's devices (and Bob's) write offline, the documents merge, and
//! every write no later write superseded is there or offered to who can act on it. Real
//! automerge documents and real seals; nothing is mocked.

use duo_journal::{
    Ack, Authenticity, Device, EntryPatch, Judge, Kind, Marks, NewEntry, Person, ReplyKind, SpaceDoc, View,
};

mod support;
use support::*;

fn new_entry(id: &str, body: &str, tags: &[&str]) -> NewEntry {
    alices_entry(id, Kind::Reflection, body, tags)
}

/// The view a reader builds (with the deleted entries' restorable state).
fn view(doc: &mut SpaceDoc) -> View {
    View::new(doc.contents_with_history(None), Default::default())
}

fn body(text: &str, at: i64) -> EntryPatch {
    EntryPatch {
        body: Some(text.into()),
        ..patch(at)
    }
}

fn tags(at: i64, t: &[&str]) -> EntryPatch {
    EntryPatch {
        tags: Some(t.iter().map(|t| t.to_string()).collect()),
        ..patch(at)
    }
}

/// What `person`'s device shows of entry `id`, with its check on the author's device.
fn shown(doc: &mut SpaceDoc, person: &str, id: &str) -> Option<(duo_journal::Entry, Option<Authenticity>)> {
    let v = view(doc);
    let r = ring(person);
    let marks = Marks::default();
    let judge = Judge::new(&r, &marks);
    judge
        .shown(&v)
        .into_iter()
        .find(|s| s.entry.id == id)
        .map(|s| (s.entry.clone(), s.check))
}

#[test]
fn tags_from_two_devices_merge_as_a_set() {
    let a = ring(ALICE);
    let mut laptop = space_with(&new_entry(ID, "words", &["start"]));
    let mut phone = fork(&mut laptop);
    laptop
        .edit_entry(ID, &tags(2_000, &["start", "home"]), &a.sealer("laptop"))
        .unwrap();
    phone
        .edit_entry(ID, &tags(2_001, &["start", "work"]), &a.sealer("phone"))
        .unwrap();
    for mut m in [merged(&mut laptop, &mut phone), merged(&mut phone, &mut laptop)] {
        let (e, check) = shown(&mut m, ALICE, ID).expect("shown");
        assert_eq!(e.tags, ["home", "start", "work"]);
        assert_eq!(check, Some(Authenticity::Authentic), "the merged set of tags verifies");
    }
}

#[test]
fn a_removal_removes_only_what_it_saw() {
    let a = ring(ALICE);
    let mut laptop = space_with(&new_entry(ID, "words", &["old"]));
    let mut phone = fork(&mut laptop);
    // The laptop removes "old"; the phone, not knowing, adds "new" and also adds "old"
    // again (its own value of that tag, which the removal never saw).
    laptop.edit_entry(ID, &tags(2_000, &[]), &a.sealer("laptop")).unwrap();
    phone
        .edit_entry(ID, &tags(2_001, &["new"]), &a.sealer("phone"))
        .unwrap();
    let mut m = merged(&mut laptop, &mut phone);
    let (e, check) = shown(&mut m, ALICE, ID).unwrap();
    assert_eq!(
        e.tags,
        ["new"],
        "the removal took the tag it saw; the addition it did not see stays"
    );
    assert_eq!(check, Some(Authenticity::Authentic));

    // The same tag added on both devices at once: one tag, and a removal that saw both
    // values removes it for good.
    let mut laptop = space_with(&new_entry(ID, "words", &[]));
    let mut phone = fork(&mut laptop);
    laptop
        .edit_entry(ID, &tags(2_000, &["both"]), &a.sealer("laptop"))
        .unwrap();
    phone
        .edit_entry(ID, &tags(2_000, &["both"]), &a.sealer("phone"))
        .unwrap();
    let mut m = merged(&mut laptop, &mut phone);
    assert_eq!(shown(&mut m, ALICE, ID).unwrap().0.tags, ["both"]);
    m.edit_entry(ID, &tags(3_000, &[]), &a.sealer("laptop")).unwrap();
    let (e, check) = shown(&mut m, ALICE, ID).unwrap();
    assert!(
        e.tags.is_empty(),
        "a removal that saw both values removes the tag: {:?}",
        e.tags
    );
    assert_eq!(check, Some(Authenticity::Authentic));

    // A tag added on one device while the other removed it (not knowing): shown.
    let mut laptop = space_with(&new_entry(ID, "words", &["x"]));
    let mut phone = fork(&mut laptop);
    laptop.edit_entry(ID, &tags(2_000, &[]), &a.sealer("laptop")).unwrap();
    phone.edit_entry(ID, &tags(2_000, &[]), &a.sealer("phone")).unwrap();
    phone.edit_entry(ID, &tags(2_500, &["x"]), &a.sealer("phone")).unwrap();
    let mut m = merged(&mut laptop, &mut phone);
    assert_eq!(
        shown(&mut m, ALICE, ID).unwrap().0.tags,
        ["x"],
        "an addition wins over a removal that did not see it"
    );
}

#[test]
fn concurrent_bodies_kept_side_by_side() {
    let a = ring(ALICE);
    let mut laptop = space_with(&new_entry(ID, "first", &[]));
    let mut phone = fork(&mut laptop);
    laptop
        .edit_entry(ID, &body("from the laptop", 2_000), &a.sealer("laptop"))
        .unwrap();
    phone
        .edit_entry(ID, &body("from the phone", 2_000), &a.sealer("phone"))
        .unwrap();
    let mut m = merged(&mut laptop, &mut phone);
    let (e, check) = shown(&mut m, BOB, ID).unwrap();
    let mut both = vec![e.body.clone()];
    both.extend(e.conflicts.clone());
    both.sort();
    assert_eq!(both, ["from the laptop", "from the phone"]);
    assert_eq!(check, None, "Bob does not check Alice's seals");
    assert_eq!(shown(&mut m, ALICE, ID).unwrap().1, Some(Authenticity::Authentic));
}

#[test]
fn an_edit_concurrent_with_a_deletion_is_kept_for_its_author() {
    let a = ring(ALICE);
    let mut laptop = space_with(&new_entry(ID, "first words", &["t"]));
    let mut phone = fork(&mut laptop);
    laptop
        .edit_entry(ID, &body("the words I meant", 2_000), &a.sealer("laptop"))
        .unwrap();
    phone.delete_entry(ID, 2_001, &a.sealer("phone")).unwrap();
    for mut m in [merged(&mut laptop, &mut phone), merged(&mut phone, &mut laptop)] {
        let v = view(&mut m);
        assert!(v.deleted.contains_key(ID), "the deletion holds until the author acts");
        assert!(
            v.restorable.contains(ID),
            "the edit the deletion did not see is kept for restore"
        );
        assert_eq!(v.deleted[ID].body, "the words I meant", "the edit is kept");
        assert!(shown(&mut m, BOB, ID).is_none(), "never shown to the partner");
        assert!(
            shown(&mut m, ALICE, ID).is_none(),
            "not shown as an entry either: listed for restore"
        );
        // Bob cannot restore Alice's entry (he has not her key; the library refuses).
        assert!(m.restore_entry(ID, 3_000, &ring(BOB).sealer("bobs")).is_err());
        m.restore_entry(ID, 3_000, &a.sealer("laptop")).unwrap();
        let (e, check) = shown(&mut m, BOB, ID).expect("restored for both");
        assert_eq!(e.body, "the words I meant");
        assert_eq!(e.tags, ["t"]);
        assert_eq!(
            shown(&mut m, ALICE, ID).unwrap().1,
            Some(Authenticity::Authentic),
            "a restored entry verifies"
        );
        assert!(check.is_none());
        let v = view(&mut m);
        assert!(!v.restorable.contains(ID) && v.entries.contains_key(ID));
    }
}

#[test]
fn a_deletion_that_saw_every_write_is_not_restorable() {
    let a = ring(ALICE);
    let mut laptop = space_with(&new_entry(ID, "words", &["t"]));
    laptop
        .edit_entry(ID, &body("edited", 2_000), &a.sealer("laptop"))
        .unwrap();
    let mut phone = fork(&mut laptop);
    phone.delete_entry(ID, 3_000, &a.sealer("phone")).unwrap();
    let mut m = merged(&mut laptop, &mut phone);
    let v = view(&mut m);
    assert!(v.deleted.contains_key(ID) && v.restorable.is_empty());
    let err = m.restore_entry(ID, 4_000, &a.sealer("laptop")).unwrap_err();
    assert!(err.to_string().contains("a deletion stays a deletion"), "{err}");
    assert!(shown(&mut m, BOB, ID).is_none());
}

#[test]
fn the_restorable_state_survives_an_incremental_refresh() {
    // A sync brings the deletion to the device that edited: the view it refreshes (not
    // rebuilds) must list the entry for restore too.
    let a = ring(ALICE);
    let mut laptop = space_with(&new_entry(ID, "words", &[]));
    let mut phone = fork(&mut laptop);
    laptop
        .edit_entry(ID, &body("edited", 2_000), &a.sealer("laptop"))
        .unwrap();
    phone.delete_entry(ID, 2_001, &a.sealer("phone")).unwrap();
    let before = laptop.heads();
    let mut c = laptop.contents_with_history(None);
    laptop.merge(&mut phone).unwrap();
    laptop.refresh_contents(&mut c, &before);
    assert!(c.deleted.contains_key(ID));
    assert!(c.restorable.contains(ID));
}

#[test]
fn the_space_id_is_the_smallest_of_concurrent_values() {
    let person = Person {
        id: ALICE.into(),
        name: "Alice".into(),
    };
    let dev = |id: &str| Device {
        id: id.into(),
        person: ALICE.into(),
        label: id.into(),
        added_at: 1,
    };
    let mut one = SpaceDoc::new();
    one.init("bbbb", &person, &dev("one")).unwrap();
    let mut two = SpaceDoc::new();
    two.init("aaaa", &person, &dev("two")).unwrap();
    let mut three = SpaceDoc::new();
    three.init("cccc", &person, &dev("three")).unwrap();
    // Every order of merging: the same id everywhere.
    for (x, y) in [(0, 1), (1, 0), (0, 2), (2, 1)] {
        let mut docs = [fork(&mut one), fork(&mut two), fork(&mut three)];
        let mut other = fork(&mut docs[y]);
        docs[x].merge(&mut other).unwrap();
        let c = docs[x].contents();
        assert_eq!(c.space_id, c.space_ids.first().cloned());
        assert_eq!(c.space_ids.len(), 2);
        assert_eq!(
            c.space_id.as_deref(),
            Some(if x == 2 || y == 2 {
                if x == 1 || y == 1 { "aaaa" } else { "bbbb" }
            } else {
                "aaaa"
            })
        );
    }
    // A joiner that adopts the inviter's id first: after the merge there is one id.
    let mut joiner = fork(&mut three);
    assert!(joiner.adopt_space_id("bbbb").unwrap());
    assert!(
        !joiner.adopt_space_id("bbbb").unwrap(),
        "adopting again changes nothing"
    );
    let mut inviter = fork(&mut one);
    for m in [merged(&mut inviter, &mut joiner), merged(&mut joiner, &mut inviter)] {
        let c = m.contents();
        assert_eq!(c.space_ids, ["bbbb"]);
        assert_eq!(c.space_id.as_deref(), Some("bbbb"));
    }
}

#[test]
fn no_replies_on_when_any_device_turned_it_on() {
    let a = ring(ALICE);
    let mut laptop = space_with(&new_entry(ID, "words", &[]));
    let mut phone = fork(&mut laptop);
    laptop.set_no_replies(ID, true, 2_000, &a.sealer("laptop")).unwrap();
    phone.edit_entry(ID, &tags(2_000, &["x"]), &a.sealer("phone")).unwrap();
    let mut m = merged(&mut laptop, &mut phone);
    let (e, check) = shown(&mut m, ALICE, ID).unwrap();
    assert!(e.no_replies && e.tags == ["x"]);
    assert_eq!(check, Some(Authenticity::Authentic));
}

#[test]
fn concurrent_replies_all_kept() {
    let mut laptop = space_with(&new_entry(ID, "words", &[]));
    let mut bobs = fork(&mut laptop);
    let mut bobs_phone = fork(&mut laptop);
    let b = ring(BOB);
    let ack = |id: &str, kind, text: Option<&str>, at| Ack {
        id: id.into(),
        entry: ID.into(),
        by: BOB.into(),
        device: "bobs".into(),
        kind,
        at,
        text: text.map(str::to_string),
        of: None,
        seals: Vec::new(),
    };
    bobs.put_ack(&ack("r1", ReplyKind::Heard, None, 2_000), &b.sealer("bobs"))
        .unwrap();
    bobs_phone
        .put_ack(
            &ack("r2", ReplyKind::Reflection, Some("what I heard"), 2_000),
            &b.sealer("bobs"),
        )
        .unwrap();
    let mut m = merged(&mut bobs, &mut bobs_phone);
    m.merge(&mut laptop).unwrap();
    let v = view(&mut m);
    let keys: Vec<&String> = v.acks.keys().collect();
    assert_eq!(keys, [&format!("{ID}/r1"), &format!("{ID}/r2")]);
}

#[test]
fn concurrent_together_answers_both_kept() {
    let a = ring(ALICE);
    let mut laptop = space_with(&new_entry(ID, "words", &[]));
    let mut phone = fork(&mut laptop);
    let answer = |id: &str, body: &str| NewEntry {
        prompt: Some("p-together-1".into()),
        ..new_entry(id, body, &[])
    };
    laptop
        .add_entry(
            &answer("a0000000000000000000000000000001", "from the laptop"),
            &a.sealer("laptop"),
        )
        .unwrap();
    phone
        .add_entry(
            &answer("a0000000000000000000000000000002", "from the phone"),
            &a.sealer("phone"),
        )
        .unwrap();
    let mut m = merged(&mut laptop, &mut phone);
    let v = view(&mut m);
    let answers: Vec<&str> = v
        .entries
        .values()
        .filter(|e| e.prompt.as_deref() == Some("p-together-1"))
        .map(|e| e.body.as_str())
        .collect();
    assert_eq!(answers, ["from the laptop", "from the phone"]);
}

#[test]
fn concurrent_status_changes_shown_side_by_side() {
    use duo_journal::{Status, StatusChange};
    let a = ring(ALICE);
    let boundary = NewEntry {
        kind: Kind::Boundary,
        ..new_entry(ID, "an hour alone after work", &[])
    };
    let mut laptop = space_with(&boundary);
    let mut phone = fork(&mut laptop);
    let change = |id: &str, status, device: &str, at| StatusChange {
        id: id.into(),
        entry: ID.into(),
        by: ALICE.into(),
        device: device.into(),
        status,
        at,
        seals: Vec::new(),
    };
    laptop
        .set_boundary_status(&change("c1", Status::Retired, "laptop", 2_000), &a.sealer("laptop"))
        .unwrap();
    phone
        .set_boundary_status(&change("c2", Status::Revisit, "phone", 2_001), &a.sealer("phone"))
        .unwrap();
    let mut m = merged(&mut laptop, &mut phone);
    for person in [ALICE, BOB] {
        let (e, _) = shown(&mut m, person, ID).unwrap();
        assert_eq!(
            e.status_versions(),
            [Status::Retired, Status::Revisit],
            "both kept, side by side"
        );
    }
    assert_eq!(shown(&mut m, ALICE, ID).unwrap().1, Some(Authenticity::Authentic));
    assert_eq!(
        view(&mut m).status_changes.len(),
        2,
        "both changes are in the boundary's history"
    );
    // The author settles it with a change made knowing both.
    m.set_boundary_status(&change("c3", Status::Active, "laptop", 3_000), &a.sealer("laptop"))
        .unwrap();
    let (e, check) = shown(&mut m, ALICE, ID).unwrap();
    assert!(e.status_versions().is_empty());
    assert_eq!(e.status, Some(Status::Active));
    assert_eq!(check, Some(Authenticity::Authentic));
}

#[test]
fn a_pause_made_while_another_device_resumed_stays() {
    use automerge::ROOT;
    use automerge::transaction::Transactable;
    let key = format!("{}communication/{ALICE}", duo_journal::schema::PAUSE);
    let mut laptop = space_with(&new_entry(ID, "words", &[]));
    laptop
        .automerge()
        .put(ROOT, key.as_str(), automerge::ScalarValue::Timestamp(1_000))
        .unwrap();
    let mut phone = fork(&mut laptop);
    // The laptop resumes the theme (removes the pause it saw); the phone, not knowing,
    // pauses it again.
    laptop.automerge().delete(ROOT, key.as_str()).unwrap();
    phone
        .automerge()
        .put(ROOT, key.as_str(), automerge::ScalarValue::Timestamp(2_000))
        .unwrap();
    for mut m in [merged(&mut laptop, &mut phone), merged(&mut phone, &mut laptop)] {
        let state = duo_journal::practice::State::read(&mut m);
        assert!(
            state.paused().contains("communication"),
            "the pause the resume did not see stays"
        );
    }
}

// ---- Replies written while "no replies" was on never appear later (held/<entry>/<lift>) ----

fn reply(id: &str, by: &str, kind: ReplyKind, text: Option<&str>, of: Option<&str>, at: i64) -> Ack {
    Ack {
        id: id.into(),
        entry: ID.into(),
        by: by.into(),
        device: if by == BOB { "bobs" } else { "laptop" }.into(),
        kind,
        at,
        text: text.map(str::to_string),
        of: of.map(str::to_string),
        seals: Vec::new(),
    }
}

fn bobs_reflection(id: &str, at: i64) -> Ack {
    reply(id, BOB, ReplyKind::Reflection, Some("what I heard"), None, at)
}

/// The reply ids `person`'s device shows under the entry (checked by `person`'s judge),
/// and those a reader's view shows without a judge.
fn shown_replies(v: &View, person: &str) -> (Vec<String>, Vec<String>) {
    let r = ring(person);
    let marks = Marks::default();
    let judge = Judge::new(&r, &marks);
    let shown = judge.shown(v).into_iter().find(|s| s.entry.id == ID).expect("shown");
    let ids = |r: duo_journal::Replies<'_>| {
        let mut out: Vec<String> = r.acks.iter().map(|a| a.id.clone()).collect();
        for x in &r.reflections {
            out.push(x.reflection.id.clone());
            out.extend(x.answers.iter().map(|a| a.id.clone()));
        }
        out.sort();
        out
    };
    (ids(judge.replies(v, &shown)), ids(v.replies(shown.entry)))
}

/// Both people's devices show exactly `ids` under the entry.
fn both_show(v: &View, ids: &[&str], what: &str) {
    for person in [ALICE, BOB] {
        let (judged, plain) = shown_replies(v, person);
        assert_eq!(judged, ids, "{what}: {person}'s device");
        assert_eq!(plain, ids, "{what}: {person}'s view");
    }
}

/// `doc`'s contents brought up to date by `f` incrementally (as a sync refreshes the
/// stored view), checked against a full rebuild.
fn refreshed(doc: &mut SpaceDoc, f: impl FnOnce(&mut SpaceDoc)) -> View {
    let before = doc.heads();
    let mut c = doc.contents_with_history(None);
    f(doc);
    doc.refresh_contents(&mut c, &before);
    let full = doc.contents_with_history(None);
    assert_eq!(
        c.held, full.held,
        "the incremental refresh judges replies as a rebuild does"
    );
    assert_eq!(c.holds, full.holds);
    View::new(c, Default::default())
}

#[test]
fn a_reply_concurrent_with_no_replies_stays_hidden_after_the_lift() {
    let (a, b) = (ring(ALICE), ring(BOB));
    let mut laptop = space_with(&new_entry(ID, "words", &[]));
    let mut bobs = fork(&mut laptop);
    // Alice marks "no replies"; Bob, offline, has not received it and reflects.
    laptop.set_no_replies(ID, true, 2_000, &a.sealer("laptop")).unwrap();
    bobs.put_ack(&bobs_reflection("r1", 2_001), &b.sealer("bobs")).unwrap();
    // They sync: the mark is on, nothing shows (as before).
    let mut alices = merged(&mut laptop, &mut bobs);
    let mut bobs = merged(&mut bobs, &mut laptop);
    both_show(&view(&mut alices), &[], "while the mark is on");
    // Alice lifts it; Bob's device receives the lift (incrementally, as a sync does).
    alices.set_no_replies(ID, false, 3_000, &a.sealer("laptop")).unwrap();
    both_show(&view(&mut alices), &[], "after the lift, on Alice's device (rebuilt)");
    let v = refreshed(&mut bobs, |d| d.merge(&mut fork(&mut alices)).unwrap());
    both_show(&v, &[], "after the lift, on Bob's device (refreshed)");
    both_show(&view(&mut bobs), &[], "after the lift, on Bob's device (rebuilt)");
    assert!(!v.entries[ID].no_replies, "the mark is lifted");
    assert_eq!(v.holds.len(), 1, "the lift is recorded");
    assert!(
        v.acks.contains_key(&format!("{ID}/r1")),
        "the reply is kept in the document"
    );

    // A device that lifted before the concurrent reply reached it: the reply arriving later
    // is judged when it arrives.
    let mut laptop2 = space_with(&new_entry(ID, "words", &[]));
    let mut bobs2 = fork(&mut laptop2);
    laptop2.set_no_replies(ID, true, 2_000, &a.sealer("laptop")).unwrap();
    laptop2.set_no_replies(ID, false, 3_000, &a.sealer("laptop")).unwrap();
    bobs2.put_ack(&bobs_reflection("r1", 2_001), &b.sealer("bobs")).unwrap();
    let v = refreshed(&mut laptop2, |d| d.merge(&mut bobs2).unwrap());
    both_show(&v, &[], "a concurrent reply arriving after the lift (refreshed)");
    both_show(
        &view(&mut laptop2),
        &[],
        "a concurrent reply arriving after the lift (rebuilt)",
    );
}

#[test]
fn a_reply_written_before_no_replies_shows_again_after_the_lift() {
    let (a, b) = (ring(ALICE), ring(BOB));
    let mut laptop = space_with(&new_entry(ID, "words", &[]));
    let mut bobs = fork(&mut laptop);
    bobs.put_ack(&bobs_reflection("r1", 2_000), &b.sealer("bobs")).unwrap();
    laptop.merge(&mut fork(&mut bobs)).unwrap();
    // Alice had the reply when she marked "no replies": it was written before. Bob's next
    // one was not (he had not received the mark).
    laptop.set_no_replies(ID, true, 3_000, &a.sealer("laptop")).unwrap();
    bobs.put_ack(&bobs_reflection("r2", 3_001), &b.sealer("bobs")).unwrap();
    laptop.merge(&mut fork(&mut bobs)).unwrap();
    both_show(&view(&mut laptop), &[], "while the mark is on");
    laptop.set_no_replies(ID, false, 4_000, &a.sealer("laptop")).unwrap();
    both_show(&view(&mut laptop), &["r1"], "after the lift");
    let v = refreshed(&mut bobs, |d| d.merge(&mut fork(&mut laptop)).unwrap());
    both_show(&v, &["r1"], "after the lift, on Bob's device (refreshed)");
}

#[test]
fn a_reply_written_after_the_lift_shows() {
    let (a, b) = (ring(ALICE), ring(BOB));
    let mut laptop = space_with(&new_entry(ID, "words", &[]));
    let mut bobs = fork(&mut laptop);
    laptop.set_no_replies(ID, true, 2_000, &a.sealer("laptop")).unwrap();
    bobs.put_ack(&bobs_reflection("r1", 2_001), &b.sealer("bobs")).unwrap();
    laptop.merge(&mut bobs).unwrap();
    laptop.set_no_replies(ID, false, 3_000, &a.sealer("laptop")).unwrap();
    // Bob receives the lift, then replies: written knowing the mark was lifted.
    bobs.merge(&mut fork(&mut laptop)).unwrap();
    bobs.put_ack(&bobs_reflection("r2", 4_000), &b.sealer("bobs")).unwrap();
    bobs.put_ack(
        &reply("h2", BOB, ReplyKind::Heard, None, None, 4_001),
        &b.sealer("bobs"),
    )
    .unwrap();
    both_show(&view(&mut bobs), &["h2", "r2"], "on Bob's device");
    let v = refreshed(&mut laptop, |d| d.merge(&mut fork(&mut bobs)).unwrap());
    both_show(&v, &["h2", "r2"], "on Alice's device (refreshed)");
    // Alice turns it on and lifts it again: the replies written before stay shown, and a
    // second lift is recorded beside the first.
    laptop.set_no_replies(ID, true, 5_000, &a.sealer("laptop")).unwrap();
    laptop.set_no_replies(ID, false, 6_000, &a.sealer("laptop")).unwrap();
    let v = view(&mut laptop);
    assert_eq!(v.holds.len(), 2);
    both_show(&v, &["h2", "r2"], "after a second lift");
}

#[test]
fn a_lift_record_the_author_did_not_seal_is_ignored_on_the_authors_devices() {
    use automerge::transaction::Transactable;
    use automerge::{ROOT, ReadDoc};
    use duo_journal::schema::{AT, BY, DEVICE_FIELD, ENDED, HELD, SEAL};
    let (a, b) = (ring(ALICE), ring(BOB));
    let mut laptop = space_with(&new_entry(ID, "words", &[]));
    let mut bobs = fork(&mut laptop);
    bobs.put_ack(&bobs_reflection("r1", 2_000), &b.sealer("bobs")).unwrap();
    laptop.merge(&mut bobs).unwrap();
    laptop.set_no_replies(ID, true, 3_000, &a.sealer("laptop")).unwrap();
    laptop.set_no_replies(ID, false, 4_000, &a.sealer("laptop")).unwrap();
    // Alice confirms Bob's reflection after the lift.
    let confirm = reply("c1", ALICE, ReplyKind::Confirm, None, Some("r1"), 5_000);
    laptop.put_ack(&confirm, &a.sealer("laptop")).unwrap();
    both_show(&view(&mut laptop), &["c1", "r1"], "before the forgery");
    let ended = view(&mut laptop).holds.values().next().unwrap().ended.clone();
    // Bob's modified client, knowing all that, forges a lift in Alice's name (and one in
    // his own) naming her switch-on: made after her answer, it would hide it.
    let mut forged = fork(&mut laptop);
    for (lift, by) in [("f1", ALICE), ("f2", BOB)] {
        let doc = forged.automerge();
        let o = doc
            .put_object(ROOT, format!("{HELD}{ID}/{lift}"), automerge::ObjType::Map)
            .unwrap();
        doc.put(&o, BY, by).unwrap();
        doc.put(&o, DEVICE_FIELD, "bobs").unwrap();
        doc.put(&o, AT, automerge::ScalarValue::Timestamp(6_000)).unwrap();
        doc.put(&o, ENDED, ended.join("\n")).unwrap();
        doc.put(&o, SEAL, format!("s2.00000000.1.{}", "0".repeat(32))).unwrap();
    }
    let v = refreshed(&mut laptop, |d| d.merge(&mut forged).unwrap());
    assert!(
        v.held[&format!("{ID}/c1")].contains(&format!("{ID}/f1")),
        "the forged lift would hold the answer"
    );
    assert!(v.holds.contains_key(&format!("{ID}/f1")) && v.holds.contains_key(&format!("{ID}/f2")));
    let (judged, _) = shown_replies(&v, ALICE);
    assert_eq!(
        judged,
        ["c1", "r1"],
        "Alice's device ignores a lift her keys do not cover"
    );
    // A lift in Bob's name counts nowhere; only Alice's own devices can check hers.
    let (_, plain) = shown_replies(&v, BOB);
    assert_eq!(plain, ["r1"], "a reader without Alice's keys takes a lift in her name");
    // The lift record is in the document: Alice's device remembers it, and a removal of it
    // (to let held replies through) makes the entry "not yours" with nothing shown under it.
    let mut laptop3 = space_with(&new_entry(ID, "words", &[]));
    let mut bobs3 = fork(&mut laptop3);
    laptop3.set_no_replies(ID, true, 2_000, &a.sealer("laptop")).unwrap();
    bobs3.put_ack(&bobs_reflection("r9", 2_001), &b.sealer("bobs")).unwrap();
    laptop3.merge(&mut bobs3).unwrap();
    laptop3.set_no_replies(ID, false, 3_000, &a.sealer("laptop")).unwrap();
    let v = view(&mut laptop3);
    let marks = Judge::new(&a, &Marks::default()).observe(&v);
    let key = format!("{HELD}{}", v.holds.keys().next().unwrap());
    assert!(laptop3.automerge().get(ROOT, key.as_str()).unwrap().is_some());
    laptop3.automerge().delete(ROOT, key.as_str()).unwrap();
    let v = view(&mut laptop3);
    let judge = Judge::new(&a, &marks);
    let shown = judge.shown(&v).into_iter().find(|s| s.entry.id == ID).unwrap();
    assert_eq!(
        shown.check,
        Some(Authenticity::NotYours(duo_journal::Why::RepliesReopened))
    );
    assert!(judge.replies(&v, &shown).is_empty(), "the held reply stays hidden");
}
