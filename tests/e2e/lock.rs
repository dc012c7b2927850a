//! `duo lock --set`, `duo unlock`, `duo lock`, `duo lock --remove`: the real binary, a real
//! agent process, real scrypt (at a low work factor: see DUO_TEST_SCRYPT_LOG_N).

use crate::harness::*;
use std::time::{Duration, Instant};

const PASS: &str = "a long passphrase for tests";

fn locked_device() -> (Device, std::path::PathBuf) {
    let mut d = Device::new("Alice");
    d.env.push(("DUO_TEST_SCRYPT_LOG_N".into(), "12".into()));
    let pw = d.dir.path().join("pw");
    std::fs::write(&pw, format!("{PASS}\n")).unwrap();
    (d, pw)
}

fn agent_socket(d: &Device) -> std::path::PathBuf {
    d.home().join("keys").join("agent.sock")
}

/// Stop a test's agent even when the test fails.
pub(crate) struct Relock<'a>(pub(crate) &'a Device);
impl Drop for Relock<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["lock"]);
    }
}

#[test]
fn locked_keys_need_unlock_once_and_nothing_is_written_while_locked() {
    let (d, pw) = locked_device();
    let _relock = Relock(&d);
    let pw = pw.to_str().unwrap();
    let first = d.add("written before the lock", &[]);
    let age_key = std::fs::read_to_string(d.home().join("keys/age.key")).unwrap();
    let secret_line = age_key
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_string();

    let set = d.run(&["lock", "--set", "--passphrase-file", pw]);
    assert!(set.ok().is_empty());
    assert!(set.stderr.contains("Locked"), "{}", set.stderr);
    assert!(!d.home().join("keys/age.key").exists() && !d.home().join("keys/device.key").exists());
    assert_eq!(
        any_file_contains(&d.home(), &secret_line),
        None,
        "the key is nowhere in plain"
    );
    assert!(
        d.run(&["lock", "--set", "--passphrase-file", pw])
            .fails(1)
            .contains("already locked")
    );

    // Locked: every command that needs the keys says so (exit 4) and writes nothing.
    let files_before = files_under(&d.home());
    for args in [
        vec!["journal", "list"],
        vec!["journal", "add", "while locked"],
        vec!["journal", "show", &first[..8]],
        vec!["status"],
        vec!["doctor"],
        vec!["sync"],
    ] {
        let r = d.run(&args);
        let err = r.fails(4);
        assert!(err.contains("duo is locked — run `duo unlock`"), "{args:?}: {err}");
    }
    assert_eq!(files_under(&d.home()), files_before, "nothing written while locked");

    // A wrong passphrase unlocks nothing.
    let wrong = d.dir.path().join("wrong");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    assert!(
        d.run(&["unlock", "--passphrase-file", wrong.to_str().unwrap()])
            .fails(1)
            .contains("wrong passphrase")
    );
    d.run(&["journal", "list"]).fails(4);

    let t = Instant::now();
    let unlocked = d.run(&["unlock", "--passphrase-file", pw, "--idle", "120"]);
    eprintln!("unlock (scrypt log_n 12 + agent start): {:?}", t.elapsed());
    unlocked.ok();
    assert!(agent_socket(&d).exists());
    let t = Instant::now();
    let second = d.add("written while unlocked", &[]);
    eprintln!("add while unlocked (keys from the agent): {:?}", t.elapsed());
    assert_eq!(d.list(&[]).len(), 2);
    assert!(d.run(&["unlock", "--passphrase-file", pw]).ok().is_empty());
    assert_eq!(any_file_contains(&d.home(), &secret_line), None);

    // `duo lock` forgets now.
    let r = d.run(&["lock"]);
    assert!(r.stderr.contains("Locked now"), "{}", r.stderr);
    assert!(!agent_socket(&d).exists(), "the agent removed its socket");
    d.run(&["journal", "show", &second[..8]]).fails(4);
    assert!(d.run(&["lock"]).stderr.contains("Already locked"));

    // Removing the passphrase needs it, and gives plain key files back.
    assert!(
        d.run(&["lock", "--remove", "--passphrase-file", wrong.to_str().unwrap()])
            .fails(1)
            .contains("wrong passphrase")
    );
    d.run(&["lock", "--remove", "--passphrase-file", pw]).ok();
    assert!(!d.home().join("keys/locked.age").exists());
    let again = std::fs::read_to_string(d.home().join("keys/age.key")).unwrap();
    assert!(again.contains(&secret_line), "the same key, so every file still opens");
    assert_eq!(d.list(&[]).len(), 2);
    assert!(
        d.run(&["unlock", "--passphrase-file", pw])
            .fails(1)
            .contains("no passphrase")
    );
    assert!(d.run(&["lock"]).fails(1).contains("no passphrase"));
}

#[test]
fn the_agent_forgets_after_its_idle_time_and_usage_errors() {
    let (d, pw) = locked_device();
    let _relock = Relock(&d);
    let pw = pw.to_str().unwrap();
    let short = d.dir.path().join("short");
    std::fs::write(&short, "short\n").unwrap();
    assert!(
        d.run(&["lock", "--set", "--passphrase-file", short.to_str().unwrap()])
            .fails(2)
            .contains("at least 8")
    );
    assert!(d.home().join("keys/age.key").exists(), "nothing changed");
    // No terminal and no file: asked nowhere, nothing changed.
    assert!(d.run(&["lock", "--set"]).fails(2).contains("--passphrase-file"));
    d.run(&["lock", "--set", "--passphrase-file", pw]).ok();
    d.run(&["unlock", "--passphrase-file", pw, "--idle", "2"]).ok();
    d.run(&["journal", "list"]).ok();
    // Idle for 2 s: the agent exits on its own (polled, generously bounded).
    let t = Instant::now();
    while agent_socket(&d).exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the agent did not exit when idle"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("agent exited {:?} after the last use (idle 2 s)", t.elapsed());
    d.run(&["journal", "list"]).fails(4);
    // A stale socket (an agent that was killed) does not stop a new unlock.
    std::fs::write(agent_socket(&d), b"").unwrap();
    d.run(&["journal", "list"]).fails(4);
    d.run(&["unlock", "--passphrase-file", pw, "--idle", "60"]).ok();
    d.run(&["journal", "list"]).ok();
}
