#!/usr/bin/env python3
"""Whole-process sync benchmark: two real `duo` devices on loopback.

Builds a journal of N entries (~500 characters, through `duo journal import`) on Alice's
device, pairs a new device (Bob's) by ticket (the pairing includes the first sync of the
whole journal), starts `duo sync --watch` on both, then writes entries on one side and
times how long until the other side's watcher says it received them (its watcher reports a
session once what arrived is stored and its view brought up to date). Numbers only; at the
end each reader's `duo journal list` is checked to show every entry written.

    cargo build --release && python3 bench/sync.py --entries 10000
"""
import argparse, os, statistics, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(__file__))
from journal import run, text  # noqa: E402
import json, random  # noqa: E402


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=9)
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.dirname(__file__), "..", "target")
    ap.add_argument("--bin", default=os.path.join(target, "release", "duo"))
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        def env(who):
            return {"PATH": os.environ.get("PATH", ""), "DUO_HOME": os.path.join(tmp, who), "TZ": "UTC",
                    "DUO_RELAY": "disabled", "DUO_DISCOVERY": "none", "DUO_BIND": "127.0.0.1:0"}
        alice, bob = env("alice"), env("bob")
        run(binary, alice, ["init", "--name", "Alice", "--label", "laptop"])
        run(binary, bob, ["init", "--name", "Bob", "--label", "laptop"])
        entries = [{"uuid": f"U{i:07d}", "creationDate": "2025-01-01T00:00:00Z", "text": text(rng)}
                   for i in range(a.entries)]
        run(binary, alice, ["journal", "import", "-", "--quiet"], stdin=json.dumps({"entries": entries}))

        inviter = subprocess.Popen([binary, "pair", "--ticket", "--yes"], env=alice, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ticket = inviter.stdout.readline().strip()
        t_pair, _ = run(binary, bob, ["pair", "join", "--ticket", "--yes"], stdin=ticket + "\n")
        inviter.wait()
        print(f"duo sync, {a.entries} entries, two processes on loopback, release build\n")
        print("| what | median | min | max |\n|---|---|---|---|")
        print(f"| pair by ticket + first sync of the whole journal (joiner's wall time) | {t_pair * 1000:.0f} ms | | |")

        wa, wb = Watcher(binary, alice), Watcher(binary, bob)
        wa.wait_for("Online as")
        wb.wait_for("Online as")
        written = {id(alice): [], id(bob): []}
        for name, writer, reader in (("Alice → Bob", alice, wb), ("Bob → Alice", bob, wa)):
            times = []
            for i in range(a.runs):
                time.sleep(1.5)
                t0 = time.perf_counter()
                body = f"{name} {i}: " + text(rng)
                run(binary, writer, ["journal", "add", body])
                written[id(writer)].append(body)
                t_added = time.perf_counter()
                try:
                    t_seen = reader.wait_for("received", after=t_added)
                except TimeoutError:
                    for w, who in ((wa, "Alice"), (wb, "Bob")):
                        print(f"{who}'s watcher:", *[f"  {t:.3f} {l}" for t, l in w.lines], sep="\n", file=sys.stderr)
                    print(f"entry written at {t0:.3f}", file=sys.stderr)
                    raise SystemExit(1)
                times.append((t_seen - t0) * 1000)
            print(f"| new entry reaches the watching partner, {name} (from `journal add` start, {a.runs} runs) "
                  f"| {statistics.median(times):.0f} ms | {min(times):.0f} ms | {max(times):.0f} ms |")
        wa.stop()
        wb.stop()
        for writer, reader in ((alice, bob), (bob, alice)):
            _, out = run(binary, reader, ["journal", "list", "--json"])
            shown = {e["body"] for e in json.loads(out)}
            missing = [b for b in written[id(writer)] if b not in shown]
            if missing:
                raise SystemExit(f"{len(missing)} entries written are not shown on the other device")


if __name__ == "__main__":
    main()
