//! Safety notices persist until seen (a device added to or revoked from the space, shown by
//! every command on every device of both people until `duo devices ack` there, and the
//! acknowledgement never leaves the device), and what `duo status` says about reachability
//! and one's own devices' syncs (never the partner's, never in a backup).

use crate::backup::{PASSPHRASE, passphrase_file, restore, with_work};
use crate::harness::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn device(name: &str, label: &str) -> Device {
    let d = Device::blank();
    d.run(&["init", "--name", name, "--label", label]).ok();
    d
}

fn own_id(d: &Device) -> String {
    d.run(&["status", "--json"]).json()["device_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `d` syncs with `other`, which serves (`duo sync --watch`) meanwhile; returns the run.
fn sync_with(d: &Device, other: &Device) -> Run {
    let mut watch = other.spawn(&["sync", "--watch"]);
    watch.wait_for("Online", Duration::from_secs(60));
    let r = d.run_within(&["sync"], Duration::from_secs(90));
    r.ok();
    r
}

/// The notice `devices --json` on `d` gives device `id` (`null` when none).
fn notice_of(d: &Device, id: &str) -> serde_json::Value {
    let devs = d.run(&["devices", "--json"]).json();
    devs.as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {devs}"))["notice"]
        .clone()
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = files_under(dir)
        .into_iter()
        .map(|f| {
            let b = std::fs::read(&f).unwrap();
            (f, b)
        })
        .collect();
    files.sort();
    files
}

/// Bob adds a tablet. Alice's laptop and phone both show the notice at every command (and in
/// `devices`, `status` and `safety`) until each acknowledges it; acknowledging on the
/// laptop changes nothing in the shared space, so neither her phone nor Bob learns of it.
#[test]
fn a_new_device_is_shown_until_acknowledged_on_each_device() {
    let al = device("Alice", "laptop");
    let ap = device("Ali", "phone");
    let bl = device("Bob", "laptop");
    let bt = device("Bobby", "tablet");
    pair_by_ticket(&al, &bl, &[]);
    pair_by_ticket(&al, &ap, &["--own-device"]);
    pair_by_ticket(&bl, &bt, &["--own-device"]);
    let tablet = own_id(&bt);
    let first = sync_with(&al, &bl);
    assert!(
        first
            .stderr
            .contains("notice: a new device 'tablet' was added to Bob on"),
        "{}",
        first.stderr
    );
    // Not once: at every command until acknowledged.
    for args in [&["journal", "list"][..], &["today"], &["journal", "list"]] {
        let r = al.run(args);
        assert!(
            r.stderr.contains("a new device 'tablet' was added to Bob"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("duo devices ack"), "{}", r.stderr);
    }
    assert_eq!(notice_of(&al, &tablet), "added");
    let status = al.run(&["status", "--json"]).json();
    assert_eq!(status["notices"][0]["device"], tablet.as_str(), "{status}");
    assert_eq!(status["notices"][0]["notice"], "added", "{status}");
    assert!(al.run(&["status"]).ok().contains("Notices      1 change about devices"));
    let safety = al.run(&["safety"]).ok().to_string();
    assert!(
        safety.contains("'tablet', added") && safety.contains("NEW (added), not yet acknowledged"),
        "{safety}"
    );
    assert_eq!(
        al.run(&["safety", "--json"]).json()["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == tablet.as_str())
            .unwrap()["notice"],
        "added"
    );

    // Alice's phone gets the tablet from her laptop and shows the notice too.
    let phone_first = sync_with(&ap, &al);
    assert!(
        phone_first.stderr.contains("a new device 'tablet' was added to Bob"),
        "{}",
        phone_first.stderr
    );

    // Acknowledged on the laptop: writes nothing to the shared space.
    let space_before = snapshot(&al.home().join("space"));
    let ack = al.run(&["devices", "ack"]);
    assert!(
        ack.ok().contains("Read: a new device 'tablet' was added to Bob")
            || ack.stderr.contains("Read: a new device 'tablet'"),
        "{} {}",
        ack.stdout,
        ack.stderr
    );
    assert_eq!(
        snapshot(&al.home().join("space")),
        space_before,
        "an acknowledgement must not touch the shared space"
    );
    let after = al.run(&["journal", "list"]);
    assert!(!after.stderr.contains("notice:"), "{}", after.stderr);
    assert!(notice_of(&al, &tablet).is_null());
    assert_eq!(al.run(&["status", "--json"]).json()["notices"], serde_json::json!([]));
    assert!(!al.run(&["safety"]).ok().contains("NEW ("));
    assert_eq!(
        al.run(&["devices", "ack", "--json"]).json()["acknowledged"],
        serde_json::json!([])
    );

    // The phone syncs with the laptop again: its notice stays (the laptop's ack is the
    // laptop's alone), until the phone's own ack.
    sync_with(&ap, &al);
    assert!(
        ap.run(&["journal", "list"])
            .stderr
            .contains("a new device 'tablet' was added to Bob")
    );
    assert_eq!(notice_of(&ap, &tablet), "added");
    let acked = ap.run(&["devices", "ack", "--json"]).json();
    assert_eq!(acked["acknowledged"][0]["device"], tablet.as_str(), "{acked}");
    assert!(!ap.run(&["journal", "list"]).stderr.contains("notice:"));

    // Bob's laptop syncs with Alice's laptop after her ack: nothing of it is in what Bob's
    // device holds (decrypted with stock age and Bob's own key).
    sync_with(&bl, &al);
    if let Some(found) = decrypted_contains(&bl, "space", "seen") {
        assert!(!found, "an acknowledgement reached the partner's store");
    }
    if let Some(found) = decrypted_contains(&al, "space", "seen") {
        assert!(!found, "an acknowledgement is in Alice's shared space");
    }
}

/// Alice revokes her phone on her laptop. Her laptop, which did it, shows nothing; Bob's
/// laptop shows the revocation at every command after the sync that brings it, in
/// `devices`, `status` and `safety`, until Bob acknowledges it there.
#[test]
fn a_revocation_is_shown_to_the_partner_until_acknowledged() {
    let al = device("Alice", "laptop");
    let ap = device("Ali", "phone");
    let bl = device("Bob", "laptop");
    pair_by_ticket(&al, &bl, &[]);
    pair_by_ticket(&al, &ap, &["--own-device"]);
    let phone = own_id(&ap);
    sync_with(&bl, &al);
    bl.run(&["devices", "ack"]).ok();
    assert!(!bl.run(&["journal", "list"]).stderr.contains("notice:"));

    al.run(&["devices", "revoke", &phone, "--yes"]).ok();
    let own = al.run(&["journal", "list"]);
    assert!(
        !own.stderr.contains("notice:"),
        "the revoking device did it itself: {}",
        own.stderr
    );

    let r = sync_with(&bl, &al);
    assert!(r.stderr.contains("Alice's device 'phone'"), "{}", r.stderr);
    for _ in 0..2 {
        let list = bl.run(&["journal", "list"]);
        assert!(
            list.stderr.contains(&format!(
                "notice: Alice's device 'phone' ({}) was revoked from the space",
                &phone[..12]
            )),
            "{}",
            list.stderr
        );
    }
    assert_eq!(notice_of(&bl, &phone), "revoked");
    assert_eq!(bl.run(&["status", "--json"]).json()["notices"][0]["notice"], "revoked");
    assert!(bl.run(&["safety"]).ok().contains("NEW (revoked)"));
    bl.run(&["devices", "ack"]).ok();
    assert!(!bl.run(&["journal", "list"]).stderr.contains("notice:"));
    assert!(notice_of(&bl, &phone).is_null());
}

/// `duo status` says whether this device is reachable now and, for one's own devices only,
/// when each last synced with this one; a backup carries no such time.
#[test]
fn status_says_reachable_and_when_own_devices_last_synced() {
    let al = with_work(device("Alice", "laptop"));
    let ap = device("Ali", "phone");
    let bl = device("Bob", "laptop");
    pair_by_ticket(&al, &bl, &[]);
    pair_by_ticket(&al, &ap, &["--own-device"]);
    let (phone, bob) = (own_id(&ap), own_id(&bl));

    let st = al.run(&["status", "--json"]).json();
    assert_eq!(st["reachable_now"], false, "{st}");
    assert_eq!(st["own_devices"][0]["id"], phone.as_str(), "{st}");
    assert!(st["own_devices"][0]["last_synced"].is_null(), "{st}");
    assert!(al.run(&["status"]).ok().contains("not reachable now"));

    sync_with(&al, &ap);
    sync_with(&al, &bl);
    let st = al.run(&["status", "--json"]).json();
    let own = st["own_devices"].as_array().unwrap();
    assert_eq!(own.len(), 1, "only Alice's own other devices: {st}");
    assert_eq!(own[0]["id"], phone.as_str());
    assert!(own[0]["last_synced"].is_string(), "{st}");
    assert!(!st.to_string().contains(&bob), "nothing of the partner's device: {st}");
    let text = al.run(&["status"]).ok().to_string();
    assert!(
        text.contains("Your device  'phone'") && text.contains("last synced with this one"),
        "{text}"
    );
    // Bob's status says nothing of Alice's devices' timing.
    let bst = bl.run(&["status", "--json"]).json();
    assert_eq!(bst["own_devices"], serde_json::json!([]), "{bst}");

    // Reachable while a watcher runs here.
    {
        let mut watch = al.spawn(&["sync", "--watch"]);
        watch.wait_for("Online", Duration::from_secs(60));
        assert_eq!(al.run(&["status", "--json"]).json()["reachable_now"], true);
        assert!(al.run(&["status"]).ok().contains("reachable now"));
    }

    // A backup carries no sync time: the restored device has none.
    let pf = passphrase_file(&al, PASSPHRASE);
    let file = al.dir.path().join("backup.duobackup");
    al.run(&[
        "backup",
        file.to_str().unwrap(),
        "--passphrase-file",
        pf.to_str().unwrap(),
    ])
    .ok();
    let plain = age::decrypt(
        &age::scrypt::Identity::new(age::secrecy::SecretString::from(PASSPHRASE)),
        &std::fs::read(&file).unwrap(),
    )
    .unwrap();
    assert!(
        !plain.windows(11).any(|w| w == b"last_synced"),
        "the backup carries sync times"
    );
    let fresh = with_work(Device::blank());
    restore(&fresh, &file, &[]).ok();
    let st = fresh.run(&["status", "--json"]).json();
    for d in st["own_devices"].as_array().unwrap() {
        assert!(d["last_synced"].is_null(), "a restored device knows no sync time: {st}");
    }
}
