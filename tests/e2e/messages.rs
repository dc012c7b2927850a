//! What a person reads around pairing, syncing and safety, said in their words (issue 16's
//! "Found" list): a used ticket, a garbled one, whom this device waits for at the question,
//! the other side stopping at it, who runs what where, a revoked device, `duo safety`.

use crate::harness::*;
use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn a_used_ticket_says_so_while_the_inviter_runs_a_watcher() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    let carol = Device::new("Carol");
    let mut watch = alice.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", WAIT);
    let (child, ticket) = start_invite(&alice, &[]);
    bob.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{ticket}\n"))
        .ok();
    finish_invite(child);
    // The watcher comes back ("Back online") and then goes online again ("Online as").
    let deadline = Instant::now() + WAIT;
    while watch.log().matches("Online as").count() < 2 {
        assert!(Instant::now() < deadline, "{}", watch.log());
        watch.assert_running();
        std::thread::sleep(Duration::from_millis(20));
    }
    // Carol is handed the same ticket: the watcher answers, but no longer pairs.
    let err = carol
        .run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{ticket}\n"))
        .fails(1)
        .to_string();
    assert!(
        err.contains("error: this ticket was already used or has expired; ask for a new one"),
        "{err}"
    );
    for chain in ["handshake", "error 120", "protocol", "relay", "network: "] {
        assert!(!err.contains(chain), "no library chain, no relay hint ({chain}): {err}");
    }
}

#[test]
fn a_garbled_ticket_does_not_claim_to_start_with_duo1() {
    let bob = Device::new("Bob");
    let err = bob
        .run_stdin(&["pair", "join", "--ticket"], "7-purple-sausage-lantern\n")
        .fails(2)
        .to_string();
    assert!(err.contains("not a duo ticket"), "{err}");
    assert!(!err.contains("(it starts with duo1:)"), "{err}");
    assert!(err.contains("a ticket starts with duo1:, and this does not"), "{err}");
}

