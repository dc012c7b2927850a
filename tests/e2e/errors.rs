//! Bad input gets a clear error, a non-zero exit, and changes nothing.

use crate::harness::*;

#[test]
fn bad_and_ambiguous_ids() {
    let d = Device::new("Alice");
    let import = r#"[
      {"id":"abcd0000000000000000000000000001","kind":"reflection","created_at":"2026-01-01T00:00:00Z","body":"one"},
      {"id":"abcd0000000000000000000000000002","kind":"reflection","created_at":"2026-01-02T00:00:00Z","body":"two"}]"#;
    d.run_stdin(&["journal", "import", "-"], import).ok();
    let err = d.run(&["journal", "show", "abcd"]).fails(1).to_string();
    assert!(
        err.contains("more than one entry") && err.contains("abcd0000000000000000000000000001"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    let err = d.run(&["journal", "show", "ffff"]).fails(1).to_string();
    assert!(err.contains("no entry matches 'ffff'"), "{err}");
    let err = d.run(&["journal", "show", "ab"]).fails(2).to_string();
    assert!(err.contains("at least 4"), "{err}");
    let err = d.run(&["journal", "delete", "zzzz", "--yes"]).fails(2).to_string();
    assert!(err.contains("not an entry id"), "{err}");
    d.run(&["journal", "edit", "abcd", "x"]).fails(1);
    assert_eq!(d.bodies(&[]), vec!["two", "one"]);
}

#[test]
fn usage_errors_exit_2() {
    let d = Device::new("Alice");
    let r = d.run(&["journal", "add", "x", "--kind", "poem"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("poem"));
    d.run(&["journal", "list", "--since", "last tuesday"]).fails(2);
    d.run(&["journal", "add", "x", "--tag", "  "]).fails(2);
    d.run(&["journal", "add", "x", "--tag", "bell\u{7}"]).fails(2);
    d.run(&["frobnicate"]).fails(2);
    assert_eq!(d.list(&[]).len(), 0);
}

#[test]
fn empty_text_is_refused() {
    let d = Device::new("Alice");
    let err = d.run_stdin(&["journal", "add"], "  \n\n").fails(1).to_string();
    assert!(err.contains("empty"), "{err}");
    d.run(&["journal", "add", ""]).fails(1);
    assert_eq!(d.list(&[]).len(), 0);
}

#[test]
fn key_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let d = Device::new("Alice");
    let key = d.home().join("keys/age.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = d.run(&["journal", "list"]).fails(1).to_string();
    assert!(
        err.contains("can be read by other users") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(err.contains(&key.display().to_string()), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    d.run(&["journal", "list"]).ok();
}

#[test]
fn init_twice_is_refused_and_changes_nothing() {
    let d = Device::new("Alice");
    let before = std::fs::read(d.home().join("keys/age.key")).unwrap();
    let err = d.run(&["init", "--name", "Mallory"]).fails(1).to_string();
    assert!(err.contains("already set up"), "{err}");
    assert_eq!(std::fs::read(d.home().join("keys/age.key")).unwrap(), before);
    assert_eq!(d.run(&["status", "--json"]).json()["name"], "Alice");
    let blank = Device::blank();
    blank.run(&["init", "--name", "   "]).fails(2);
}

#[test]
fn malformed_import_names_the_place_and_imports_nothing() {
    let d = Device::new("Alice");
    d.add("already here", &[]);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("dayone.json");
    std::fs::write(
        &bad,
        "{\"entries\": [\n  {\"uuid\": \"A1\", \"creationDate\": \"2024-01-01T00:00:00Z\", \"text\": \"fine\"},\n  {\"uuid\": \"A2\", \"creationDate\": \"not a date\", \"text\": \"bad\"}\n]}\n",
    )
    .unwrap();
    let err = d
        .run(&["journal", "import", bad.to_str().unwrap()])
        .fails(1)
        .to_string();
    assert!(
        err.contains("entries[1].creationDate") && err.contains("nothing was imported"),
        "{err}"
    );
    std::fs::write(&bad, "{\"entries\": [\n  {\"uuid\": \"A1\",\n \"creationDate\": 5}]}").unwrap();
    let err = d
        .run(&["journal", "import", bad.to_str().unwrap()])
        .fails(1)
        .to_string();
    assert!(err.contains("line 3") && err.contains("creationDate"), "{err}");
    std::fs::write(&bad, "{\"entries\": [").unwrap();
    d.run(&["journal", "import", bad.to_str().unwrap()]).fails(1);
    d.run(&["journal", "import", "/nonexistent/file.json"]).fails(1);
    assert_eq!(d.bodies(&[]), vec!["already here"]);
}
