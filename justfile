# duo's everyday recipes. CI does not need just: it runs .ci/run.

# Run every test (what CI runs)
test:
    cargo test --workspace --locked

# Formatting and lints
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Regenerate the man pages in docs/man from the CLI definition
man:
    cargo run -q -- man --dir docs/man

# Write what duo prints into the docs' console examples (README.md, docs/cli.md), then
# regenerate docs/man, which carries them; review the diff
bless-docs:
    DUO_DOCS_BLESS=1 cargo test --test e2e docs_run::
    cargo run -q -- man --dir docs/man

# Accept the message snapshots (tests/e2e/snapshots) after a reviewed change of duo's output;
# review the diff of the .snap files
bless-snapshots:
    INSTA_UPDATE=always cargo test --test e2e snapshots::

# Whole-process benchmarks of the journal (release build) at 10k and 100k entries in one
# run: import, add (compaction apart), list, search, show, with peak memory; prints the
# table of docs/storage.md's goals, each row beside its goal and the figure it is compared
# with. A quick run: `just bench 10000`
bench +entries="10000 100000":
    cargo build --release
    python3 bench/journal.py --entries {{entries}}

# Sync benchmarks over loopback at 10k and 100k entries in one run: the in-process bench
# (real iroh endpoints: the first sync against the transfer and load of the saved document,
# same run), then two real `duo` processes (pairing with the first sync, a new entry from
# `journal add` until the other's watcher has stored it, a one-shot `duo sync` with and
# without this device's watcher); prints the table of docs/protocol.md's goals, each row
# beside its goal and the figure it is compared with. A quick run: `just bench-sync 10000`
bench-sync +entries="10000 100000":
    cargo build --release
    python3 bench/sync.py --in-process --entries {{entries}}

# The reliability suites at their soak counts (CI runs the same tests with small counts;
# docs/reliability.md has the figures): 3,000 SIGKILLs during `journal add` and 300 of
# `sync --watch`, a crash at every step of an add into a store one add from compacting,
# 8 parallel writers x 50 with watchers, 1,000 random corruptions, a full disk, 1,000
# private notes that must leave no trace, the hostile peers and pairing attacks of
# `soak-hostile`, a 60 s partition (root), 10,000 merge-model schedules (`soak-model`), and
# every fuzz target for `fuzz` seconds.
# Every reliability suite at its soak counts (root; about 90 min on 2 cores)
soak fuzz="120":
    DUO_TEST_KILLS=3000 DUO_TEST_WATCH_KILLS=300 cargo test --test e2e crash:: -- --nocapture --test-threads 1
    DUO_TEST_STEP_ADDS=62 cargo test -p duo-device --test age_store step -- --nocapture
    DUO_TEST_WRITERS=8 DUO_TEST_PER_WRITER=50 cargo test --test e2e concurrency -- --nocapture
    DUO_TEST_CORRUPTIONS=1000 cargo test --test e2e corruption -- --nocapture
    cargo test --test e2e diskfull -- --nocapture
    DUO_TEST_PRIVATE_NOTES=1000 cargo test --test e2e privacy -- --nocapture
    just soak-hostile
    just soak-partition
    just soak-model
    just fuzz {{fuzz}}

# The merge model at soak size: random schedules of writes on 2-4 replicas against the
# oracle of superseded writes (CI runs 256)
soak-model cases="10000":
    DUO_MODEL_CASES={{cases}} cargo test -p duo-journal --test model every_write -- --nocapture

# Two syncing devices cut off from each other for 60 s (root; prints convergence times)
soak-partition:
    DUO_TEST_PARTITION_SECS=60 cargo test --test e2e partition_heals -- --nocapture

# Install duo into ~/.cargo/bin
install:
    cargo install --path . --locked

# Suites 4-6 at soak counts: a malicious paired peer and 1,000 strangers, 10,000 wrong
# codes, replayed transcripts, 100 machines in the middle, 100 ms delay (root for e2e)
# Suites 4-6 at soak counts (hostile peers, pairing attacks, delay)
soak-hostile:
    DUO_TEST_STRANGERS=1000 DUO_TEST_STREAMS=5000 cargo test -p duo-device --test hostile -- --nocapture
    DUO_TEST_WRONG_CODES=10000 DUO_TEST_REPLAYS=1000 cargo test -p duo-device --test pairing_attacks -- --nocapture
    DUO_TEST_MITM_RUNS=100 cargo test --test e2e mitm -- --nocapture
    cargo test --test e2e delay -- --nocapture

# Fuzz every decoder of outside bytes for `secs` seconds each (needs nightly and
# `cargo install cargo-fuzz`; skipped without them). New inputs land in fuzz/corpus, which
# the stable test crates/device/tests/fuzz_replay.rs replays on every CI run.
# Fuzz every decoder of outside bytes (nightly + cargo-fuzz)
fuzz secs="60":
    #!/usr/bin/env bash
    set -euo pipefail
    if ! rustup toolchain list 2>/dev/null | grep -q nightly || ! cargo fuzz --version >/dev/null 2>&1; then
        echo "*** FUZZING SKIPPED: it needs a nightly toolchain and cargo-fuzz (cargo install cargo-fuzz) ***"
        # Under CI a skipped fuzz run is a failure, never a silent pass.
        if [ -n "${CI:-}" ]; then exit 1; fi
        exit 0
    fi
    cd fuzz
    failed=()
    for t in $(cargo +nightly fuzz list); do
        mkdir -p corpus/$t
        # A crash stops this target, not the others; the artifact lands in fuzz/artifacts/.
        cargo +nightly fuzz run -s none $t corpus/$t -- -max_total_time={{secs}} -max_len=65536 -rss_limit_mb=2048 || failed+=($t)
    done
    if [ ${#failed[@]} -gt 0 ]; then echo "fuzzing found crashes in: ${failed[*]} (see fuzz/artifacts/)"; exit 1; fi
