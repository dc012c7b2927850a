#!/usr/bin/env python3
"""Whole-process benchmarks of the duo journal (goals and figures: docs/storage.md,
"Speed of the journal commands").

For each size N (by default 10,000 and 100,000 entries, one after the other in one run)
it builds a journal of N entries of ~500 characters in a temporary home through
`duo journal import` (itself timed), then times `duo journal add`, `list`, `search` and
`show` as a person would run them: median, min and max of the runs and the peak resident
memory of each process (ru_maxrss of the child). An `add` that compacted the store is
reported on its own; after the timed adds, more are made until one compacts (or
2 × 64 have not), so compaction always has its row. The table beside each figure gives
the goal for 100,000 entries and the figure that goal was set against (docs/storage.md,
"Speed of the journal commands"). Numbers only: nothing is asserted.

    cargo build --release && python3 bench/journal.py                  # 10k and 100k
    cargo build --release && python3 bench/journal.py --entries 10000  # a quick run
"""
import argparse, json, os, random, statistics, subprocess, tempfile, time

# The goals at 100,000 entries and the figures they were set against (docs/storage.md,
# "Speed of the journal commands"): row key -> (goal, compared with).
GOALS = {
    "show": ("≤ 30 ms", "252 ms"),
    "search": ("≤ 300 ms", "507 ms"),
    "search none": ("≤ 300 ms", "507 ms"),
    "add": ("≤ 10 ms, ≤ 40 MB", "7.3 ms, up to 166 MB"),
    "compaction": ("reported on its own (or out of the foreground)", "inside an `add`, up to 166 MB"),
    "list": ("≤ 300 ms, ≤ 150 MB", "513 ms, 202 MB"),
    "import": ("≤ 8 s", "24 s"),
}
GOALS_AT = 100_000
COMPACT_AFTER = 64  # duo_journal::COMPACT_AFTER


def run(binary, env, args, stdin=None):
    """Run duo with optional stdin; return (seconds, stdout)."""
    start = time.perf_counter()
    p = subprocess.Popen([binary, *args], env=env, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(stdin.encode() if stdin else None)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"duo {' '.join(args)} failed: {err.decode()}")
    return elapsed, out


GNU_TIME = "/usr/bin/time"


def run_rss(binary, env, args, stdin_path=None):
    """Run duo with stdio on /dev/null (or stdin from a file); return (seconds, peak RSS in MB).

    The peak is duo's own: a process that Python forks and that then execs keeps the forked
    interpreter's peak (Linux carries it across exec), which is tens of MB once the bench
    has built a large journal. So, when GNU time is installed, duo is started by it (a
    small process) and its `%M` is read; the time includes starting GNU time (~1 ms)."""
    wrap = os.path.exists(GNU_TIME)
    out = tempfile.NamedTemporaryFile(prefix="duo-rss-", delete=False) if wrap else None
    argv = [GNU_TIME, "-f", "%M", "-o", out.name, binary, *args] if wrap else [binary, *args]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_RDWR)
        os.dup2(os.open(stdin_path, os.O_RDONLY) if stdin_path else fd, 0)
        os.dup2(fd, 1); os.dup2(fd, 2)
        os.execve(argv[0], argv, env)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"duo {' '.join(args)} failed")
    if not wrap:
        return elapsed, usage.ru_maxrss / 1024
    with open(out.name) as f:
        kb = int(f.read().split()[-1])
    os.remove(out.name)
    return elapsed, kb / 1024


def text(rng, n=500):
    words = "I felt close to you when we walked by the river and talked about the week ahead and what we both need".split()
    out = []
    while sum(len(w) + 1 for w in out) < n:
        out.append(rng.choice(words))
    return " ".join(out)[:n]


def dayone(rng, n):
    """A Day One JSON export of n entries of ~500 characters."""
    entries = [{"uuid": f"U{i:07d}", "creationDate": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                "text": text(rng), "tags": ["walks"] if i % 3 == 0 else []} for i in range(n)]
    return json.dumps({"entries": entries})


def home_env(home):
    return {"PATH": os.environ.get("PATH", ""), "DUO_HOME": home, "TZ": "UTC",
            "DUO_RELAY": "disabled", "DUO_DISCOVERY": "none"}


