//! Seals made with a person key that a rotation retired, judged by when they were written
//! relative to the rotation (the change graph says): before it, they count as they did;
//! concurrently, they are unconfirmed until the device that wrote them seals them again;
//! after it (a copy of a revoked device that learnt of the rotation), they are not yours.

use duo_journal::{
    Authenticity, Judge, Keyring, Kind, Marks, NewEntry, Person, Rotation, SealKey, SpaceDoc, View, Why,
};

const ALICE: &str = "a11ce000000000000000000000000000";

fn entry(id: &str, device: &str, body: &str) -> NewEntry {
    NewEntry {
        id: id.into(),
        kind: Kind::Reflection,
        author: ALICE.into(),
        device: device.into(),
        created_at: 1_000,
        edited_at: 1_000,
        body: body.into(),
        tags: vec!["t".into()],
        status: None,
        no_replies: false,
        prompt: None,
    }
}

fn commit(doc: &mut SpaceDoc) {
    doc.automerge().commit();
}

fn view(doc: &mut SpaceDoc) -> View {
    View::new(doc.contents_with_history(None), Default::default())
}

#[test]
fn retired_key_seals_count_by_when_they_were_written() {
    let old = SealKey::from_bytes([1; 32]);
    let new = SealKey::from_bytes([2; 32]);
    let old_ring = Keyring::new(ALICE, old.clone());
    let mut doc = SpaceDoc::new();
    let alice = Person {
        id: ALICE.into(),
        name: "Alice".into(),
    };
    let laptop = duo_journal::Device {
        id: "laptop".into(),
        person: ALICE.into(),
        label: "laptop".into(),
        added_at: 1,
    };
    doc.init("space", &alice, &laptop).unwrap();
    doc.begin_sealing(&old_ring.sealer("laptop"), 1).unwrap();
    doc.add_entry(
        &entry("e1", "laptop", "before the rotation"),
        &old_ring.sealer("laptop"),
    )
    .unwrap();
    commit(&mut doc);
    // The tablet, offline, writes with the old key; the copy of the phone does later.
    let mut tablet = SpaceDoc::load(&doc.save()).unwrap();
    tablet
        .add_entry(&entry("e2", "tablet", "concurrent with it"), &old_ring.sealer("tablet"))
        .unwrap();
    commit(&mut tablet);
    doc.put_rotation(&Rotation {
        person: ALICE.into(),
        key: new.id().to_string(),
        retires: old.id().to_string(),
        by: "laptop".into(),
        at: 2,
        sig: "not checked here".into(),
        keys: Default::default(),
    })
    .unwrap();
    commit(&mut doc);
    doc.add_entry(&entry("e3", "phone", "after it, by a copy"), &old_ring.sealer("phone"))
        .unwrap();
    commit(&mut doc);
    doc.merge(&mut tablet).unwrap();

    let mut ring = Keyring::new(ALICE, new.clone());
    ring.add_retired(old.clone());
    let marks = Marks::default();
    let judge = Judge::new(&ring, &marks);
    let v = view(&mut doc);
    let check = |v: &View, id: &str| judge.check(v, &v.entries[id]);
    assert_eq!(check(&v, "e1"), Some(Authenticity::Authentic));
    assert_eq!(check(&v, "e2"), Some(Authenticity::Unsettled));
    assert_eq!(check(&v, "e3"), Some(Authenticity::NotYours(Why::RetiredKey)));
    // Without the rotation record, all three are merely sealed with a retired key.
    let plain = View::new(doc.contents(), Default::default());
    assert_eq!(check(&plain, "e3"), Some(Authenticity::Unsettled));

    // The tablet, once it has the new key, seals its own entry again; nothing else.
    let resealed = doc.reseal_after_rotation(&ring.sealer("tablet"), 3).unwrap();
    assert_eq!(resealed, 1);
    assert_eq!(doc.reseal_after_rotation(&ring.sealer("phone"), 3).unwrap(), 0);
    commit(&mut doc);
    let v = view(&mut doc);
    assert_eq!(check(&v, "e2"), Some(Authenticity::Authentic));
    assert_eq!(check(&v, "e3"), Some(Authenticity::NotYours(Why::RetiredKey)));
    assert_eq!(check(&v, "e1"), Some(Authenticity::Authentic));

    // Brought up to date change by change, as a sync does, the same.
    let mut early = SpaceDoc::load(&doc.save()).unwrap();
    let known = early.contents_with_history(None).records;
    let mut later = SpaceDoc::load(&doc.save()).unwrap();
    later
        .add_entry(&entry("e4", "phone", "another by the copy"), &old_ring.sealer("phone"))
        .unwrap();
    commit(&mut later);
    let v = View::new(later.contents_with_history(Some(known)), Default::default());
    assert_eq!(check(&v, "e4"), Some(Authenticity::NotYours(Why::RetiredKey)));
    assert_eq!(check(&v, "e1"), Some(Authenticity::Authentic));
}
