//! A paired-but-malicious peer and crowds of strangers, over real iroh endpoints on
//! loopback, against the real sync service: oversized frames, garbage, endless rounds that
//! change nothing, a slow trickle, empty document parts, thousands of streams and
//! connections, and connections from endpoint ids that are not paired.
//!
//! Counts come from env vars with small CI defaults (`just soak-hostile` runs the large
//! ones): `DUO_TEST_STRANGERS` (default 100), `DUO_TEST_STREAMS` (default 200);
//! `DUO_TEST_STRANGERS_LINGER=<seconds>` watches Bob's memory that long after the strangers.
//! Memory is the process's resident set (`/proc/self/status`); the tests of this file run
//! one at a time so that one test's memory is not another's, and the strangers run in a
//! child process (this binary again) so that the figures are Bob's alone. Figures are
//! printed (`-- --nocapture`) and bounded generously; timings are printed, never asserted.

mod common;

use common::crafted::{self, Script};
use common::{bodies, device, write};
use duo_device::frame::write_frame;
use duo_device::net::{self, BUSY, MAX_SESSIONS, Members, NOT_PAIRED, SYNC_ALPN, SyncService};
use duo_device::session::Limits;
use duo_device::{AgeStore, Opened};
use iroh::endpoint::{Connection, ConnectionError, VarInt};
use iroh::protocol::Router;
use iroh::{Endpoint, EndpointAddr, SecretKey};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type Reports = UnboundedReceiver<(iroh::EndpointId, Result<net::Report, String>)>;

