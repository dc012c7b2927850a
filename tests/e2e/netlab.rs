//! Network namespaces, veth links and nftables faults for tests that run `duo` on "other
//! hosts" (the recipes are in docs/reliability.md, "Bad networks"). Everything a test creates has
//! a name unique to this run and is removed when dropped, also when the test fails;
//! leftovers of earlier runs (whose process is gone) are removed before creating anything.
//!
//! These tests need root, iproute2 and (for faults) nftables. Without them a test prints
//! why and skips; under `CI=true` that is a failure.

use crate::harness::have_tool;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Every name this module makes starts with this, then `<tag>-<pid>-<n>`.
const PREFIX: &str = "duo-";

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skip (print why, return false) outside CI, fail under CI.
fn unavailable(why: &str) -> bool {
    if under_ci() {
        panic!("{why} (required under CI; .ci/run installs the tools, CI runs as root)");
    }
    eprintln!("skipping: {why}");
    false
}

/// Root, and these tools on PATH.
pub fn can_use_namespaces(tools: &[&str]) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !root {
        return unavailable("network namespaces need root");
    }
    tools.iter().all(|t| have_tool(t))
}

#[track_caller]
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `<prefix><tag>-<pid>-<n>`, unique within this run.
fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    assert!(!tag.contains('-'), "tags have no '-'");
    format!(
        "{PREFIX}{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Kill (SIGKILL) every process still inside namespace `name`, and delete it.
fn delete(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
    let _ = Command::new("ip").args(["netns", "del", name]).status();
}

/// Delete namespaces left by earlier runs whose process no longer exists.
fn remove_leftovers() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let mut parts = name.rsplitn(3, '-');
        let (_, pid, rest) = (parts.next(), parts.next(), parts.next());
        let (Some(pid), Some(rest)) = (pid.and_then(|p| p.parse::<u32>().ok()), rest) else {
            continue;
        };
        if rest.starts_with(PREFIX) && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            delete(name);
        }
    }
}

/// A network namespace that exists for one test and is removed when dropped, with its
/// interfaces, its nftables rules and any process still running inside (tests should
/// still drop their processes first: declare them after the namespace).
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// An empty namespace with `lo` up. `None` (with a printed reason) when namespaces
    /// cannot be made here, outside CI.
    pub fn new(tag: &str) -> Option<Netns> {
        remove_leftovers();
        let name = unique(tag);
        let st = Command::new("ip").args(["netns", "add", &name]).status();
        if !st.is_ok_and(|s| s.success()) {
            unavailable("`ip netns add` failed (no CAP_SYS_ADMIN?)");
            return None;
        }
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        Some(ns)
    }

    /// A namespace with only `lo`, up, with multicast and a multicast route (enough for
    /// mDNS between processes inside it).
    pub fn lo_only(tag: &str) -> Option<Netns> {
        if !can_use_namespaces(&["ip"]) {
            return None;
        }
        let ns = Netns::new(tag)?;
        ip(&["-n", &ns.name, "link", "set", "lo", "multicast", "on"]);
        ip(&["-n", &ns.name, "route", "add", "224.0.0.0/4", "dev", "lo"]);
        Some(ns)
    }

    /// Run `nft` inside the namespace.
    #[track_caller]
    pub fn nft(&self, args: &[&str]) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft"])
            .args(args)
            .output()
            .expect("run nft");
        assert!(
            out.status.success(),
            "nft {} in {}: {}",
            args.join(" "),
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete(&self.name);
    }
}

/// The nftables table (one per namespace) that holds a link's faults.
const TABLE: &str = "duo_faults";

/// Two hosts, `a` (10.77.0.1) and `b` (10.77.0.2), each its own namespace, joined by a
/// veth pair; each namespace has an output chain where faults are added.
pub struct Link {
    pub a: Netns,
    pub b: Netns,
    pub a_if: String,
    pub b_if: String,
}

pub const A_ADDR: &str = "10.77.0.1";
pub const B_ADDR: &str = "10.77.0.2";

