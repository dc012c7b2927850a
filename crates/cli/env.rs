//! Every environment variable `duo` reads, in one place: its name and what it does.
//! docs/cli.md's "Environment" table documents the same names (a test checks both ways).
//! Commands read them through [`var`], which treats an empty value as unset, and the
//! test-only knobs through [`test_knob`], which reads them only in builds for tests.

/// The data directory, when `--home` is not given (empty means unset).
pub const HOME: &str = "DUO_HOME";
/// Where this device's endpoint binds, `IP:PORT`.
pub const BIND: &str = "DUO_BIND";
/// The relay for this run: `disabled`, `n0` or a relay URL.
pub const RELAY: &str = "DUO_RELAY";
/// A PEM file of certificates to trust for the relay.
pub const RELAY_CA: &str = "DUO_RELAY_CA";
/// Local discovery: `mdns` or `none`.
pub const DISCOVERY: &str = "DUO_DISCOVERY";
/// How long `duo pair` waits, in seconds (1 to 600). A setting, not a test knob: it can only
/// shorten the 10 minutes a code is valid.
pub const PAIR_EXPIRY_SECS: &str = "DUO_PAIR_EXPIRY_SECS";
/// The "I"-statement hints on or off for this run.
pub const HINTS: &str = "DUO_HINTS";
/// Test knob: scrypt's work factor for new passphrase backups.
pub const BACKUP_WORK_FACTOR: &str = "DUO_BACKUP_WORK_FACTOR";
/// Test knob: the scrypt work factor of `duo lock --set` (read in `duo_device::lock`).
#[cfg(test)]
pub const TEST_SCRYPT_LOG_N: &str = duo_device::lock::WORK_FACTOR_ENV;
/// Test knob: a fixed clock (RFC 3339).
pub const NOW: &str = "DUO_NOW";

/// Every `DUO_` variable, for the docs test.
#[cfg(test)]
pub const ALL: &[&str] = &[
    HOME,
    BIND,
    RELAY,
    RELAY_CA,
    DISCOVERY,
    PAIR_EXPIRY_SECS,
    HINTS,
    BACKUP_WORK_FACTOR,
    TEST_SCRYPT_LOG_N,
    NOW,
];

/// The variable's value, or `None` when it is unset, empty or not Unicode.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A test knob's value ([`BACKUP_WORK_FACTOR`], [`NOW`]): as [`var`] in builds for tests
/// (`cargo test`, see `duo_device::TEST_KNOBS`), `None` in every other build whatever the
/// environment says, so that no knob weakens or fakes anything for real use.
pub fn test_knob(name: &str) -> Option<String> {
    if duo_device::TEST_KNOBS { var(name) } else { None }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_variable_is_documented_and_every_documented_one_is_read() {
        let doc = include_str!("../../docs/cli.md");
        let table = doc
            .split("## Environment")
            .nth(1)
            .expect("docs/cli.md has an Environment section");
        for name in super::ALL {
            assert!(
                table.contains(&format!("`{name}`")),
                "docs/cli.md does not document {name}"
            );
        }
        // The first column of each row names the variables it documents.
        for row in table.lines().filter(|l| l.starts_with("| `")) {
            let first = row.split('|').nth(1).unwrap_or("");
            for word in first.split('`').filter(|w| w.starts_with("DUO_")) {
                assert!(
                    super::ALL.contains(&word),
                    "docs/cli.md documents {word}, which env.rs does not list"
                );
            }
        }
    }
}
