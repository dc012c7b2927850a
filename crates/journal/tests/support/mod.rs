//! What the journal's test files share: two people, an entry of Alice's, a space with
//! Alice's laptop sealing, and copies of a document as other devices hold them.
#![allow(dead_code)]

use duo_journal::{Device, EntryPatch, Keyring, Kind, NewEntry, Person, SpaceDoc};

pub const ALICE: &str = "a11ce000000000000000000000000000";
pub const BOB: &str = "b0b00000000000000000000000000000";
pub const ID: &str = "e0000000000000000000000000000001";

pub fn ring(person: &str) -> Keyring {
    Keyring::for_tests(person)
}

/// An entry of Alice's, written on her laptop at 1,000.
pub fn alices_entry(id: &str, kind: Kind, body: &str, tags: &[&str]) -> NewEntry {
    NewEntry {
        id: id.into(),
        kind,
        author: ALICE.into(),
        device: "laptop".into(),
        created_at: 1_000,
        edited_at: 1_000,
        body: body.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        status: None,
        no_replies: false,
        prompt: None,
    }
}

/// A space with Alice (and her laptop), her laptop sealing, and one entry of hers.
pub fn space_with(e: &NewEntry) -> SpaceDoc {
    let mut doc = SpaceDoc::new();
    let alice = Person {
        id: ALICE.into(),
        name: "Alice".into(),
    };
    let laptop = Device {
        id: "laptop".into(),
        person: ALICE.into(),
        label: "laptop".into(),
        added_at: 1,
    };
    doc.init("space", &alice, &laptop).unwrap();
    let a = ring(ALICE);
    doc.begin_sealing(&a.sealer("laptop"), 1).unwrap();
    doc.add_entry(e, &a.sealer("laptop")).unwrap();
    doc
}

/// Another device's copy (its own actor, as another process would have).
pub fn fork(doc: &mut SpaceDoc) -> SpaceDoc {
    SpaceDoc::load(&doc.save()).unwrap()
}

/// `a` and `b` merged, in a new copy.
pub fn merged(a: &mut SpaceDoc, b: &mut SpaceDoc) -> SpaceDoc {
    let mut m = fork(a);
    m.merge(b).unwrap();
    m
}

/// A patch that changes nothing yet, written at `at`.
pub fn patch(at: i64) -> EntryPatch {
    EntryPatch {
        edited_at: at,
        ..Default::default()
    }
}
