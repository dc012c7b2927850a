//! Suite 7 (privacy): private notes with unique marker strings, on two paired devices in
//! their own network namespaces with mDNS on. No marker may appear on the partner's disk,
//! in the partner's decrypted store (list, search, export), in anything either device puts
//! on the wire (every frame on every interface of both namespaces is captured, mDNS
//! included), in what either device prints (every command, `RUST_LOG=trace`, `--quiet` or
//! not), in either data directory at any time (a scanner reads every file of both homes
//! over and over while the test runs), or in `$EDITOR` temporary files.
//!
//! `DUO_TEST_PRIVATE_NOTES` notes (default 100; `just soak`: 1000).

use crate::corruption::env_count;
use crate::harness::*;
use crate::netlab::Link;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Every frame sent or received on every interface of a network namespace (an `AF_PACKET`
/// socket opened inside it).
struct Capture {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Captured>,
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    frames: usize,
    mdns: usize,
}

/// Is this (Ethernet) frame a UDP datagram to or from port 5353?
fn is_mdns(frame: &[u8]) -> bool {
    let udp_ports = |at: usize| {
        frame.len() >= at + 4 && {
            let src = u16::from_be_bytes([frame[at], frame[at + 1]]);
            let dst = u16::from_be_bytes([frame[at + 2], frame[at + 3]]);
            src == 5353 || dst == 5353
        }
    };
    match frame.get(12..14) {
        Some([0x08, 0x00]) if frame.len() > 23 && frame[23] == 17 => udp_ports(14 + usize::from(frame[14] & 0x0f) * 4),
        Some([0x86, 0xdd]) if frame.len() > 20 && frame[20] == 17 => udp_ports(54),
        _ => false,
    }
}

impl Capture {
    fn start(ns: &str) -> Capture {
        let ns = ns.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            crate::netlab::enter(&ns).unwrap();
            // SAFETY: the socket calls get valid pointers and lengths.
            let fd = unsafe {
                let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, (libc::ETH_P_ALL as u16).to_be() as i32);
                assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
                let tv = libc::timeval {
                    tv_sec: 0,
                    tv_usec: 100_000,
                };
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    &tv as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::timeval>() as u32,
                );
                fd
            };
            ready_tx.send(()).unwrap();
            let mut out = Captured::default();
            let mut buf = vec![0u8; 65_536];
            while !flag.load(Ordering::SeqCst) {
                // SAFETY: buf is valid for its length.
                let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
                if n > 0 {
                    let frame = &buf[..n as usize];
                    out.frames += 1;
                    out.mdns += usize::from(is_mdns(frame));
                    out.bytes.extend_from_slice(frame);
                }
            }
            // SAFETY: fd is ours.
            unsafe { libc::close(fd) };
            out
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("capture started");
        Capture { stop, thread }
    }

    fn finish(self) -> Captured {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// Send one UDP datagram from inside namespace `ns` (the capture's control: what goes out
/// in clear must be found).
fn send_in(ns: &str, to: &str, payload: String) {
    let (ns, to) = (ns.to_string(), to.to_string());
    std::thread::spawn(move || {
        crate::netlab::enter(&ns).unwrap();
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.send_to(payload.as_bytes(), to).unwrap();
    })
    .join()
    .unwrap();
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Files below `dirs` that contain `needle` now.
fn files_with(dirs: &[PathBuf], needle: &str) -> Vec<PathBuf> {
    dirs.iter().filter_map(|d| any_file_contains(d, needle)).collect()
}

/// Read every file under `dirs` again and again until stopped; return how many passes
/// were made and every file that ever held `needle`.
fn scanner(dirs: Vec<PathBuf>, needle: String) -> (Arc<AtomicBool>, std::thread::JoinHandle<(usize, Vec<PathBuf>)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let h = std::thread::spawn(move || {
        let mut passes = 0;
        let mut hits = Vec::new();
        while !flag.load(Ordering::SeqCst) {
            hits.extend(files_with(&dirs, &needle));
            passes += 1;
        }
        (passes, hits)
    });
    (stop, h)
}

fn random_hex() -> String {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn private_notes_never_leave_the_device_nor_reach_any_disk_in_clear() {
    let notes = env_count("DUO_TEST_PRIVATE_NOTES", 100);
    let Some(link) = Link::new("prv") else { return };
    for (ns, ifname) in [(&link.a, &link.a_if), (&link.b, &link.b_if)] {
        let st = std::process::Command::new("ip")
            .args(["-n", &ns.name, "route", "add", "224.0.0.0/4", "dev", ifname])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let started = Instant::now();
    // Every marker starts with this; finding it anywhere is a leak.
    let prefix = format!("PRIVNOTE{}", random_hex());
    let scratch = tempfile::tempdir().unwrap();
    let runtime = scratch.path().join("runtime");
    let tmpdir = scratch.path().join("tmp");
    let tools = tempfile::tempdir().unwrap(); // the editor script (holds the marker text)
    for d in [&runtime, &tmpdir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let device = |ns: &str, name: &str| {
        let mut d = Device::blank();
        d.netns = Some(ns.to_string());
        d.env = vec![
            ("DUO_DISCOVERY".into(), "mdns".into()),
            ("DUO_BIND".into(), "0.0.0.0:0".into()),
            ("RUST_LOG".into(), "trace".into()),
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
            ("TMPDIR".into(), tmpdir.display().to_string()),
        ];
        d.run(&["init", "--name", name, "--label", "laptop"]).ok();
        d
    };
    let cap_a = Capture::start(&link.a.name);
    let cap_b = Capture::start(&link.b.name);
    let control = format!("CONTROL{}", random_hex());
    send_in(&link.a.name, &format!("{}:9", crate::netlab::B_ADDR), control.clone());
    let alice = device(&link.a.name, "Alice");
    let bob = device(&link.b.name, "Bob");
    // The data directories, over and over. (Not the editor's directory: the text is in
    // its temporary file while the editor runs, by design; that file must be gone after.)
    let (scan_stop, scan) = scanner(vec![alice.home(), bob.home()], prefix.clone());
    // Everything both devices print, except Alice reading her own notebook.
    let mut printed = String::new();
    let keep = |r: Run, printed: &mut String| {
        printed.push_str(&r.stdout);
        printed.push_str(&r.stderr);
        r
    };
    let mut markers = Vec::new();
    let mut add_note = |i: usize, printed: &mut String| {
        let marker = format!("{prefix}-{i:05}-{}", random_hex());
        let args: Vec<&str> = if i.is_multiple_of(10) {
            vec![
                "journal",
                "add",
                "--private",
                "--kind",
                "boundary",
                "--tag",
                "private-tag",
            ]
        } else {
            vec!["journal", "add", "--private"]
        };
        let r = keep(
            alice.run_stdin(&args, &format!("a private thought {marker}\nsecond line {marker}\n")),
            printed,
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        markers.push(marker);
    };
    for i in 0..notes / 2 {
        add_note(i, &mut printed);
    }
    for i in 0..3 {
        keep(
            alice.run(&["journal", "add", &format!("shared from Alice {i}")]),
            &mut printed,
        )
        .ok();
        keep(
            bob.run(&["journal", "add", &format!("shared from Bob {i}")]),
            &mut printed,
        )
        .ok();
    }
    let (invited, joined) = pair_by_ticket(&alice, &bob, &[]);
    keep(invited, &mut printed);
    keep(joined, &mut printed);
    for i in notes / 2..notes {
        add_note(i, &mut printed);
    }
    // Through the editor (on a terminal): the temporary file must be gone afterwards.
    let editor_record = tools.path().join("editor-files.txt");
    let mut editor_notes = 0;
    let mut replaced = Vec::new(); // markers an edit replaced: no longer shown, still never leaked
    if have_tool("script") {
        let script = tools.path().join("editor.sh");
        let mut with_editor = Device {
            dir: tempfile::tempdir().unwrap(),
            now: None,
            env: alice.env.clone(),
            netns: None,
        };
        // Same home as Alice's device: only the way the command is run differs.
        with_editor
            .env
            .push(("DUO_HOME".into(), alice.home().display().to_string()));
        with_editor.env.push(("EDITOR".into(), script.display().to_string()));
        for i in 0..3 {
            let marker = format!("{prefix}-editor{i}-{}", random_hex());
            write_script(
                &script,
                &format!(
                    "#!/bin/sh\necho \"$1\" >> '{}'\nprintf 'written in the editor {marker}\\n' > \"$1\"\n",
                    editor_record.display()
                ),
            );
            let r = keep(
                run_on_tty(&with_editor, &["journal", "add", "--private"], ""),
                &mut printed,
            );
            assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
            markers.push(marker);
            editor_notes += 1;
        }
        // And an edit of a private note in the editor.
        let newest = alice.list(&["--private"])[0].clone();
        let first = newest["id"].as_str().unwrap().to_string();
        replaced.extend(
            markers
                .iter()
                .filter(|m| newest["body"].as_str().unwrap().contains(m.as_str()))
                .cloned(),
        );
        let marker = format!("{prefix}-edited-{}", random_hex());
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$1\" >> '{}'\nprintf 'rewritten {marker}\\n' > \"$1\"\n",
                editor_record.display()
            ),
        )
        .unwrap();
        let r = keep(run_on_tty(&with_editor, &["journal", "edit", &first], ""), &mut printed);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        markers.push(marker);
    }

    // Both devices online with mDNS announcing; Alice's new shared entry reaches Bob.
    let mut bob_watch = bob.spawn(&["sync", "--watch"]);
    bob_watch.wait_for("Online as", Duration::from_secs(30));
    let mut alice_watch = alice.spawn(&["sync", "--watch"]);
    alice_watch.wait_for("Online as", Duration::from_secs(30));
    keep(alice.run(&["journal", "add", "shared while watching"]), &mut printed).ok();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !bob.bodies(&[]).iter().any(|b| b == "shared while watching") {
        assert!(
            Instant::now() < deadline,
            "the watchers exchange entries: {}",
            bob_watch.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(alice_watch);
    keep(alice.run_within(&["sync"], Duration::from_secs(60)), &mut printed);
    keep(
        alice.run_within(&["sync", "--quiet"], Duration::from_secs(60)),
        &mut printed,
    );
    keep(
        alice.run_within(&["sync", "--json"], Duration::from_secs(60)),
        &mut printed,
    );
    keep(bob.run(&["status"]), &mut printed);
    keep(alice.run(&["status"]), &mut printed);
    keep(alice.run(&["doctor"]), &mut printed);
    // Bob's whole decrypted store, every way he can read it.
    let bob_list = keep(bob.run(&["journal", "list", "--all", "--json"]), &mut printed);
    let bob_entries = serde_json::from_str::<serde_json::Value>(bob_list.ok()).unwrap();
    keep(bob.run(&["journal", "search", &prefix]), &mut printed);
    keep(bob.run(&["journal", "search", "private", "--all"]), &mut printed);
    keep(bob.run(&["journal", "export", "--format", "md", "--all"]), &mut printed);
    keep(
        bob.run(&["journal", "export", "--format", "json", "--all"]),
        &mut printed,
    );
    printed.push_str(&bob_watch.log());
    drop(bob_watch);

    scan_stop.store(true, Ordering::SeqCst);
    let (passes, hits_over_time) = scan.join().unwrap();
    let wire_a = cap_a.finish();
    let wire_b = cap_b.finish();

    // Alice's own notebook holds every note (the test wrote what it thinks it wrote).
    let mine = alice.run(&["journal", "list", "--private", "--json"]);
    let mine_text = mine.ok();
    let total_private = notes + editor_notes;
    let mine_list = serde_json::from_str::<serde_json::Value>(mine_text).unwrap();
    assert_eq!(mine_list.as_array().unwrap().len(), total_private);
    let readable = markers.iter().filter(|m| mine_text.contains(m.as_str())).count();
    assert_eq!(
        readable + replaced.len(),
        markers.len(),
        "every current marker is readable by its owner"
    );

    // Bob has the shared entries and not one private note.
    assert_eq!(bob_entries.as_array().unwrap().len(), 7, "{bob_entries}");
    assert!(
        !contains(printed.as_bytes(), &prefix),
        "a marker in what a device printed"
    );
    assert!(files_with(&[bob.home()], &prefix).is_empty(), "a marker on Bob's disk");
    assert!(
        files_with(&[alice.home()], &prefix).is_empty(),
        "a marker in Alice's data directory"
    );
    assert!(
        hits_over_time.is_empty(),
        "a marker on disk at some point: {hits_over_time:?}"
    );
    assert!(
        files_with(&[runtime.clone(), tmpdir.clone()], &prefix).is_empty(),
        "a marker in a temp dir"
    );
    if editor_notes > 0 {
        let used = std::fs::read_to_string(&editor_record).unwrap();
        for p in used.lines() {
            assert!(!Path::new(p).exists(), "the editor's temporary file {p} is gone");
            assert!(p.starts_with(runtime.to_str().unwrap()), "in XDG_RUNTIME_DIR: {p}");
        }
        assert_eq!(used.lines().count(), editor_notes + 1);
    }
    for (who, w) in [("Alice's namespace", &wire_a), ("Bob's namespace", &wire_b)] {
        assert!(w.mdns > 0, "{who}: mDNS was captured (else this proves nothing)");
        assert!(contains(&w.bytes, &control), "{who}: the control datagram was captured");
        assert!(!contains(&w.bytes, &prefix), "a marker on the wire in {who}");
    }
    eprintln!(
        "privacy: {} private notes ({} through the editor, 1 edit) with unique markers; 0 found on \
         Bob's disk, in Bob's list/search/export, in {} bytes printed by both devices \
         (RUST_LOG=trace, --quiet and not), in {} + {} frames ({} + {} mDNS, {} + {} bytes) \
         captured in the two namespaces, in {passes} scans of both data directories while the test \
         ran, or in the editor's temp files; {:.1?}",
        markers.len(),
        editor_notes,
        printed.len(),
        wire_a.frames,
        wire_b.frames,
        wire_a.mdns,
        wire_b.mdns,
        wire_a.bytes.len(),
        wire_b.bytes.len(),
        started.elapsed()
    );
}
