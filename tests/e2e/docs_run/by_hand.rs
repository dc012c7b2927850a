//! The README's examples that cannot be transcripts, because a person answers on a terminal
//! (pairing and its verification words, the editor, a deletion, passphrases): each test reads
//! the commands from the README's block, runs exactly those on a pseudo-terminal (util-linux
//! `script`), typing what a person types, and checks what the README says they do.

use crate::harness::{BIN, Device, have_tool, words};
use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// The README's commands of the ```sh block after `after`: (device, command) for each line
/// (`alice$ duo …` or plain `duo …`, which is Alice's), comments removed.
fn readme_block(after: &str) -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let from = readme
        .find(after)
        .unwrap_or_else(|| panic!("README.md has no {after:?}"));
    let block = readme[from..]
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap_or_else(|| panic!("no ```sh block after {after:?} in README.md"));
    block
        .lines()
        .map(|l| l.split(" #").next().unwrap().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once("$ ") {
            Some((who, cmd)) => (who.to_string(), cmd.trim().to_string()),
            None => ("alice".to_string(), l.to_string()),
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// A command on a pseudo-terminal, typed at as it runs.
struct Pty {
    child: Child,
    stdin: Option<ChildStdin>,
    screen: Arc<Mutex<String>>,
    what: String,
}

impl Pty {
    /// `sh -c LINE` on a terminal, with `d`'s environment and the `duo` under test first on
    /// PATH, in `d`'s directory.
    fn start(d: &Device, line: &str) -> Pty {
        let c = d.command(&[]);
        let mut envs: Vec<(std::ffi::OsString, std::ffi::OsString)> = c
            .get_envs()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
            .collect();
        let bin_dir = Path::new(BIN).parent().unwrap().display().to_string();
        let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
        envs.retain(|(k, _)| k != "PATH");
        envs.push(("PATH".into(), path.into()));
        let mut child = Command::new("script")
            .args(["-qec", line, "/dev/null"])
            .env_clear()
            .envs(envs)
            .current_dir(d.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script");
        let screen = Arc::new(Mutex::new(String::new()));
        let (sink, mut out) = (screen.clone(), child.stdout.take().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Pty {
            stdin: child.stdin.take(),
            child,
            screen,
            what: line.to_string(),
        }
    }

    fn screen(&self) -> String {
        self.screen.lock().unwrap().replace("\r\n", "\n")
    }

    fn type_line(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("still typing");
        stdin.write_all(format!("{text}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    #[track_caller]
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + LIMIT;
        while !self.screen().contains(needle) {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "`{}` ended before showing {needle:?}:\n{}",
                self.what,
                self.screen()
            );
            assert!(
                Instant::now() < deadline,
                "`{}` did not show {needle:?}:\n{}",
                self.what,
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the end; its exit status and everything it showed.
    #[track_caller]
    fn finish(mut self) -> (i32, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                return (st.code().unwrap_or(-1), self.screen());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("`{}` did not finish:\n{}", self.what, self.screen());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A device set up as `name` with the label `label`.
fn device(name: &str, label: &str) -> Device {
    let d = Device::blank();
    d.run(&["init", "--name", name, "--label", label]).ok();
    d
}

/// `joiner` runs `join` (`duo pair join --ticket`) on a terminal and pastes `ticket` at its
/// prompt; both people answer y to the verification words; both succeed. Both screens
/// (inviter's, joiner's).
fn join_and_confirm(mut invite: Pty, joiner: &Device, join: &str, ticket: &str) -> (String, String) {
    let mut join = Pty::start(joiner, join);
    join.wait_for("Paste the ticket");
    join.type_line(ticket);
    for p in [&mut invite, &mut join] {
        p.wait_for("[y/N]");
        p.type_line("y");
    }
    let (joined, join_screen) = join.finish();
    let (invited, invite_screen) = invite.finish();
    assert_eq!(
        (joined, invited),
        (0, 0),
        "joiner:\n{join_screen}\ninviter:\n{invite_screen}"
    );
    (invite_screen, join_screen)
}

#[test]
fn the_readme_pairing_commands_pair_and_sync_as_it_says() {
    if !have_tool("script") {
        return;
    }
    let cmds = readme_block("**Pair two devices**");
    assert_eq!(
        cmds,
        pairs(&[
            ("alice", "duo pair --ticket"),
            ("bob", "duo pair join --ticket"),
            ("bob", "duo sync --watch"),
            ("alice", "duo sync"),
            ("alice", "duo devices"),
        ]),
        "the README's pairing commands changed: update this test to run and check them"
    );
    let alice = device("Alice", "laptop");
    let bob = device("Bob", "phone");

    // "prints a duo1:… ticket on the first line of stdout, then waits"
    let ticket_file = alice.dir.path().join("stdout");
    let mut invite = Pty::start(&alice, &format!("{} > '{}'", cmds[0].1, ticket_file.display()));
    let deadline = Instant::now() + LIMIT;
    let ticket = loop {
        let out = std::fs::read_to_string(&ticket_file).unwrap_or_default();
        if let Some((first, _)) = out.split_once('\n') {
            break first.to_string();
        }
        assert!(Instant::now() < deadline, "no ticket on stdout:\n{}", invite.screen());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        ticket.starts_with("duo1:"),
        "the first line of stdout is the ticket: {ticket}"
    );
    // "on a terminal it is also drawn as a QR code"
    invite.wait_for("Waiting");
    assert!(
        invite.screen().contains('█') || invite.screen().contains('▀'),
        "a QR code:\n{}",
        invite.screen()
    );

    // "paste the ticket at the prompt (never on the command line)", "both screens show the
    // same four words: check them, answer y"
    let (invite_screen, join_screen) = join_and_confirm(invite, &bob, &cmds[1].1, &ticket);
    assert_eq!(words(&join_screen).split(' ').count(), 4, "{join_screen}");
    assert_eq!(
        words(&join_screen),
        words(&invite_screen),
        "the same four words on both screens"
    );

    // "stay online; new entries go out as they are written"
    let watch_args: Vec<&str> = cmds[2].1.split_whitespace().skip(1).collect();
    let mut watch = bob.spawn(&watch_args);
    watch.wait_for("Online as", LIMIT);
    let from_bob = bob.add("Thank you for the soup", &["--kind", "appreciation"]);
    let from_alice = alice.add("I loved our walk", &[]);
    // "exchange entries with every device it can reach"
    let sync_args: Vec<&str> = cmds[3].1.split_whitespace().skip(1).collect();
    let r = alice.run(&sync_args);
    assert!(
        r.ok().is_empty() && r.stderr.contains("Synced with 1 device; received 1 new entry"),
        "{}",
        r.stderr
    );
    let ids = |d: &Device| -> Vec<String> {
        d.list(&[])
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(ids(&alice).contains(&from_bob), "Alice has Bob's entry");
    let deadline = Instant::now() + LIMIT;
    while !ids(&bob).contains(&from_alice) {
        assert!(Instant::now() < deadline, "Bob's watching device got Alice's entry");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(watch);

    // "both of you, every device"
    let devices_args: Vec<&str> = cmds[4].1.split_whitespace().skip(1).collect();
    let listed = alice.run(&devices_args).ok().to_string();
    let rows: Vec<&str> = listed.lines().collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(
        rows.iter()
            .any(|r| r.contains("Alice") && r.contains("laptop") && r.contains("(this device)")),
        "{listed}"
    );
    assert!(
        rows.iter().any(|r| r.contains("Bob") && r.contains("phone")),
        "{listed}"
    );
}

#[test]
fn the_readme_terminal_commands_ask_and_do_what_it_says() {
    if !have_tool("script") {
        return;
    }
    let cmds = readme_block("On a terminal, these ask you:");
    assert_eq!(
        cmds,
        pairs(&[
            ("alice", "duo journal add"),
            ("alice", "duo journal delete 3f9c"),
            ("alice", "duo backup ~/usb/duo.backup"),
            ("alice", "duo lock --set"),
            ("alice", "duo unlock"),
        ]),
        "the README's terminal commands changed: update this test to run and check them"
    );
    let mut d = device("Alice", "laptop");
    let home = d.dir.path().display().to_string();
    let editor = d.dir.path().join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nprintf 'Written in my editor\\n' > \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    d.env = vec![
        ("HOME".into(), home.clone()),
        ("EDITOR".into(), editor.display().to_string()),
        ("DUO_TEST_SCRYPT_LOG_N".into(), "10".into()),
        ("DUO_BACKUP_WORK_FACTOR".into(), "10".into()),
    ];

    // "no text: opens $VISUAL / $EDITOR"
    let (code, screen) = Pty::start(&d, &cmds[0].1).finish();
    assert_eq!(code, 0, "{screen}");
    let entries = d.list(&[]);
    assert_eq!(entries.len(), 1, "{screen}");
    assert_eq!(entries[0]["body"], "Written in my editor");
    let id = entries[0]["id"].as_str().unwrap().to_string();

    // "asks before deleting"
    let mut delete = Pty::start(&d, &cmds[1].1.replace("3f9c", &id[..4]));
    delete.wait_for("Delete this entry?");
    delete.type_line("y");
    let (code, screen) = delete.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(d.list(&[]).is_empty(), "deleted after the answer y");
    d.add("Something to keep", &[]);

    // "everything, never a key, to a passphrase (asked twice); `duo restore` on a new machine"
    std::fs::create_dir_all(d.dir.path().join("usb")).unwrap();
    let mut backup = Pty::start(&d, &cmds[2].1);
    for _ in 0..2 {
        backup.wait_for("assphrase");
        let asked = backup.screen().matches("assphrase").count();
        backup.type_line("correct horse battery staple");
        let deadline = Instant::now() + LIMIT;
        while backup.screen().matches("assphrase").count() == asked && backup.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "{}", backup.screen());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let (code, screen) = backup.finish();
    assert_eq!(code, 0, "{screen}");
    let file = d.dir.path().join("usb/duo.backup");
    assert!(file.is_file(), "{screen}");
    let new_machine = Device::blank();
    let pass = new_machine.dir.path().join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    new_machine
        .run(&[
            "restore",
            &file.display().to_string(),
            "--passphrase-file",
            &pass.display().to_string(),
        ])
        .ok();
    assert_eq!(new_machine.bodies(&[]), ["Something to keep"]);

    // "protect the keys with a passphrase (asked twice)"
    let mut lock = Pty::start(&d, &cmds[3].1);
    lock.wait_for("assphrase");
    lock.type_line("a long enough passphrase");
    lock.type_line("a long enough passphrase");
    let (code, screen) = lock.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Locked"), "{screen}");
    d.run(&["journal", "list"]).fails(4);

    // "once per session; `duo lock` closes duo at once"
    let mut unlock = Pty::start(&d, &cmds[4].1);
    unlock.wait_for("assphrase");
    unlock.type_line("a long enough passphrase");
    let (code, screen) = unlock.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(d.bodies(&[]), ["Something to keep"], "unlocked");
    d.run(&["lock"]).ok();
    d.run(&["journal", "list"]).fails(4);
}

/// The docs' ```console blocks that need terminals (docs-run line `terminal`), each as
/// (device, doc, first command), run by a test here.
pub const TERMINAL_BLOCKS: &[(&str, &str, &str)] = &[("alice", "docs/cli.md", "duo pair --ticket")];

/// The lines a terminal showed, as a transcript compares them.
fn screen_lines(screen: &str) -> Vec<String> {
    let mut v: Vec<String> = screen.lines().map(|l| l.trim_end().to_string()).collect();
    while v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

#[test]
fn the_cli_reference_pairing_example_is_what_both_terminals_show() {
    if !have_tool("script") {
        return;
    }
    let doc = "docs/cli.md";
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    let block = super::parse(doc, &text)
        .into_iter()
        .find(|b| b.terminal && b.steps[0].cmd == TERMINAL_BLOCKS[0].2)
        .expect("docs/cli.md has the pairing example");
    let who: Vec<(&str, &str)> = block.steps.iter().map(|s| (s.who.as_str(), s.cmd.as_str())).collect();
    assert_eq!(
        who,
        [("alice", "duo pair --ticket"), ("bob", "duo pair join --ticket")],
        "the pairing example's commands changed: update this test"
    );
    let alice = device("Alice", "laptop");
    let bob = device("Bob", "phone");
    alice.add("Thank you for the coffee", &["--kind", "appreciation"]);
    bob.add("I liked our walk", &[]);

    let mut invite = Pty::start(&alice, &block.steps[0].cmd);
    invite.wait_for("Waiting");
    let ticket = invite.screen().lines().next().unwrap_or_default().trim().to_string();
    assert!(
        ticket.starts_with("duo1:"),
        "the ticket comes first:\n{}",
        invite.screen()
    );
    let (invite_screen, join_screen) = join_and_confirm(invite, &bob, &block.steps[1].cmd, &ticket);

    let mut ids = super::Ids::default();
    let mut failures = Vec::new();
    for (step, screen) in block.steps.iter().zip([invite_screen, join_screen]) {
        let seed = format!("{doc}:{}", block.fence);
        if let Some((diff, _)) = super::check(
            &step.out,
            step.out_lines.start,
            &screen_lines(&screen),
            &mut ids,
            false,
            &seed,
        ) {
            failures.push(format!(
                "{doc}:{}: `{}$ {}` shows something else on a terminal; - is the doc, + is duo:\n{diff}",
                step.line + 1,
                step.who,
                step.cmd
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
