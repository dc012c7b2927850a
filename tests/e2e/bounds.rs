//! A paired peer cannot exhaust a device's memory, abort it, or make it leave a core file
//! (issue 12, item 6), played against the real `duo` binary: a modified client with Bob's
//! own device keys dials Alice's running `duo sync --watch` and sends crafted sync frames
//! (`crates/device/tests/common/crafted.rs`, the same peer `crates/device/tests/hostile.rs`
//! plays against the sync service).

#[path = "../../crates/device/tests/common/crafted.rs"]
mod crafted;

use crate::harness::*;
use crafted::{Script, UNKNOWN, status_kib, sync_message};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

/// The address space a victim may use here: if a bound ever breaks, its allocation fails
/// at once (an abort, which the test sees) instead of taking the machine's memory.
const VICTIM_ADDRESS_SPACE: u64 = 4 << 30;

/// Set a resource limit in a child before it runs duo.
fn limit_in_child(c: &mut Command, resource: libc::__rlimit_resource_t, soft: u64, hard: u64) {
    // SAFETY: setrlimit is async-signal-safe; the closure allocates nothing.
    unsafe {
        c.pre_exec(move || {
            let l = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(resource, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `duo sync --watch` on `dev`, online, its address space capped.
fn watch_capped(dev: &Device) -> Bg {
    let mut c = dev.command(&["sync", "--watch"]);
    limit_in_child(&mut c, libc::RLIMIT_AS, VICTIM_ADDRESS_SPACE, VICTIM_ADDRESS_SPACE);
    let mut bg = Bg::start(c, "duo sync --watch (address space capped)");
    bg.wait_for("Online", Duration::from_secs(60));
    bg
}

/// With `attacker`'s own device key (a modified client of the paired device), dial
/// `victim`'s running watcher and play each script on a sync stream of its own. Each must
/// end with the victim ending the session, and the watcher still running.
fn attack(victim: &Device, watch: &mut Bg, attacker: &Device, scripts: Vec<(&str, Script)>) {
    let opened = duo_device::Home::new(attacker.home())
        .open()
        .expect("the attacker's own home");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(victim.home().join("config.json")).unwrap()).unwrap();
    let id: iroh::EndpointId = config["device_id"].as_str().unwrap().parse().unwrap();
    let port = config["port"].as_u64().expect("the victim's port") as u16;
    let addr = iroh::EndpointAddr::new(id).with_ip_addr(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ep = duo_device::net::endpoint(
            opened.device_secret().clone(),
            "127.0.0.1:0".parse().unwrap(),
            duo_device::net::Members::default(),
            vec![],
        )
        .await
        .unwrap();
        for (what, script) in scripts {
            let conn = ep
                .connect(addr.clone(), duo_device::net::SYNC_ALPN)
                .await
                .expect("the victim's watcher answers");
            let (mut send, mut recv) = conn.open_bi().await.unwrap();
            let played =
                tokio::time::timeout(Duration::from_secs(30), crafted::play(&mut recv, &mut send, &script)).await;
            eprintln!("{what}: the victim ended the session ({played:?})");
            assert!(
                matches!(played, Ok(Err(_))),
                "{what}: the victim did not end the session: {played:?}"
            );
            conn.close(0u32.into(), b"");
            // A session's end is not the process's.
            tokio::time::sleep(Duration::from_millis(200)).await;
            watch.assert_running();
        }
        ep.close().await;
    });
}

#[test]
fn crafted_sync_messages_neither_abort_nor_bloat_a_watching_device() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    alice.add("Alice's entry before the attack", &[]);
    let mut watch = watch_capped(&alice);
    let pid = watch.pid().to_string();
    // The shared space's files, but the view (a cache the watcher may write any time).
    let stored = |d: &Device| {
        files_under(&d.home().join("space"))
            .into_iter()
            .filter(|f| !f.to_string_lossy().contains("view"))
            .map(|f| (std::fs::read(&f).unwrap(), f))
            .collect::<Vec<_>>()
    };
    let before = stored(&alice);
    let peak_before = status_kib(&pid, "VmHWM");
    let bomb = duo_journal::fuzzing::many_operations(1_000_000);
    let mut empties = Vec::new();
    crafted::uleb(&mut empties, 1_000_000);
    empties.extend(std::iter::repeat_n(0u8, 1_000_000));
    attack(
        &alice,
        &mut watch,
        &bob,
        vec![
            (
                "a Bloom filter of 4294967295 probes",
                Script::messages(vec![crafted::bloom_bomb()]),
            ),
            (
                "a million operations in a sync message",
                Script::messages(vec![sync_message(&[UNKNOWN], &[], None, &[&bomb])]),
            ),
            (
                "a million operations in a hello",
                Script {
                    hello: Some(crafted::hello(&[&bomb])),
                    ..Script::default()
                },
            ),
            (
                "a million empty changes in a catch-up",
                Script {
                    catch_up: Some(empties),
                    ..Script::default()
                },
            ),
        ],
    );
    watch.assert_running();
    let peak_after = status_kib(&pid, "VmHWM");
    eprintln!("the watcher's peak memory: {peak_before} KiB before the attack, {peak_after} KiB after");
    assert!(
        peak_after <= peak_before + (32 << 10),
        "the watcher's peak memory grew from {peak_before} to {peak_after} KiB"
    );
    assert!(stored(&alice) == before, "nothing of the attack was stored");
    // Still serving: Bob's honest duo syncs a new entry to the watcher.
    bob.add("Bob's entry after the attack", &[]);
    let report = bob.run(&["sync", "--json"]).json();
    assert_eq!(report["reached"], 1, "{report}");
    assert!(alice.bodies(&[]).contains(&"Bob's entry after the attack".to_string()));
    watch.assert_running();
}

/// `duo sync --watch` and `duo pair`, while they run: a core file size limit of 0 (soft and
/// hard) and not dumpable, whatever limit they were started with. (Not dumpable shows as
/// `/proc/<pid>` belonging to root; when the test runs as root, the commands run as
/// `nobody` so that this means something.)
#[test]
fn networked_commands_cannot_dump_core() {
    const NOBODY: u32 = 65534;
    let alice = Device::new("Alice");
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        let out = Command::new("chown")
            .args(["-R", &format!("{NOBODY}:{NOBODY}")])
            .arg(alice.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "chown: {out:?}");
    }
    for (args, needle) in [
        (&["sync", "--watch"][..], "Online"),
        (&["pair", "--ticket", "--yes"][..], "Waiting"),
    ] {
        let mut c = alice.command(args);
        // Started allowed to dump core (as large as this process may allow).
        let mut now = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit with a valid pointer.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut now) }, 0);
        let most = if as_root { libc::RLIM_INFINITY } else { now.rlim_max };
        limit_in_child(&mut c, libc::RLIMIT_CORE, most, most);
        if as_root {
            c.uid(NOBODY).gid(NOBODY);
        }
        let mut bg = Bg::start(c, &format!("duo {}", args.join(" ")));
        bg.wait_for(needle, Duration::from_secs(60));
        let proc_dir = format!("/proc/{}", bg.pid());
        let limits = std::fs::read_to_string(format!("{proc_dir}/limits")).unwrap();
        let core: Vec<&str> = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max core file size"))
            .expect("a core file line")
            .split_whitespace()
            .collect();
        assert_eq!(core[..2], ["0", "0"], "duo {args:?}: {limits}");
        let status = std::fs::read_to_string(format!("{proc_dir}/status")).unwrap();
        let uid: u32 = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse().ok())
            .expect("Uid in status");
        assert_ne!(uid, 0, "the command runs as a user whose files are not root's");
        let owner = std::fs::metadata(format!("{proc_dir}/status")).unwrap().uid();
        assert_eq!(
            owner, 0,
            "duo {args:?} runs as {uid} and is not dumpable, so /proc/<pid>/status belongs to root (it belongs to {owner})"
        );
        bg.assert_running();
    }
}
