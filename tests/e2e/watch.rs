//! `duo sync --watch` and `duo sync` between real processes: a write is announced to the
//! running watcher at once (a `local_write` event, no polling of the store) and pushed to
//! the watching partner; what a sync brings is counted as new, edited and deleted entries,
//! in text and in `--json`.

use crate::harness::{Device, pair_by_ticket};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// `duo --json sync --watch` with its event lines (stdout) and messages (stderr) collected;
/// killed when dropped.
pub(crate) struct Watching {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<String>>,
}

fn collect(r: impl std::io::Read + Send + 'static, mut sink: impl FnMut(String) + Send + 'static) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            sink(line);
        }
    });
}

impl Watching {
    pub(crate) fn start(d: &Device) -> Watching {
        let mut child = d
            .command(&["--json", "sync", "--watch"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn duo");
        let (out, err) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(String::new())));
        let (o, e) = (out.clone(), err.clone());
        collect(child.stdout.take().unwrap(), move |l| o.lock().unwrap().push(l));
        collect(child.stderr.take().unwrap(), move |l| {
            let mut e = e.lock().unwrap();
            e.push_str(&l);
            e.push('\n');
        });
        let mut w = Watching { child, out, err };
        w.event(|e| e["event"] == "online");
        w
    }

    pub(crate) fn events(&self) -> Vec<serde_json::Value> {
        let lines = self.out.lock().unwrap().clone();
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
            .collect()
    }

