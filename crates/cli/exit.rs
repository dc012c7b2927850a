//! Every exit status `duo` uses, in one place. Commands return these names, never bare
//! numbers; docs/cli.md's "Exit status" table lists the same codes with their meanings
//! (a test checks that every code here appears there).

/// Success.
pub const OK: i32 = 0;
/// A failure that has no code of its own (see docs/cli.md for the full list).
pub const FAILURE: i32 = 1;
/// A usage error: clap's errors, invalid values, a missing `--yes` where nobody can be asked.
pub const USAGE: i32 = 2;
/// `journal ack` / `reflect` on an entry whose author asked for no replies.
pub const NO_REPLIES: i32 = 3;
/// duo is locked: the keys are behind a passphrase and no `duo unlock` holds them.
pub const LOCKED: i32 = 4;
/// `duo sync`: no other device of the space answered (nor came online while it waited).
pub const NOBODY_REACHABLE: i32 = 5;
/// `restore` / `bundle import`: the passphrase or identity does not open the file.
pub const FILE_KEY: i32 = 10;
/// A damaged file: a backup or bundle that is damaged, changed, or not a duo file; or this
/// device's own store (a read met damaged files, a change was refused because of them,
/// `doctor` found them, one of the home's own files is damaged).
pub const FILE_DAMAGED: i32 = 11;
/// `bundle import`: the signature does not match the content.
pub const FORGED: i32 = 12;
/// `bundle import` / `restore`: a file of another shared space (or person).
pub const OTHER_SPACE: i32 = 13;
/// `bundle import` / `verify`: made by a device that is not part of this space.
pub const UNKNOWN_DEVICE: i32 = 14;
/// `bundle import` / `verify`: made by a revoked device.
pub const REVOKED: i32 = 15;
/// `bundle import`: the bundle lacks history this device does not have.
pub const MISSING_HISTORY: i32 = 16;
/// `bundle import`: a bundle refused for another reason: made on this device, or by a
/// newer duo. (12–16 are the other refusals, each with its own code.)
pub const REFUSED_BUNDLE: i32 = 17;
/// Stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: i32 = 130;

/// Every code with its name, for the docs test.
#[cfg(test)]
pub const ALL: &[(i32, &str)] = &[
    (OK, "OK"),
    (FAILURE, "FAILURE"),
    (USAGE, "USAGE"),
    (NO_REPLIES, "NO_REPLIES"),
    (LOCKED, "LOCKED"),
    (NOBODY_REACHABLE, "NOBODY_REACHABLE"),
    (FILE_KEY, "FILE_KEY"),
    (FILE_DAMAGED, "FILE_DAMAGED"),
    (FORGED, "FORGED"),
    (OTHER_SPACE, "OTHER_SPACE"),
    (UNKNOWN_DEVICE, "UNKNOWN_DEVICE"),
    (REVOKED, "REVOKED"),
    (MISSING_HISTORY, "MISSING_HISTORY"),
    (REFUSED_BUNDLE, "REFUSED_BUNDLE"),
    (INTERRUPTED, "INTERRUPTED"),
];

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_distinct_and_each_is_in_the_cli_reference() {
        let mut seen = std::collections::BTreeSet::new();
        for (code, name) in super::ALL {
            assert!(seen.insert(*code), "{name}: code {code} used twice");
        }
        let doc = include_str!("../../docs/cli.md");
        let table = doc
            .split("## Exit status")
            .nth(1)
            .expect("docs/cli.md has an Exit status section");
        for (code, name) in super::ALL {
            if *code == super::INTERRUPTED || *code == super::OK {
                continue;
            }
            assert!(
                table.contains(&format!("| {code} |")),
                "docs/cli.md's exit status table lacks {code} ({name})"
            );
        }
    }
}