fn count(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A field of /proc/self/status in KiB (VmRSS: now; VmHWM: the peak so far).
fn vm(field: &str) -> u64 {
    crafted::status_kib("self", field)
}

/// Short deadlines so that CI does not wait; the production values are larger.
fn test_limits() -> Limits {
    Limits {
        max_frame: 8 << 20,
        max_document: 64 << 20,
        read_timeout: Duration::from_secs(2),
        deadline: Duration::from_secs(4),
        max_idle_rounds: 8,
        max_rounds: 256,
        max_items: 1 << 18,
    }
}

/// Bob, serving his shared space to `allowed` (and nobody else) on loopback.
struct Bob {
    _dir: tempfile::TempDir,
    opened: Opened,
    addr: EndpointAddr,
    router: Router,
    service: SyncService,
    reports: Reports,
}

async fn bob(allowed: &[iroh::EndpointId]) -> Bob {
    let (dir, opened) = device("Bob");
    write(&opened, "bob's first entry");
    write(&opened, "bob's second entry");
    let members = Members::from_ids(
        allowed
            .iter()
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    );
    let ep = net::endpoint(
        opened.device_secret().clone(),
        "127.0.0.1:0".parse().unwrap(),
        members,
        vec![SYNC_ALPN.to_vec()],
    )
    .await
    .unwrap();
    let addr = EndpointAddr::new(ep.id()).with_ip_addr(ep.bound_sockets()[0]);
    let journal = Arc::new(duo_journal::Journal::<AgeStore>::new(opened.space.storage().clone()));
    let (tx, reports) = tokio::sync::mpsc::unbounded_channel();
    let service = SyncService::new(journal).with_reports(tx).with_limits(test_limits());
    let router = Router::builder(ep).accept(SYNC_ALPN, service.clone()).spawn();
    Bob {
        _dir: dir,
        opened,
        addr,
        router,
        service,
        reports,
    }
}

impl Bob {
    /// What Bob's journal holds, to compare before and after an attack.
    fn state(&self) -> (Vec<String>, Vec<automerge::ChangeHash>) {
        (bodies(&self.opened), self.opened.space.load().unwrap().heads())
    }

    /// The result of the next session Bob served (waiting at most `within`).
    async fn next(&mut self, within: Duration) -> Result<net::Report, String> {
        tokio::time::timeout(within, self.reports.recv())
            .await
            .expect("bob's session ended in time")
            .expect("bob reports")
            .1
    }
}

async fn client(secret: SecretKey) -> Endpoint {
    net::endpoint(secret, "127.0.0.1:0".parse().unwrap(), Members::default(), vec![])
        .await
        .unwrap()
}

/// Mallory: a paired device that does not follow the protocol, and Bob, who lets her in.
async fn mallory_and_bob() -> (Endpoint, Bob) {
    let secret = SecretKey::generate();
    let bob = bob(&[secret.public()]).await;
    (client(secret).await, bob)
}

/// Mallory connects and opens the sync stream.
async fn open(ep: &Endpoint, bob: &Bob) -> (Connection, iroh::endpoint::SendStream, iroh::endpoint::RecvStream) {
    let conn = ep.connect(bob.addr.clone(), SYNC_ALPN).await.unwrap();
    let (send, recv) = conn.open_bi().await.unwrap();
    (conn, send, recv)
}

/// A hello (postcard, as `session.rs` encodes it) announcing a head Bob does not know.
fn hello() -> Vec<u8> {
    common::hello(vec![[7u8; 32]], vec![[9u8; 32]])
}

/// Bob's memory (KiB) now and at its peak, to print beside the figures.
fn memory() -> (u64, u64) {
    (vm("VmRSS"), vm("VmHWM"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused_before_allocation() {
    let _serial = SERIAL.lock().await;
    let (ep, mut bob) = mallory_and_bob().await;
    let before = bob.state();
    let (_, hwm0) = memory();
    // 1. A frame that claims 4 GiB: refused on its header.
    let (_c, mut send, _r) = open(&ep, &bob).await;
    send.write_all(&[1, 3, 0xff, 0xff, 0xff, 0xff]).await.unwrap();
    let err = bob.next(Duration::from_secs(20)).await.unwrap_err();
    assert!(err.contains("limit"), "{err}");
    // 2. Frames that claim just under the cap and then send nothing, on MAX_SESSIONS
    //    connections at once: no memory is reserved for bytes that never come.
    let mut held = Vec::new();
    for _ in 0..MAX_SESSIONS {
        let (c, mut send, r) = open(&ep, &bob).await;
        let len = (test_limits().max_frame as u32).to_be_bytes();
        send.write_all(&[1, 3, len[0], len[1], len[2], len[3], 0])
            .await
            .unwrap();
        held.push((c, send, r));
    }
    for _ in 0..MAX_SESSIONS {
        let err = bob.next(Duration::from_secs(20)).await.unwrap_err();
        assert!(err.contains("did not answer"), "{err}");
    }
    let (_, hwm1) = memory();
    let grew = hwm1.saturating_sub(hwm0);
    eprintln!(
        "oversized: peak memory grew {grew} KiB while {MAX_SESSIONS} sessions each were told of a {} MiB frame",
        test_limits().max_frame >> 20
    );
    assert!(
        grew < (test_limits().max_frame as u64 >> 10),
        "peak memory grew {grew} KiB: less than one announced frame may be reserved in all"
    );
    assert_eq!(bob.state(), before, "nothing changed");
    drop(held);
    bob.router.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_ends_the_session_and_changes_nothing() {
    let _serial = SERIAL.lock().await;
    let (ep, mut bob) = mallory_and_bob().await;
    let before = bob.state();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rounds = 0;
    for len in [1usize, 6, 7, 64, 4096, 100_000] {
        let mut garbage = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            garbage.push(seed as u8);
        }
        // Half the time with a valid frame header, so the payload is what gets decoded.
        if len > 6 && len % 2 == 0 {
            garbage[0] = 1;
            garbage[1] = 3;
            garbage[2..6].copy_from_slice(&((len - 6) as u32).to_be_bytes());
        }
        let (_c, mut send, _r) = open(&ep, &bob).await;
        send.write_all(&garbage).await.unwrap();
        let _ = send.finish();
        let err = bob.next(Duration::from_secs(20)).await.unwrap_err();
        eprintln!("garbage of {len} bytes: {err}");
        rounds += 1;
    }
    assert_eq!(rounds, 6);
    assert_eq!(bob.state(), before, "nothing changed");
    bob.router.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_rounds_that_change_nothing_are_cut_off() {
    use automerge::sync::SyncDoc;
    let _serial = SERIAL.lock().await;
    let (ep, mut bob) = mallory_and_bob().await;
    let before = bob.state();
    let useless = duo_journal::SpaceDoc::new()
        .automerge()
        .sync()
        .generate_sync_message(&mut automerge::sync::State::new())
        .unwrap()
        .encode();
    let (_c, mut send, mut recv) = open(&ep, &bob).await;
    let start = Instant::now();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let pump = tokio::spawn(async move {
        write_frame(&mut send, 3, &hello()).await?;
        write_frame(&mut send, 4, &postcard::to_allocvec::<Vec<Vec<u8>>>(&vec![]).unwrap()).await?;
        loop {
            write_frame(&mut send, 1, &useless).await?;
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        #[allow(unreachable_code)]
        Ok::<(), duo_device::frame::FrameError>(())
    });
    let drain = tokio::spawn(async move { while recv.read_chunk(1 << 16).await.ok().flatten().is_some() {} });
    let err = bob.next(Duration::from_secs(30)).await.unwrap_err();
    eprintln!(
        "no-progress rounds: cut off after {:?} ({} useless messages sent): {err}",
        start.elapsed(),
        sent.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(err.contains("no progress"), "{err}");
    pump.abort();
    drain.abort();
    assert_eq!(bob.state(), before, "nothing changed");
    bob.router.shutdown().await.unwrap();
}

/// A peer that announces a document and sends it one byte at a time, each part in time
/// for the read deadline: before the session deadline existed this kept a session (and a
/// copy of the journal) alive for as long as the peer liked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_trickle_is_cut_off_by_the_session_deadline() {
    let _serial = SERIAL.lock().await;
    let (ep, mut bob) = mallory_and_bob().await;
    let before = bob.state();
    let (_c, mut send, mut recv) = open(&ep, &bob).await;
    let start = Instant::now();
    let pump = tokio::spawn(async move {
        write_frame(&mut send, 3, &hello()).await?;
        write_frame(&mut send, 5, &(1u64 << 20).to_be_bytes()).await?;
        loop {
            write_frame(&mut send, 6, b"x").await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        #[allow(unreachable_code)]
        Ok::<(), duo_device::frame::FrameError>(())
    });
    let drain = tokio::spawn(async move { while recv.read_chunk(1 << 16).await.ok().flatten().is_some() {} });
    let err = bob.next(Duration::from_secs(60)).await.unwrap_err();
    let took = start.elapsed();
    eprintln!(
        "trickle: cut off after {took:?} (session deadline {:?}): {err}",
        test_limits().deadline
    );
    assert!(err.contains("cut off"), "{err}");
    pump.abort();
    drain.abort();
    assert_eq!(bob.state(), before, "nothing changed");
    bob.router.shutdown().await.unwrap();
}

/// Empty parts of an announced document made no progress and were accepted for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_document_parts_are_refused() {
    let _serial = SERIAL.lock().await;
    let (ep, mut bob) = mallory_and_bob().await;
    let before = bob.state();
    let (_c, mut send, mut recv) = open(&ep, &bob).await;
    let pump = tokio::spawn(async move {
        write_frame(&mut send, 3, &hello()).await?;
        write_frame(&mut send, 5, &10u64.to_be_bytes()).await?;
        loop {
            write_frame(&mut send, 6, b"").await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), duo_device::frame::FrameError>(())
    });
    let drain = tokio::spawn(async move { while recv.read_chunk(1 << 16).await.ok().flatten().is_some() {} });
    let err = bob.next(Duration::from_secs(60)).await.unwrap_err();
    assert!(err.contains("empty part"), "{err}");
    pump.abort();
    drain.abort();
    assert_eq!(bob.state(), before, "nothing changed");
    bob.router.shutdown().await.unwrap();
}

/// Thousands of streams on one connection, and connection after connection: at most four
/// streams are open at once (QUIC's stream limit), at most MAX_SESSIONS sessions run, the
/// rest are refused as busy, memory stays bounded, and sessions run again afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_streams_and_connections_are_bounded() {
    let _serial = SERIAL.lock().await;
    let streams = count("DUO_TEST_STREAMS", 200);
    let (ep, mut bob) = mallory_and_bob().await;
    let before = bob.state();
    let (rss0, _) = memory();
    let start = Instant::now();
    // One connection, `streams` attempts to open a stream.
    let conn = ep.connect(bob.addr.clone(), SYNC_ALPN).await.unwrap();
    let mut opened = Vec::new();
    for _ in 0..streams {
        match tokio::time::timeout(Duration::from_millis(200), conn.open_bi()).await {
            Ok(Ok((mut s, r))) => {
                let _ = s.write_all(&[1]).await;
                opened.push((s, r));
            }
            _ => break,
        }
    }
    eprintln!(
        "streams: {} of {streams} could be opened on one connection",
        opened.len()
    );
    assert!(opened.len() <= 4, "{} streams open at once", opened.len());
    drop(opened);
    conn.close(VarInt::from_u32(0), b"");
    let _ = bob.next(Duration::from_secs(20)).await;
    // Many connections at once, each opening a stream and holding it silent.
    let mut conns = Vec::new();
    let mut refused = 0usize;
    let attempts = streams / 4;
    for _ in 0..attempts {
        let c = ep.connect(bob.addr.clone(), SYNC_ALPN).await.unwrap();
        // A refused connection may already be closed before its stream opens.
        let stream = match c.open_bi().await {
            Ok((mut s, r)) => {
                let _ = s.write_all(&[1]).await;
                Some((s, r))
            }
            Err(_) => None,
        };
        conns.push((c, stream));
    }
    for (c, _) in &conns {
        if let Ok(ConnectionError::ApplicationClosed(close)) =
            tokio::time::timeout(Duration::from_secs(5), c.closed()).await
            && close.error_code == VarInt::from_u32(BUSY)
        {
            refused += 1;
        }
    }
    let (rss1, _) = memory();
    drop(conns);
    // The sessions that got in end on their read deadline; count them.
    // (read deadline, then at most 3 s of wind-down and 3 s waiting for the close)
    tokio::time::sleep(test_limits().read_timeout + Duration::from_secs(8)).await;
    let mut ran = 0usize;
    while bob.reports.try_recv().is_ok() {
        ran += 1;
    }
    eprintln!(
        "connections: {attempts} opened one after another and held, {refused} refused as busy (service counted {}), {ran} sessions ran, at most {} at once; {rss0} KiB resident before, {rss1} KiB while held; {:?}",
        bob.service.refused_busy(),
        bob.service.most_at_once(),
        start.elapsed()
    );
    assert!(bob.service.most_at_once() <= MAX_SESSIONS, "sessions at once");
    // The service's count is the authority: at this scale a client may see a stateless
    // reset instead of the BUSY close (Bob had dropped the connection already).
    let counted = bob.service.refused_busy() as usize;
    assert!(refused <= counted, "{refused} seen busy, {counted} counted");
    assert_eq!(
        counted + ran,
        attempts,
        "every connection either ran a session or was refused"
    );
    // Sessions run again.
    let (_c, mut send, _r) = open(&ep, &bob).await;
    send.write_all(&[1, 3, 0xff, 0xff, 0xff, 0xff]).await.unwrap();
    let err = bob.next(Duration::from_secs(20)).await.unwrap_err();
    assert!(err.contains("limit"), "a session ran again: {err}");
    assert_eq!(bob.state(), before, "nothing changed");
    bob.router.shutdown().await.unwrap();
}

/// Where `stranger_crowd` finds Bob: his `EndpointAddr` as JSON (id and loopback socket;
/// no secret).
const BOB_ADDR: &str = "DUO_TEST_STRANGERS_BOB";

/// Endpoint ids that are not paired: every connection is refused right after the TLS
/// handshake with NOT_PAIRED, and the sync handler never runs (no stream is accepted, so
/// no application byte is read). The strangers run in a child process (this binary again,
/// `stranger_crowd`), so that the memory printed is Bob's alone: his resident set before,
/// every 250 ms while the strangers come, and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_all_refused_after_the_handshake() {
    let _serial = SERIAL.lock().await;
    let n = count("DUO_TEST_STRANGERS", 100);
    let mut bob = bob(&[]).await;
    let before = bob.state();
    // VmHWM from here on (5 resets the peak; older kernels ignore it).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (rss0, _) = memory();
    let start = Instant::now();
    let mut crowd = Crowd::spawn(&bob.addr, n);
    // Generous: 7-46 ms a stranger were measured; this allows a far busier machine.
    let timeout = Duration::from_secs(60) + Duration::from_millis(550) * n as u32;

    let mut lines = crowd.lines();
    let mut samples = vec![rss0]; // every 250 ms
    let mut at = vec![(0, rss0)]; // (strangers done, resident) at each progress line
    let mut summary = None;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                // (The first line follows the harness's "test stranger_crowd ... ".)
                Some(line) => {
                    if let Some((_, done)) = line.split_once("strangers-progress ") {
                        at.push((done.trim().parse::<usize>().unwrap(), vm("VmRSS")));
                    } else if let Some((_, s)) = line.split_once("strangers-summary ") {
                        summary = Some(s.to_string());
                    }
                }
                None => break, // the child closed its stdout: it is ending
            },
            _ = tick.tick() => {
                samples.push(vm("VmRSS"));
                assert!(
                    start.elapsed() < timeout,
                    "the strangers' process did not finish within {timeout:?} ({} strangers done); it was killed. Its stderr:\n{}",
                    at.last().unwrap().0,
                    crowd.stderr()
                );
            }
        }
    }
    let status = crowd.wait(Duration::from_secs(30)).await;
    let took = start.elapsed();
    let (rss1, hwm1) = memory();
    samples.push(rss1);
    assert!(
        status.success(),
        "the strangers' process failed ({status}). Its stderr:\n{}",
        crowd.stderr()
    );
    let summary = summary.unwrap_or_else(|| panic!("no strangers-summary line. Stderr:\n{}", crowd.stderr()));
    let field = |name: &str| -> usize {
        summary
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {summary:?}"))
    };
    let (refused, reset, other) = (field("refused"), field("reset"), field("other"));

    // Bob's resident set when the first stranger at or past `percent` % was done.
    let at_percent = |percent: usize| {
        at.iter()
            .find(|(done, _)| done * 100 >= n * percent)
            .unwrap_or(at.last().unwrap())
    };
    let (ten, half, all) = (at_percent(10), at_percent(50), at_percent(100));
    let per_100 = (all.1 as f64 - ten.1 as f64) * 100.0 / (all.0 - ten.0).max(1) as f64;
    let max = samples.iter().chain(at.iter().map(|(_, rss)| rss)).max().unwrap();
    eprintln!(
        "strangers (in a child process): {refused} of {n} refused with NOT_PAIRED, {reset} reset after the refusal, {other} otherwise, in {took:?} ({:?} each); \
         bob's own resident set: {rss0} KiB before, {} KiB after {} strangers, {} KiB after {}, {} KiB after {}, {rss1} KiB after, at most {max} KiB ({} samples, 250 ms apart); \
         peak (VmHWM since just before the strangers) {hwm1} KiB; {per_100:+.0} KiB per 100 strangers (from {} to {})",
        took / n.max(1) as u32,
        ten.1,
        ten.0,
        half.1,
        half.0,
        all.1,
        all.0,
        samples.len(),
        ten.0,
        all.0,
    );
    let series: Vec<String> = at
        .iter()
        .map(|(done, rss)| format!("{done}: {:.1}", *rss as f64 / 1024.0))
        .collect();
    eprintln!(
        "strangers: bob's resident set (MiB) by strangers done: {}",
        series.join(", ")
    );
    // iroh keeps its state for a remote endpoint (a refused stranger too) until 60 s after
    // its last connection: DUO_TEST_STRANGERS_LINGER=<seconds> watches Bob that long after.
    let linger = count("DUO_TEST_STRANGERS_LINGER", 0);
    if linger > 0 {
        let mut low = u64::MAX;
        for _ in 0..linger * 4 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            low = low.min(vm("VmRSS"));
        }
        eprintln!(
            "strangers: {linger} s after the last one, bob's resident set is {} KiB (lowest {low} KiB)",
            vm("VmRSS")
        );
    }
    if other > 0 {
        eprintln!("the strangers' stderr:\n{}", crowd.stderr());
    }
    assert_eq!(refused + reset, n, "100 % refused ({other} otherwise)");
    assert!(
        bob.reports.try_recv().is_err(),
        "bob's sync handler never ran for a stranger"
    );
    assert_eq!(bob.state(), before);
    bob.router.shutdown().await.unwrap();
}

