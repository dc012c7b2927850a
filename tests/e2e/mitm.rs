//! A machine in the middle that knows the code: it pairs with Alice as if it were Bob and
//! with Bob as if it were Alice (two real `duo` processes; the middle is this test, using
//! duo's own library on loopback). Each pairing succeeds on its own, but the verification
//! words on Alice's screen differ from those on Bob's, so two people who compare them
//! (aloud, in person, on a call) catch it. The words are bound to both endpoint ids and to
//! the connection's keying material, and each side commits to its PAKE message before
//! seeing the other's, so the middle cannot steer the two sets of words to match.

use crate::harness::{Device, finish_invite, start_invite, words};
use duo_sync::device::{Online, Ticket};
use duo_sync::{Home, invite};
use std::sync::Mutex;

#[test]
fn a_middle_that_knows_the_code_shows_different_words_on_the_two_screens() {
    for run in 0..3 {
        let alice = Device::new("Alice");
        let bob = Device::new("Bob");
        let (alice_invite, alice_ticket) = start_invite(&alice, &[]);
        let alice_ticket: Ticket = alice_ticket.parse().unwrap();
        let code = alice_ticket.code.clone();

        let dir = tempfile::tempdir().unwrap();
        let mut as_bob = Home::new(dir.path().join("as-bob")).init("Bob", "laptop", 1).unwrap();
        let as_alice = Home::new(dir.path().join("as-alice"))
            .init("Alice", "laptop", 1)
            .unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let here = duo_sync::device::NetOptions {
            bind: Some("127.0.0.1:0".parse().unwrap()),
            relays: duo_sync::relay::Relays::disabled(),
        };
        let (to_alice, to_bob) = rt.block_on(async {
            (
                Online::bind(&as_bob, &here, false).await.unwrap(),
                Online::bind(&as_alice, &here, true).await.unwrap(),
            )
        });
        // Bob is handed a ticket that points at the middle but carries Alice's code.
        let forged = Ticket {
            id: to_bob.endpoint.id(),
            addrs: to_bob.addrs(),
            relay: None,
            code: code.clone(),
        }
        .reveal();
        let bob_side = std::thread::scope(|s| {
            let bob_join = s.spawn(|| bob.run_stdin(&["pair", "join", "--ticket", "--yes"], &format!("{forged}\n")));
            let (seen_by_alice_side, seen_by_bob_side) = (Mutex::new(String::new()), Mutex::new(String::new()));
            rt.block_on(async {
                let (with_alice, with_bob) = tokio::join!(
                    invite::join(&to_alice.endpoint, &mut as_bob, alice_ticket.addr(), &code, |w, _| {
                        *seen_by_alice_side.lock().unwrap() = w.to_string();
                        true
                    }),
                    invite::invite(&to_bob.endpoint, &as_alice, &code, false, |w, _| {
                        *seen_by_bob_side.lock().unwrap() = w.to_string();
                        true
                    })
                );
                with_alice.expect("the middle pairs with Alice (it knows the code)");
                with_bob.expect("the middle pairs with Bob (it knows the code)");
                // Let both first syncs finish so neither process waits for them.
                to_bob.refresh_members(&as_alice).unwrap();
                let (router, mut served) = to_bob.serve_sync(&as_alice);
                to_alice.refresh_members(&as_bob).unwrap();
                let _ = duo_sync::net::sync_with(
                    &to_alice.endpoint,
                    &as_bob.space,
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
    }
}
