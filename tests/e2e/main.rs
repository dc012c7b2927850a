//! End-to-end tests: the real `duo` binary, real files, real age encryption.
//! One test binary (see Cargo.toml), one module per area.

mod harness;
mod netlab;

mod crash;
mod devices;
mod errors;
mod faults;
mod handoff;
mod import_export;
mod journal;
mod leave;
mod mitm;
mod netns;
mod network;
mod relay;
mod store;