/// The strangers of `strangers_are_all_refused_after_the_handshake`, in a child process (this
/// test binary run again with `stranger_crowd --exact --ignored`), killed when dropped.
struct Crowd {
    child: std::process::Child,
    stderr: Option<std::thread::JoinHandle<String>>,
    stderr_text: Option<String>,
}

impl Crowd {
    fn spawn(bob: &EndpointAddr, n: usize) -> Crowd {
        use std::process::{Command, Stdio};
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "stranger_crowd",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(BOB_ADDR, serde_json::to_string(bob).unwrap())
            .env("DUO_TEST_STRANGERS", n.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the strangers' process starts");
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
            text
        });
        Crowd {
            child,
            stderr: Some(stderr),
            stderr_text: None,
        }
    }

    /// The child's stdout, line by line (the channel ends when the child closes it).
    fn lines(&mut self) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let out = self.child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        rx
    }

    /// Waits for the child's exit at most `within`, polling; panics (and kills it) after.
    async fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < within,
                "the strangers' process closed its stdout but did not exit within {within:?}; it was killed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The child's stderr (kills the child first if it still runs, so that this ends).
    fn stderr(&mut self) -> &str {
        if let Some(reader) = self.stderr.take() {
            if self.child.try_wait().ok().flatten().is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
            self.stderr_text = Some(reader.join().unwrap_or_default());
        }
        self.stderr_text.as_deref().unwrap_or_default()
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run by `strangers_are_all_refused_after_the_handshake` in a child process: a fresh
/// endpoint id per stranger connects to Bob (the address in `DUO_TEST_STRANGERS_BOB`), opens
/// a stream and writes, and the close reason is counted. Prints `strangers-progress <done>`
/// every 5 % and `strangers-summary n=.. refused=.. reset=.. other=..` on stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the strangers' side of strangers_are_all_refused_after_the_handshake, run by it"]
async fn stranger_crowd() {
    let Ok(bob) = std::env::var(BOB_ADDR) else {
        eprintln!("stranger_crowd: no {BOB_ADDR}; strangers_are_all_refused_after_the_handshake runs it");
        return;
    };
    let bob: EndpointAddr = serde_json::from_str(&bob).unwrap();
    let n = count("DUO_TEST_STRANGERS", 100);
    let step = (n / 20).max(1);
    let (mut refused, mut reset, mut other) = (0usize, 0usize, 0usize);
    for i in 0..n {
        let ep = client(SecretKey::generate()).await;
        match ep.connect(bob.clone(), SYNC_ALPN).await {
            Ok(conn) => {
                if let Ok((mut s, _r)) = conn.open_bi().await {
                    let _ = s.write_all(b"let me in").await;
                }
                let reason = tokio::time::timeout(Duration::from_secs(10), conn.closed())
                    .await
                    .expect("bob closed the stranger's connection within 10 s");
                match &reason {
                    ConnectionError::ApplicationClosed(c) if c.error_code == VarInt::from_u32(NOT_PAIRED) => {
                        refused += 1
                    }
                    // Bob had already dropped the refused connection when the stranger's
                    // next packet came: it is answered with a stateless reset (still
                    // refused).
                    ConnectionError::Reset => reset += 1,
                    other_reason => {
                        other += 1;
                        eprintln!("stranger {i}: {other_reason:?}");
                    }
                }
            }
            Err(e) => {
                other += 1;
                eprintln!("stranger {i}: connect: {e:?}");
            }
        }
        ep.close().await;
        if (i + 1) % step == 0 || i + 1 == n {
            println!("strangers-progress {}", i + 1);
        }
    }
    println!("strangers-summary n={n} refused={refused} reset={reset} other={other}");
}

// ---------------------------------------------------------------------------------------
// Crafted sync messages (issue 12, item 6): every field of what a paired peer sends is
// bounded before anything decodes it, and what its automerge bytes describe is counted
// before automerge builds it. The peer is `common::crafted`, over real iroh endpoints.

/// Address space this test process may use: if a bound breaks, the allocation fails at once
/// (an abort, and the test fails) instead of taking a shared machine's memory.
const ADDRESS_SPACE: u64 = 8 << 30;

/// Mallory and Bob for a crafted-message test: one test at a time, this process's address
/// space capped.
async fn crafted_bob() -> (tokio::sync::MutexGuard<'static, ()>, Endpoint, Bob) {
    crafted::cap_address_space(ADDRESS_SPACE);
    let serial = SERIAL.lock().await;
    let (ep, bob) = mallory_and_bob().await;
    (serial, ep, bob)
}

/// `n` distinct changes at the floor (64 operations in about 100 bytes each), by actors
/// that start with `tag`.
fn floor_changes(n: u64, tag: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut actor = [tag; 16];
            actor[..8].copy_from_slice(&i.to_be_bytes());
            duo_journal::fuzzing::many_operations_by(actor, 63, 0)
        })
        .collect()
}