    pub(crate) fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// The first event (in order) that matches, waiting at most [`WAIT`]; fails the test
    /// if the watcher exits first. Events before it are used up.
    #[track_caller]
    pub(crate) fn event(&mut self, matches: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let events = self.events();
            if let Some(i) = events.iter().position(&matches) {
                self.out.lock().unwrap().drain(..=i);
                return events[i].clone();
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!("the watcher exited ({st}):\n{events:#?}\n{}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "no such event within {WAIT:?}:\n{events:#?}\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The next session with the partner that changed entries. Either side may have opened
    /// it: the partner's push, or this watcher's own dial (at start, or on a datagram) that
    /// raced the push and fetched the change first; both deliver it.
    #[track_caller]
    pub(crate) fn received(&mut self) -> serde_json::Value {
        self.event(|e| {
            e["event"] == "synced"
                && ["entries_received", "entries_edited", "entries_deleted"]
                    .iter()
                    .any(|k| e[*k].as_u64() != Some(0))
        })
    }

    #[track_caller]
    pub(crate) fn wait_stderr(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.stderr().contains(needle) {
            assert!(self.child.try_wait().unwrap().is_none(), "exited:\n{}", self.stderr());
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {WAIT:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn counts(v: &serde_json::Value) -> (u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"));
    (n("entries_received"), n("entries_edited"), n("entries_deleted"))
}

#[test]
fn a_journal_add_tells_the_running_watcher_at_once_and_reaches_the_watching_partner() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let mut alice_watch = Watching::start(&alice);
    let mut bob_watch = Watching::start(&bob);

    let body = "Thank you for the walk this morning";
    let id = alice.add(body, &[]);
    // `journal add` told Alice's watcher (no store polling), which pushed to Bob's.
    alice_watch.event(|e| e["event"] == "local_write");
    let pushed = alice_watch.event(|e| e["event"] == "synced" && e["dialed"] == true);
    assert_eq!(pushed["person"], "Bob", "{pushed}");
    let got = bob_watch.received();
    assert_eq!(counts(&got), (1, 0, 0), "{got}");
    assert_eq!(
        (&got["person"], &got["label"]),
        (&"Alice".into(), &"laptop".into()),
        "{got}"
    );
    // Stored, and the view shows it.
    let shown = bob.run(&["journal", "show", &id]);
    assert!(shown.ok().contains(body), "{}", shown.stdout);
    bob_watch.wait_stderr("received 1 new entry from Alice ('laptop')");
}

#[test]
fn the_watcher_counts_a_new_an_edited_and_a_deleted_entry() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let mut alice_watch = Watching::start(&alice);
    let _bob_watch = Watching::start(&bob);
    // Alice's start-up dial went out before Bob's watcher was online: until one of its
    // retries reaches Bob, a retry can meet one of Bob's pushes, and two sessions at once
    // may both count what they brought. Once one reached him, Alice dials Bob no more here.
    alice_watch.event(|e| e["event"] == "synced" && e["dialed"] == true);

    let id = bob.add("I would like us to plan the weekend together", &[]);
    assert_eq!(counts(&alice_watch.received()), (1, 0, 0));
    alice_watch.wait_stderr("received 1 new entry from Bob ('laptop')");

    bob.run(&["journal", "edit", &id, "I would love us to plan the weekend together"])
        .ok();
    assert_eq!(counts(&alice_watch.received()), (0, 1, 0));
    alice_watch.wait_stderr("received 1 edit from Bob ('laptop')");

    // A deletion once made the watcher report 18446744073709551615 entries received (and
    // panic in a debug build).
    bob.run(&["journal", "delete", &id, "--yes"]).ok();
    assert_eq!(counts(&alice_watch.received()), (0, 0, 1));
    alice_watch.wait_stderr("received 1 deletion from Bob ('laptop')");
    assert!(
        !alice_watch.stderr().contains("18446744073709551"),
        "{}",
        alice_watch.stderr()
    );
    assert!(alice.bodies(&[]).is_empty());
}

#[test]
fn duo_device_counts_new_edited_and_deleted_entries_in_text_and_json() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let _bob_watch = Watching::start(&bob);
    let sync_json = || {
        let report = alice.run_within(&["sync", "--json"], WAIT).json();
        assert_eq!(report["reached"], 1, "{report}");
        assert_eq!(counts(&report), counts(&report["peers"][0]), "{report}");
        counts(&report)
    };

    let id = bob.add("We could cook together on Sunday", &[]);
    assert_eq!(sync_json(), (1, 0, 0));
    bob.run(&["journal", "edit", &id, "We could cook together on Saturday"])
        .ok();
    assert_eq!(sync_json(), (0, 1, 0));
    bob.run(&["journal", "delete", &id, "--yes"]).ok();
    assert_eq!(sync_json(), (0, 0, 1), "a deletion is counted as one");
    assert_eq!(sync_json(), (0, 0, 0), "nothing new");

    // Several of each in one sync, in words.
    let kept = bob.add("The first one", &[]);
    let gone = bob.add("The second one", &[]);
    assert_eq!(sync_json(), (2, 0, 0));
    bob.add("The third one", &[]);
    bob.add("The fourth one", &[]);
    bob.run(&["journal", "edit", &kept, "The first one, edited"]).ok();
    bob.run(&["journal", "delete", &gone, "--yes"]).ok();
    let run = alice.run_within(&["sync"], WAIT);
    run.ok();
    assert!(
        run.stderr
            .contains("Synced with 1 device; received 2 new entries, 1 edit and 1 deletion."),
        "{}",
        run.stderr
    );
    bob.run(&["journal", "delete", &kept, "--yes"]).ok();
    let run = alice.run_within(&["sync"], WAIT);
    assert!(
        run.stderr.contains("Synced with 1 device; received 1 deletion."),
        "{}",
        run.stderr
    );
}

#[test]
fn datagrams_of_any_kind_only_make_the_watcher_sync() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let mut alice_watch = Watching::start(&alice);
    let mut bob_watch = Watching::start(&bob);
    // Anything another program of this user sends to the write-notice socket: empty,
    // not a number, this watcher's own-looking ids, 60 KB of bytes.
    let socket = alice.home().join("local/wrote.sock");
    let sender = std::os::unix::net::UnixDatagram::unbound().unwrap();
    let big = vec![0xffu8; 60_000];
    let kinds: [&[u8]; 6] = [b"", b"not a pid", b"0", b"4294967296", b"-1", big.as_slice()];
    for d in kinds {
        sender.send_to(d, &socket).unwrap();
    }
    alice_watch.event(|e| e["event"] == "local_write");
    // It keeps working: a new entry still reaches Bob's watcher.
    alice.add("Still here", &[]);
    assert_eq!(counts(&bob_watch.received()), (1, 0, 0));
    alice_watch.event(|e| e["event"] == "synced" && e["dialed"] == true);
}
