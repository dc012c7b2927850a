//! Every single-device command's output as a person sees it (stdout, stderr and the exit
//! status), for success, refusal and error, kept as reviewed snapshots under
//! `tests/e2e/snapshots/`: a change to any message shows up as a diff of these files.
//!
//! Each table row runs the real `duo` in a fresh home with a fixed clock (`DUO_NOW`); ids,
//! keys and the home's path are redacted. The rows of one table share one home and run in
//! order. To accept new output after a reviewed change:
//! `INSTA_UPDATE=always cargo test --test e2e snapshots::` (no other tool needed).

use crate::harness::*;

const NOW: &str = "2026-11-02T08:00:00Z";

/// Runs of hex digits of 8 or more characters (ids, keys, short ids) become `[ID]`, the
/// device's temporary directory `[DIR]`, and a port `[PORT]`.
fn redact(d: &Device, text: &str) -> String {
    let dir = d.dir.path().display().to_string();
    let text = text.replace(&dir, "[DIR]");
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let is_hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        let boundary = |j: usize| j >= chars.len() || !chars[j].is_ascii_alphanumeric();
        if is_hex(chars[i]) && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            while j < chars.len() && is_hex(chars[j]) {
                j += 1;
            }
            if j - i >= 8 && boundary(j) && chars[i..j].iter().any(char::is_ascii_digit) {
                out.push_str("[ID]");
                i = j;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    // `127.0.0.1:41234`, `port 41234`: the port is the system's choice; `(4729 bytes`: the
    // size of an encrypted file.
    let mut s = out;
    for (prefix, label, then) in [
        ("127.0.0.1:", "[PORT]", ""),
        ("port ", "[PORT]", ""),
        ("(", "[SIZE]", " bytes"),
    ] {
        let mut done = String::new();
        let mut rest = s.as_str();
        while let Some(at) = rest.find(prefix) {
            let (head, tail) = rest.split_at(at + prefix.len());
            done.push_str(head);
            let digits = tail.chars().take_while(char::is_ascii_digit).count();
            if digits >= 4 && tail[digits..].starts_with(then) {
                done.push_str(label);
            } else {
                done.push_str(&tail[..digits]);
            }
            rest = &tail[digits..];
        }
        done.push_str(rest);
        s = done;
    }
    prompts(&seconds(&s))
}

/// How long deriving a passphrase's key took (`took 0.1 s`) depends on the machine.
fn seconds(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("took ") {
        let (head, tail) = rest.split_at(at + "took ".len());
        out.push_str(head);
        let n = tail.chars().take_while(|c| c.is_ascii_digit() || *c == '.').count();
        if n > 0 && tail[n..].starts_with(" s") {
            out.push_str("[SECS]");
        } else {
            out.push_str(&tail[..n]);
        }
        rest = &tail[n..];
    }
    out.push_str(rest);
    out
}

/// duo picks prompts at random: their ids (`time-l4`), their depth and theme line and the
/// question under it become placeholders.
fn prompts(text: &str) -> String {
    let is_prompt_id = |w: &str| {
        w.split_once("-l").is_some_and(|(theme, n)| {
            !theme.is_empty()
                && theme.chars().all(|c| c.is_ascii_lowercase())
                && !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
        })
    };
    let mut out = Vec::new();
    let mut question_next = false;
    for line in text.lines() {
        if question_next {
            out.push("[QUESTION]".to_string());
            question_next = false;
            continue;
        }
        if line.contains(" · ") {
            out.push("[PROMPT]  [DEPTH · THEME]".to_string());
            question_next = true;
            continue;
        }
        let line = match line.split_once("pass if you like: ") {
            Some((head, _)) => format!("{head}pass if you like: [PROMPT]  [QUESTION]"),
            None => line.to_string(),
        };
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                if is_prompt_id(w) {
                    "[PROMPT]".to_string()
                } else {
                    w.to_string()
                }
            })
            .collect();
        out.push(words.join(" "));
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

/// One command's screen: what was typed, the exit status, stdout and stderr.
fn screen(d: &Device, args: &[&str], stdin: Option<&str>) -> String {
    let r = match stdin {
        Some(input) => d.run_stdin(args, input),
        None => d.run(args),
    };
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("\"{a}\"")
            } else {
                a.to_string()
            }
        })
        .collect();
    redact(
        d,
        &format!(
            "$ duo {}\n--- exit {}\n--- stdout\n{}--- stderr\n{}",
            shown.join(" "),
            r.code,
            r.stdout,
            r.stderr
        ),
    )
}