/// Mallory plays `script` on a fresh sync stream; returns Bob's error for that session.
async fn crafted_session(ep: &Endpoint, bob: &mut Bob, script: Script) -> String {
    let (_c, mut send, mut recv) = open(ep, bob).await;
    let pump = tokio::spawn(async move { crafted::play(&mut recv, &mut send, &script).await });
    let res = bob.next(Duration::from_secs(60)).await;
    pump.abort();
    res.expect_err("bob refused the crafted session")
}

/// Bob's peak resident memory above where it was when measuring started, in KiB.
struct Peak(u64);

impl Peak {
    fn start() -> Peak {
        crafted::reset_peak();
        Peak(vm("VmRSS"))
    }

    fn grew(&self) -> u64 {
        vm("VmHWM").saturating_sub(self.0)
    }
}

/// The filter of issue 12 (one entry, 4,294,967,295 probes): automerge 0.12 decoded it and,
/// at Bob's next message, reserved 16 GiB, an abort no `catch_unwind` stops. Refused now
/// from its bytes, before automerge decodes the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bloom_filter_that_asks_for_16_gib_is_refused_before_automerge_reads_it() {
    let (_serial, ep, mut bob) = crafted_bob().await;
    let before = bob.state();
    let peak = Peak::start();
    let err = crafted_session(&ep, &mut bob, Script::messages(vec![crafted::bloom_bomb()])).await;
    let grew = peak.grew();
    eprintln!("bloom bomb: {err}; peak memory grew {grew} KiB");
    assert!(
        err.contains("4294967295 probes") && err.contains("more than duo accepts"),
        "{err}"
    );
    assert!(grew < 16 << 10, "peak memory grew {grew} KiB");
    assert_eq!(bob.state(), before, "nothing changed");
    bob.router.shutdown().await.unwrap();
}

