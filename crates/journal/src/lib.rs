//! duo-journal: the shared space of a couple as an automerge document, and how it is kept.
//!
//! - [`SpaceDoc`] is the document: entries, people and devices under prefixed root keys.
//! - [`Journal`] keeps a document in a [`Storage`] as snapshots plus change chunks, with a
//!   materialised [`View`] for fast reads, and compaction, repair and damage reports.
//! - The crate does no I/O of its own and knows no clock, no network and no encryption:
//!   `duo-device` provides an age-encrypted [`Storage`]; tests use [`MemStorage`].
//!
//! ```
//! use duo_journal::{Journal, Keyring, MemStorage, NewEntry, Kind, new_id};
//! let journal = Journal::new(MemStorage::new());
//! journal.create(|doc| doc.init_schema()).unwrap();
//! // Whatever the library writes is sealed with its author's key (duo-device keeps the key).
//! let keyring = Keyring::for_tests("p1");
//! let id = new_id();
//! journal.add(&[NewEntry {
//!     id: id.clone(), kind: Kind::Appreciation, author: "p1".into(), device: "d1".into(),
//!     created_at: 0, edited_at: 0, body: "Thank you for dinner".into(), tags: vec![], status: None,
//!     no_replies: false, prompt: None,
//! }], &keyring.sealer("d1")).unwrap();
//! let read = journal.read().unwrap();
//! assert_eq!(read.view.resolve(&id[..6]).unwrap().body, "Thank you for dinner");
//! ```

mod boundaries;
pub mod causal;
pub mod check;
pub mod chunks;
mod doc;
#[doc(hidden)]
pub mod fuzzing;
mod hints;
pub mod history;
pub mod import;
mod journal;
mod listening;
mod model;
pub mod practice;
pub mod prompts;
mod record;
pub mod schema;
pub mod seal;
mod storage;
#[cfg(test)]
mod testing;
pub mod text;
mod view;

pub use boundaries::{StatusChange, StatusRefusal, effective_status, history, may_change_status};
pub use check::{Judge, Marks, Shown, Versions};
pub use doc::{Contents, EntryChanges, SCHEMA_VERSION, SpaceDoc};
pub use hints::{Hint, i_statement_hint};
pub use history::{History, Record, Timing};
pub use journal::{COMPACT_AFTER, Journal, Problem, Read, Report, SyncedView};
pub use listening::{
    Ack, Hold, Reflected, Refusal, Replies, ReplyKind, acks_of, answerable, may_reply, replies, replies_except,
};
pub use model::{
    Device, Endorsement, Entry, EntryPatch, Kind, NewEntry, Person, Revocation, Rotation, Sealed, Seals, Signatures,
    SignedName, Status, normalize_tags,
};
pub use record::Marker;
pub use seal::{Authenticity, KeyId, Keyring, SealKey, Sealer, Standing, Why};
pub use storage::{
    EachRead, Listing, LockGuard, LockMode, MARKS_DIR, MemStorage, Storage, StorageError, mark_file_name, marked_chunk,
};
pub use view::{PARTS_DIR, Query, View, entry_order, entry_order_key};

/// Everything that can go wrong in the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the store has damaged files: {}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Damaged { problems: Vec<Problem> },
    #[error("no entry matches '{prefix}'")]
    NotFound { prefix: String },
    #[error("'{prefix}' matches more than one entry: {}", candidates.join(", "))]
    Ambiguous { prefix: String, candidates: Vec<String> },
    #[error("this journal was written by a newer duo (schema {found}; this duo understands up to {supported})")]
    SchemaTooNew { found: u64, supported: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error("document error: {0}")]
    Document(String),
}

/// A new random id: 128 bits as 32 lowercase hex characters.
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source is available");
    hex(&b)
}

/// How many threads a read spreads its work over: as many as the machine has cores, at
/// most 4 (decrypting the view's parts, checking a large notebook's seals).
pub fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

/// Whether every character of `s` is a lowercase hex digit (`0-9a-f`; callers check the length).
pub(crate) fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| lower_hex_digit(b).is_some())
}

/// The value of one lowercase hex digit (`0-9a-f`).
pub(crate) fn lower_hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
