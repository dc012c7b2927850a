#!/usr/bin/env python3
"""Whole-process sync benchmark: two real `duo` devices on loopback.

For each size N (by default 10,000 and 100,000 entries, one after the other in one run) it
builds a journal of N entries (~500 characters, through `duo journal import`) on Alice's
device, pairs a new device (Bob's) by ticket (the pairing includes the first sync of the
whole journal; the joiner's wall time is timed), starts `duo sync --watch` on both, then:

- writes entries on one side and times from the start of `duo journal add` until the other
  side's watcher says it received them (its watcher reports a session once what arrived is
  stored and its view brought up to date);
- times a one-shot `duo sync` on Alice's device right after a `journal add` there, first
  with her watcher running (the command hands the sync to it), then with it stopped (the
  command goes online itself; Bob's watcher answers).

With `--in-process` it first runs the in-process bench (`cargo bench -p duo-device --bench
sync` at the first size): the first sync against the transfer and load of the saved
document measured in the same run. The table gives each row's goal and the figure it is
compared with (what was measured before the work on speed; docs/protocol.md). Numbers
only; at the end each reader's `duo journal list` is checked to show every entry written.

    cargo build --release && python3 bench/sync.py --in-process          # 10k and 100k
    cargo build --release && python3 bench/sync.py --entries 10000       # a quick run
"""
import argparse, os, re, statistics, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(__file__))
from journal import run, text  # noqa: E402
import json, random  # noqa: E402

# row key -> (size the goal is for, goal, compared with)
GOALS = {
    "reach": {10_000: ("≤ 25 ms", "300–400 ms"), 100_000: ("≤ 50 ms", "–")},
    "handoff": {10_000: ("≤ 40 ms", "~560 ms")},
    "oneshot": {10_000: ("≤ 150 ms", "~560 ms")},
    "pair": {10_000: ("≤ 0.8 s", "1.33 s")},
    "ratio": {10_000: ("≤ 1.2 ×", "1.66 ×")},
}