/// Each count and parameter one past its limit, and each shape no honest peer sends, in a
/// sync message, a hello and a catch-up: every session is refused, with a message that
/// names what was wrong, and Bob's journal and memory stay as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_of_a_peer_frame_past_its_limit_is_refused() {
    use crafted::{UNKNOWN, bloom, sync_message};
    use duo_device::wire::{MAX_CHANGES, MAX_HASHES};
    use duo_journal::fuzzing::many_operations;
    let (_serial, ep, mut bob) = crafted_bob().await;
    let before = bob.state();
    let too_many: Vec<[u8; 32]> = (0..=MAX_HASHES as u32)
        .map(|i| {
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&i.to_be_bytes());
            h
        })
        .collect();
    let bomb = many_operations(1_000_000);
    let one_byte = [0x85u8];
    let floor = floor_changes(5000, 1);
    let floor_refs: Vec<&[u8]> = floor.iter().map(Vec::as_slice).collect();
    let mut two_haves = vec![0x42, 1];
    two_haves.extend(UNKNOWN);
    two_haves.extend([0, 2, 0, 0, 0, 0, 0]);
    let mut empty_entries = Vec::new();
    crafted::uleb(&mut empty_entries, 1_000_000);
    empty_entries.extend(std::iter::repeat_n(0u8, 1_000_000));
    let mut many_kept = vec![0u8; 8];
    many_kept.extend([0]); // no heads
    crafted::uleb(&mut many_kept, MAX_HASHES as u64 + 1);
    many_kept.extend(std::iter::repeat_n(0u8, MAX_HASHES + 1));
    many_kept.extend([0, 0]);
    let big = vec![0x85u8; 1 << 20];
    let msg = |m: Vec<u8>| Script::messages(vec![m]);
    let cases: Vec<(&str, Script, &str)> = vec![
        ("heads", msg(sync_message(&too_many, &[], None, &[])), "4097 heads"),
        (
            "needs",
            msg(sync_message(&[UNKNOWN], &too_many, None, &[])),
            "4097 needed changes",
        ),
        ("haves", msg(two_haves), "2 summaries"),
        (
            "last-sync heads",
            msg(sync_message(&[UNKNOWN], &[], Some((&too_many, &[])), &[])),
            "4097 last-sync heads",
        ),
        (
            "repeated heads",
            msg(sync_message(&[UNKNOWN, UNKNOWN], &[], None, &[])),
            "not sorted or repeat",
        ),
        (
            "Bloom probes",
            msg(sync_message(&[UNKNOWN], &[], Some((&[], &bloom(1, 8, 33))), &[])),
            "33 probes",
        ),
        (
            "Bloom bits per entry",
            msg(sync_message(&[UNKNOWN], &[], Some((&[], &bloom(1, 65, 7))), &[])),
            "65 bits per entry",
        ),
        (
            "Bloom entries",
            msg(sync_message(
                &[UNKNOWN],
                &[],
                Some((&[], &bloom((1 << 20) + 1, 1, 7))),
                &[],
            )),
            "1048577 entries",
        ),
        (
            "Bloom with no bits",
            msg(sync_message(&[UNKNOWN], &[], Some((&[], &[1, 0, 7][..])), &[])),
            "0 bits per entry",
        ),
        (
            "changes",
            msg(sync_message(
                &[UNKNOWN],
                &[],
                None,
                &vec![&one_byte[..]; MAX_CHANGES + 1],
            )),
            "131073 changes",
        ),
        (
            "empty chunk",
            msg(sync_message(&[UNKNOWN], &[], None, &[&[]])),
            "an empty entry",
        ),
        (
            "a million operations in one change",
            msg(sync_message(&[UNKNOWN], &[], None, &[&bomb])),
            "describes 1000001 operations",
        ),
        (
            "more operations than the session allows",
            msg(sync_message(&[UNKNOWN], &[], None, &floor_refs)),
            "more than 262144 operations",
        ),
        (
            "kept heads in a hello",
            Script {
                hello: Some(many_kept),
                ..Script::default()
            },
            "4097 kept heads",
        ),
        (
            "changes of more than 1 MiB in a hello",
            Script {
                hello: Some(crafted::hello(&[&big, &one_byte])),
                ..Script::default()
            },
            "more than 1048576 bytes",
        ),
        (
            "a million operations in a hello",
            Script {
                hello: Some(crafted::hello(&[&bomb])),
                ..Script::default()
            },
            "describes 1000001 operations",
        ),
        (
            "a million empty changes in a catch-up",
            Script {
                catch_up: Some(empty_entries),
                ..Script::default()
            },
            "1000000 changes",
        ),
        (
            "a million operations in a catch-up",
            Script {
                catch_up: Some(postcard::to_allocvec(&vec![bomb.clone()]).unwrap()),
                ..Script::default()
            },
            "describes 1000001 operations",
        ),
    ];
    let peak = Peak::start();
    for (what, script, expect) in cases {
        let err = crafted_session(&ep, &mut bob, script).await;
        eprintln!("{what}: {err}");
        assert!(err.contains(expect), "{what}: {err}");
    }
    let grew = peak.grew();
    eprintln!("every field: peak memory grew {grew} KiB");
    assert!(grew < 64 << 10, "peak memory grew {grew} KiB");
    assert_eq!(bob.state(), before, "nothing changed");
    bob.router.shutdown().await.unwrap();
}

