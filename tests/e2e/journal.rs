//! The everyday commands, as a person would use them.

use crate::harness::*;

#[test]
fn quickstart_flow() {
    let mut alice = Device::new("Alice");
    alice.now = Some("2026-11-20T09:00:00Z".into());
    let walk = alice.add(
        "I felt close to you on our walk today",
        &["--kind", "appreciation", "--tag", "walks"],
    );
    assert_eq!(walk.len(), 32, "add prints the full id alone: {walk}");
    alice.now = Some("2026-11-21T09:00:00Z".into());
    let boundary = alice
        .run_stdin(
            &["journal", "add", "--kind", "boundary"],
            "I need an hour alone after work before we talk about plans\n",
        )
        .ok()
        .trim()
        .to_string();
    alice.now = Some("2026-11-22T09:00:00Z".into());
    let private = alice.add("Something I'm not ready to share yet", &["--private"]);

    // Newest first; private only with --private / --all.
    let shared = alice.list(&[]);
    assert_eq!(shared.len(), 2);
    assert_eq!(shared[0]["id"], boundary.as_str());
    assert_eq!(shared[1]["id"], walk.as_str());
    let all = alice.list(&["--all"]);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["id"], private.as_str());
    assert_eq!(all[0]["private"], true);
    let only_private = alice.list(&["--private"]);
    assert_eq!(only_private.len(), 1);
    assert_eq!(only_private[0]["body"], "Something I'm not ready to share yet");

    // The JSON schema.
    let e = &shared[1];
    assert_eq!(e["kind"], "appreciation");
    assert_eq!(e["author"], "Alice");
    assert_eq!(e["author_id"].as_str().unwrap().len(), 32);
    assert_eq!(e["device"].as_str().unwrap().len(), 64);
    assert_eq!(e["created_at"], "2026-11-20T09:00:00Z");
    assert_eq!(e["edited_at"], "2026-11-20T09:00:00Z");
    assert_eq!(e["tags"], serde_json::json!(["walks"]));
    assert_eq!(e["private"], false);
    assert_eq!(e["status"], serde_json::Value::Null);
    assert_eq!(e["conflicts"], serde_json::json!([]));
    assert_eq!(shared[0]["status"], "active");
    assert_eq!(
        shared[0]["body"],
        "I need an hour alone after work before we talk about plans"
    );

    // Filters.
    assert_eq!(alice.list(&["--kind", "boundary"]).len(), 1);
    assert_eq!(alice.list(&["--tag", "walks"]).len(), 1);
    assert_eq!(alice.list(&["--tag", "nope"]).len(), 0);
    assert_eq!(alice.list(&["--since", "2026-11-21"]).len(), 1);
    assert_eq!(alice.list(&["--until", "2026-11-21"]).len(), 1);
    assert_eq!(
        alice
            .list(&["--kind", "boundary", "--tag", "walks", "--since", "2026-11-01"])
            .len(),
        0
    );
    assert_eq!(alice.list(&["--limit", "1"]).len(), 1);

    // Human output: readable, ids shortened, private marked.
    let human = alice.run(&["journal", "list", "--all"]).ok().to_string();
    assert!(
        human.contains(&walk[..8]) && human.contains("#walks") && human.contains("[private]"),
        "{human}"
    );
    assert!(!human.contains(&walk), "human list shows short ids: {human}");

    // Search, show by prefix.
    let found = alice.run(&["journal", "search", "WALK", "--json"]).json();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["id"], walk.as_str());
    assert_eq!(
        alice
            .run(&["journal", "search", "ready to share", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        alice
            .run(&["journal", "search", "ready to share", "--all", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let shown = alice.run(&["journal", "show", &walk[..4], "--json"]).json();
    assert_eq!(shown["id"], walk.as_str());
    assert!(
        alice
            .run(&["journal", "show", &walk[..6]])
            .ok()
            .contains("I felt close to you on our walk today")
    );
    assert_eq!(
        alice.run(&["journal", "show", &private[..6], "--json"]).json()["private"],
        true
    );
}

#[test]
fn edit_text_tags_status_and_delete() {
    let mut d = Device::new("Alice");
    d.now = Some("2026-11-20T09:00:00Z".into());
    let b = d.add("I need quiet mornings", &["--kind", "boundary"]);
    let r = d.add("Thank you for the tea", &["--kind", "appreciation"]);
    d.now = Some("2026-11-21T10:00:00Z".into());
    d.run(&["journal", "edit", &b[..6], "I need quiet mornings on weekdays"])
        .ok();
    d.run(&["journal", "edit", &b[..6], "--status", "revisit"]).ok();
    d.run(&["journal", "edit", &r[..6], "--tag", "tea", "--tag", "home"])
        .ok();
    let e = d.run(&["journal", "show", &b, "--json"]).json();
    assert_eq!(e["body"], "I need quiet mornings on weekdays");
    assert_eq!(e["status"], "revisit");
    assert_eq!(e["created_at"], "2026-11-20T09:00:00Z");
    assert_eq!(e["edited_at"], "2026-11-21T10:00:00Z");
    assert_eq!(
        d.run(&["journal", "show", &r, "--json"]).json()["tags"],
        serde_json::json!(["home", "tea"]),
        "tags are a set, shown in order"
    );

    // Status only on boundaries, with a clear usage error and nothing changed.
    let err = d
        .run(&["journal", "edit", &r, "--status", "retired"])
        .fails(2)
        .to_string();
    assert!(err.contains("only boundaries"), "{err}");

    // Boundaries list active first.
    d.now = Some("2026-11-22T10:00:00Z".into());
    let newer = d.add("I need a heads-up before guests come over", &["--kind", "boundary"]);
    d.now = Some("2026-11-23T10:00:00Z".into());
    let retired = d.add("No phones at dinner", &["--kind", "boundary"]);
    d.run(&["journal", "edit", &retired, "--status", "retired"]).ok();
    let order: Vec<String> = d
        .list(&["--kind", "boundary"])
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, vec![newer.clone(), b.clone(), retired.clone()]);

    // Delete asks; non-interactive needs --yes.
    let err = d.run(&["journal", "delete", &r]).fails(2).to_string();
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(d.list(&[]).len(), 4);
    d.run(&["journal", "delete", &r, "--yes"]).ok();
    assert_eq!(d.list(&[]).len(), 3);
    d.run(&["journal", "show", &r]).fails(1);
}

#[test]
fn editor_opens_on_a_terminal_and_leaves_no_temp_file() {
    if !have_tool("script") {
        return;
    }
    let mut d = Device::new("Alice");
    let runtime = tempfile::tempdir().unwrap();
    let script = d.dir.path().join("fake-editor.sh");
    let seen = d.dir.path().join("seen.txt");
    // The "editor" records the file's mode, directory and initial text, then writes new text.
    write_script(
        &script,
        &format!(
            "#!/bin/sh\n{{ stat -c '%a' \"$1\"; dirname \"$1\"; cat \"$1\"; }} > '{}'\nprintf 'written in the editor\\n' > \"$1\"\n",
            seen.display()
        ),
    );
    d.env = vec![
        ("EDITOR".into(), script.display().to_string()),
        ("XDG_RUNTIME_DIR".into(), runtime.path().display().to_string()),
    ];
    let r = run_on_tty(&d, &["journal", "add"], "");
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let seen_text = std::fs::read_to_string(&seen).unwrap();
    let mut lines = seen_text.lines();
    assert_eq!(lines.next(), Some("600"), "temp file mode");
    assert_eq!(
        lines.next(),
        Some(runtime.path().to_str().unwrap()),
        "temp file lives in XDG_RUNTIME_DIR"
    );
    assert_eq!(d.bodies(&[]), vec!["written in the editor"]);
    let id = d.list(&[])[0]["id"].as_str().unwrap().to_string();

    // `edit` with no text opens the editor on the current body.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat \"$1\" > '{}'\nprintf 'second version\\n' > \"$1\"\n",
            seen.display()
        ),
    )
    .unwrap();
    let r = run_on_tty(&d, &["journal", "edit", &id[..6]], "");
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let opened_on = std::fs::read_to_string(&seen).unwrap();
    assert!(
        opened_on.starts_with("written in the editor\n\n------------------------ >8 ------------------------\n"),
        "the editor opens on the body, then the scissors line: {opened_on}"
    );
    assert_eq!(d.bodies(&[]), vec!["second version"]);

    // An editor that saves nothing saves nothing.
    std::fs::write(&script, "#!/bin/sh\n: > \"$1\"\n").unwrap();
    let r = run_on_tty(&d, &["journal", "add"], "");
    assert_eq!(r.code, 1);
    assert_eq!(d.list(&[]).len(), 1);
    assert!(
        std::fs::read_dir(runtime.path()).unwrap().next().is_none(),
        "no temp file left behind"
    );
}

#[test]
fn duo_without_init_says_how_to_start() {
    let d = Device::blank();
    let r = d.run(&[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("duo init --name"), "{}", r.stderr);
    let err = d.run(&["journal", "list"]).fails(1).to_string();
    assert!(err.contains("not set up") && err.contains("duo init --name"), "{err}");
}

#[test]
fn status_reports_identity_and_counts() {
    let d = Device::new("Alice");
    d.add("one", &[]);
    d.add("two", &["--private"]);
    let s = d.run(&["status", "--json"]).json();
    assert_eq!(s["name"], "Alice");
    assert_eq!(s["device_label"], "laptop");
    assert_eq!(s["entries"]["shared"], 1);
    assert_eq!(s["entries"]["private"], 1);
    assert_eq!(s["home"], d.home().display().to_string());
    let human = d.run(&["status"]).ok().to_string();
    assert!(human.contains("Alice") && human.contains("1 shared"), "{human}");
}

#[test]
fn completions_and_man_page() {
    let d = Device::blank();
    for shell in ["bash", "zsh", "fish"] {
        let out = d.run(&["completions", shell]).ok().to_string();
        assert!(
            out.contains("journal") && out.contains("init"),
            "{shell} completions:\n{out}"
        );
    }
    let man = d.run(&["man"]).ok().to_string();
    assert!(man.contains(".TH duo"), "{man}");
    // The committed pages are generated from the same CLI definition and must match it.
    let fresh = tempfile::tempdir().unwrap();
    d.run(&["man", "--dir", fresh.path().to_str().unwrap()]).ok();
    let committed_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
    let names = |dir: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(fresh.path()),
        names(&committed_dir),
        "docs/man is out of date: run `just man`"
    );
    for name in names(fresh.path()) {
        assert_eq!(
            std::fs::read_to_string(fresh.path().join(&name)).unwrap(),
            std::fs::read_to_string(committed_dir.join(&name)).unwrap(),
            "docs/man/{name} is out of date: run `just man`"
        );
    }
    assert!(names(fresh.path()).contains(&"duo-journal-add.1".to_string()));
}

#[test]
fn concurrent_edits_are_kept_until_the_author_picks_one() {
    // Two devices of one person: a copy of the home (same keys) stands in for the second
    // device, and copying its new chunk files over stands in for sync.
    let a = Device::new("Alice");
    let id = a.add("original text", &[]);
    let b = Device::blank();
    copy_dir(&a.home(), &b.home());
    a.run(&["journal", "edit", &id, "text from the laptop"]).ok();
    b.run(&["journal", "edit", &id, "text from the phone"]).ok();
    for f in files_under(&b.home().join("space/changes")) {
        std::fs::copy(&f, a.home().join("space/changes").join(f.file_name().unwrap())).unwrap();
    }
    let e = a.run(&["journal", "show", &id, "--json"]).json();
    let mut versions = vec![e["body"].as_str().unwrap().to_string()];
    versions.extend(
        e["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string()),
    );
    versions.sort();
    assert_eq!(versions, vec!["text from the laptop", "text from the phone"]);
    let human = a.run(&["journal", "show", &id]).ok().to_string();
    assert!(human.contains("[2]") && human.contains("--keep"), "{human}");
    // Keep version 2 (whichever it is); the conflict is gone and that text stays.
    let second = e["conflicts"][0].as_str().unwrap().to_string();
    a.run(&["journal", "edit", &id, "--keep", "2"]).ok();
    let e = a.run(&["journal", "show", &id, "--json"]).json();
    assert_eq!(e["body"], second.as_str());
    assert_eq!(e["conflicts"], serde_json::json!([]));
    a.run(&["journal", "edit", &id, "--keep", "2"]).fails(2);
}

pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// A script standing in for an editor: records its arguments and the file it was given,
/// then puts `text` above whatever was there (keeping the guide below the scissors line).
fn recording_editor(
    dir: &std::path::Path,
    name: &str,
    version: &str,
    text: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let script = dir.join(name);
    let record = dir.join(format!("{name}.record"));
    write_script(
        &script,
        &format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '{version}'; exit 0; fi\nfor f; do :; done\n{{ echo \"ARGS $*\"; cat \"$f\"; }} > '{}'\n{{ printf '{text}\\n'; cat \"$f\"; }} > \"$f.new\" && mv \"$f.new\" \"$f\"\n",
            record.display()
        ),
    );
    (script, record)
}

#[test]
fn without_editor_set_duo_opens_vi_with_a_guide_below_a_scissors_line() {
    if !have_tool("script") {
        return;
    }
    let mut d = Device::new("Alice");
    let bin = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    // A `vi` that is not Vim: it gets no Vim flags.
    let (_, record) = recording_editor(bin.path(), "vi", "nvi 1.81", "## A heading, kept\nI missed you today");
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
    d.env = vec![
        ("PATH".into(), path.clone()),
        ("XDG_RUNTIME_DIR".into(), runtime.path().display().to_string()),
    ];
    let r = run_on_tty(&d, &["journal", "add", "--kind", "appreciation"], "");
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let seen = std::fs::read_to_string(&record).unwrap();
    assert!(
        !seen.contains("-i NONE"),
        "a vi that is not Vim gets no Vim flags: {seen}"
    );
    assert!(
        seen.contains("------------------------ >8 ------------------------"),
        "{seen}"
    );
    assert!(
        seen.contains("Your partner will read this appreciation"),
        "the guide says who reads it: {seen}"
    );
    assert!(seen.contains("To cancel"), "the guide says how to cancel: {seen}");
    // What was above the scissors line is the entry; a Markdown heading is kept.
    assert_eq!(d.bodies(&[]), vec!["## A heading, kept\nI missed you today"]);

    // A private note's guide says it stays here.
    let r = run_on_tty(&d, &["journal", "add", "--private"], "");
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(
        std::fs::read_to_string(&record)
            .unwrap()
            .contains("stays on this device")
    );

    // A `vi` that is Vim is told to keep no swap file, viminfo, backup or undo file.
    let (_, record) = recording_editor(bin.path(), "vi", "VIM - Vi IMproved 9.0", "second");
    let r = run_on_tty(&d, &["journal", "add"], "");
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let seen = std::fs::read_to_string(&record).unwrap();
    assert!(
        seen.contains("ARGS -n -i NONE -c set nobackup nowritebackup noundofile"),
        "Vim runs with no swap, viminfo, backup or undo: {seen}"
    );
}

#[test]
fn real_vim_leaves_no_swap_viminfo_or_backup_copy_of_the_text() {
    if !have_tool("script") || !have_tool("vim") {
        return;
    }
    let mut d = Device::new("Alice");
    let runtime = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // Real Vim, scripted: type a line at the top, then save and quit. `set backup` in a vimrc
    // would write a backup copy; duo's flags override it.
    std::fs::write(home.path().join(".vimrc"), "set backup\nset undofile\n").unwrap();
    d.env = vec![
        (
            "EDITOR".into(),
            "vim -c 'normal! ggIthe words I wrote in vim' -c wq".into(),
        ),
        ("HOME".into(), home.path().display().to_string()),
        ("XDG_RUNTIME_DIR".into(), runtime.path().display().to_string()),
        ("TERM".into(), "xterm".into()),
    ];
    let r = run_on_tty(&d, &["journal", "add"], "");
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert_eq!(d.bodies(&[]), vec!["the words I wrote in vim"]);
    let left: Vec<_> = files_under(home.path())
        .into_iter()
        .chain(files_under(runtime.path()))
        .filter(|p| !p.ends_with(".vimrc"))
        .collect();
    assert!(left.is_empty(), "vim left copies behind: {left:?}");
}