class Watcher:
    def __init__(self, binary, env):
        self.p = subprocess.Popen([binary, "sync", "--watch"], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stderr:
            with self.cv:
                self.lines.append((time.perf_counter(), line.rstrip()))
                self.cv.notify_all()

    def wait_for(self, needle, after=0, timeout=60):
        deadline = time.perf_counter() + timeout
        with self.cv:
            while True:
                for t, l in self.lines:
                    if t >= after and needle in l:
                        return t
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError(f"watcher never printed {needle!r}: {self.lines}")
                self.cv.wait(left)

    def stop(self):
        self.p.terminate()
        self.p.wait()


def in_process(entries):
    """Run the in-process bench; return its output and (first sync ms, baseline ms)."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out = subprocess.run(["cargo", "bench", "-q", "-p", "duo-device", "--bench", "sync"], cwd=root,
                         env={**os.environ, "DUO_BENCH_ENTRIES": str(entries)},
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    baseline = re.search(r"\| saved document: transfer \+ load \(baseline\) \| (\d+) ms", out)
    first = re.search(r"\| first sync to a new device [^|]*\| (\d+) ms", out)
    if not (baseline and first):
        raise SystemExit(f"the in-process bench printed no first sync and baseline:\n{out}")
    return out, float(first.group(1)), float(baseline.group(1))


def stats(ms):
    return statistics.median(ms), min(ms), max(ms), len(ms)


def measure(binary, n, runs, tmp, rng):
    """Every row at n entries: key -> (median, min, max, runs) in ms, plus labels."""
    def env(who):
        return {"PATH": os.environ.get("PATH", ""), "DUO_HOME": os.path.join(tmp, f"{who}-{n}"), "TZ": "UTC",
                "DUO_RELAY": "disabled", "DUO_DISCOVERY": "none", "DUO_BIND": "127.0.0.1:0"}
    alice, bob = env("alice"), env("bob")
    run(binary, alice, ["init", "--name", "Alice", "--label", "laptop"])
    run(binary, bob, ["init", "--name", "Bob", "--label", "laptop"])
    entries = [{"uuid": f"U{i:07d}", "creationDate": "2025-01-01T00:00:00Z", "text": text(rng)}
               for i in range(n)]
    run(binary, alice, ["journal", "import", "-", "--quiet"], stdin=json.dumps({"entries": entries}))
    del entries

    inviter = subprocess.Popen([binary, "pair", "--ticket", "--yes"], env=alice, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ticket = inviter.stdout.readline().strip()
    t_pair, _ = run(binary, bob, ["pair", "join", "--ticket", "--yes"], stdin=ticket + "\n")
    inviter.wait()
    rows = {"pair": stats([t_pair * 1000])}

    wa, wb = Watcher(binary, alice), Watcher(binary, bob)
    try:
        return watched(binary, n, runs, rng, alice, bob, wa, wb, rows)
    finally:
        wa.stop()
        wb.stop()


def watched(binary, n, runs, rng, alice, bob, wa, wb, rows):
    """The rows measured with watchers running (`wa` is stopped halfway)."""
    wa.wait_for("Online as")
    wb.wait_for("Online as")
    written = {"alice": [], "bob": []}
    for key, who, writer, reader in (("reach a→b", "alice", alice, wb), ("reach b→a", "bob", bob, wa)):
        times = []
        for i in range(runs):
            time.sleep(1.5)
            t0 = time.perf_counter()
            body = f"{key} {i}: " + text(rng)
            run(binary, writer, ["journal", "add", body])
            written[who].append(body)
            t_added = time.perf_counter()
            try:
                t_seen = reader.wait_for("received", after=t_added, timeout=max(60, n / 500))
            except TimeoutError:
                for w, name in ((wa, "Alice"), (wb, "Bob")):
                    print(f"{name}'s watcher:", *[f"  {t:.3f} {l}" for t, l in w.lines], sep="\n", file=sys.stderr)
                print(f"entry written at {t0:.3f}", file=sys.stderr)
                raise SystemExit(f"{key}: entry {i} was not reported received in {max(60, n / 500):.0f} s "
                                 "(the watchers' lines are on stderr)")
            times.append((t_seen - t0) * 1000)
        rows[key] = stats(times)

    # A one-shot `duo sync` right after a `journal add` on Alice's device: with her watcher
    # running (hand-off), then without it (Bob's watcher answers).
    for key in ("handoff", "oneshot"):
        if key == "oneshot":
            wa.stop()
        times = []
        for i in range(runs):
            time.sleep(1.5)
            body = f"{key} {i}: " + text(rng)
            run(binary, alice, ["journal", "add", body])
            written["alice"].append(body)
            t, _ = run(binary, alice, ["sync"])
            times.append(t * 1000)
        rows[key] = stats(times)
    for writer, reader in (("alice", bob), ("bob", alice)):
        _, out = run(binary, reader, ["journal", "list", "--json"])
        shown = {e["body"] for e in json.loads(out)}
        missing = [b for b in written[writer] if b not in shown]
        if missing:
            raise SystemExit(f"{len(missing)} entries written are not shown on the other device")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, nargs="+", default=[10_000, 100_000],
                    help="journal sizes, each measured in turn (default: 10000 100000)")
    ap.add_argument("--runs", type=int, default=9, help="entries each way, and one-shot syncs of each kind")
    ap.add_argument("--in-process", action="store_true",
                    help="also run `cargo bench -p duo-device --bench sync` at the first size (first sync vs baseline)")
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.dirname(__file__), "..", "target")
    ap.add_argument("--bin", default=os.path.join(target, "release", "duo"))
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    rng = random.Random(7)
    ratio = None
    if a.in_process:
        out, first, baseline = in_process(a.entries[0])
        print(out)
        ratio = (a.entries[0], first, baseline)
    names = {
        "reach": "`journal add` starts on one device → the other's watcher has stored the entry and its view shows it (both watching){}",
        "handoff": "one-shot `duo sync` right after a `journal add`, wall, with this device's watcher running (hand-off)",
        "oneshot": "one-shot `duo sync` right after a `journal add`, wall, without this device's watcher (the partner's answers)",
        "pair": "pair by ticket + first sync of the whole journal, joiner's wall",
    }
    print("duo sync, entries of ~500 characters, two processes on loopback, release build\n")
    print("| measure | entries | median | min | max | runs | goal | compared with |")
    print("|---|---|---|---|---|---|---|---|")
    if ratio:
        n, first, baseline = ratio
        goal, before = GOALS["ratio"].get(n, ("–", "–"))
        print(f"| first sync vs transfer + load of the saved document, same run (in-process bench) | {n:,} "
              f"| {first / baseline:.2f} × ({first:.0f} ms vs {baseline:.0f} ms) | | | 1 | {goal} | {before} |", flush=True)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.entries:
            # Each size's rows as soon as they are measured; a size that fails says so and
            # the next one still runs.
            try:
                rows = measure(binary, n, a.runs, tmp, rng)
            except (SystemExit, TimeoutError, subprocess.SubprocessError) as e:
                print(f"| (the run at {n:,} entries failed: {str(e)[:200]}) | {n:,} | | | | | | |", flush=True)
                failed = True
                continue
            for key, name in names.items():
                goal, before = GOALS[key].get(n, ("–", "–"))
                subs = [(name.format(f", {d}"), rows[f"{key} {d}"]) for d in ("a→b", "b→a")] if key == "reach" \
                    else [(name, rows[key])]
                for label, (med, lo, hi, k) in subs:
                    print(f"| {label} | {n:,} | {med:.0f} ms | {lo:.0f} ms | {hi:.0f} ms | {k} | {goal} | {before} |",
                          flush=True)
    if failed:
        raise SystemExit(1)

if __name__ == "__main__":
    main()
