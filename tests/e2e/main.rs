//! End-to-end tests: the real `duo` binary, real files, real age encryption.
//! One test binary (see Cargo.toml), one module per area.

mod harness;
mod hostile_partner;
mod netlab;

mod authentic;
mod backup;
mod bounds;
mod bundle;
mod concurrency;
mod corruption;
mod crash;
mod delay;
mod devices;
mod diskfull;
mod docs_run;
mod errors;
mod escape;
mod faults;
mod first_hour;
mod handoff;
mod import_export;
mod journal;
mod leave;
mod listening;
mod local_files;
mod lock;
mod merge;
mod messages;
mod mitm;
mod model;
mod netns;
mod network;
mod notices;
mod privacy;
mod prompts;
mod reach;
mod relay;
mod seals;
mod service;
mod snapshots;
mod store;
mod strength;
mod trust;
mod watch;