/// A step of a table: a snapshot name, the arguments, and what is typed on stdin.
type Row<'a> = (&'a str, &'a [&'a str], Option<&'a str>);

/// Row `i` runs at 08:`i` on the fixed day, so entries list in the order they were written.
fn run_table(d: &mut Device, rows: &[Row]) {
    for (i, (name, args, stdin)) in rows.iter().enumerate() {
        d.now = Some(format!("2026-11-02T{:02}:{:02}:00Z", 8 + i / 60, i % 60));
        let text = screen(d, args, *stdin);
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(*name, text);
        });
    }
}

fn fresh() -> Device {
    let mut d = Device::blank();
    d.now = Some(NOW.into());
    // Backups and locks at a work factor tests can afford (test builds only).
    d.env.push(("DUO_TEST_SCRYPT_LOG_N".into(), "12".into()));
    d
}

#[test]
fn a_new_device_from_init_to_leave() {
    let mut d = fresh();
    let pw = d.dir.path().join("pw");
    std::fs::write(&pw, "a long enough passphrase\n").unwrap();
    let pw = pw.to_str().unwrap();
    let short = d.dir.path().join("short");
    std::fs::write(&short, "short\n").unwrap();
    let short = short.to_str().unwrap();
    let backup = d.dir.path().join("backup.duo");
    let backup = backup.to_str().unwrap();
    let garbage = d.dir.path().join("garbage");
    std::fs::write(&garbage, "not a duo file").unwrap();
    let garbage = garbage.to_str().unwrap();
    let export = d.dir.path().join("export.md");
    let export = export.to_str().unwrap();
    let rows: &[Row] = &[
        // Before set-up.
        ("000-bare-duo-before-init", &[], None),
        ("001-status-before-init", &["status"], None),
        ("002-init", &["init", "--name", "Alice", "--label", "laptop"], None),
        (
            "003-init-again",
            &["init", "--name", "Alice", "--label", "laptop"],
            None,
        ),
        ("004-bare-duo", &[], None),
        ("005-status", &["status"], None),
        // Writing and reading.
        ("010-add", &["journal", "add", "We walked by the river"], None),
        ("011-add-appreciation", &["thanks", "Thank you for the tea"], None),
        (
            "012-add-boundary",
            &["journal", "add", "--kind", "boundary", "No phones at dinner"],
            None,
        ),
        ("013-add-private", &["journal", "add", "--private", "Only for me"], None),
        ("014-add-empty", &["journal", "add"], Some("")),
        ("015-list", &["journal", "list"], None),
        ("016-list-all", &["journal", "list", "--all"], None),
        ("017-search", &["journal", "search", "river"], None),
        ("018-search-nothing", &["journal", "search", "mountain"], None),
        ("019-show-unknown", &["journal", "show", "ffff0000"], None),
        ("020-show-short-prefix", &["journal", "show", "ff"], None),
        (
            "021-list-bad-since",
            &["journal", "list", "--since", "yesterday-ish"],
            None,
        ),
        ("022-add-with-tag", &["journal", "add", "--tag", "two words", "x"], None),
        ("023-unknown-flag", &["journal", "list", "--colour"], None),
        ("024-export", &["journal", "export", "--output", export], None),
        // Practices.
        ("030-boundaries", &["boundaries"], None),
        ("031-prompt", &["prompt"], None),
        ("032-prompt-bad-depth", &["prompt", "--set-depth", "abyss"], None),
        ("033-topics", &["topics"], None),
        ("034-today", &["today"], None),
        ("035-checkin", &["checkin"], None),
        ("036-hints", &["hints"], None),
        // Devices, network, safety, without a partner.
        ("040-devices", &["devices"], None),
        ("041-sync-before-pairing", &["sync"], None),
        (
            "042-pair-join-code-on-command-line",
            &["pair", "join", "7-purple-sausage-lantern"],
            None,
        ),
        (
            "043-pair-join-garbled-ticket",
            &["pair", "join", "--ticket"],
            Some("hello\n"),
        ),
        (
            "044-pair-join-ticket-bad-id",
            &["pair", "join", "--ticket"],
            Some("duo1:abc@127.0.0.1:1#7-purple-sausage-lanturn\n"),
        ),
        (
            "045-pair-partner-device-alone",
            &["pair", "--ticket", "--partner-device"],
            None,
        ),
        ("046-bundle-export-alone", &["bundle", "export", backup], None),
        ("047-bundle-import-garbage", &["bundle", "import", garbage], None),
        ("048-relay", &["relay"], None),
        ("049-relay-set-bad", &["relay", "set", "not a relay"], None),
        ("050-safety", &["safety"], None),
        ("051-safety-guide", &["safety", "--guide"], None),
        ("052-doctor", &["doctor"], None),
        ("053-verify-garbage", &["verify", garbage], None),
        // Passphrase and backup.
        ("060-lock-without-passphrase", &["lock"], None),
        (
            "061-lock-set-short",
            &["lock", "--set", "--passphrase-file", short],
            None,
        ),
        ("062-backup", &["backup", backup, "--passphrase-file", pw], None),
        (
            "063-restore-garbage",
            &["restore", garbage, "--passphrase-file", pw],
            None,
        ),
        // Leaving.
        ("070-leave-without-yes", &["leave"], None),
        ("071-leave", &["leave", "--yes"], None),
        ("072-status-after-leave", &["status"], None),
        ("073-sync-after-leave", &["sync"], None),
        ("074-add-after-leave", &["journal", "add", "after leaving"], None),
    ];
    run_table(&mut d, rows);
}

