//! Suite 3 (disk errors): a real, small tmpfs (mounted in a private mount namespace made
//! with `unshare -m`, so nothing outside the test sees it) fills up under `duo journal add`.
//! An add that could not be saved prints no "Saved." and no id and exits non-zero; every
//! add acknowledged before stays readable; after space is freed, `duo doctor` finds a
//! healthy store. (EIO on fsync, which a real disk cannot be made to produce on demand, is
//! injected in-process at every step: `crates/device/tests/age_store.rs`.)

use crate::harness::*;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A tmpfs of `size` mounted on `dir` inside a mount namespace held by a `sleep`; gone when
/// dropped (the namespace dies with its last process).
struct SmallDisk {
    holder: Child,
    dir: PathBuf,
}

impl SmallDisk {
    fn new(dir: &Path, size: &str) -> Option<SmallDisk> {
        if !have_tool("unshare") || !have_tool("nsenter") {
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o size={size},mode=0700 duo-test-tmpfs '{}' && echo ready && exec sleep 3600",
                dir.display()
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(holder.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "ready" {
            let _ = holder.kill();
            let out = holder.wait_with_output().unwrap();
            let why = format!(
                "cannot mount a tmpfs in a mount namespace: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{why}");
            }
            eprintln!("skipping: {why}");
            return None;
        }
        Some(SmallDisk {
            holder,
            dir: dir.to_path_buf(),
        })
    }

    /// `path` (inside the tmpfs) as this test process can read it.
    fn seen(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{}", self.holder.id(), path.display()))
    }

    /// `duo args` with its home on the tmpfs, in the namespace.
    fn duo(&self, home: &Path, args: &[&str], input: &str) -> Run {
        let mut child = Command::new("nsenter")
            .args(["-t", &self.holder.id().to_string(), "-m", "--", BIN])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DUO_HOME", home)
            .env("DUO_RELAY", "disabled")
            .env("DUO_DISCOVERY", "none")
            .env("TZ", "UTC")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let o = child.wait_with_output().unwrap();
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn resize(&self, size: &str) {
        let st = Command::new("nsenter")
            .args(["-t", &self.holder.id().to_string(), "-m", "--", "mount", "-o"])
            .arg(format!("remount,size={size}"))
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(st.success(), "remount the tmpfs");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The ids `journal list --all --json` shows (exit 0 required).
fn listed(disk: &SmallDisk, home: &Path) -> BTreeSet<String> {
    let r = disk.duo(home, &["journal", "list", "--all", "--json"], "");
    serde_json::from_str::<serde_json::Value>(r.ok())
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_full_disk_never_acknowledges_an_unsaved_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::new(&tmp.path().join("disk"), "1m") else {
        return;
    };
    let home = disk.dir.join("home");
    disk.duo(&home, &["init", "--name", "Alice"], "").ok();
    let mut acknowledged = BTreeSet::new();
    let mut refused = Vec::new();
    let mut compaction_warnings = 0;
    // Small entries first, so compaction (every 64 files) comes due on the full disk too;
    // then large ones until the disk is full, and a few more after that.
    for i in 0..200 {
        let private = i % 5 == 4;
        let body = if i < 60 {
            format!("small entry {i}\n")
        } else {
            format!("large entry {i}: {}\n", "words that fill the disk ".repeat(1200))
        };
        let mut args = vec!["journal", "add"];
        if private {
            args.push("--private");
        }
        let r = disk.duo(&home, &args, &body);
        assert_ne!(r.code, 101, "add {i} panicked: {}", r.stderr);
        if r.code == 0 {
            assert!(r.stderr.contains("Saved"), "add {i}: {}", r.stderr);
            acknowledged.insert(r.stdout.trim().to_string());
            compaction_warnings += usize::from(r.stderr.contains("could not compact"));
        } else {
            assert!(
                !r.stderr.contains("Saved"),
                "add {i} failed, yet said Saved: {}",
                r.stderr
            );
            assert!(
                r.stdout.trim().is_empty(),
                "add {i} failed, yet printed an id: {}",
                r.stdout
            );
            assert!(
                r.stderr.contains("No space left on device"),
                "add {i}: the error says why: {}",
                r.stderr
            );
            if refused.is_empty() {
                eprintln!("diskfull: first refused add ({i}):\n{}", r.stderr.trim_end());
            }
            refused.push(i);
            if refused.len() >= 8 {
                break;
            }
        }
    }
    assert!(
        refused.len() >= 8,
        "the disk filled up: {} acknowledged",
        acknowledged.len()
    );
    // On the full disk: everything acknowledged reads, nothing else appears.
    let full = listed(&disk, &home);
    assert_eq!(
        full, acknowledged,
        "on the full disk, the acknowledged entries and nothing else"
    );
    // An edit on the full disk fails cleanly too.
    let some = acknowledged.iter().next().unwrap().clone();
    let edit = disk.duo(&home, &["journal", "edit", &some, "an edit that does not fit"], "");
    assert_ne!(edit.code, 101, "{}", edit.stderr);
    if edit.code != 0 {
        assert!(!edit.stderr.contains("Edited"), "{}", edit.stderr);
    }
    let doctor_full = disk.duo(&home, &["doctor"], "");
    eprintln!(
        "diskfull: doctor on the full disk:\n{}{}",
        doctor_full.stdout,
        doctor_full.stderr.trim_end()
    );
    assert_ne!(doctor_full.code, 101, "{}", doctor_full.stderr);
    // Space comes back: a healthy store, every acknowledged entry, and adds work again.
    disk.resize("64m");
    let doctor = disk.duo(&home, &["doctor", "--json"], "");
    assert_eq!(
        doctor.code, 0,
        "healthy once there is space again: {}{}",
        doctor.stdout, doctor.stderr
    );
    let after = listed(&disk, &home);
    assert!(acknowledged.is_subset(&after));
    let new = disk.duo(&home, &["journal", "add"], "written after space was freed\n");
    assert_eq!(new.code, 0, "{}", new.stderr);
    let leftovers: Vec<PathBuf> = files_under(&disk.seen(&home))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no leftovers after doctor: {leftovers:?}");
    eprintln!(
        "diskfull: 1 MiB tmpfs: {} adds acknowledged, {} refused with ENOSPC (none said Saved), \
         {compaction_warnings} compaction warnings, edit on the full disk exited {}, doctor on the \
         full disk exited {}; after resizing: healthy, 0 acknowledged entries lost",
        acknowledged.len(),
        refused.len(),
        edit.code,
        doctor_full.code
    );
}
