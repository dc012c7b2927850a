//! Seeing every device, signed device records and revocation, with real `duo` processes.

use crate::harness::*;
use crate::netlab::Netns;
use std::time::{Duration, Instant};

fn device(name: &str, label: &str) -> Device {
    let d = Device::blank();
    d.run(&["init", "--name", name, "--label", label]).ok();
    d
}

fn own_id(d: &Device) -> String {
    let devs = d.run(&["devices", "--json"]).json();
    devs.as_array()
        .unwrap()
        .iter()
        .find(|x| x["this_device"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The entry of `devices --json` on `d` for device `id`.
pub fn listed(d: &Device, id: &str) -> serde_json::Value {
    let devs = d.run(&["devices", "--json"]).json();
    devs.as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not listed: {devs}"))
}

/// The peer `id` in a `sync --json` report.
fn peer(report: &serde_json::Value, id: &str) -> serde_json::Value {
    report["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["device"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {report}"))
}

/// Three devices, two people, in one namespace with mDNS (so Alice's phone finds Bob's
/// laptop, which it never paired with): Alice revokes her phone on her laptop, offline; the
/// revocation reaches Bob's laptop with the next sync, and from then on Bob's laptop refuses
/// the phone right after the handshake.
#[test]
fn a_revoked_device_is_refused_once_the_revocation_spread() {
    let Some(ns) = Netns::lo_only("revoke") else { return };
    let mut al = device("Alice", "laptop");
    let mut ap = device("Ali", "phone");
    let mut bl = device("Bob", "laptop");
    for d in [&mut al, &mut ap, &mut bl] {
        d.netns = Some(ns.name.clone());
        d.env = vec![("DUO_DISCOVERY".into(), "mdns".into())];
    }
    pair_by_ticket(&al, &bl, &[]);
    pair_by_ticket(&al, &ap, &["--own-device"]);
    let (al_id, ap_id, bl_id) = (own_id(&al), own_id(&ap), own_id(&bl));
    ap.add("written on alice's phone", &[]);

    // Bob's laptop learns of the phone from Alice's laptop (signed by it).
    let mut bl_watch = bl.spawn(&["sync", "--watch"]);
    bl_watch.wait_for("Online as", Duration::from_secs(30));
    let r = al.run_within(&["sync", "--json"], Duration::from_secs(60)).json();
    assert_eq!(peer(&r, &bl_id)["reached"], true, "{r}");
    let phone_on_bob = listed(&bl, &ap_id);
    assert_eq!(phone_on_bob["revoked"], false, "{phone_on_bob}");
    assert_eq!(phone_on_bob["person"], "Alice");

    // Control: before the revocation the phone reaches Bob's laptop (found by mDNS).
    let r = ap.run_within(&["sync", "--json"], Duration::from_secs(60)).json();
    assert_eq!(peer(&r, &bl_id)["reached"], true, "control: {r}");
    assert!(bl.bodies(&[]).contains(&"written on alice's phone".to_string()));

    // Alice revokes the phone on her laptop (offline: nothing is running there).
    let out = al.run(&["devices", "revoke", &ap_id[..8], "--yes"]);
    out.ok();
    assert!(out.stderr.contains("Revoked 'phone'"), "{}", out.stderr);
    assert_eq!(listed(&al, &ap_id)["revoked"], true);
    // It spreads with the next sync.
    let started = Instant::now();
    let r = al.run_within(&["sync", "--json"], Duration::from_secs(60)).json();
    assert_eq!(peer(&r, &bl_id)["reached"], true, "{r}");
    let spread = started.elapsed();
    let on_bob = listed(&bl, &ap_id);
    assert_eq!(on_bob["revoked"], true, "{on_bob}");
    assert_eq!(on_bob["standing"], "revoked");

    // The phone is now refused by Bob's laptop right after the handshake.
    let r = ap.run_within(&["sync", "--json"], Duration::from_secs(60)).json();
    let to_bob = peer(&r, &bl_id);
    assert_eq!(to_bob["reached"], false, "{r}");
    let err = to_bob["error"].as_str().unwrap();
    assert!(
        err.contains("does not know this one"),
        "refused, not unreachable: {err}"
    );
    // Nothing written on the phone after the revocation reaches Bob.
    ap.add("written after the revocation", &[]);
    let _ = ap.run_within(&["sync", "--json"], Duration::from_secs(60));
    assert!(!bl.bodies(&[]).contains(&"written after the revocation".to_string()));
    bl_watch.assert_running();
    // Bob's laptop and Alice's laptop still sync.
    al.add("alice's laptop after revoking", &[]);
    let r = al.run_within(&["sync", "--json"], Duration::from_secs(60)).json();
    assert_eq!(peer(&r, &bl_id)["reached"], true, "{r}");
    assert!(bl.bodies(&[]).contains(&"alice's laptop after revoking".to_string()));
    let _ = al_id;
    eprintln!("revocation: spread to Bob's laptop in one sync of {spread:?}");
}

/// Bob revokes Alice's laptop on his own device: it acts there only. Alice's devices are not
/// affected and do not learn of it from the shared space.
#[test]
fn revoking_the_partners_device_acts_only_here() {
    let alice = device("Alice", "laptop");
    let bob = device("Bob", "laptop");
    pair_by_ticket(&alice, &bob, &[]);
    let (a_id, b_id) = (own_id(&alice), own_id(&bob));
    let out = bob.run(&["devices", "revoke", &a_id[..6], "--yes", "--json"]).json();
    assert_eq!(out["whole_space"], false, "{out}");
    assert_eq!(listed(&bob, &a_id)["standing"], "revoked here");
    // Bob's sync now does not even try Alice's laptop.
    let r = bob.run_within(&["sync", "--json"], Duration::from_secs(60)).json();
    assert!(r["peers"].as_array().unwrap().is_empty(), "{r}");
    // Alice did nothing: her device lists Bob's and her own as active.
    assert_eq!(listed(&alice, &b_id)["revoked"], false);
    assert_eq!(listed(&alice, &a_id)["revoked"], false);
    // Without --yes and without a terminal, revoke asks for confirmation and changes nothing.
    let err = alice.run(&["devices", "revoke", &b_id[..6]]).fails(2).to_string();
    assert!(err.contains("--yes"), "{err}");
}

/// A modified client on Bob's side writes a device record under Alice, signed by Bob's
/// device and by the new key itself. After a sync, Alice's device shows it as unconfirmed
/// (once, with a notice) and never counts it as a member.
#[test]
fn a_device_added_under_the_other_person_is_ignored_and_flagged() {
    let alice = device("Alice", "laptop");
    let bob = device("Bob", "laptop");
    pair_by_ticket(&alice, &bob, &[]);
    let a_person = listed(&alice, &own_id(&alice))["person_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Bob's "modified client": the library, used directly on Bob's home.
    let evil_home = tempfile::tempdir().unwrap();
    let evil = duo_device::Home::new(evil_home.path().join("h"))
        .init("Mallory", "x", 0)
        .unwrap();
    let bob_dev = duo_device::Home::new(bob.home()).open().unwrap();
    let forged = duo_journal::Device {
        id: evil.config.device_id.clone(),
        person: a_person.clone(),
        label: "alice-tablet".into(),
        added_at: 1_700_000_000_000,
    };
    let by_bob = bob_dev.endorsement(&forged, 1);
    let by_itself = evil.endorsement(&forged, 1);
    bob_dev
        .space
        .update(|doc| {
            doc.put_device_record(&forged)?;
            doc.put_endorsement(&by_bob)?;
            doc.put_endorsement(&by_itself)
        })
        .unwrap();
    drop(bob_dev);

    let mut watch = alice.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", Duration::from_secs(30));
    let r = bob.run_within(&["sync", "--json"], Duration::from_secs(60)).json();
    assert_eq!(r["reached"], 1, "{r}");
    // Alice's watcher is the duo that runs next on her device: it flags the record.
    watch.wait_for(
        "notice: a device record 'alice-tablet' under Alice is signed by none of Alice's devices",
        Duration::from_secs(60),
    );
    drop(watch);

    let devs = alice.run(&["devices", "--json"]).json();
    let x = devs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == evil.config.device_id.as_str())
        .unwrap_or_else(|| panic!("the forged record is listed (flagged): {devs}"));
    assert_eq!(x["standing"], "unconfirmed", "{x}");
    assert_eq!(x["revoked"], false);
    let again = alice.run(&["devices"]);
    again.ok();
    assert!(
        again.stderr.contains("alice-tablet"),
        "until acknowledged: {}",
        again.stderr
    );
    alice.run(&["devices", "ack"]).ok();
    let acked = alice.run(&["devices"]);
    assert!(!acked.stderr.contains("alice-tablet"), "acknowledged: {}", acked.stderr);
    // Alice's sync does not consider it a device to reach (Bob is not running: exit 5).
    let r = alice.run_within(&["sync", "--json", "--wait", "0"], Duration::from_secs(60));
    let r: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        r["peers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["device"] != evil.config.device_id.as_str()),
        "{r}"
    );
}

/// A new device shows a notice on every device of both people, on stderr, until it is
/// acknowledged there.
#[test]
fn a_new_device_is_announced_to_both_people_until_acknowledged() {
    let alice = device("Alice", "laptop");
    let bob = device("Bob", "laptop");
    let tablet = device("Bobby", "tablet");
    pair_by_ticket(&alice, &bob, &[]);
    pair_by_ticket(&bob, &tablet, &["--own-device"]);
    // Bob's laptop is online; Alice's next duo command is a sync that brings the tablet.
    let mut watch = bob.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", Duration::from_secs(30));
    let first = alice.run_within(&["sync"], Duration::from_secs(60));
    first.ok();
    drop(watch);
    assert!(
        first
            .stderr
            .contains("notice: a new device 'tablet' was added to Bob on"),
        "{}",
        first.stderr
    );
    assert!(first.stderr.contains("duo devices revoke"), "{}", first.stderr);
    let second = alice.run(&["journal", "list"]);
    assert!(
        second.stderr.contains("a new device 'tablet' was added to Bob"),
        "{}",
        second.stderr
    );
    alice.run(&["devices", "ack"]).ok();
    let third = alice.run(&["journal", "list"]);
    assert!(!third.stderr.contains("notice:"), "{}", third.stderr);
    // Bob's own laptop paired the tablet itself: no notice there; the tablet saw Alice at pairing.
    assert!(!bob.run(&["journal", "list"]).stderr.contains("notice:"));
    // "Last synced" only for one's own devices.
    let devs = bob.run(&["devices", "--json"]).json();
    for d in devs.as_array().unwrap() {
        if d["person"] == "Alice" {
            assert!(d["last_synced"].is_null(), "no presence signal about the partner: {d}");
        }
    }
}

/// Four devices, two people: Alice's phone added her tablet. Alice revokes the phone on her
/// laptop; the tablet, which only the phone had signed, is revoked with it, on her laptop
/// and, after one sync, on Bob's laptop, whose allowlist then leaves both out.
#[test]
fn revoking_a_device_revokes_the_devices_only_it_added() {
    let al = device("Alice", "laptop");
    let ap = device("Ali", "phone");
    let at = device("A", "tablet");
    let bl = device("Bob", "laptop");
    pair_by_ticket(&al, &bl, &[]);
    pair_by_ticket(&al, &ap, &["--own-device"]);
    pair_by_ticket(&ap, &at, &["--own-device"]);
    let (ap_id, at_id, bl_id) = (own_id(&ap), own_id(&at), own_id(&bl));
    // The laptop learns of the tablet from the phone.
    let mut al_watch = al.spawn(&["sync", "--watch"]);
    al_watch.wait_for("Online as", Duration::from_secs(30));
    let r = ap.run_within(&["sync", "--json"], Duration::from_secs(60)).json();
    assert_eq!(r["reached"], 1, "{r}");
    drop(al_watch);
    assert_eq!(listed(&al, &at_id)["standing"], "active");

    let out = al.run(&["devices", "revoke", &ap_id, "--yes", "--json"]).json();
    assert_eq!(out["whole_space"], true, "{out}");
    assert_eq!(out["also_revoked"], serde_json::json!([at_id]), "{out}");
    assert_eq!(listed(&al, &at_id)["standing"], "revoked with the device that added it");

    let mut bl_watch = bl.spawn(&["sync", "--watch"]);
    bl_watch.wait_for("Online as", Duration::from_secs(30));
    let r = al.run_within(&["sync", "--json"], Duration::from_secs(60)).json();
    assert_eq!(peer(&r, &bl_id)["reached"], true, "{r}");
    assert_eq!(listed(&bl, &ap_id)["standing"], "revoked");
    assert_eq!(listed(&bl, &at_id)["standing"], "revoked with the device that added it");
    for d in [&al, &bl] {
        let active: Vec<String> = d
            .run(&["devices", "--json"])
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["revoked"] == false)
            .map(|x| x["label"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(active, vec!["laptop", "laptop"], "only the two laptops remain");
    }

    // Alice's laptop vouches for the tablet: it is hers again, here and, after a sync, on
    // Bob's laptop. The phone stays revoked, and Bob cannot vouch for Alice's devices.
    drop(bl_watch);
    bl.run(&["devices", "endorse", &at_id]).fails(1);
    let out = al.run(&["devices", "endorse", &at_id, "--json"]).json();
    assert_eq!(out["active"], true, "{out}");
    assert_eq!(listed(&al, &at_id)["standing"], "active");
    al.run(&["devices", "endorse", &ap_id]).fails(1);
    let mut bl_watch = bl.spawn(&["sync", "--watch"]);
    bl_watch.wait_for("Online as", Duration::from_secs(30));
    let r = al.run_within(&["sync", "--json"], Duration::from_secs(60)).json();
    assert_eq!(peer(&r, &bl_id)["reached"], true, "{r}");
    drop(bl_watch);
    assert_eq!(listed(&bl, &at_id)["standing"], "active");
    assert_eq!(listed(&bl, &ap_id)["standing"], "revoked");
}