impl Link {
    /// `None` (with a printed reason) without root, iproute2 or nftables, outside CI.
    pub fn new(tag: &str) -> Option<Link> {
        if !can_use_namespaces(&["ip", "nft"]) {
            return None;
        }
        let a = Netns::new(&format!("{tag}a"))?;
        let b = Netns::new(&format!("{tag}b"))?;
        // Interface names (≤ 15 characters): "dv<pid>x<n>" plus a or b; made directly
        // inside the namespaces, so nothing appears in the root namespace.
        static N: AtomicUsize = AtomicUsize::new(0);
        let stem = format!("dv{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let (a_if, b_if) = (format!("{stem}a"), format!("{stem}b"));
        assert!(a_if.len() <= 15, "{a_if}");
        ip(&[
            "link", "add", &a_if, "netns", &a.name, "type", "veth", "peer", "name", &b_if, "netns", &b.name,
        ]);
        for (ns, ifname, addr) in [(&a, &a_if, A_ADDR), (&b, &b_if, B_ADDR)] {
            ip(&["-n", &ns.name, "addr", "add", &format!("{addr}/24"), "dev", ifname]);
            ip(&["-n", &ns.name, "link", "set", ifname, "up"]);
            ns.nft(&["add", "table", "inet", TABLE]);
            ns.nft(&[
                "add",
                "chain",
                "inet",
                TABLE,
                "out",
                "{ type filter hook output priority 0; }",
            ]);
        }
        Some(Link { a, b, a_if, b_if })
    }

    fn sides(&self) -> [(&Netns, &str); 2] {
        [(&self.a, &self.a_if), (&self.b, &self.b_if)]
    }

    /// Drop `percent` % of the packets each side sends to the other (both directions),
    /// counting packets sent and dropped (see [`Link::loss_counts`]).
    pub fn loss(&self, percent: u32) {
        let p = percent.to_string();
        for (ns, ifname) in self.sides() {
            ns.nft(&["add", "rule", "inet", TABLE, "out", "oifname", ifname, "counter"]);
            ns.nft(&[
                "add", "rule", "inet", TABLE, "out", "oifname", ifname, "numgen", "random", "mod", "100", "<", &p,
                "counter", "drop",
            ]);
        }
    }

    /// (packets offered, packets dropped) by [`Link::loss`], both sides together.
    pub fn loss_counts(&self) -> (u64, u64) {
        let mut total = (0, 0);
        for (ns, _) in self.sides() {
            let out = Command::new("ip")
                .args(["netns", "exec", &ns.name, "nft", "list", "table", "inet", TABLE])
                .output()
                .expect("run nft");
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text.lines() {
                let Some(n) = line
                    .split_once("counter packets ")
                    .and_then(|(_, r)| r.split_whitespace().next())
                    .and_then(|n| n.parse::<u64>().ok())
                else {
                    continue;
                };
                if line.contains("drop") {
                    total.1 += n;
                } else {
                    total.0 += n;
                }
            }
        }
        total
    }

    /// Drop everything between the two.
    pub fn partition(&self) {
        for (ns, ifname) in self.sides() {
            ns.nft(&["add", "rule", "inet", TABLE, "out", "oifname", ifname, "drop"]);
        }
    }

    /// Remove every fault (loss and partition).
    pub fn heal(&self) {
        for (ns, _) in self.sides() {
            ns.nft(&["flush", "table", "inet", TABLE]);
        }
    }
}

/// Three hosts in a line, each its own namespace: `a` (10.78.1.1) – `m` – `b`
/// (10.78.2.2). `m` has an address on each link (10.78.1.2, 10.78.2.1); `a` and `b` reach
/// each other only through `m`. Made by [`Line::new`], `m` forwards between them: a
/// machine in the middle that can relay, drop or answer every packet. Made by
/// [`Line::apart`], it forwards nothing: `a` and `b` both reach `m`'s addresses (like two
/// home networks and a server both can reach) but never each other.
pub struct Line {
    pub a: Netns,
    pub m: Netns,
    pub b: Netns,
}

pub const LINE_A: &str = "10.78.1.1";
pub const LINE_M_A: &str = "10.78.1.2";
pub const LINE_M_B: &str = "10.78.2.1";
pub const LINE_B: &str = "10.78.2.2";

impl Line {
    /// `m` forwards between `a` and `b`. `None` (with a printed reason) without root or
    /// iproute2, outside CI.
    pub fn new(tag: &str) -> Option<Line> {
        Line::make(tag, true)
    }

    /// `m` forwards nothing. `None` (with a printed reason) without root or iproute2,
    /// outside CI.
    pub fn apart(tag: &str) -> Option<Line> {
        Line::make(tag, false)
    }

    fn make(tag: &str, forward: bool) -> Option<Line> {
        if !can_use_namespaces(&["ip"]) {
            return None;
        }
        let a = Netns::new(&format!("{tag}a"))?;
        let m = Netns::new(&format!("{tag}m"))?;
        let b = Netns::new(&format!("{tag}b"))?;
        static N: AtomicUsize = AtomicUsize::new(0);
        let stem = format!("dl{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let [a_if, ma_if, mb_if, b_if] = ["a", "p", "q", "b"].map(|s| format!("{stem}{s}"));
        assert!(a_if.len() <= 15, "{a_if}");
        ip(&[
            "link", "add", &a_if, "netns", &a.name, "type", "veth", "peer", "name", &ma_if, "netns", &m.name,
        ]);
        ip(&[
            "link", "add", &b_if, "netns", &b.name, "type", "veth", "peer", "name", &mb_if, "netns", &m.name,
        ]);
        for (ns, ifname, addr) in [
            (&a, &a_if, LINE_A),
            (&m, &ma_if, LINE_M_A),
            (&m, &mb_if, LINE_M_B),
            (&b, &b_if, LINE_B),
        ] {
            ip(&["-n", &ns.name, "addr", "add", &format!("{addr}/24"), "dev", ifname]);
            ip(&["-n", &ns.name, "link", "set", ifname, "up"]);
        }
        ip(&["-n", &a.name, "route", "add", "default", "via", LINE_M_A]);
        ip(&["-n", &b.name, "route", "add", "default", "via", LINE_M_B]);
        // The namespace's own /proc/sys (no dependency on procps' sysctl). Off is the
        // default in a new namespace; set either way, to be sure.
        let set = format!("echo {} > /proc/sys/net/ipv4/ip_forward", u8::from(forward));
        let st = Command::new("ip")
            .args(["netns", "exec", &m.name, "sh", "-c", &set])
            .status()
            .expect("run sh");
        assert!(st.success(), "ip forwarding in the middle: {set}");
        Some(Line { a, m, b })
    }
}

/// Move the calling thread into namespace `name`: sockets it opens from then on are there.
pub fn enter(name: &str) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
    // SAFETY: setns on this thread only, with a valid namespace file descriptor.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Run `f` on a thread that lives inside namespace `ns` (sockets it opens are there).
pub fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(&ns.name).unwrap();
            f()
        })
        .join()
        .expect("the thread in the namespace")
    })
}

