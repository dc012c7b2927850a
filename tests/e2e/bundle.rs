//! Sync without a network: `duo bundle export` / `duo bundle import` between two devices
//! that paired once (one loopback connection) and then only exchange files.

use crate::harness::{Device, Run, pair_by_ticket, paired};
use duo_device::bundle::{self, Bundle, SecretKey};
use std::path::{Path, PathBuf};

/// This device's network secret key, read from its home (what the tests forge with).
pub fn device_secret(d: &Device) -> SecretKey {
    let text = std::fs::read_to_string(d.home().join("keys/device.key")).unwrap();
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap();
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&line[2 * i..2 * i + 2], 16).unwrap();
    }
    SecretKey::from_bytes(&bytes)
}

fn file(d: &Device, name: &str) -> PathBuf {
    d.dir.path().join(name)
}

fn export(d: &Device, path: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["bundle", "export", path.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    d.run(&args).json()
}

fn import(d: &Device, path: &Path) -> Run {
    d.run(&["bundle", "import", path.to_str().unwrap(), "--json"])
}

#[test]
fn bundles_carry_changes_between_devices_that_never_connect() {
    let (alice, bob) = paired();
    let bob_id = bob.run(&["status", "--json"]).json()["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..20 {
        alice.add(&format!("Alice's entry number {i}, written offline"), &[]);
    }
    alice.add("Not for Bob: a private note", &["--private"]);

    let a1 = file(&alice, "a1.duobundle");
    let first = export(&alice, &a1, &[]);
    assert_eq!(first["recipients"], serde_json::json!([bob_id]), "{first}");
    assert_eq!(first["whole"], false, "pairing left a shared state: {first}");
    let raw = std::fs::read(&a1).unwrap();
    assert!(
        !raw.windows(13).any(|w| w == b"Alice's entry"),
        "the bundle is encrypted"
    );
    assert!(raw.starts_with(b"age-encryption.org/v1"), "a standard age file");

    let got = import(&bob, &a1).json();
    assert!(got["new_changes"].as_u64().unwrap() >= 20, "{got}");
    let bodies = bob.bodies(&[]);
    assert!(bodies.contains(&"Alice's entry number 7, written offline".to_string()));
    assert!(
        !bodies.iter().any(|b| b.contains("private note")),
        "private notes never travel"
    );

    // Importing the same bundle again changes nothing.
    assert_eq!(import(&bob, &a1).json()["new_changes"], 0);
    // A bundle is for the other device, not for its maker.
    assert!(import(&alice, &a1).fails(17).contains("made on this device"));

    // Back the other way.
    bob.add("Bob's answer, by USB stick", &[]);
    let b1 = file(&bob, "b1.duobundle");
    export(&bob, &b1, &[]);
    import(&alice, &b1).json();
    assert!(alice.bodies(&[]).contains(&"Bob's answer, by USB stick".to_string()));

    // Now Alice knows what Bob has: the next bundle carries only what is new.
    alice.add("One more, small", &[]);
    let a2 = file(&alice, "a2.duobundle");
    let second = export(&alice, &a2, &[]);
    let (size1, size2) = (
        std::fs::metadata(&a1).unwrap().len(),
        std::fs::metadata(&a2).unwrap().len(),
    );
    eprintln!(
        "bundle sizes: first {size1} bytes ({} changes), incremental {size2} bytes ({} changes)",
        first["changes"], second["changes"]
    );
    assert!(size2 < size1, "the incremental bundle is smaller: {size2} vs {size1}");
    assert_eq!(second["changes"], 1, "{second}");
    import(&bob, &a2).json();
    assert!(bob.bodies(&[]).contains(&"One more, small".to_string()));

    // --all carries the whole space (and is still accepted).
    let all = file(&alice, "all.duobundle");
    let everything = export(&alice, &all, &["--all"]);
    assert_eq!(everything["whole"], true);
    assert_eq!(import(&bob, &all).json()["new_changes"], 0);
    assert_eq!(alice.bodies(&[]).len(), bob.bodies(&[]).len());
}

#[test]
fn a_bundle_that_is_not_right_is_refused() {
    let (alice, bob) = paired();
    alice.add("A real entry", &[]);
    let good = file(&alice, "good.duobundle");
    export(&alice, &good, &[]);
    let before = bob.bodies(&[]);
    let bob_id: bundle::EndpointId = device_secret(&bob).public();

    // Tampered: one bit flipped in the encrypted payload. age's authentication catches it.
    let mut bytes = std::fs::read(&good).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 1;
    let flipped = file(&bob, "flipped.duobundle");
    std::fs::write(&flipped, &bytes).unwrap();
    let err = import(&bob, &flipped).fails(11).to_string();
    assert!(err.contains("damaged or changed"), "{err}");

    // What the real bundle says, opened with Bob's key (as Bob's duo does).
    let real: Bundle =
        bundle::decode(&bundle::open(&std::fs::read(&good).unwrap(), &device_secret(&bob)).unwrap()).unwrap();

    // Forged: correctly encrypted to Bob, naming Alice, but signed by another key.
    let stranger = SecretKey::generate();
    let forged = file(&bob, "forged.duobundle");
    let sealed = bundle::seal(&bundle::sign(&real, &stranger), &[bob_id]).unwrap();
    std::fs::write(&forged, sealed).unwrap();
    let err = import(&bob, &forged).fails(12).to_string();
    assert!(err.contains("signature"), "{err}");

    // Unknown device: a correct bundle for this space, signed by a device that is not in it.
    let mut theirs = real.clone();
    theirs.header.exporter = stranger.public().to_string();
    let unknown = file(&bob, "unknown.duobundle");
    std::fs::write(
        &unknown,
        bundle::seal(&bundle::sign(&theirs, &stranger), &[bob_id]).unwrap(),
    )
    .unwrap();
    let err = import(&bob, &unknown).fails(14).to_string();
    assert!(err.contains("not part of this space"), "{err}");

    // Wrong space: signed by Alice's real key, but for another space.
    let mut elsewhere = real.clone();
    elsewhere.header.space_id = "0123456789abcdef0123456789abcdef".into();
    let wrong = file(&bob, "wrong-space.duobundle");
    std::fs::write(
        &wrong,
        bundle::seal(&bundle::sign(&elsewhere, &device_secret(&alice)), &[bob_id]).unwrap(),
    )
    .unwrap();
    let err = import(&bob, &wrong).fails(13).to_string();
    assert!(err.contains("another shared space"), "{err}");

    // Builds on history Bob does not have: signed by Alice, but announcing a head that
    // none of its changes provides. Refused, nothing stored.
    let mut ahead = real.clone();
    ahead.changes.clear();
    ahead.header.heads.push([7; 32]);
    let gap = file(&bob, "gap.duobundle");
    std::fs::write(
        &gap,
        bundle::seal(&bundle::sign(&ahead, &device_secret(&alice)), &[bob_id]).unwrap(),
    )
    .unwrap();
    let err = import(&bob, &gap).fails(16).to_string();
    assert!(err.contains("does not have yet") && err.contains("--all"), "{err}");

    // Not for this device: another couple's bundle.
    let (carol, _dave) = {
        let carol = Device::new("Carol");
        let dave = Device::new("Dave");
        pair_by_ticket(&carol, &dave, &[]);
        (carol, dave)
    };
    carol.add("Carol's entry", &[]);
    let other = file(&carol, "other.duobundle");
    export(&carol, &other, &[]);
    let err = import(&bob, &other).fails(10).to_string();
    assert!(err.contains("not encrypted for this device"), "{err}");

    // Not a bundle at all.
    let junk = file(&bob, "junk.duobundle");
    std::fs::write(&junk, b"hello").unwrap();
    import(&bob, &junk).fails(11);

    // Nothing of it reached Bob's journal; the real bundle still imports.
    assert_eq!(bob.bodies(&[]), before);
    import(&bob, &good).json();
    assert!(bob.bodies(&[]).contains(&"A real entry".to_string()));
}

/// A revoked device's bundle is refused through the same membership rule as a sync (here
/// Bob revoked Alice's laptop on his own device, which is all revoking a partner's device does).
#[test]
fn a_revoked_devices_bundle_is_refused() {
    let (alice, bob) = paired();
    alice.add("Written before Bob revoked this laptop", &[]);
    let b = file(&alice, "late.duobundle");
    export(&alice, &b, &[]);
    let alice_id = alice.run(&["status", "--json"]).json()["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    bob.run(&["devices", "revoke", &alice_id, "--yes"]).ok();
    let err = import(&bob, &b).fails(15).to_string();
    assert!(err.contains("revoked"), "{err}");
}
