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

# The long crash test: thousands of SIGKILLs during `journal add`
soak:
    DUO_TEST_KILLS=3000 cargo test --release --test e2e crash -- --nocapture

# Two syncing devices cut off from each other for 60 s (root; prints convergence times)
soak-partition:
    DUO_TEST_PARTITION_SECS=60 cargo test --test e2e partition_heals -- --nocapture

# Install duo into ~/.cargo/bin
install:
    cargo install --path . --locked
