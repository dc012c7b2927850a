//! duo-device: everything about trust on a device.
//!
//! - [`Home`] creates and opens a device: its age identity (at-rest encryption), its iroh
//!   secret key (its network identity), its settings, its shared space and private notebook.
//! - [`AgeStore`] is the journal's storage: age-encrypted files written crash-safely.
//!
//! ```no_run
//! let opened = duo_device::Home::new("/tmp/alice").init("Alice", "laptop", 0).unwrap();
//! let read = opened.space.read().unwrap();
//! assert_eq!(read.view.entries.len(), 0);
//! ```

pub mod agent;
pub mod backup;
pub mod bundle;
pub mod code;
pub mod device;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod handoff;
mod home;
pub mod invite;
pub mod local;
pub mod lock;
pub mod membership;
pub mod net;
pub mod pair;
pub mod person_key;
pub mod process;
pub mod relay;
pub mod rotation;
pub mod seals;
pub mod service;
pub mod session;
pub mod signed_export;
mod store;
pub mod watch;
pub mod wire;

pub use age;
pub use home::{Config, Home, Opened, Seed};
pub use store::{AgeStore, Fault, FaultPlan, Step, write_durably};

use std::path::PathBuf;

/// Whether this build reads the test-only environment knobs (a lower scrypt work factor, a
/// fixed clock): only in builds for tests (`cargo test` turns the `test-knobs` feature on,
/// through the `duo` package's dev-dependency on this crate). `cargo build`, `cargo install`
/// and `cargo run` make builds that ignore them.
pub const TEST_KNOBS: bool = cfg!(any(test, feature = "test-knobs"));

/// Errors from the device layer. Messages say what happened; the CLI adds what to do.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("duo is not set up in {path}")]
    NotInitialized { path: PathBuf },
    #[error("duo is already set up in {path}")]
    AlreadyInitialized { path: PathBuf },
    #[error("an incomplete setup was found at {path}")]
    IncompleteSetup { path: PathBuf },
    #[error("a name must be 1 to 64 printable characters")]
    InvalidName,
    #[error("a device label must be 1 to 64 printable characters")]
    InvalidLabel,
    #[error("key file {path} can be read by other users (mode {mode:o})")]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Journal(#[from] duo_journal::JournalError),
    /// A connection failed: the reason as the network library or the other device gave
    /// it (the CLI puts it under a headline of its own).
    #[error("{0}")]
    Net(String),
    #[error("the inviting device could not be reached: {0}")]
    Unreached(String),
    /// The inviting device answered, but it no longer waits to pair: its `duo pair` ended
    /// (the code or ticket was used, or expired) and `duo sync --watch` took its place.
    #[error("this code or ticket was already used or has expired")]
    PairingOver,
    #[error("the other device does not know this one: it is not paired with it (or has revoked it)")]
    NotPaired,
    #[error("the code did not match: it is now used up on both devices; run `duo pair` again for a new one")]
    WrongCode,
    #[error("the verification words were not confirmed on both devices, so nothing was stored")]
    Declined,
    /// This person said yes; the other device answered no, or its person stopped it at the
    /// question (Ctrl-C).
    #[error("the other device did not confirm the words (its person answered no or stopped), so nothing was stored")]
    TheyDeclined,
    #[error(
        "you left this space on this device: it stays readable here as an archive, and this device no longer syncs"
    )]
    Left,
    #[error("this space already has two people; `duo pair --own-device` is for adding your own devices")]
    SpaceFull,
    #[error("duo is locked — run `duo unlock`")]
    Locked,
    #[error("duo is already locked with a passphrase")]
    AlreadyLocked,
    #[error("duo has no passphrase")]
    NotLocked,
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("a passphrase must be at least 8 characters")]
    WeakPassphrase,
    #[error(
        "the joining device is not a device of your partner's (a person already in this space), so nothing was stored"
    )]
    NotPartnerDevice,
    /// A pairing introduction refused before the question (see [`invite::Claim`]): the
    /// reason says what the other device sent, escaped.
    #[error("{0}")]
    Introduction(String),
    /// One of the home's own files (settings, keys, trust, peer table, sync record) is
    /// damaged or missing: see [`local`].
    #[error("{} ({}) is damaged: {reason}", file.what(), path.display())]
    LocalDamaged {
        file: local::LocalFile,
        path: PathBuf,
        reason: String,
    },
}
