//! What the journal's test files share: two people, an entry of Alice's, a space with
//! Alice's laptop sealing, and copies of a document as other devices hold them; and for the
//! store and convergence tests, "space-1" with p1 (Alice) on device d1, and p1's entries.
#![allow(dead_code)]

use duo_journal::{Device, EntryPatch, JournalError, Keyring, Kind, NewEntry, Person, Sealer, SpaceDoc};
use std::sync::LazyLock;

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

// ---------------------------------------------------------------------------------------
// "space-1": p1 (Alice) on her laptop d1, and p2 on d2 (the store and convergence tests)

/// The keys of p1 and p2, made once.
static RINGS: LazyLock<[Keyring; 2]> = LazyLock::new(|| [Keyring::for_tests("p1"), Keyring::for_tests("p2")]);

/// What person `p` (1 or 2) writes with, on their device `d<p>`.
pub fn by(p: usize) -> Sealer<'static> {
    RINGS[p - 1].sealer(["d1", "d2"][p - 1])
}

/// Start "space-1" in `doc`: p1, named Alice, with device d1 (a laptop).
pub fn init(doc: &mut SpaceDoc) -> Result<(), JournalError> {
    doc.init(
        "space-1",
        &Person {
            id: "p1".into(),
            name: "Alice".into(),
        },
        &Device {
            id: "d1".into(),
            person: "p1".into(),
            label: "laptop".into(),
            added_at: 1,
        },
    )
}

/// An entry of p1's, written on d1 at `created_at`.
pub fn new_entry(id: &str, kind: Kind, body: &str, tags: Vec<String>, created_at: i64) -> NewEntry {
    NewEntry {
        id: id.to_string(),
        kind,
        author: "p1".into(),
        device: "d1".into(),
        created_at,
        edited_at: created_at,
        body: body.to_string(),
        tags,
        status: None,
        no_replies: false,
        prompt: None,
    }
}

/// A patch setting the body to `body`, written at `t`.
pub fn body_patch(body: &str, t: i64) -> EntryPatch {
    EntryPatch {
        body: Some(body.into()),
        edited_at: t,
        ..Default::default()
    }
}
