//! Backups are as strong as the lock (issue 12, item 8): a passphrase of at least 8
//! characters, the lock's scrypt floor, help that says a backup holds the person key; the
//! test knobs exist only in test builds; `lock --set` overwrites the plain key files in place.

use crate::harness::{BIN, Device, Run, have_tool};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PASS: &str = "a long passphrase for tests";

/// `program` (with `prefix` arguments before duo's own) in `d`'s environment, as the
/// harness runs the test build of duo.
fn with_program(d: &Device, program: &OsStr, prefix: &[&OsStr], args: &[&str]) -> Command {
    let like = d.command(args);
    let mut c = Command::new(program);
    c.args(prefix).args(like.get_args()).env_clear();
    for (k, v) in like.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Run {
    let o = c.output().expect("run");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn passphrase_file(d: &Device, text: &str) -> PathBuf {
    let p = d.dir.path().join("pw");
    std::fs::write(&p, format!("{text}\n")).unwrap();
    p
}

/// The scrypt work factor (log2 N) in an age file's header.
fn log_n(file: &Path) -> u8 {
    let bytes = std::fs::read(file).unwrap();
    duo_device::lock::scrypt_log_n(&bytes).unwrap_or_else(|| panic!("{} is not a passphrase age file", file.display()))
}

#[test]
fn a_backup_passphrase_shorter_than_8_characters_is_refused_and_nothing_is_written() {
    let mut d = Device::new("Alice");
    d.env.push(("DUO_BACKUP_WORK_FACTOR".into(), "10".into()));
    d.add("Something worth keeping", &[]);
    let file = d.dir.path().join("alice.duobackup");
    let short = passphrase_file(&d, "1234567");
    let err = d
        .run(&[
            "backup",
            file.to_str().unwrap(),
            "--passphrase-file",
            short.to_str().unwrap(),
        ])
        .fails(2)
        .to_string();
    assert!(err.contains("at least 8 characters"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!file.exists(), "no backup file for a short passphrase");
    // Eight characters are enough (as for `duo lock --set`), counted as characters.
    let eight = passphrase_file(&d, "éééééééé");
    d.run(&[
        "backup",
        file.to_str().unwrap(),
        "--passphrase-file",
        eight.to_str().unwrap(),
    ])
    .ok();
    assert!(file.exists());
}

#[test]
fn backup_and_restore_help_say_that_a_backup_holds_the_person_key() {
    let d = Device::blank();
    for cmd in ["backup", "restore"] {
        let help = d.run(&[cmd, "--help"]).ok().to_string();
        assert!(help.contains("person key"), "`duo {cmd} --help`:\n{help}");
    }
    let help = d.run(&["backup", "--help"]).ok().to_string();
    assert!(
        help.contains("at least 8 characters") && help.contains("2^18"),
        "{help}"
    );
    let overview = d.run(&["--help"]).ok().to_string();
    let line = overview.lines().find(|l| l.trim_start().starts_with("backup")).unwrap();
    assert!(
        !line.contains("never a key"),
        "the overview no longer says a backup holds no key: {line}"
    );
}

#[test]
fn lock_set_overwrites_each_plain_key_file_in_place_then_removes_it() {
    if !have_tool("strace") {
        return;
    }
    let mut d = Device::new("Alice");
    d.env.push(("DUO_TEST_SCRYPT_LOG_N".into(), "10".into()));
    let pw = passphrase_file(&d, PASS);
    let keys = d.home().join("keys");
    let mut held = Vec::new();
    for name in ["age.key", "device.key"] {
        let path = keys.join(name);
        let old = std::fs::read(&path).unwrap();
        // A second name for the inode, so its blocks can be read after duo unlinks the first.
        let link = d.dir.path().join(format!("{name}.inode"));
        std::fs::hard_link(&path, &link).unwrap();
        held.push((path, link, old));
    }
    let log = d.dir.path().join("strace.log");
    let trace = "trace=open,openat,creat,truncate,ftruncate,write,pwrite64,fsync,fdatasync,unlink,unlinkat";
    let prefix: Vec<&OsStr> = ["-f", "-qq", "-s", "0", "-e", trace, "-o", log.to_str().unwrap(), BIN]
        .into_iter()
        .map(OsStr::new)
        .collect();
    run(with_program(
        &d,
        OsStr::new("strace"),
        &prefix,
        &["lock", "--set", "--passphrase-file", pw.to_str().unwrap()],
    ))
    .ok();
    let log = std::fs::read_to_string(&log).unwrap();
    for (path, link, old) in &held {
        let p = path.to_str().unwrap();
        assert!(!path.exists(), "{p} is removed");
        let now = std::fs::read(link).unwrap();
        assert_eq!(now.len(), old.len(), "the same inode, its full length overwritten: {p}");
        assert!(
            !now.windows(16).any(|w| old.windows(16).any(|o| o == w)),
            "nothing of the old key is left in its blocks: {p}"
        );
        // The system calls: opened for writing without O_TRUNC (so the same blocks are
        // written, not new ones), written over its whole length, fsynced, then unlinked.
        let quoted = format!("\"{p}\"");
        let lines: Vec<(&str, &str)> = log
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(pid, rest)| (pid, rest.trim_start()))
            .collect();
        let opened: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].1.contains(&quoted) && lines[i].1.starts_with("open"))
            .filter(|&i| lines[i].1.contains("O_WRONLY") || lines[i].1.contains("O_RDWR"))
            .collect();
        assert_eq!(opened.len(), 1, "{p} is opened for writing once:\n{log}");
        let (pid, call) = lines[opened[0]];
        assert!(!call.contains("O_TRUNC"), "opened without truncating: {call}");
        assert!(
            !lines
                .iter()
                .any(|(_, c)| c.contains(&quoted) && c.starts_with("truncate")),
            "never truncated: {log}"
        );
        let fd = call.rsplit("= ").next().unwrap().trim().to_string();
        let later: Vec<&str> = lines[opened[0] + 1..]
            .iter()
            .filter(|(q, _)| *q == pid)
            .map(|(_, c)| *c)
            .collect();
        let unlinked = later
            .iter()
            .position(|c| c.starts_with("unlink") && c.contains(&quoted))
            .unwrap_or_else(|| panic!("{p} is unlinked after it was overwritten:\n{log}"));
        let before = &later[..unlinked];
        let written: usize = before
            .iter()
            .filter(|c| c.starts_with(&format!("write({fd},")) || c.starts_with(&format!("pwrite64({fd},")))
            .filter_map(|c| c.rsplit("= ").next()?.trim().parse::<usize>().ok())
            .sum();
        assert_eq!(written, old.len(), "its whole length is written over: {p}\n{log}");
        assert!(
            before
                .iter()
                .any(|c| c.starts_with(&format!("fsync({fd})")) || c.starts_with(&format!("fdatasync({fd})"))),
            "fsynced before it is unlinked: {p}\n{log}"
        );
        assert!(
            !before.iter().any(|c| c.starts_with(&format!("ftruncate({fd},"))),
            "never truncated: {log}"
        );
    }
}

