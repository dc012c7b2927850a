//! Import from Day One and duo's own JSON; export to Markdown and JSON.

use crate::harness::*;

fn day_one(n: usize) -> String {
    let entries: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "uuid": format!("UUID-{i:05}"),
                "creationDate": format!("2024-{:02}-{:02}T08:{:02}:00Z", 1 + i % 12, 1 + i % 28, i % 60),
                "text": format!("Day One entry {i}: a walk by the sea"),
                "tags": if i % 2 == 0 { vec!["sea"] } else { vec![] },
                "starred": false,
            })
        })
        .collect();
    serde_json::json!({"metadata": {"version": "1.0"}, "entries": entries}).to_string()
}

#[test]
fn day_one_import_is_idempotent() {
    let d = Device::new("Alice");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.json");
    std::fs::write(&file, day_one(30)).unwrap();
    let r = d.run(&["journal", "import", file.to_str().unwrap(), "--json"]).json();
    assert_eq!(r["imported"], 30);
    assert_eq!(r["format"], "dayone");
    let again = d.run(&["journal", "import", file.to_str().unwrap(), "--json"]).json();
    assert_eq!(again["imported"], 0);
    assert_eq!(again["already_present"], 30);
    let list = d.list(&[]);
    assert_eq!(list.len(), 30);
    assert!(list.iter().all(|e| e["author"] == "Alice" && e["kind"] == "reflection"));
    assert_eq!(d.list(&["--tag", "sea"]).len(), 15);
    let first = list
        .iter()
        .find(|e| e["body"] == "Day One entry 0: a walk by the sea")
        .unwrap();
    assert_eq!(first["created_at"], "2024-01-01T08:00:00Z");
    let human = d.run(&["journal", "import", file.to_str().unwrap()]);
    assert!(human.stderr.contains("30 were already here"), "{}", human.stderr);
}

#[test]
fn private_import_goes_to_the_notebook() {
    let d = Device::new("Alice");
    d.run_stdin(&["journal", "import", "-", "--private"], &day_one(3)).ok();
    assert_eq!(d.list(&[]).len(), 0);
    assert_eq!(d.list(&["--private"]).len(), 3);
}

#[test]
fn export_then_import_into_a_fresh_device_round_trips() {
    let mut a = Device::new("Alice");
    a.now = Some("2026-10-01T12:00:00Z".into());
    let b = a.add("I need quiet mornings", &["--kind", "boundary", "--tag", "home"]);
    a.add("Thank you for the soup", &["--kind", "appreciation"]);
    a.add("only mine", &["--private"]);
    a.now = Some("2026-10-02T12:00:00Z".into());
    a.run(&["journal", "edit", &b, "--status", "revisit"]).ok();

    let json = a
        .run(&["journal", "export", "--format", "json", "--all"])
        .ok()
        .to_string();
    let exported: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(exported.len(), 3);

    let fresh = Device::new("Alice");
    // A new setup is a new person id: the export's entries are someone else's until the
    // user says they are their own.
    let err = fresh.run_stdin(&["journal", "import", "-"], &json).fails(1).to_string();
    assert!(err.contains("someone else") && err.contains("--as-mine"), "{err}");
    assert_eq!(fresh.list(&["--all"]).len(), 0);
    let r = fresh
        .run_stdin(&["journal", "import", "-", "--json", "--as-mine"], &json)
        .json();
    assert_eq!(r["imported"], 3);
    assert_eq!(r["private"], 1);
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        for k in ["author_id", "device"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    let before: Vec<_> = a.list(&["--all"]).iter().map(strip).collect();
    let after: Vec<_> = fresh.list(&["--all"]).iter().map(strip).collect();
    assert_eq!(
        before, after,
        "ids, times, kinds, tags, status and privacy survive the round trip"
    );
    assert_eq!(
        fresh.run_stdin(&["journal", "import", "-", "--json"], &json).json()["imported"],
        0
    );
}

#[test]
fn markdown_export_to_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let d = Device::new("Alice");
    d.add(
        "I felt close to you on our walk",
        &["--kind", "appreciation", "--tag", "walks"],
    );
    d.add("secret", &["--private"]);
    let md = d.run(&["journal", "export", "--format", "md"]).ok().to_string();
    assert!(md.starts_with("# duo journal"), "{md}");
    assert!(
        md.contains("appreciation · Alice") && md.contains("#walks") && md.contains("I felt close"),
        "{md}"
    );
    assert!(!md.contains("secret"), "private notes only with --all/--private");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("journal.md");
    let r = d.run(&["journal", "export", "--all", "--output", out.to_str().unwrap()]);
    assert!(r.ok().is_empty());
    assert!(r.stderr.contains("plaintext"), "{}", r.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("secret") && text.contains("private"));
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn large_import_shows_no_progress_when_not_a_terminal_and_lands_whole() {
    let d = Device::new("Alice");
    let r = d.run_stdin(&["journal", "import", "-", "--json"], &day_one(2000));
    assert_eq!(r.json()["imported"], 2000);
    assert!(
        !r.stderr.contains("importing"),
        "no progress bar drawn into a pipe: {}",
        r.stderr
    );
    assert_eq!(d.list(&[]).len(), 2000);
    d.run(&["doctor"]).ok();
}
