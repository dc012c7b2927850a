//! What the crate's unit tests share: a journal in memory with one entry of Alice's.

use crate::{Device, Journal, Keyring, Kind, MemStorage, NewEntry, Person};

/// A journal of space "s" with Alice (person `pa`, device `da`) and one entry of hers,
/// written at 1 and sealed by her key; with the entry's id.
pub(crate) fn journal_with_entry(kind: Kind, body: &str, no_replies: bool) -> (Journal<MemStorage>, String) {
    let j = Journal::new(MemStorage::new());
    let alice = Person {
        id: "pa".into(),
        name: "Alice".into(),
    };
    let dev = Device {
        id: "da".into(),
        person: "pa".into(),
        label: "l".into(),
        added_at: 0,
    };
    j.create(|d| d.init("s", &alice, &dev)).unwrap();
    let id = crate::new_id();
    let e = NewEntry {
        id: id.clone(),
        kind,
        author: "pa".into(),
        device: "da".into(),
        created_at: 1,
        edited_at: 1,
        body: body.into(),
        tags: vec![],
        status: None,
        no_replies,
        prompt: None,
    };
    let ring = Keyring::for_tests("pa");
    j.add(&[e], &ring.sealer("da")).unwrap();
    (j, id)
}
