//! A machine in the middle that knows the code: it pairs with Alice as if it were Bob and
//! with Bob as if it were Alice (two real `duo` processes; the middle is this test, using
//! duo's own library on loopback). Each pairing succeeds on its own, but the verification
//! words on Alice's screen differ from those on Bob's, so two people who compare them
//! (aloud, in person, on a call) catch it. The words are bound to both endpoint ids and to
//! the connection's keying material, and each side commits to its PAKE message before
//! seeing the other's, so the middle cannot steer the two sets of words to match.
//! `DUO_TEST_MITM_RUNS` sets the number of runs (default 3).
//!
//! Also here: a middle that does NOT know the code, on a real three-host line of network
//! namespaces (it gets nobody in, and a middle that only relays packets changes nothing),
//! and the code staying out of every log at any verbosity.

use crate::harness::{Device, finish_invite, start_invite, words};
use duo_device::device::{Online, Ticket};
use duo_device::{Home, Opened, invite};
use std::sync::Mutex;

#[test]
fn a_middle_that_knows_the_code_shows_different_words_on_the_two_screens() {
    let runs: usize = std::env::var("DUO_TEST_MITM_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut differ = 0;
    for run in 0..runs {
        let alice = Device::new("Alice");
        let bob = Device::new("Bob");
        let (alice_invite, alice_ticket) = start_invite(&alice, &[]);
        let alice_ticket: Ticket = alice_ticket.parse().unwrap();
        let code = alice_ticket.code.clone();
        let mut m = Middle::new("127.0.0.1", &code, |_| {});
        let bob_side = std::thread::scope(|s| {
            let bob_join =
                s.spawn(|| bob.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{}\n", m.forged)));
            let (seen_by_alice_side, seen_by_bob_side) = (Mutex::new(String::new()), Mutex::new(String::new()));
            m.rt.block_on(async {
                let (with_alice, with_bob) = tokio::join!(
                    invite::join(
                        &m.to_alice.endpoint,
                        &mut m.as_bob,
                        alice_ticket.addr(),
                        &code,
                        |w, _| {
                            *seen_by_alice_side.lock().unwrap() = w.to_string();
                            true
                        }
                    ),
                    invite::invite(&m.to_bob.endpoint, &m.as_alice, &code, false, |w, _| {
                        *seen_by_bob_side.lock().unwrap() = w.to_string();
                        true
                    })
                );
                with_alice.expect("the middle pairs with Alice (it knows the code)");
                with_bob.expect("the middle pairs with Bob (it knows the code)");
                // Let both first syncs finish so neither process waits for them.
                m.to_bob.refresh_members(&m.as_alice).unwrap();
                let (router, mut served) = m.to_bob.serve_sync(&m.as_alice);
                m.to_alice.refresh_members(&m.as_bob).unwrap();
                let _ = duo_device::net::sync_with(
                    &m.to_alice.endpoint,
                    &m.as_bob.space,
                    alice_ticket.addr(),
                    Default::default(),
                )
                .await;
                let _ = tokio::time::timeout(std::time::Duration::from_secs(30), served.recv()).await;
                let _ = router.shutdown().await;
            });
            let joined = bob_join.join().unwrap();
            (
                joined,
                seen_by_alice_side.into_inner().unwrap(),
                seen_by_bob_side.into_inner().unwrap(),
            )
        });
        let (bob_run, middle_with_alice, middle_with_bob) = bob_side;
        let alice_run = finish_invite(alice_invite);
        assert_eq!(alice_run.code, 0, "{}", alice_run.stderr);
        assert_eq!(bob_run.code, 0, "{}", bob_run.stderr);
        let (on_alice, on_bob) = (words(&alice_run.stderr), words(&bob_run.stderr));
        assert_eq!(on_alice.split(' ').count(), 4, "{}", alice_run.stderr);
        assert_eq!(on_alice, middle_with_alice, "Alice's screen shows her pairing's words");
        assert_eq!(on_bob, middle_with_bob, "Bob's screen shows his pairing's words");
        assert_ne!(on_alice, on_bob, "run {run}: the two screens must differ");
        eprintln!("run {run}: Alice saw '{on_alice}', Bob saw '{on_bob}'");
        differ += 1;
    }
    eprintln!("middle that knows the code: the words differed in {differ} of {runs} runs");
}

/// The middle: a home posing as Bob towards Alice and one posing as Alice towards Bob
/// (`craft` may change what each says of itself), both online at `ip`, and the ticket that
/// sends Bob to the middle with the code Bob was told (`told`).
pub struct Middle {
    pub _dir: tempfile::TempDir,
    pub as_bob: Opened,
    pub as_alice: Opened,
    pub rt: tokio::runtime::Runtime,
    pub to_alice: Online,
    pub to_bob: Online,
    pub forged: String,
}

impl Middle {
    pub fn new(ip: &str, told: &duo_device::code::Code, craft: impl Fn(&mut duo_device::Config)) -> Middle {
        let dir = tempfile::tempdir().unwrap();
        let mut as_bob = Home::new(dir.path().join("as-bob")).init("Bob", "laptop", 1).unwrap();
        let mut as_alice = Home::new(dir.path().join("as-alice"))
            .init("Alice", "laptop", 1)
            .unwrap();
        craft(&mut as_bob.config);
        craft(&mut as_alice.config);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let here = duo_device::device::NetOptions {
            bind: Some(format!("{ip}:0").parse().unwrap()),
            relays: duo_device::relay::Relays::disabled(),
        };
        let (to_alice, to_bob) = rt.block_on(async {
            (
                Online::bind(&as_bob, &here, false).await.unwrap(),
                Online::bind(&as_alice, &here, true).await.unwrap(),
            )
        });
        // Bob is handed a ticket that points at the middle but carries the code he was told.
        let forged = Ticket {
            id: to_bob.endpoint.id(),
            addrs: to_bob.addrs(),
            relay: None,
            code: told.clone(),
        }
        .reveal();
        Middle {
            _dir: dir,
            as_bob,
            as_alice,
            rt,
            to_alice,
            to_bob,
            forged,
        }
    }
}

/// A guess at `code`: its public nameplate, other words.
fn guess(code: &duo_device::code::Code) -> duo_device::code::Code {
    loop {
        let g = duo_device::code::Code::generate();
        let g: duo_device::code::Code = format!("{}-{}", code.nameplate(), g.reveal().split_once('-').unwrap().1)
            .parse()
            .unwrap();
        if g != *code {
            return g;
        }
    }
}

/// Alice in one namespace, Bob in another, the middle in a third that routes between
/// them. The middle does not know the code: it knows what is public (Alice's endpoint id
/// and addresses, the nameplate) and steers Bob to itself (a forged ticket: its own id and
/// address, with the code Bob was told). It must guess the words on both sides: both
/// pairings fail as a wrong code, nobody is recorded anywhere, and both codes are used up.
/// Then the middle only relays packets: Alice and Bob pair through it, with the same words.
#[test]
fn a_middle_without_the_code_gets_nobody_in_three_namespaces() {
    use crate::netlab::{LINE_A, LINE_B, LINE_M_B, Line, in_netns};
    let Some(line) = Line::new("mitm") else { return };
    let device_in = |ns: &crate::netlab::Netns, addr: &str, name: &str| {
        let mut d = Device::blank();
        d.netns = Some(ns.name.clone());
        d.env = vec![("DUO_BIND".into(), format!("{addr}:0"))];
        d.run(&["init", "--name", name, "--label", "laptop"]).ok();
        d
    };
    let alice = device_in(&line.a, LINE_A, "Alice");
    let bob = device_in(&line.b, LINE_B, "Bob");
    let (alice_invite, alice_ticket) = start_invite(&alice, &[]);
    let alice_ticket: Ticket = alice_ticket.parse().unwrap();
    let told = alice_ticket.code.clone(); // what Alice tells Bob, out of band
    // What the middle sees: public parts only.
    let alice_addr = alice_ticket.addr();
    let guessed = guess(&told);

    let (middle_with_alice, middle_with_bob, bob_run) = in_netns(&line.m, || {
        let mut m = Middle::new(LINE_M_B, &told, |_| {});
        std::thread::scope(|s| {
            let bob_join =
                s.spawn(|| bob.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{}\n", m.forged)));
            let (with_alice, with_bob) = m.rt.block_on(async {
                tokio::join!(
                    invite::join(
                        &m.to_alice.endpoint,
                        &mut m.as_bob,
                        alice_addr.clone(),
                        &guessed,
                        |_, _| { true }
                    ),
                    invite::invite(&m.to_bob.endpoint, &m.as_alice, &guessed, false, |_, _| true)
                )
            });
            let members = |o: &duo_device::Opened| o.space.read().unwrap().view.devices.len();
            assert_eq!(
                (members(&m.as_bob), members(&m.as_alice)),
                (1, 1),
                "the middle recorded nobody"
            );
            (with_alice, with_bob, bob_join.join().unwrap())
        })
    });
    let alice_run = finish_invite(alice_invite);
    eprintln!("middle with Alice: {middle_with_alice:?}; with Bob: {middle_with_bob:?}");
    eprintln!("alice: {}", alice_run.stderr.trim_end().replace('\n', " | "));
    eprintln!("bob: {}", bob_run.stderr.trim_end().replace('\n', " | "));
    assert!(matches!(middle_with_alice, Err(duo_device::SyncError::WrongCode)));
    assert!(matches!(middle_with_bob, Err(duo_device::SyncError::WrongCode)));
    assert_ne!(alice_run.code, 0, "Alice's pairing failed");
    assert_ne!(bob_run.code, 0, "Bob's pairing failed");
    assert!(alice_run.stderr.contains("did not match"), "{}", alice_run.stderr);
    assert!(bob_run.stderr.contains("did not match"), "{}", bob_run.stderr);
    for d in [&alice, &bob] {
        let status = d.run(&["status", "--json"]).json();
        assert_eq!(status["devices"], 1, "nobody was recorded: {status}");
        assert_eq!(status["people"].as_array().map(Vec::len), Some(1), "{status}");
    }
    // The middle now only forwards packets: the pairing goes through it, end to end.
    let alice2 = device_in(&line.a, LINE_A, "Alice");
    let bob2 = device_in(&line.b, LINE_B, "Bob");
    let (invited, joined) = crate::harness::pair_by_ticket(&alice2, &bob2, &[]);
    assert_eq!(words(&invited.stderr), words(&joined.stderr));
}

/// The code (and the ticket that carries it) never appears in what either side prints
/// on stderr, whatever logging is asked for, in a pairing that works and in one that fails
/// (errors never echo the code), and never in either device's files. The ticket is read
/// from stdin, never from argv.
#[test]
fn the_code_never_appears_in_logs_at_any_verbosity() {
    let loud = [
        ("RUST_LOG", "trace"),
        ("RUST_BACKTRACE", "full"),
        ("DUO_LOG", "trace"),
        ("RUST_LIB_BACKTRACE", "1"),
    ];
    for wrong in [false, true] {
        let mut alice = Device::new("Alice");
        let mut bob = Device::new("Bob");
        for d in [&mut alice, &mut bob] {
            d.env = loud.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        }
        let (child, ticket) = start_invite(&alice, &[]);
        let (head, code) = ticket.split_once('#').unwrap();
        let typed = if wrong {
            let c: duo_device::code::Code = code.parse().unwrap();
            format!("{head}#{}", guess(&c).reveal())
        } else {
            ticket.clone()
        };
        let joined = bob.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{typed}\n"));
        let invited = finish_invite(child);
        assert_eq!(joined.code == 0, !wrong, "{}", joined.stderr);
        assert_eq!(invited.code == 0, !wrong, "{}", invited.stderr);
        let typed_code = typed.split_once('#').unwrap().1.to_string();
        // The code as typed, and its secret words in a row (with dashes or spaces).
        let mut secrets = Vec::new();
        for c in [code, typed_code.as_str()] {
            let w = c.split_once('-').unwrap().1;
            secrets.extend([c.to_string(), w.to_string(), w.replace('-', " ")]);
        }
        for (who, text) in [
            ("inviter stderr", &invited.stderr),
            ("joiner stderr", &joined.stderr),
            ("joiner stdout", &joined.stdout),
        ] {
            assert!(!text.contains(head), "{who} shows the ticket:\n{text}");
            for secret in &secrets {
                assert!(!text.contains(secret.as_str()), "{who} shows the code:\n{text}");
            }
        }
        for d in [&alice, &bob] {
            assert_eq!(
                crate::harness::any_file_contains(&d.home(), code),
                None,
                "the code is on disk"
            );
        }
        eprintln!(
            "{} pairing with RUST_LOG=trace: {} + {} bytes of stderr, no code word in either",
            if wrong { "a failed" } else { "a working" },
            invited.stderr.len(),
            joined.stderr.len()
        );
    }
}
