//! End-to-end tests: the real `duo` binary, real files, real age encryption.
//! One test binary (see Cargo.toml), one module per area.

mod harness;
mod netlab;

mod crash;
mod delay;
mod errors;
mod faults;
mod handoff;
mod import_export;
mod journal;
mod mitm;
mod netns;
mod network;
mod relay;
mod store;
