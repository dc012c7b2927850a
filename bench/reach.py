#!/usr/bin/env python3
"""A dead device never delays the live ones: entry→partner latency with one of three
devices off vs all on, in the same run.

Three devices in a network namespace of their own (root, iproute2, nftables): Alice's
laptop, Alice's phone (paired as her own device) and Bob's laptop. Each runs
`duo sync --watch`. Alice writes entries on her laptop one after another, and each is
timed from the start of `duo journal add` until Bob's watcher says it received it. First
with all three on, then with the phone silent: its watcher is stopped and every packet to
or from its port is dropped by nftables (nothing answers and nothing is refused, as a
phone that went out of range), while Alice's watcher keeps dialling it. At the end Bob's
`duo journal list` must show every entry written.

    cargo build --release && sudo python3 bench/reach.py --runs 9
"""
import argparse, json, os, random, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(__file__))
from journal import run, text  # noqa: E402
from sync import Watcher  # noqa: E402


def ns_main(a):
    """Run this script again inside a fresh network namespace, and remove it after."""
    name = f"duo-bench-reach-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        args = [sys.executable, os.path.abspath(__file__), "--inside", name, "--runs", str(a.runs), "--bin", a.bin]
        return subprocess.run(["ip", "netns", "exec", name, *args]).returncode
    finally:
        subprocess.run(["ip", "netns", "del", name])


def pair(binary, inviter, joiner, extra=()):
    p = subprocess.Popen([binary, "pair", "--ticket", "--yes", *extra], env=inviter, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ticket = p.stdout.readline().strip()
    run(binary, joiner, ["pair", "join", "--ticket", "--yes"], stdin=ticket + "\n")
    p.wait()


def latencies(binary, writer, reader, runs, label, rng, written):
    times = []
    for i in range(runs):
        time.sleep(1.5)
        body = f"{label} {i}: " + text(rng)
        t0 = time.perf_counter()
        run(binary, writer, ["journal", "add", body])
        t_added = time.perf_counter()
        times.append((reader.wait_for("received", after=t_added) - t0) * 1000)
        written.append(body)
    return times


def inside(a):
    binary = os.path.abspath(a.bin)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        def env(who):
            return {"PATH": os.environ.get("PATH", ""), "DUO_HOME": os.path.join(tmp, who), "TZ": "UTC",
                    "DUO_RELAY": "disabled", "DUO_DISCOVERY": "none", "DUO_BIND": "127.0.0.1:0"}
        alice, phone, bob = env("alice"), env("phone"), env("bob")
        run(binary, alice, ["init", "--name", "Alice", "--label", "laptop"])
        run(binary, phone, ["init", "--name", "Alice", "--label", "phone"])
        run(binary, bob, ["init", "--name", "Bob", "--label", "laptop"])
        pair(binary, alice, bob)
        pair(binary, alice, phone, ["--own-device"])
        _, out = run(binary, phone, ["--json", "status"])
        phone_port = json.loads(out)["port"]

        wb, wp = Watcher(binary, bob), Watcher(binary, phone)
        wb.wait_for("Online as")
        wp.wait_for("Online as")
        wa = Watcher(binary, alice)
        wa.wait_for("Online as")
        written = []
        on = latencies(binary, alice, wb, a.runs, "all on", rng, written)

        wp.stop()
        nft = ["nft", "add", "rule", "inet", "silent", "out", "udp"]
        subprocess.run(["nft", "add", "table", "inet", "silent"], check=True)
        subprocess.run(["nft", "add", "chain", "inet", "silent", "out",
                        "{ type filter hook output priority 0 ; }"], check=True)
        for d in ("dport", "sport"):
            subprocess.run([*nft, d, str(phone_port), "drop"], check=True)
        off = latencies(binary, alice, wb, a.runs, "phone off", rng, written)
        wa.stop()
        wb.stop()
        _, out = run(binary, bob, ["journal", "list", "--json"])
        shown = {e["body"] for e in json.loads(out)}
        missing = [b for b in written if b not in shown]
        if missing:
            raise SystemExit(f"{len(missing)} entries written are not shown on Bob's device")

        build = "release" if "/release/" in binary else "debug"
        print(f"entry → watching partner, three devices in one network namespace, {build} build, "
              f"{a.runs} entries each\n")
        print("| devices | median | min | max |\n|---|---|---|---|")
        for what, t in (("all three on", on), ("Alice's phone off (nftables drop)", off)):
            print(f"| {what} | {statistics.median(t):.0f} ms | {min(t):.0f} ms | {max(t):.0f} ms |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.dirname(__file__), "..", "target")
    ap.add_argument("--bin", default=os.path.join(target, "release", "duo"))
    ap.add_argument("--inside", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inside:
        inside(a)
    else:
        raise SystemExit(ns_main(a))


if __name__ == "__main__":
    main()
