//! User-facing errors: what happened, why, and what to do next.

use crate::exit;
use duo_device::SyncError;
use duo_device::local::LocalFile;
use duo_journal::JournalError;
use std::fmt::Display;

/// An error on its way to the terminal.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub causes: Vec<String>,
    pub hint: Option<String>,
    pub code: i32,
}

pub type Result<T> = std::result::Result<T, CliError>;

impl CliError {
    pub fn new(message: impl Display) -> Self {
        Self {
            message: message.to_string(),
            causes: Vec::new(),
            hint: None,
            code: exit::FAILURE,
        }
    }

    pub fn hint(mut self, hint: impl Display) -> Self {
        self.hint = Some(hint.to_string());
        self
    }

    pub fn cause(mut self, cause: impl Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }

    /// A usage error (exit status 2).
    pub fn usage(message: impl Display) -> Self {
        Self {
            code: exit::USAGE,
            ..Self::new(message)
        }
    }
}

impl From<JournalError> for CliError {
    fn from(e: JournalError) -> Self {
        match &e {
            JournalError::NotFound { .. } => CliError::new(&e)
                .hint("`duo journal list` shows entries with their ids (`--all` includes private ones)"),
            JournalError::Ambiguous { .. } => CliError::new(&e).hint("type more characters of the id"),
            JournalError::Damaged { problems } => {
                let mut err = CliError::new("the journal has damaged files, so duo will not change it");
                for p in problems {
                    err = err.cause(p);
                }
                err.code = exit::FILE_DAMAGED;
                err.hint(
                    "run `duo doctor` for a full report, and `duo doctor --repair` to set damaged files aside and go on",
                )
            }
            JournalError::SchemaTooNew { .. } => CliError::new(&e).hint("update duo on this device"),
            JournalError::Document(why) => CliError::new("the journal could not be read or changed")
                .cause(why)
                .hint("nothing was saved; `duo doctor` checks every file"),
            JournalError::Storage(s) => CliError::new("could not use the journal's files")
                .cause(s)
                .hint("check the disk has space and the data directory is writable"),
            _ => CliError::new(&e),
        }
    }
}

impl From<SyncError> for CliError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Journal(j) => j.into(),
            SyncError::NotInitialized { .. } => CliError::new(&e)
                .hint("run `duo init --name <your name>` to set up this device (or point --home / DUO_HOME at an existing one)"),
            SyncError::AlreadyInitialized { .. } => {
                CliError::new(&e).hint("`duo status` shows who you are here; use --home DIR for a second setup")
            }
            SyncError::IncompleteSetup { ref path } => CliError::new(&e).hint(format!(
                "an earlier `duo init` did not finish; if nothing there is yours to keep, remove {} and run `duo init` again",
                path.display()
            )),
            SyncError::KeyPermissions { ref path, .. } => CliError::new(&e)
                .hint(format!("make it private with `chmod 600 {}` (and check who else could have copied it)", path.display())),
            SyncError::InvalidName => CliError::usage(&e),
            SyncError::InvalidLabel => CliError::usage(&e).hint("give one with --label, e.g. --label laptop"),
            SyncError::Locked => CliError {
                code: exit::LOCKED,
                ..CliError::new(&e).hint("`duo unlock` asks your passphrase once; duo then stays open until `duo lock` or 15 idle minutes")
            },
            SyncError::NotLocked => CliError::new(&e).hint("`duo lock --set` sets one"),
            SyncError::AlreadyLocked => CliError::new(&e).hint("`duo lock --remove` removes it; `duo lock` locks now"),
            SyncError::LocalDamaged { file, .. } => CliError {
                code: exit::FILE_DAMAGED,
                ..CliError::new(&e).hint(local_hint(file))
            },
            SyncError::Net(ref why) => CliError::new("the connection to the other device failed")
                .cause(why)
                .hint("nothing was lost: check that both devices are online and try again"),
            SyncError::Io { ref path, ref source } => CliError::new(format!("could not use {}", path.display()))
                .cause(source)
                .hint("check that the disk has space and that you can write to duo's data directory"),
            SyncError::BadFile { .. } => CliError::new(&e).hint("`duo doctor` checks this device's files"),
            SyncError::WrongPassphrase => CliError::new(&e).hint("type it again; it is the passphrase set with `duo lock --set`"),
            SyncError::WeakPassphrase => CliError::usage(&e)
                .hint("choose a longer one: a few unrelated words are easy to remember and slow to guess"),
            _ => CliError::new(&e),
        }
    }
}

/// What to do about a damaged local file: the same words from every command and `duo doctor`.
pub fn local_hint(file: LocalFile) -> &'static str {
    match file {
        LocalFile::Trust => {
            "run `duo doctor --repair`: it sets the file aside and rebuilds this device's trust from the signatures in the shared space (devices you revoked on this device only, and leaving the space, were only in that file: it says what to do again)"
        }
        LocalFile::Peers => {
            "run `duo doctor --repair`: it sets the file aside; it only held where the other devices were last reached (`duo sync` finds them again on the same network, and they can still reach this device)"
        }
        LocalFile::SyncState => {
            "run `duo doctor --repair`: it sets the record aside; the next sync with that device compares everything once"
        }
        LocalFile::SealMarks => {
            "run `duo doctor --repair`: it sets the file aside and starts again from what your entries show now; until then, and for versions only that file remembered, this device cannot tell an older version of your words put back from the newest"
        }
        LocalFile::Config | LocalFile::AgeKey | LocalFile::DeviceKey | LocalFile::LockedKeys | LocalFile::PersonKey => {
            "duo cannot rebuild this file. If you have a copy of it from this device, put it back. Otherwise set this device up again in a new home: from a backup (`duo restore FILE --home NEWDIR`), or with `duo init --home NEWDIR` and `duo pair --own-device` on another of your devices (or `duo pair --partner-device` on your partner's)"
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::new("could not read or write a file")
            .cause(e)
            .hint("check that the disk has space and that you can write to duo's data directory, then try again")
    }
}