/// Start `f` on a thread of its own inside namespace `ns`, for a server that outlives
/// the call (the caller stops and joins it).
pub fn spawn_in<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<T> {
    let name = ns.name.clone();
    std::thread::spawn(move || {
        enter(&name).unwrap();
        f()
    })
}

/// Holds every packet a namespace sends on an interface for a fixed time, then lets it
/// go: an iptables NFQUEUE rule hands each packet to a thread inside the namespace (netns
/// has no `tc netem` and nft has no `queue` here; see docs/reliability.md, "100 ms delay").
/// Dropping it stops the threads and removes the rules, also when a test fails.
pub struct Delayer {
    /// Packets held and let go so far (both sides).
    pub packets: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    rules: Vec<(String, String)>,
}

/// The queue number (per namespace, so one number serves every test run).
const QUEUE: u16 = 7;

impl Link {
    /// Delay every packet either side sends to the other by `delay` (so a round trip takes
    /// twice that). `None` (with a printed reason) without iptables, outside CI.
    pub fn delay(&self, delay: std::time::Duration) -> Option<Delayer> {
        if !have_tool("iptables") {
            unavailable("iptables is not installed (apt-get install iptables)");
            return None;
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut d = Delayer {
            packets: Default::default(),
            stop: stop.clone(),
            threads: Vec::new(),
            rules: Vec::new(),
        };
        for (ns, ifname) in self.sides() {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (name, stop, n) = (ns.name.clone(), stop.clone(), d.packets.clone());
            d.threads.push(std::thread::spawn(move || {
                delay_packets(&name, delay, &stop, &n, ready_tx)
            }));
            ready_rx
                .recv()
                .expect("the delayer started")
                .expect("the delayer bound its queue");
            let out = Command::new("ip")
                .args(["netns", "exec", &ns.name, "iptables", "-A", "OUTPUT", "-o", ifname])
                .args(["-j", "NFQUEUE", "--queue-num", &QUEUE.to_string()])
                .output()
                .expect("run iptables");
            assert!(
                out.status.success(),
                "iptables: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            d.rules.push((ns.name.clone(), ifname.to_string()));
        }
        Some(d)
    }
}

/// The delayer's thread: enter the namespace, bind the queue, and accept each packet once
/// it has waited `delay` (in arrival order, so nothing is reordered).
fn delay_packets(
    netns: &str,
    delay: std::time::Duration,
    stop: &std::sync::atomic::AtomicBool,
    packets: &std::sync::atomic::AtomicU64,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    use std::time::Instant;
    let setup = || -> Result<nfq::Queue, String> {
        enter(netns)?;
        let mut q = nfq::Queue::open().map_err(|e| e.to_string())?;
        q.bind(QUEUE).map_err(|e| e.to_string())?;
        q.set_fail_open(QUEUE, false).map_err(|e| e.to_string())?;
        q.set_nonblocking(true);
        Ok(q)
    };
    let mut q = match setup() {
        Ok(q) => {
            let _ = ready.send(Ok(()));
            q
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut held: std::collections::VecDeque<(Instant, nfq::Message)> = std::collections::VecDeque::new();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        while let Some((due, _)) = held.front() {
            if *due > Instant::now() && !stopping {
                break;
            }
            let (_, mut msg) = held.pop_front().expect("a held packet");
            msg.set_verdict(nfq::Verdict::Accept);
            let _ = q.verdict(msg);
            packets.fetch_add(1, Ordering::Relaxed);
        }
        if stopping {
            return;
        }
        match q.recv() {
            Ok(msg) => held.push_back((Instant::now() + delay, msg)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_micros(500));
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
    }
}

impl Drop for Delayer {
    fn drop(&mut self) {
        for (ns, ifname) in &self.rules {
            let _ = Command::new("ip")
                .args(["netns", "exec", ns, "iptables", "-D", "OUTPUT", "-o", ifname])
                .args(["-j", "NFQUEUE", "--queue-num", &QUEUE.to_string()])
                .status();
        }
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
