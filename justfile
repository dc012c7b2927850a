# duo's everyday recipes. CI does not need just: it runs .ci/run.

# Run every test (what CI runs)
test:
    cargo test --workspace

# Formatting and lints
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Regenerate the man pages in docs/man from the CLI definition
man:
    cargo run -q -- man --dir docs/man

# Whole-process benchmarks of the journal (release build); prints a table
bench entries="10000":
    cargo build --release
    python3 bench/journal.py --entries {{entries}}

# Sync benchmark over real iroh endpoints on loopback (first sync, one new entry, nothing new)
bench-sync entries="10000":
    DUO_BENCH_ENTRIES={{entries}} cargo bench -p duo-sync --bench sync

# The reliability suites at their soak counts (CI runs the same tests with small counts;
# docs/reliability.md has the figures): 3,000 SIGKILLs during `journal add` and 300 of
# `sync --watch`, a crash at every step of an add into a store one add from compacting,
# 8 parallel writers x 50 with watchers, 1,000 random corruptions, a full disk, and
# 1,000 private notes that must leave no trace.
soak:
    DUO_TEST_KILLS=3000 DUO_TEST_WATCH_KILLS=300 cargo test --test e2e crash:: -- --nocapture --test-threads 1
    DUO_TEST_STEP_ADDS=62 cargo test -p duo-sync --test age_store step -- --nocapture
    DUO_TEST_WRITERS=8 DUO_TEST_PER_WRITER=50 cargo test --test e2e concurrency -- --nocapture
    DUO_TEST_CORRUPTIONS=1000 cargo test --test e2e corruption -- --nocapture
    cargo test --test e2e diskfull -- --nocapture
    DUO_TEST_PRIVATE_NOTES=1000 cargo test --test e2e privacy -- --nocapture

# Two syncing devices cut off from each other for 60 s (root; prints convergence times)
soak-partition:
    DUO_TEST_PARTITION_SECS=60 cargo test --test e2e partition_heals -- --nocapture

# Install duo into ~/.cargo/bin
install:
    cargo install --path . --locked
