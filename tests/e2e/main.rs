//! End-to-end tests: the real `duo` binary, real files, real age encryption.
//! One test binary (see Cargo.toml), one module per area.

mod harness;
mod hostile_partner;
mod netlab;

mod authentic;
mod backup;
mod bundle;
mod concurrency;
mod corruption;
mod crash;
mod delay;
mod devices;
mod diskfull;
mod errors;
mod faults;
mod handoff;
mod import_export;
mod journal;
mod leave;
mod listening;
mod lock;
mod mitm;
mod netns;
mod network;
mod privacy;
mod prompts;
mod relay;
mod seals;
mod store;
mod trust;
