//! What a revoked device's keys, a restore, and the other person can still do to your
//! devices (docs/security.md, "A revoked device's keys, and person-key rotation",
//! "Restores and backups", "Names and device records"), played with the real `duo` binary
//! against a copy of a device (its home copied before the revocation: what a thief has)
//! and a hostile partner's modified client (`hostile_partner.rs`).

use crate::backup::{PASSPHRASE, passphrase_file, restore, with_work};
use crate::bundle::device_secret;
use crate::devices::listed;
use crate::harness::*;
use crate::hostile_partner::*;
use duo_device::membership;
use std::path::Path;
use std::time::Duration;

fn device(name: &str, label: &str) -> Device {
    let d = Device::blank();
    d.run(&["init", "--name", name, "--label", label]).ok();
    d
}

/// Alice's laptop paired with Bob's laptop, then Alice's own devices labelled `own`, each
/// paired from her laptop (all can make backups: `with_work`). Returns (laptop, own
/// devices, Bob's laptop).
fn alice_and_bob(own: &[&str]) -> (Device, Vec<Device>, Device) {
    let al = with_work(Device::new("Alice"));
    let bl = Device::new("Bob");
    pair_by_ticket(&al, &bl, &[]);
    let mine: Vec<Device> = own
        .iter()
        .map(|label| {
            let d = with_work(device("Ali", label));
            pair_by_ticket(&al, &d, &["--own-device"]);
            d
        })
        .collect();
    (al, mine, bl)
}

fn standing(d: &Device, id: &str) -> String {
    listed(d, id)["standing"].as_str().unwrap().to_string()
}

/// `d` syncs with `other`, which serves (`duo sync --watch`) meanwhile; returns the report.
fn sync_with(d: &Device, other: &Device) -> serde_json::Value {
    let mut watch = other.spawn(&["sync", "--watch"]);
    watch.wait_for("Online", Duration::from_secs(60));
    d.run_within(&["sync", "--json"], Duration::from_secs(90)).json()
}

/// Whether `report` (of `duo sync --json`) reached device `id`.
fn reached(report: &serde_json::Value, id: &str) -> bool {
    report["peers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["device"] == id && p["reached"] == true)
}

fn backup(d: &Device) -> std::path::PathBuf {
    let pf = passphrase_file(d, PASSPHRASE);
    let file = d.dir.path().join("backup.duobackup");
    d.run(&[
        "backup",
        file.to_str().unwrap(),
        "--passphrase-file",
        pf.to_str().unwrap(),
    ])
    .ok();
    file
}

/// A new device restored from `file`.
fn restored(file: &Path) -> Device {
    let fresh = with_work(Device::blank());
    restore(&fresh, file, &[]).ok();
    fresh
}

/// Item 9: Bob's client renames Alice (in place, as a map of its own, and with a name it
/// signs with Bob's device key). Alice's devices, and Bob's real duo too, show the name
/// Alice's device signed, marked; "Mallory" is nowhere.
#[test]
fn the_partner_cannot_rename_you_on_your_own_screens() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    alice.add("A line Alice wrote", &[]);
    let (a_person, a_device) = ids_of(&alice);
    let hostile = Hostile::new(&bob);
    hostile.raw(|doc| {
        use automerge::transaction::Transactable;
        let o = root_map(doc, &format!("person/{a_person}"));
        doc.put(&o, "name", "Mallory").unwrap();
    });
    hostile.raw(|doc| put_map(doc, &format!("person/{a_person}"), &[("name", "Mallory".into())]));
    let forged = membership::sign_name(&device_secret(&bob), &a_person, "Mallory", 4_000_000_000_000);
    hostile.library(|doc| doc.put_name(&forged));
    hostile.sync_victim(&alice);

    let marked = "Alice (name changed on another device)";
    for d in [&alice, &bob] {
        let people = d.run(&["status", "--json"]).json()["people"].clone();
        assert!(people.as_array().unwrap().iter().any(|p| p == marked), "{people}");
        assert!(!people.to_string().contains("Mallory"), "{people}");
    }
    let list = alice.run(&["journal", "list"]);
    assert!(list.ok().contains(marked), "{}", list.stdout);
    assert!(!list.stdout.contains("Mallory") && !list.stderr.contains("Mallory"));
    assert_eq!(listed(&alice, &a_device)["person"], marked);
    let shown = alice.list(&[]);
    assert_eq!(shown[0]["author"], marked, "{shown:?}");
}

