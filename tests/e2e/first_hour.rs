//! The first hour of a new couple, message by message: what a person reads when they make
//! the usual mistakes (a code on the command line, a home that is a file, a short
//! passphrase), and the small words that must be right (an appreciation, five minutes ago,
//! you before your partner, a device that left).

use crate::harness::*;

#[test]
fn a_code_typed_on_the_command_line_is_refused_with_why() {
    let d = Device::new("Alice");
    for (args, which) in [
        (&["pair", "join", "7-purple-sausage-lantern"][..], "code"),
        (&["pair", "join", "--ticket", "duo1:abc"][..], "ticket"),
    ] {
        let err = d.run(args).fails(2).to_string();
        assert!(err.contains("shell history"), "{err}");
        assert!(err.contains(&format!("the {which} is typed at the prompt")), "{err}");
        assert!(!err.contains("unexpected argument"), "not clap's message: {err}");
    }
}

#[test]
fn a_home_that_is_a_file_or_empty_is_explained() {
    let d = Device::blank();
    let file = d.dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let mut at_file = Device::blank();
    at_file.env = vec![("DUO_HOME".into(), file.display().to_string())];
    let err = at_file.run(&["status"]).fails(2).to_string();
    assert!(
        err.contains("which is a file, not a directory") && err.contains("DUO_HOME"),
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");

    // DUO_HOME= (empty) means unset: the default data directory, not a clap error.
    let home = tempfile::tempdir().unwrap();
    let mut empty = Device::blank();
    empty.env = vec![
        ("DUO_HOME".into(), String::new()),
        ("HOME".into(), home.path().display().to_string()),
        ("XDG_DATA_HOME".into(), home.path().join("data").display().to_string()),
    ];
    let r = empty.run(&[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("not set up") && r.stderr.contains(&home.path().join("data").display().to_string()),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("--home <DIR>"), "{}", r.stderr);
}

#[test]
fn a_short_passphrase_is_refused_before_it_is_asked_again() {
    if !have_tool("script") {
        return;
    }
    let mut d = Device::new("Alice");
    d.env.push(("DUO_TEST_SCRYPT_LOG_N".into(), "12".into()));
    let r = run_on_tty(&d, &["lock", "--set"], "short\n");
    let screen = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 2, "{screen}");
    assert!(screen.contains("at least 8 characters"), "{screen}");
    assert!(!screen.contains("again"), "it did not ask a second time: {screen}");
    assert!(d.run(&["status"]).code == 0, "nothing was locked");
}

#[test]
fn plain_duo_on_a_locked_home_says_it_is_locked() {
    let mut d = Device::new("Alice");
    let pw = with_passphrase(&mut d);
    d.run(&["lock", "--set", "--passphrase-file", &pw]).ok();
    d.run(&["lock"]).ok();
    let r = d.run(&[]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("locked") && r.stderr.contains("duo unlock"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_small_words_are_right() {
    let mut alice = Device::new("Alice");
    let mut bob = Device::new("Bob");
    pair_by_ticket(&alice, &bob, &[]);
    // You come first in your own status.
    let status = bob.run(&["status"]).ok().to_string();
    assert!(status.contains("People       Bob, Alice"), "{status}");
    let status = alice.run(&["status"]).ok().to_string();
    assert!(status.contains("People       Alice, Bob"), "{status}");

    // "an appreciation".
    let id = alice.add("Thank you for the tea", &["--kind", "appreciation"]);
    let err = alice
        .run(&["journal", "edit", &id[..8], "--status", "retired"])
        .fails(2)
        .to_string();
    assert!(err.contains("is an appreciation"), "{err}");

    // Five minutes later, `today` says so (not "from a while back").
    bob.now = Some("2026-11-02T08:00:00Z".into());
    let thanks = bob.add("Thank you for listening last night", &["--kind", "appreciation"]);
    let mut watch = bob.spawn(&["sync", "--watch"]);
    watch.wait_for("Online", std::time::Duration::from_secs(60));
    alice.run(&["sync"]).ok();
    drop(watch);
    alice.now = Some("2026-11-02T08:05:00Z".into());
    let today = alice.run(&["today"]).ok().to_string();
    assert!(today.contains("5 minutes ago, Bob appreciated"), "{today}");
    assert!(!today.contains("a while back"), "{today}");
    let _ = thanks;

    // After `duo leave`, status does not promise to go online again.
    alice.run(&["leave", "--yes"]).ok();
    let status = alice.run(&["status"]).ok().to_string();
    assert!(!status.contains("goes online"), "{status}");
    assert!(status.contains("you left this space"), "{status}");
}