/// The `duo` binary as `cargo build` makes it: without the test knobs. Built into its own
/// target directory beside this test build's, sharing its build directory, so only duo-device
/// and duo are compiled again (the dependencies are the same).
fn knobless_duo() -> PathBuf {
    let exe = std::env::current_exe().unwrap(); // <build dir>/<profile>/deps/e2e-<hash>
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let build_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev",
        other => other,
    };
    let target_dir = build_dir.join("knobless");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = std::time::Instant::now();
    let out = Command::new(cargo)
        .args([
            "build",
            "--locked",
            "--bin",
            "duo",
            "--profile",
            profile,
            "--target-dir",
        ])
        .arg(&target_dir)
        .env("CARGO_BUILD_BUILD_DIR", build_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo build without test knobs failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("the build without test knobs took {:.1?}", started.elapsed());
    target_dir.join(profile_dir.file_name().unwrap()).join("duo")
}

#[test]
fn a_build_without_test_knobs_ignores_every_knob() {
    let plain = knobless_duo();
    assert!(plain.is_file(), "{}", plain.display());
    let test_build = OsStr::new(BIN);
    let plain = plain.as_os_str();
    let as_built = |bin: &OsStr, d: &Device, args: &[&str]| run(with_program(d, bin, &[], args));
    let year = |d: &Device, bin: &OsStr| -> String {
        let list = as_built(bin, d, &["journal", "list", "--json"]).json();
        list[0]["created_at"].as_str().unwrap()[..4].to_string()
    };

    for (bin, honoured) in [(test_build, true), (plain, false)] {
        // DUO_NOW: a fixed clock in a test build; ignored (not even checked) otherwise.
        let mut d = Device::blank();
        d.now = Some("2001-02-03T04:05:06Z".into());
        as_built(bin, &d, &["init", "--name", "Alice"]).ok();
        as_built(bin, &d, &["journal", "add", "an entry"]).ok();
        assert_eq!(year(&d, bin) == "2001", honoured, "DUO_NOW, {bin:?}");
        d.now = Some("not a date".into());
        let bad = as_built(bin, &d, &["journal", "add", "another"]);
        assert_eq!(bad.code == 2, honoured, "an invalid DUO_NOW, {bin:?}: {}", bad.stderr);

        // DUO_BACKUP_WORK_FACTOR: a backup at 2^4 in a test build; the floor otherwise.
        d.now = None;
        d.env.push(("DUO_BACKUP_WORK_FACTOR".into(), "4".into()));
        let pw = passphrase_file(&d, PASS);
        let file = d.dir.path().join("backup");
        let args = [
            "backup",
            file.to_str().unwrap(),
            "--passphrase-file",
            pw.to_str().unwrap(),
        ];
        as_built(bin, &d, &args).ok();
        let n = log_n(&file);
        assert!(
            if honoured { n == 4 } else { n >= 18 },
            "backup work factor {n}, {bin:?}"
        );

        // DUO_TEST_SCRYPT_LOG_N: a lock at 2^4 in a test build; the floor otherwise.
        d.env.push(("DUO_TEST_SCRYPT_LOG_N".into(), "4".into()));
        as_built(bin, &d, &["lock", "--set", "--passphrase-file", pw.to_str().unwrap()]).ok();
        let n = log_n(&d.home().join("keys/locked.age"));
        assert!(if honoured { n == 4 } else { n >= 18 }, "lock work factor {n}, {bin:?}");
    }
}
