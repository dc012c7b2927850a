//! End-to-end tests: the real `duo` binary, real files, real age encryption.
//! One test binary (see Cargo.toml), one module per area.

mod harness;

mod crash;
mod errors;
mod import_export;
mod journal;
mod netns;
mod network;
mod relay;
mod store;