/// `duo pair join --ticket` on a terminal (util-linux `script`), its screen collected.
struct OnTty {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    screen: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl OnTty {
    fn join(d: &Device) -> OnTty {
        let mut child = on_tty(d, &["pair", "join", "--ticket"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script");
        let mut out = child.stdout.take().unwrap();
        let screen = Arc::new(Mutex::new(String::new()));
        let sink = screen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take().unwrap();
        OnTty {
            child,
            stdin,
            screen,
            reader,
        }
    }

    fn type_in(&mut self, text: &str) {
        self.stdin.write_all(text.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.screen.lock().unwrap().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{needle:?} did not appear:\n{}",
                self.screen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn finish(mut self) -> (i32, String) {
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        // All it printed, once the reader has seen the end of it (not after a fixed pause).
        self.reader.join().unwrap();
        let screen = self.screen.lock().unwrap().clone();
        (code, screen)
    }
}

#[test]
fn the_first_to_say_yes_waits_by_name_and_hears_a_no_or_a_ctrl_c_plainly() {
    if !have_tool("script") {
        return;
    }
    for (answer, stopped) in [("n\n", false), ("\x03", true)] {
        let alice = Device::new("Alice");
        let bob = Device::new("Bob");
        // Alice says yes at once (--yes); Bob is asked on his terminal.
        let (child, ticket) = start_invite(&alice, &[]);
        let mut tty = OnTty::join(&bob);
        tty.type_in(&format!("{ticket}\n"));
        tty.wait_for("Do the words match");
        tty.type_in(answer);
        let (code, screen) = tty.finish();
        let invited = finish_invite(child);
        let err = &invited.stderr;
        assert!(err.contains("Waiting for Bob to confirm on 'laptop'…"), "{err}");
        assert_eq!(invited.code, 1, "{err}");
        assert!(
            err.contains("error: the other device did not confirm the words (its person answered no or stopped), so nothing was stored"),
            "{answer:?}: {err}"
        );
        assert!(!err.contains("connection lost") && !err.contains("network: "), "{err}");
        assert!(!screen.contains("Waiting for Alice"), "Bob never said yes: {screen}");
        if stopped {
            assert_eq!(code, 130, "{screen}");
            assert!(
                screen.contains("pairing stopped at the question: nothing was stored"),
                "{screen}"
            );
        } else {
            assert_eq!(code, 1, "{screen}");
        }
        assert_eq!(alice.run(&["devices", "--json"]).json().as_array().unwrap().len(), 1);
    }
}

#[test]
fn who_runs_what_where_is_said_for_your_own_device() {
    let alice = Device::new("Alice");
    let phone = Device::new("Ali");
    let (invited, joined) = pair_by_ticket(&alice, &phone, &["--own-device"]);
    let err = &invited.stderr;
    assert!(
        err.contains("Copy this ticket to your other device. On your other device, run:"),
        "{err}"
    );
    assert!(err.contains("the joining device must reach"), "{err}");
    for wrong in ["device's device", "On their device", "your partner"] {
        assert!(!err.contains(wrong), "{wrong}: {err}");
    }
    let err = &joined.stderr;
    assert!(err.contains("the entries written here become Alice's"), "{err}");
    assert!(!err.contains("become theirs"), "{err}");
}

#[test]
fn an_expired_invitation_says_the_command_that_was_run() {
    let mut alice = Device::new("Alice");
    alice.env.push(("DUO_PAIR_EXPIRY_SECS".into(), "1".into()));
    let r = alice.run(&["pair", "--ticket", "--yes", "--own-device"]);
    let err = r.fails(1);
    assert!(err.contains("the ticket has expired"), "{err}");
    assert!(err.contains("`duo pair --own-device --ticket` again"), "{err}");
    assert!(!err.contains("device's device"), "{err}");

    // --partner-device without a partner: said before any ticket is printed.
    let r = alice.run(&["pair", "--ticket", "--yes", "--partner-device"]);
    let err = r.fails(1);
    assert!(r.stdout.is_empty(), "no ticket: {}", r.stdout);
    assert!(err.contains("there is no partner in this space yet"), "{err}");
    assert!(!err.contains("the joining device"), "{err}");
}

#[test]
fn the_watcher_steps_aside_for_leave_without_naming_pair() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    let mut watch = alice.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", WAIT);
    alice.run(&["leave", "--yes"]).ok();
    watch.wait_for("Stepping aside", WAIT);
    assert!(!watch.log().contains("duo pair"), "{}", watch.log());
}

#[test]
fn a_sync_through_the_watcher_has_no_repeated_network_prefix() {
    let alice = Device::new("Alice");
    let bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    // Bob is offline; Alice's watcher syncs for the `duo sync` she runs.
    let mut watch = alice.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", WAIT);
    let r = alice.run_within(&["sync"], WAIT);
    // Nobody answered: its own exit code, even though the watcher keeps this device reachable.
    let err = r.fails(5);
    assert!(err.contains("not reached ("), "{err}");
    assert!(!err.contains("network: "), "{err}");
    assert!(err.contains("safe here and go out at the next sync"), "{err}");
}

#[test]
fn a_revoked_device_is_told_it_was_refused() {
    let laptop = Device::new("Alice");
    let phone = Device::new("Ali");
    let bob = Device::new("Bob");
    pair_by_ticket(&laptop, &bob, &[]);
    pair_by_ticket(&laptop, &phone, &["--own-device"]);
    let phone_id = phone.run(&["status", "--json"]).json()["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    laptop.run(&["devices", "revoke", &phone_id[..8], "--yes"]).ok();
    let mut watch = laptop.spawn(&["sync", "--watch"]);
    watch.wait_for("Online as", WAIT);
    let r = phone.run_within(&["sync"], WAIT);
    r.ok();
    let err = &r.stderr;
    assert!(!err.contains("safe here and go out"), "{err}");
    assert!(
        err.contains("this device was revoked in the space") && err.contains("no longer go out"),
        "{err}"
    );
    drop(watch);

    // A bundle made after the revocation is not for it: the hint says why that can be.
    let file = laptop.dir.path().join("b.duo");
    laptop.run(&["bundle", "export", file.to_str().unwrap()]).ok();
    let r = phone.run(&["bundle", "import", file.to_str().unwrap()]);
    let err = r.fails(10);
    assert!(err.contains("this device was revoked"), "{err}");
}

#[test]
fn safety_names_the_lock_and_the_guide_the_lock_and_shell_history() {
    let mut d = Device::new("Alice");
    let out = d.run(&["safety"]).ok().to_string();
    assert!(
        out.contains("`duo lock --set` puts the keys behind a passphrase"),
        "{out}"
    );
    assert!(out.contains("duo lock --set            ask a passphrase"), "{out}");

    let pw = with_passphrase(&mut d);
    d.run(&["lock", "--set", "--passphrase-file", &pw]).ok();
    d.run(&["unlock", "--passphrase-file", &pw]).ok();
    let out = d.run(&["safety"]).ok().to_string();
    assert!(out.contains("Its keys are locked with your passphrase"), "{out}");
    assert!(!out.contains("duo lock --set            ask"), "{out}");
    let _ = d.run(&["lock"]);

    let guide = d.run(&["safety", "--guide"]).ok().to_string();
    assert!(guide.contains("`duo lock --set`"), "{guide}");
    assert!(guide.contains("~/.bash_history"), "{guide}");
}