#[test]
fn a_damaged_store_and_a_bad_environment() {
    let mut d = fresh();
    d.run(&["init", "--name", "Alice", "--label", "laptop"]).ok();
    let before: Vec<_> = files_under(&d.home().join("space/adds"));
    d.run(&["journal", "add", "one"]).ok();
    d.run(&["journal", "add", "two"]).ok();
    // The chunks the two entries were written to are damaged on disk.
    for chunk in files_under(&d.home().join("space/adds")) {
        if before.contains(&chunk) {
            continue;
        }
        let mut bytes = std::fs::read(&chunk).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 1;
        std::fs::write(&chunk, bytes).unwrap();
    }
    let rows: &[Row] = &[
        ("100-damaged-list", &["journal", "list"], None),
        ("101-damaged-doctor", &["doctor"], None),
        ("102-damaged-add", &["journal", "add", "three"], None),
    ];
    run_table(&mut d, rows);

    d.env.push(("DUO_BIND".into(), "nowhere".into()));
    run_table(&mut d, &[("110-bad-duo-bind", &["sync"], None)]);
}

#[test]
fn the_other_commands_for_success_refusal_and_error() {
    let mut d = fresh();
    let dir = d.dir.path().to_path_buf();
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let pw = file("pw", "a long enough passphrase\n");
    let import = file(
        "dayone.json",
        r#"{"entries":[{"uuid":"A1","creationDate":"2026-10-01T20:00:00Z","text":"An evening walk","tags":["walks"]}]}"#,
    );
    let malformed = file("malformed.json", "{\"entries\": [");
    let signed = dir.join("signed.json");
    let signed = signed.to_str().unwrap().to_string();
    let backup = dir.join("backup.duo");
    let backup = backup.to_str().unwrap().to_string();
    d.run(&["init", "--name", "Alice", "--label", "laptop"]).ok();
    let id = d.add("A first entry", &[]);
    let rows: &[Row] = &[
        ("200-import", &["journal", "import", &import], None),
        ("201-import-malformed", &["journal", "import", &malformed], None),
        ("202-edit", &["journal", "edit", &id, "A first entry, edited"], None),
        ("203-edit-unknown", &["journal", "edit", "ffff0000", "x"], None),
        ("204-delete-without-yes", &["journal", "delete", &id], None),
        ("205-restore-not-deleted", &["journal", "restore", &id], None),
        ("206-ack-own-entry", &["journal", "ack", &id, "heard"], None),
        (
            "207-reflect-own-entry",
            &["journal", "reflect", &id, "What I heard is"],
            None,
        ),
        ("208-confirm-no-reflection", &["journal", "confirm", &id], None),
        (
            "209-export-signed",
            &["journal", "export", "--format", "json", "--signed", "--output", &signed],
            None,
        ),
        ("210-verify-signed", &["verify", &signed], None),
        ("211-delete", &["journal", "delete", "--yes", &id], None),
        ("220-prompt-set-depth", &["prompt", "--set-depth", "light"], None),
        ("221-topics-pause", &["topics", "pause", "past"], None),
        (
            "222-topics-pause-unknown",
            &["topics", "pause", "nothing-like-it"],
            None,
        ),
        ("223-checkin-done", &["checkin", "--done"], None),
        ("224-hints-off", &["hints", "off"], None),
        ("225-devices-ack", &["devices", "ack"], None),
        ("226-relay-set-disabled", &["relay", "set", "disabled"], None),
        ("230-unlock-without-passphrase", &["unlock"], None),
        ("231-completions-unknown-shell", &["completions", "tcsh"], None),
        ("232-service-status", &["service", "status"], None),
        ("233-sync-bad-wait", &["sync", "--wait", "forever"], None),
        ("240-backup", &["backup", &backup, "--passphrase-file", &pw], None),
        (
            "241-restore-wrong-passphrase",
            &["restore", &backup, "--passphrase-file", &import],
            None,
        ),
        // The passphrase lock: set, lock now, refused while locked, unlock, lock again
        // (which stops the unlock agent, so nothing outlives the test).
        ("260-lock-set", &["lock", "--set", "--passphrase-file", &pw], None),
        ("261-lock-now", &["lock"], None),
        ("262-list-while-locked", &["journal", "list"], None),
        (
            "263-unlock-wrong-passphrase",
            &["unlock", "--passphrase-file", &import],
            None,
        ),
        ("264-unlock", &["unlock", "--passphrase-file", &pw], None),
        ("265-lock-again", &["lock"], None),
    ];
    run_table(&mut d, rows);

    // The backup restored on a new device of Alice's.
    let mut other = fresh();
    let copy = |from: &str, name: &str| {
        let to = other.dir.path().join(name);
        std::fs::copy(from, &to).unwrap();
        to.to_str().unwrap().to_string()
    };
    let (backup, pw) = (copy(&backup, "backup.duo"), copy(&pw, "pw"));
    let rows: &[Row] = &[
        (
            "250-restore-on-a-new-device",
            &["restore", &backup, "--passphrase-file", &pw, "--label", "phone"],
            None,
        ),
        ("251-status-after-restore", &["status"], None),
    ];
    run_table(&mut other, rows);
}

/// The snapshots, the docs and the README pass codespell (with `.codespellrc`'s list of
/// duo's own words). Under CI a missing codespell fails (`.ci/run` installs it).
#[test]
fn the_messages_docs_and_readme_are_spelled_right() {
    if !have_tool("codespell") {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("codespell")
        .current_dir(root)
        .args(["tests/e2e/snapshots", "docs", "README.md"])
        .output()
        .expect("run codespell");
    assert!(
        out.status.success(),
        "misspellings:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
