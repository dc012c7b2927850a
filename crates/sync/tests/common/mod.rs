//! Helpers shared by the duo-sync test binaries and the sync benchmark: devices in
//! temporary homes, introducing them to each other as pairing would, writing and reading
//! entries. (Each test binary uses a subset.)
#![allow(dead_code)]

use duo_journal::{Device, Kind, NewEntry, Person};
use duo_sync::{Home, Opened};

/// A device set up as `name` in a temporary home (kept while the `TempDir` lives).
pub fn device(name: &str) -> (tempfile::TempDir, Opened) {
    let dir = tempfile::tempdir().unwrap();
    let opened = Home::new(dir.path().join("home")).init(name, "laptop", 1_000).unwrap();
    (dir, opened)
}

/// Make `a` know `b`'s person and device (what pairing does).
pub fn introduce(a: &Opened, b: &Opened) {
    let person = Person {
        id: b.config.person_id.clone(),
        name: b.config.name.clone(),
    };
    let dev = Device {
        id: b.config.device_id.clone(),
        person: b.config.person_id.clone(),
        label: "laptop".into(),
        added_at: 1,
    };
    a.space.update(|doc| doc.restore_identity(&person, &dev)).unwrap();
}

/// A new reflection by `o`'s person on `o`'s device.
pub fn new_entry(o: &Opened, body: &str) -> NewEntry {
    NewEntry {
        id: duo_journal::new_id(),
        kind: Kind::Reflection,
        author: o.config.person_id.clone(),
        device: o.config.device_id.clone(),
        created_at: 5,
        edited_at: 5,
        body: body.into(),
        tags: vec![],
        status: None,
    }
}

/// Write an entry into `o`'s shared space; returns its id.
pub fn write(o: &Opened, body: &str) -> String {
    let e = new_entry(o, body);
    let id = e.id.clone();
    o.space.add(&[e]).unwrap();
    id
}

/// The bodies in `o`'s shared space, sorted.
pub fn bodies(o: &Opened) -> Vec<String> {
    let mut v: Vec<String> = o
        .space
        .read()
        .unwrap()
        .view
        .entries
        .values()
        .map(|e| e.body.clone())
        .collect();
    v.sort();
    v
}
