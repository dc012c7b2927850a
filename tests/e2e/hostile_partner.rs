//! The hostile partner harness: a modified client that holds only its own device's keys
//! (never the victim's person key) and writes whatever it likes, then lets the victim's
//! real `duo` sync with it.
//!
//! - [`Hostile::raw`] writes raw automerge operations into the hostile device's own store,
//!   bypassing every check and seal of duo's library, exactly as a patched `duo` could.
//! - [`Hostile::serve`] runs the real `duo sync --watch` on the hostile home, so what the
//!   victim receives is what crossed a real, encrypted iroh connection.
//!
//! Attacks that need crafted pairing introductions or crafted sync frames add their
//! helpers below, each documented with the attack it plays (docs/security.md, "Attacks
//! played against duo", lists them with their tests).

use crate::harness::*;
use automerge::AutoCommit;
use duo_sync::Home;
use std::time::Duration;

/// A device whose owner runs a modified client. Wraps an ordinary, paired test device.
pub struct Hostile<'a> {
    pub dev: &'a Device,
}

impl<'a> Hostile<'a> {
    pub fn new(dev: &'a Device) -> Self {
        Hostile { dev }
    }

    /// Write raw automerge operations into the hostile device's own shared space, as one
    /// change stored like any other (durably, in the device's own age files).
    pub fn raw(&self, f: impl FnOnce(&mut AutoCommit)) {
        let opened = Home::new(self.dev.home()).open().expect("open the hostile home");
        let mut f = Some(f);
        opened
            .space
            .update(|doc| {
                (f.take().expect("called once"))(doc.automerge());
                Ok(())
            })
            .expect("the hostile write is stored");
    }

    /// The hostile device stays online (`duo sync --watch`) until the returned process is
    /// dropped.
    pub fn serve(&self) -> Bg {
        let mut watch = self.dev.spawn(&["sync", "--watch"]);
        watch.wait_for("Online", Duration::from_secs(60));
        watch
    }

    /// The victim runs a real `duo sync` against the serving hostile device; returns its
    /// `--json` report.
    pub fn sync_victim(&self, victim: &Device) -> serde_json::Value {
        let _watch = self.serve();
        let report = victim.run(&["sync", "--json"]).json();
        assert_eq!(report["reached"], 1, "the victim reached the hostile device: {report}");
        report
    }
}

/// The id of a root key's map in `doc` (e.g. `entry/<id>`), for raw edits.
pub fn root_map(doc: &AutoCommit, key: &str) -> automerge::ObjId {
    use automerge::ReadDoc;
    match doc.get(automerge::ROOT, key).expect("read the document") {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("{key} is not a map in the document: {other:?}"),
    }
}

#[test]
fn the_harness_writes_raw_data_that_reaches_the_victim_through_a_real_sync() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let id = bob.add("A line Bob wrote honestly", &[]);
    let hostile = Hostile::new(&bob);
    hostile.raw(|doc| {
        use automerge::transaction::Transactable;
        let obj = root_map(doc, &format!("entry/{id}"));
        doc.put(&obj, "body", "A line the modified client put there").unwrap();
    });
    hostile.sync_victim(&alice);
    let shown = alice.run(&["journal", "show", &id[..8], "--json"]).json();
    assert_eq!(shown["body"], "A line the modified client put there", "{shown}");
}

// ---------------------------------------------------------------------------------------
// Seals (docs/security.md, "What an entry's seal covers"): what a modified client writes
// into an entry's map, and what it kept of an entry it once received.

impl Hostile<'_> {
    /// The hostile device's view of its space, as its own duo reads it (to copy a seal it
    /// once received, before the author changed the entry).
    pub fn view(&self) -> duo_journal::View {
        let opened = Home::new(self.dev.home()).open().expect("open the hostile home");
        opened.space.read().expect("read the hostile space").view
    }

    /// Write raw into the map of entry `id` (`entry/<id>`).
    pub fn raw_entry(&self, id: &str, f: impl FnOnce(&mut AutoCommit, &automerge::ObjId)) {
        let key = duo_journal::schema::entry_key(id);
        self.raw(|doc| {
            let obj = root_map(doc, &key);
            f(doc, &obj)
        });
    }
}
