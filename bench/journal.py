#!/usr/bin/env python3
"""Whole-process benchmarks of the duo journal (goals and figures: docs/storage.md,
"Speed of the journal commands").

Builds a journal of N entries of ~500 characters in a temporary home (through
`duo journal import`), then times `duo journal add` and `duo journal list` as a user
would run them, reporting medians and peak RSS. Numbers only: nothing is asserted.

    cargo build --release && python3 bench/journal.py --entries 10000
"""
import argparse, json, os, random, statistics, subprocess, tempfile, time

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

def run_rss(binary, env, args):
    """Run duo with stdio on /dev/null; return (seconds, peak RSS in MB)."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_RDWR)
        os.dup2(fd, 0); os.dup2(fd, 1); os.dup2(fd, 2)
        os.execve(binary, [binary, *args], env)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"duo {' '.join(args)} failed")
    return elapsed, usage.ru_maxrss / 1024

def text(rng, n=500):
    words = "I felt close to you when we walked by the river and talked about the week ahead and what we both need".split()
    out = []
    while sum(len(w) + 1 for w in out) < n:
        out.append(rng.choice(words))
    return " ".join(out)[:n]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "duo"))
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PATH": os.environ.get("PATH", ""), "DUO_HOME": os.path.join(tmp, "home"), "TZ": "UTC",
               "DUO_RELAY": "disabled", "DUO_DISCOVERY": "none"}
        run(binary, env, ["init", "--name", "Bench", "--label", "bench"])
        entries = [{"uuid": f"U{i:07d}", "creationDate": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                    "text": text(rng), "tags": ["walks"] if i % 3 == 0 else []} for i in range(a.entries)]
        dayone = json.dumps({"entries": entries})
        t_import, _ = run(binary, env, ["journal", "import", "-", "--quiet"], stdin=dayone)
        rows = [(f"journal import ({a.entries} Day One entries)", t_import, None)]

        adds = [run_rss(binary, env, ["journal", "add", text(rng)]) for _ in range(a.runs)]
        rows.append((f"journal add (N={a.entries})", statistics.median(t for t, _ in adds), max(r for _, r in adds)))
        run(binary, env, ["journal", "list"])  # let the first read fold the adds into the view
        for args in (["journal", "list"], ["journal", "list", "--json"], ["journal", "search", "river"]):
            samples = [run_rss(binary, env, args) for _ in range(max(5, a.runs // 2))]
            rows.append((" ".join(args) + f" (N={a.entries})", statistics.median(t for t, _ in samples), max(r for _, r in samples)))
        newest = json.loads(run(binary, env, ["journal", "list", "--json", "--limit", "1"])[1])[0]["id"]
        samples = [run_rss(binary, env, ["journal", "show", newest[:8]]) for _ in range(5)]
        rows.append((f"journal show (N={a.entries})", statistics.median(t for t, _ in samples), max(r for _, r in samples)))
        du = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(env["DUO_HOME"]) for f in fs)
    print(f"{'what':48} {'median':>10} {'peak RSS':>10}")
    for name, t, rss in rows:
        print(f"{name:48} {t * 1000:>8.1f}ms {('%8.1fMB' % rss) if rss else '':>10}")
    print(f"store size on disk: {du / 1e6:.1f} MB")

if __name__ == "__main__":
    main()
