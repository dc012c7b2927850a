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
use duo_device::Home;
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

// ---- Revocation, restores, names and device records (docs/security.md: "A revoked
// device's keys, and person-key rotation", "Restores and backups", "Names and device
// records"). A copy of a device, records written as duo writes them, and changes made on
// an earlier state of the document (concurrent with everything written since). ----

/// A thief's copy of `d`: its whole home, as a copy of the device's disk has it (the same
/// keys, the same trust file, the same person key).
pub fn copy_of(d: &Device) -> Device {
    let copy = Device::blank();
    for file in files_under(&d.home()) {
        let to = copy.home().join(file.strip_prefix(d.home()).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap();
    }
    copy
}

/// This device's person id and device id.
pub fn ids_of(d: &Device) -> (String, String) {
    let s = d.run(&["status", "--json"]).json();
    (
        s["person_id"].as_str().unwrap().to_string(),
        s["device_id"].as_str().unwrap().to_string(),
    )
}

/// A map under a root key with these fields, made in one change: a record as duo writes one.
pub fn put_map(doc: &mut AutoCommit, key: &str, fields: &[(&str, automerge::ScalarValue)]) {
    use automerge::transaction::Transactable;
    let obj = doc.put_object(automerge::ROOT, key, automerge::ObjType::Map).unwrap();
    for (k, v) in fields {
        doc.put(&obj, *k, v.clone()).unwrap();
    }
}

impl Hostile<'_> {
    /// Write through duo's own library into the hostile device's space, as a modified
    /// client holding other keys (a copied device's) can.
    pub fn library(&self, f: impl FnOnce(&mut duo_journal::SpaceDoc) -> Result<(), duo_journal::JournalError>) {
        let opened = Home::new(self.dev.home()).open().expect("open the hostile home");
        let mut f = Some(f);
        opened
            .space
            .update(|doc| (f.take().expect("called once"))(doc))
            .expect("the hostile write is stored");
    }

    /// The heads of the hostile device's space now (to write on this state later).
    pub fn heads(&self) -> Vec<automerge::ChangeHash> {
        let opened = Home::new(self.dev.home()).open().expect("open the hostile home");
        opened.space.load().expect("load the hostile space").heads()
    }

    /// Write raw automerge operations as one change made on the state `heads` of the
    /// hostile device's space (not on what it holds now): the change is concurrent with
    /// everything written since, as a modified client can make it.
    pub fn raw_at(&self, heads: &[automerge::ChangeHash], f: impl FnOnce(&mut AutoCommit)) {
        self.library_at(heads, |doc| {
            f(doc.automerge());
            Ok(())
        });
    }

    /// [`Hostile::library`] on the state `heads` of the hostile device's space: what it
    /// writes is concurrent with everything written since.
    pub fn library_at(
        &self,
        heads: &[automerge::ChangeHash],
        f: impl FnOnce(&mut duo_journal::SpaceDoc) -> Result<(), duo_journal::JournalError>,
    ) {
        let opened = Home::new(self.dev.home()).open().expect("open the hostile home");
        let mut f = Some(f);
        opened
            .space
            .update(|doc| {
                let mut then = doc
                    .automerge()
                    .fork_at(heads)
                    .map_err(|e| duo_journal::JournalError::Document(e.to_string()))?;
                let mut then = duo_journal::SpaceDoc::load(&then.save())?;
                (f.take().expect("called once"))(&mut then)?;
                then.automerge().commit();
                let change = then.save_after(heads);
                doc.load_more(&change)
            })
            .expect("the hostile write is stored");
    }
}

/// The person key a copy of a device holds (its `keys/person.key`, opened with the copy's
/// own age key): what a thief who copied the device can seal with.
pub fn person_key_of(d: &Device) -> [u8; 32] {
    let id_text = std::fs::read_to_string(d.home().join("keys/age.key")).unwrap();
    let identity: age::x25519::Identity = id_text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .parse()
        .unwrap();
    let plain = age::decrypt(&identity, &std::fs::read(d.home().join("keys/person.key")).unwrap()).unwrap();
    plain.try_into().unwrap()
}

/// `d` learns where `of` can be reached, as `from` has it in its peer table (a thief with a
/// copied device knows where the partner's device is, as the partner does).
pub fn learn_address(d: &Device, of: &Device, from: &Device) {
    use duo_device::device::PeerTable;
    let (_, of_id) = ids_of(of);
    let known = PeerTable::load(&Home::new(from.home()).open().unwrap()).unwrap();
    let addrs = known.peers.get(&of_id).expect("`from` knows where `of` is").clone();
    let mine = Home::new(d.home()).open().unwrap();
    let mut table = PeerTable::load(&mine).unwrap();
    table.remember(&of_id, addrs.addrs, addrs.relay);
    table.save(&mine).unwrap();
}