/// Item 9: Bob's client rewrites the record of Alice's phone (its label in place, then a
/// map of its own that puts the phone under Bob) and deletes the laptop's signature of it.
/// Alice's laptop still counts the phone as hers, shows its record as signed, marked, and
/// the two still sync.
#[test]
fn the_partner_overwriting_your_device_record_does_not_stop_your_devices() {
    let (al, mut own, bl) = alice_and_bob(&["phone"]);
    let ap = own.remove(0);
    let (_, al_id) = ids_of(&al);
    let (_, ap_id) = ids_of(&ap);
    let (b_person, _) = ids_of(&bl);
    let hostile = Hostile::new(&bl);
    hostile.sync_victim(&al);
    hostile.raw(|doc| {
        use automerge::transaction::Transactable;
        let o = root_map(doc, &format!("device/{ap_id}"));
        doc.put(&o, "label", "stolen").unwrap();
    });
    hostile.raw(|doc| {
        use automerge::transaction::Transactable;
        put_map(
            doc,
            &format!("device/{ap_id}"),
            &[
                ("person", b_person.as_str().into()),
                ("label", "bob's now".into()),
                ("added_at", automerge::ScalarValue::Timestamp(1)),
            ],
        );
        doc.delete(automerge::ROOT, format!("endorse/{ap_id}/{al_id}")).unwrap();
    });
    hostile.sync_victim(&al);

    let phone = listed(&al, &ap_id);
    assert_eq!(phone["standing"], "active", "{phone}");
    assert_eq!(phone["label"], "phone", "{phone}");
    assert_eq!(phone["person"], "Alice", "{phone}");
    assert_eq!(phone["record_changed"], true, "{phone}");
    let text = al.run(&["devices"]);
    assert!(
        text.ok().contains("record changed on another device"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("bob's now") && !text.stdout.contains("stolen"));

    // The phone and the laptop still sync, both ways.
    ap.add("From the phone, after Bob's rewrite", &[]);
    let r = sync_with(&ap, &al);
    assert!(reached(&r, &al_id), "{r}");
    assert!(
        al.bodies(&[])
            .contains(&"From the phone, after Bob's rewrite".to_string())
    );
    al.add("From the laptop, after Bob's rewrite", &[]);
    let r = sync_with(&al, &ap);
    assert!(reached(&r, &ap_id), "{r}");
    assert!(
        ap.bodies(&[])
            .contains(&"From the laptop, after Bob's rewrite".to_string())
    );
    assert_eq!(standing(&ap, &ap_id), "active");
}

/// Item 7: a restored device trusts what the backup's device trusted: a device record Bob's
/// client forged under Alice stays unconfirmed, and Bob's tablet, which Alice stopped
/// syncing with on her laptop, stays revoked here. The backup carries the anchors and the
/// local revocations, never when the device last synced with anything.
#[test]
fn a_restore_trusts_only_what_the_backups_device_trusted() {
    let alice = with_work(Device::new("Alice"));
    let bob = Device::new("Bob");
    let tablet = device("Bobby", "tablet");
    pair_by_ticket(&alice, &bob, &[]);
    pair_by_ticket(&bob, &tablet, &["--own-device"]);
    let (a_person, a_id) = ids_of(&alice);
    let (_, b_id) = ids_of(&bob);
    let (_, t_id) = ids_of(&tablet);
    let hostile = Hostile::new(&bob);
    hostile.sync_victim(&alice);
    assert_eq!(standing(&alice, &t_id), "active");

    // Bob's client forges a device under Alice, signed by Bob's device and by itself.
    let evil = duo_device::bundle::SecretKey::generate();
    let forged = duo_journal::Device {
        id: evil.public().to_string(),
        person: a_person.clone(),
        label: "alice-tablet".into(),
        added_at: 1_700_000_000_000,
    };
    let by_bob = membership::endorse(&device_secret(&bob), &forged, 1);
    let by_itself = membership::endorse(&evil, &forged, 1);
    hostile.library(|doc| {
        doc.put_device_record(&forged)?;
        doc.put_endorsement(&by_bob)?;
        doc.put_endorsement(&by_itself)
    });
    hostile.sync_victim(&alice);
    assert_eq!(standing(&alice, &forged.id), "unconfirmed");
    alice.run(&["devices", "revoke", &t_id, "--yes"]).ok();
    assert_eq!(standing(&alice, &t_id), "revoked here");

    let file = backup(&alice);
    let fresh = restored(&file);
    assert_eq!(standing(&fresh, &forged.id), "unconfirmed");
    assert_eq!(standing(&fresh, &t_id), "revoked here");
    assert_eq!(standing(&fresh, &b_id), "active");
    assert_eq!(standing(&fresh, &a_id), "active");

    let raw = std::fs::read(&file).unwrap();
    let plain = age::decrypt(
        &age::scrypt::Identity::new(age::secrecy::SecretString::from(PASSPHRASE)),
        &raw,
    )
    .unwrap();
    let b = duo_device::backup::decode(&plain).unwrap();
    let trust = b.trust.expect("the backup carries the device's trust");
    assert_eq!(trust.anchors.get(&b_id), Some(&ids_of(&bob).0));
    assert!(!trust.anchors.contains_key(&forged.id));
    assert_eq!(trust.local_revoked, [t_id.clone()].into());
    let json = serde_json::to_string(&trust).unwrap();
    assert!(!json.contains("last_synced"), "{json}");

    // Restored into a device of Alice's that already exists (a merge), the local
    // revocation is taken in too.
    let other = with_work(device("Ali", "phone"));
    pair_by_ticket(&alice, &other, &["--own-device"]);
    assert_eq!(standing(&other, &t_id), "active");
    restore(&other, &file, &[]).ok();
    assert_eq!(standing(&other, &t_id), "revoked here");
}

/// Item 3: Bob copied Alice's phone (its whole home). Alice revokes the phone; Bob's client,
/// knowing the revocation, signs with the phone's key a revocation of her laptop and of her
/// tablet, and a new "Alice" device that revokes the laptop too. None of it counts, by any
/// route: a sync through Bob's device, a bundle from it, a restore of a backup holding it.
#[test]
fn a_copy_of_a_revoked_device_cannot_revoke_the_owners_devices_by_any_route() {
    let (al, mut own, bl) = alice_and_bob(&["phone", "tablet"]);
    let (ap, at) = (own.remove(0), own.remove(0));
    let (a_person, al_id) = ids_of(&al);
    let (_, ap_id) = ids_of(&ap);
    let (_, at_id) = ids_of(&at);
    let hostile = Hostile::new(&bl);
    hostile.sync_victim(&al);
    let copy = copy_of(&ap);
    let phone_key = device_secret(&copy);

    al.run(&["devices", "revoke", &ap_id, "--yes"]).ok();
    hostile.sync_victim(&al);
    assert_eq!(standing(&bl, &ap_id), "revoked");
    let mallet = duo_device::bundle::SecretKey::generate();
    let new_device = duo_journal::Device {
        id: mallet.public().to_string(),
        person: a_person,
        label: "alice-new".into(),
        added_at: 1_800_000_000_000,
    };
    let at_time = 1_800_000_000_000;
    let by_phone = [
        membership::revoke(&phone_key, &al_id, at_time),
        membership::revoke(&phone_key, &at_id, at_time),
    ];
    let endorsed = membership::endorse(&phone_key, &new_device, at_time);
    let by_mallet = membership::revoke(&mallet, &al_id, at_time);
    hostile.library(|doc| {
        for r in &by_phone {
            doc.put_revocation(r)?;
        }
        doc.put_device_record(&new_device)?;
        doc.put_endorsement(&endorsed)?;
        doc.put_revocation(&by_mallet)
    });
    let check = |d: &Device, what: &str| {
        assert_eq!(standing(d, &al_id), "active", "{what}");
        assert_eq!(standing(d, &at_id), "active", "{what}");
        assert_eq!(standing(d, &ap_id), "revoked", "{what}");
        assert_ne!(standing(d, &new_device.id), "active", "{what}");
    };

    // Sync through the partner.
    hostile.sync_victim(&al);
    check(&al, "Alice's laptop, after a sync with Bob's");
    check(&bl, "Bob's own duo");
    // A bundle from Bob's laptop to Alice's tablet, which never synced with it.
    let file = bl.dir.path().join("to-the-tablet.duobundle");
    bl.run(&["bundle", "export", file.to_str().unwrap(), "--for", &at_id])
        .ok();
    at.run(&["bundle", "import", file.to_str().unwrap()]).ok();
    check(&at, "Alice's tablet, after the bundle");
    // A restore of the tablet's backup.
    let fresh = restored(&backup(&at));
    check(&fresh, "a device restored from the tablet's backup");
}

/// Item 3: a device Alice adds after revoking her phone is out of the copy's reach, even
/// when Bob's client writes the copy's revocation of it on a state from before the
/// revocation (concurrent with it, as far as the document can tell).
#[test]
fn a_copy_cannot_revoke_a_device_added_after_its_revocation() {
    let (al, mut own, bl) = alice_and_bob(&["phone"]);
    let ap = own.remove(0);
    let (_, al_id) = ids_of(&al);
    let (_, ap_id) = ids_of(&ap);
    let hostile = Hostile::new(&bl);
    hostile.sync_victim(&al);
    let before = hostile.heads();
    let phone_key = device_secret(&copy_of(&ap));

    al.run(&["devices", "revoke", &ap_id, "--yes"]).ok();
    let an = device("Ali", "new phone");
    pair_by_ticket(&al, &an, &["--own-device"]);
    let (_, an_id) = ids_of(&an);
    hostile.sync_victim(&al);
    assert_eq!(standing(&bl, &an_id), "active");

    let r = membership::revoke(&phone_key, &an_id, 1_800_000_000_000);
    let r2 = membership::revoke(&phone_key, &an_id, 1_800_000_000_001);
    let sig = |r: &duo_journal::Revocation| {
        vec![
            ("sig", automerge::ScalarValue::from(r.sig.as_str())),
            ("at", automerge::ScalarValue::Timestamp(r.at)),
        ]
    };
    hostile.raw_at(&before, |doc| {
        put_map(doc, &format!("revoke/{an_id}/{ap_id}"), &sig(&r))
    });
    hostile.raw(|doc| put_map(doc, &format!("revoke/{an_id}/{ap_id}"), &sig(&r2)));
    hostile.sync_victim(&al);
    for d in [&al, &bl] {
        assert_eq!(standing(d, &an_id), "active");
        assert_eq!(standing(d, &al_id), "active");
    }
    an.add("From the new phone", &[]);
    let r = sync_with(&an, &al);
    assert!(reached(&r, &al_id), "{r}");
}

/// Item 3: Alice revokes her phone on her laptop while a copy of the phone, not knowing it,
/// revokes the laptop and gets to Bob first. The rule: two devices of one person that
/// revoke each other concurrently are both revoked, on every device that has both records.
/// Bob's laptop, which got the copy's first, refuses Alice's laptop; Alice recovers with a
/// device restored from her backup that Bob pairs with `--partner-device`: it brings her
/// revocation, the copy is refused too, and the new device and Bob sync. An entry the copy
/// sealed with the old key meanwhile is not confirmed as hers.
#[test]
fn devices_that_revoke_each_other_concurrently_are_both_revoked_and_the_owner_recovers() {
    let (al, mut own, bl) = alice_and_bob(&["phone"]);
    let ap = own.remove(0);
    let (_, al_id) = ids_of(&al);
    let (_, ap_id) = ids_of(&ap);
    let (_, bl_id) = ids_of(&bl);
    let r = sync_with(&al, &bl);
    assert!(reached(&r, &bl_id), "{r}");
    let copy = copy_of(&ap);
    learn_address(&copy, &bl, &al);

    al.run(&["devices", "revoke", &ap_id, "--yes"]).ok();
    let file = backup(&al);
    let by_copy = copy.add("Written by the copy, not knowing of its revocation", &[]);
    copy.run(&["devices", "revoke", &al_id, "--yes"]).ok();
    let r = sync_with(&copy, &bl);
    assert!(reached(&r, &bl_id), "{r}");
    assert_eq!(standing(&bl, &al_id), "revoked");
    let r = sync_with(&al, &bl);
    assert!(
        !reached(&r, &bl_id),
        "Bob's laptop refuses the laptop the copy revoked: {r}"
    );

    let fresh = restored(&file);
    let (_, fresh_id) = ids_of(&fresh);
    let (invited, _) = pair_by_ticket(&bl, &fresh, &["--partner-device"]);
    assert!(invited.stderr.contains("new device of Alice's"), "{}", invited.stderr);
    for d in [&bl, &fresh] {
        assert_eq!(standing(d, &al_id), "revoked");
        assert_eq!(standing(d, &ap_id), "revoked");
        assert_eq!(standing(d, &fresh_id), "active");
    }
    let r = sync_with(&copy, &bl);
    assert!(!reached(&r, &bl_id), "the copy is refused now: {r}");
    let hers = fresh.add("Alice, on her restored device", &[]);
    let r = sync_with(&fresh, &bl);
    assert!(reached(&r, &bl_id), "{r}");
    assert!(bl.bodies(&[]).contains(&"Alice, on her restored device".to_string()));
    // What the copy sealed with the old key, concurrently with her rotation, is not
    // confirmed as hers; what she writes now is.
    let shown = authenticity(&fresh);
    assert_eq!(shown[&by_copy].0, "unsettled", "{shown:?}");
    assert_eq!(shown[&hers].0, "authentic", "{shown:?}");
}

/// Item 3: a copy of Alice's phone signs an export with the phone's key. Before the
/// revocation `duo verify` on Alice's laptop names the phone a current device; after it,
/// on her laptop and on Bob's (a device of the same space), the signer is revoked (exit 15);
/// on a device of another space, or with no duo home, it cannot be known.
#[test]
fn verify_on_a_device_of_the_space_says_whether_the_signer_was_revoked() {
    let (al, mut own, bl) = alice_and_bob(&["phone"]);
    let ap = own.remove(0);
    let (_, ap_id) = ids_of(&ap);
    let (_, bl_id) = ids_of(&bl);
    ap.add("Written on the phone", &[]);
    let copy = copy_of(&ap);
    let file = copy.dir.path().join("signed.json");
    let file = file.to_str().unwrap();
    copy.run(&["journal", "export", "--format", "json", "--signed", "-o", file])
        .ok();
    let verify = |d: &Device| {
        let r = d.run(&["verify", file, "--json"]);
        let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
        (r.code, j["signer"].as_str().unwrap().to_string(), j["valid"].clone())
    };
    assert_eq!(verify(&al), (0, "active".into(), serde_json::json!(true)));

    al.run(&["devices", "revoke", &ap_id, "--yes"]).ok();
    assert_eq!(verify(&al), (15, "revoked".into(), serde_json::json!(false)));
    let text = al.run(&["verify", file]);
    text.fails(15);
    assert!(text.stdout.contains("was revoked in this space"), "{}", text.stdout);
    let r = sync_with(&al, &bl);
    assert!(reached(&r, &bl_id), "{r}");
    assert_eq!(verify(&bl), (15, "revoked".into(), serde_json::json!(false)));

    let carol = Device::new("Carol");
    let nobody = Device::blank();
    for d in [&carol, &nobody] {
        assert_eq!(verify(d), (0, "cannot_know".into(), serde_json::json!(true)));
        assert!(d.run(&["verify", file]).ok().contains("cannot be known here"));
    }
}

/// `journal list --json` on `d`, by entry id: (authenticity, why not yours).
fn authenticity(d: &Device) -> std::collections::BTreeMap<String, (String, String)> {
    d.list(&[])
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                (
                    e["authenticity"].as_str().unwrap_or("").to_string(),
                    e["not_yours"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

/// Item 3: revoking her phone rotates Alice's person key: a new key, encrypted to her laptop
/// and tablet only. Bob copied the phone: an entry his client seals under Alice with the
/// phone's key knowing the rotation is not hers; one written on a state from before it
/// (concurrent) is unconfirmed. Her tablet, offline meanwhile, wrote one with the old key:
/// unconfirmed until the tablet, at its next sync, seals it again by itself. Entries from
/// before stay hers; entries after, sealed with the new key, are hers.
#[test]
fn revoking_your_device_rotates_the_person_key_and_a_copys_seals_do_not_count() {
    let (al, mut own, bl) = alice_and_bob(&["phone", "tablet"]);
    let (ap, at) = (own.remove(0), own.remove(0));
    let (a_person, al_id) = ids_of(&al);
    let (_, ap_id) = ids_of(&ap);
    let (_, at_id) = ids_of(&at);
    let hostile = Hostile::new(&bl);
    hostile.sync_victim(&al);
    let early = al.add("Written before the revocation", &[]);
    let copy = copy_of(&ap);
    let old_key = person_key_of(&copy);
    let before = hostile.heads();
    let offline = at.add("Written on the tablet while it was offline", &[]);

    let out = al.run(&["devices", "revoke", &ap_id, "--yes", "--json"]).json();
    let to: Vec<&str> = out["new_key_for"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(
        to.contains(&al_id.as_str()) && to.contains(&at_id.as_str()) && !to.contains(&ap_id.as_str()),
        "{out}"
    );
    let after = al.add("Written after the revocation", &[]);
    assert_ne!(person_key_of(&al), old_key, "the laptop seals with the new key");

    hostile.sync_victim(&al);
    let ring = duo_journal::Keyring::new(a_person.clone(), duo_journal::SealKey::from_bytes(old_key));
    let entry = |id: &str, body: &str| duo_journal::NewEntry {
        id: id.into(),
        kind: duo_journal::Kind::Reflection,
        author: a_person.clone(),
        device: ap_id.clone(),
        created_at: 1_800_000_000_000,
        edited_at: 1_800_000_000_000,
        body: body.into(),
        tags: vec![],
        status: None,
        no_replies: false,
        prompt: None,
    };
    let (late, concurrent) = (duo_journal::new_id(), duo_journal::new_id());
    let sealer = ring.sealer(&ap_id);
    hostile.library(|doc| doc.add_entry(&entry(&late, "Put in Alice's mouth after her revocation"), &sealer));
    hostile.library_at(&before, |doc| {
        doc.add_entry(&entry(&concurrent, "Put in Alice's mouth, dated before it"), &sealer)
    });
    hostile.sync_victim(&al);

    let shown = authenticity(&al);
    assert_eq!(shown[&early], ("authentic".into(), "".into()), "{shown:?}");
    assert_eq!(shown[&after], ("authentic".into(), "".into()), "{shown:?}");
    assert_eq!(shown[&late], ("not_yours".into(), "retired_key".into()), "{shown:?}");
    assert_eq!(shown[&concurrent].0, "unsettled", "{shown:?}");

    // The tablet learns of the rotation, takes the new key, and seals its own entry again.
    assert!(reached(&sync_with(&at, &al), &al_id));
    assert_ne!(person_key_of(&at), old_key, "the tablet took the new key");
    assert_eq!(person_key_of(&at), person_key_of(&al));
    assert_eq!(authenticity(&at)[&offline].0, "authentic");
    assert!(reached(&sync_with(&at, &al), &al_id));
    let shown = authenticity(&al);
    assert_eq!(shown[&offline].0, "authentic", "{shown:?}");
    assert_eq!(shown[&late].0, "not_yours", "{shown:?}");
    assert_eq!(authenticity(&at)[&late].0, "not_yours");
    assert_eq!(person_key_of(&copy), old_key, "the copy never gets the new key");
}