/// The most a peer can make Bob build within the limits: changes at one operation a byte,
/// or at the floor of 64 in a short change, up to the session's allowance, in one sync
/// message. Bob's peak memory stays under `session::most_memory` (the figure in
/// docs/protocol.md), and nothing is stored (the peer's announced head never arrives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_messages_within_the_limits_stay_under_the_stated_peak() {
    use duo_journal::fuzzing::many_operations_by;
    let (_serial, ep, mut bob) = crafted_bob().await;
    let before = bob.state();
    let limits = test_limits();
    let items = limits.max_items;
    // Short changes at the floor (64 operations in about 100 bytes each)...
    let short = floor_changes(items / 64 - 1, 2);
    // ...one long change at one operation per byte...
    let long = many_operations_by([3; 16], items - 100, items as usize);
    // ...and a frame as large as allowed, nearly all of it bytes to copy.
    let full = many_operations_by([4; 16], 63, limits.max_frame - 4096);
    // ...and a whole document of nearly as many operations (in a few hundred bytes: a
    // document has no floor, only the allowance).
    let document = duo_journal::SpaceDoc::load(&many_operations_by([5; 16], items - 100, 0))
        .unwrap()
        .save();
    let most = duo_device::session::most_memory(&limits) >> 10;
    let scripts = [
        ("short changes", short),
        ("a long change", vec![long]),
        ("a full frame", vec![full]),
    ]
    .map(|(what, changes)| {
        let refs: Vec<&[u8]> = changes.iter().map(Vec::as_slice).collect();
        let m = crafted::sync_message(&[crafted::UNKNOWN], &[], None, &refs);
        (what, Script::messages(vec![m]))
    });
    let whole = Script {
        document: Some(document),
        ..Script::default()
    };
    for (what, script) in scripts.into_iter().chain([("a whole document", whole)]) {
        let peak = Peak::start();
        let err = crafted_session(&ep, &mut bob, script).await;
        let grew = peak.grew();
        eprintln!("within the limits ({what}): peak memory grew {grew} KiB (stated at most {most} KiB): {err}");
        assert!(
            grew <= most,
            "{what}: peak memory grew {grew} KiB, stated at most {most} KiB"
        );
    }
    assert_eq!(bob.state(), before, "nothing stored");
    bob.router.shutdown().await.unwrap();
}
