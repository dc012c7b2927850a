//! `duo service`: the generated unit (checked by systemd's own `systemd-analyze verify`),
//! idempotent install and uninstall, and the safety rules: no secret and no relay from the
//! environment in the unit, a locked device's service holds no key until `duo unlock`,
//! `duo leave` disables it and `leave --wipe` removes it.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A device whose user has their own HOME and config directory (where the unit goes).
fn device() -> (Device, tempfile::TempDir) {
    let mut d = Device::new("Alice");
    let user = tempfile::tempdir().unwrap();
    d.env.push(("HOME".into(), user.path().display().to_string()));
    d.env.push((
        "XDG_CONFIG_HOME".into(),
        user.path().join("config").display().to_string(),
    ));
    (d, user)
}

fn unit(user: &tempfile::TempDir) -> PathBuf {
    let user = user.path();
    user.join("config/systemd/user/duo.service")
}

fn wants(user: &tempfile::TempDir) -> PathBuf {
    let user = user.path();
    user.join("config/systemd/user/default.target.wants/duo.service")
}

#[test]
fn install_writes_a_valid_unit_for_this_home_with_no_secret_and_is_idempotent() {
    let (mut d, user) = device();
    // A relay in the environment at install time must not end up in the unit.
    d.env.push(("DUO_RELAY".into(), "https://relay.example.org".into()));
    let r = d.run(&["service", "install"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Installed the service"), "{}", r.stderr);
    let text = std::fs::read_to_string(unit(&user)).unwrap();
    let exe = Path::new(BIN).canonicalize().unwrap();
    assert!(
        text.contains(&format!("ExecStart=\"{}\" sync --watch --service\n", exe.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("Environment=\"DUO_HOME={}\"\n", d.home().display())),
        "{text}"
    );
    assert!(
        !text.contains("relay.example.org"),
        "the relay comes from the home only: {text}"
    );
    assert!(
        text.contains("UnsetEnvironment=DUO_RELAY DUO_RELAY_CA DUO_BIND DUO_DISCOVERY"),
        "{text}"
    );
    assert!(text.contains("StandardOutput=null"), "{text}");
    // Nothing secret: no key file's content, no path into keys/.
    for f in files_under(&d.home().join("keys")) {
        let bytes = std::fs::read(&f).unwrap();
        let key = String::from_utf8_lossy(&bytes);
        for line in key.lines().filter(|l| l.len() > 20 && !l.starts_with('#')) {
            assert!(!text.contains(line), "a key line is in the unit");
        }
    }
    assert!(!text.contains("keys/"), "{text}");
    let link = std::fs::read_link(wants(&user)).unwrap();
    assert_eq!(link, Path::new("../duo.service"), "enabled as systemctl does");

    // systemd's own check of the unit.
    if have_tool("systemd-analyze") {
        let runtime = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("systemd-analyze")
            .args(["--user", "verify"])
            .arg(unit(&user))
            .env("XDG_RUNTIME_DIR", runtime.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.trim().is_empty(), "systemd-analyze: {err}");
    }

    // Again: the same file, and it says so.
    let r = d.run(&["service", "install"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Already installed"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(unit(&user)).unwrap(), text);

    let status = d.run(&["service", "status", "--json"]).json();
    assert_eq!(status["installed"], true, "{status}");
    assert_eq!(status["enabled"], true, "{status}");
    assert_eq!(status["reachable_now"], false, "{status}");

    d.run(&["service", "uninstall"]).ok();
    assert!(!unit(&user).exists() && wants(&user).symlink_metadata().is_err());
    let r = d.run(&["service", "uninstall"]);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("nothing changed"), "{}", r.stderr);
    assert_eq!(d.run(&["service", "status", "--json"]).json()["installed"], false);
}

/// Run the service's command line as the user manager would (from the unit itself).
fn start_as_the_manager_would(d: &Device, user: &tempfile::TempDir) -> std::process::Child {
    let text = std::fs::read_to_string(unit(user)).unwrap();
    let exec = text.lines().find_map(|l| l.strip_prefix("ExecStart=")).unwrap();
    let (program, args) = exec.trim_start_matches('"').split_once("\" ").unwrap();
    let home = text
        .lines()
        .find_map(|l| l.strip_prefix("Environment=\"DUO_HOME="))
        .unwrap()
        .trim_end_matches('"');
    let mut c = std::process::Command::new(program);
    c.args(args.split_whitespace()).env_clear().env("DUO_HOME", home);
    for (k, v) in &d.env {
        if k.starts_with("DUO_TEST") || k == "HOME" {
            c.env(k, v);
        }
    }
    // The test's own network settings (loopback, no discovery, no relay).
    c.env("DUO_BIND", "127.0.0.1:0")
        .env("DUO_DISCOVERY", "none")
        .env("DUO_RELAY", "disabled");
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Is a watcher online on this device? (`duo service status` works on a locked device.)
fn online(d: &Device) -> bool {
    d.run(&["service", "status", "--json"]).json()["reachable_now"] == true
}

#[test]
fn a_locked_devices_service_waits_holding_no_key_until_unlock() {
    let (mut d, user) = device();
    let pw = with_passphrase(&mut d);
    d.run(&["lock", "--set", "--passphrase-file", &pw]).ok();
    d.run(&["lock"]).ok();
    d.run(&["service", "install"]).ok();
    let mut service = start_as_the_manager_would(&d, &user);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        service.try_wait().unwrap().is_none(),
        "it waits instead of failing (no restart loop)"
    );
    assert!(!online(&d), "locked: not online");
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", service.id())).unwrap_or_default();
    assert!(!maps.is_empty(), "the waiting process is alive");
    let status = d.run(&["service", "status"]).ok().to_string();
    assert!(status.contains("duo is locked"), "{status}");

    d.run(&["unlock", "--passphrase-file", &pw]).ok();
    let start = Instant::now();
    while !online(&d) {
        assert!(start.elapsed() < Duration::from_secs(30), "online after unlock");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(d.run(&["service", "status", "--json"]).json()["reachable_now"], true);
    service.kill().ok();
    let out = service.wait_with_output().unwrap();
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("Online as"),
        "quiet: no activity reaches the journal: {err}"
    );
}

#[test]
fn leave_disables_the_service_and_leave_wipe_removes_it() {
    let (d, user) = device();
    d.run(&["service", "install"]).ok();
    let r = d.run(&["leave", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("no longer starts at login"), "{}", r.stderr);
    assert!(
        unit(&user).exists() && wants(&user).symlink_metadata().is_err(),
        "disabled, kept"
    );

    let (d, user) = device();
    d.run(&["service", "install"]).ok();
    let r = d.run(&["leave", "--wipe", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !unit(&user).exists() && wants(&user).symlink_metadata().is_err(),
        "removed"
    );
}