def snapshots(env):
    d = os.path.join(env["DUO_HOME"], "space", "snapshots")
    return set(os.listdir(d)) if os.path.isdir(d) else set()


def stats(samples):
    """(median, min, max) seconds and the highest peak RSS of (seconds, MB) samples."""
    ts = [t for t, _ in samples]
    return statistics.median(ts), min(ts), max(ts), max(r for _, r in samples), len(ts)


def measure(binary, n, runs, tmp, rng):
    """Every row at n entries: name -> (median, min, max, peak MB, runs) or a note."""
    env = home_env(os.path.join(tmp, f"home-{n}"))
    run(binary, env, ["init", "--name", "Bench", "--label", "bench"])
    export = os.path.join(tmp, f"dayone-{n}.json")
    with open(export, "w") as f:
        f.write(dayone(rng, n))
    rows = {"import": stats([run_rss(binary, env, ["journal", "import", export, "--quiet"])])}
    os.remove(export)

    # `add`: the adds that compacted (a new snapshot appeared) are kept apart.
    plain, compacting = [], []
    def add():
        before = snapshots(env)
        sample = run_rss(binary, env, ["journal", "add", text(rng)])
        (compacting if snapshots(env) != before else plain).append(sample)
    for _ in range(runs):
        add()
    extra = 0
    while not compacting and extra < 2 * COMPACT_AFTER:
        add()
        extra += 1
    rows["add"] = stats(plain)
    rows["compaction"] = stats(compacting) if compacting else f"no add compacted in the foreground in {runs + extra} adds"

    run(binary, env, ["journal", "list"])  # let the first read fold the adds into the view
    reads = max(5, runs // 2)
    for key, args in (("list", ["journal", "list"]), ("list --json", ["journal", "list", "--json"]),
                      ("search", ["journal", "search", "river"]),
                      ("search none", ["journal", "search", "zebra"])):
        rows[key] = stats([run_rss(binary, env, args) for _ in range(reads)])
    newest = json.loads(run(binary, env, ["journal", "list", "--json", "--limit", "1"])[1])[0]["id"]
    rows["show"] = stats([run_rss(binary, env, ["journal", "show", newest[:8]]) for _ in range(reads)])
    rows["store"] = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(env["DUO_HOME"]) for f in fs)
    return rows


def fmt_time(t):
    return f"{t:.2f} s" if t >= 10 else f"{t * 1000:.1f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, nargs="+", default=[10_000, 100_000],
                    help="journal sizes, each measured in turn (default: 10000 100000)")
    ap.add_argument("--runs", type=int, default=21, help="runs of `add` below 50,000 entries (reads: half)")
    ap.add_argument("--runs-large", type=int, default=7, help="runs of `add` from 50,000 entries (reads: 5)")
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.dirname(__file__), "..", "target")
    ap.add_argument("--bin", default=os.path.join(target, "release", "duo"))
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    rng = random.Random(7)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.entries:
            results[n] = measure(binary, n, a.runs if n < 50_000 else a.runs_large, tmp, rng)

    names = {
        "show": "`journal show`",
        "search": "`journal search river` (every entry matches)",
        "search none": "`journal search zebra` (no entry matches)",
        "add": "`journal add` that does not compact",
        "compaction": "`journal add` that compacted",
        "list": "`journal list`",
        "list --json": "`journal list --json`",
        "import": "`journal import` of N Day One entries",
    }
    print(f"duo journal, entries of ~500 characters, whole processes, release build\n")
    print("| measure | entries | median | min | max | runs | peak memory | goal | compared with |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, name in names.items():
        for n, rows in results.items():
            goal, before = GOALS.get(key, ("–", "–")) if n == GOALS_AT else ("–", "–")
            r = rows[key]
            if isinstance(r, str):
                print(f"| {name} | {n:,} | {r} | | | | | {goal} | {before} |")
                continue
            med, lo, hi, rss, k = r
            print(f"| {name} | {n:,} | {fmt_time(med)} | {fmt_time(lo)} | {fmt_time(hi)} | {k} | {rss:.1f} MB | {goal} | {before} |")
    for n, rows in results.items():
        print(f"\nstore on disk at {n:,} entries: {rows['store'] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
