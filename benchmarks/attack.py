"""What a hostile statement costs: time to answer and memory, in-process and on the server.

    python benchmarks/attack.py [--seconds 10] [--attackers 32] [--only NAME ...]

The corpus is tests/test_attacks.py's ``ATTACKS``. Three parts:

1. **in-process**: each case stepped (submitted) on a fresh ``sqldebug.make`` environment in a
   process of its own, so that the peak RSS it adds (``ru_maxrss`` after minus before) is its own;
   prints the time to answer, the peak RSS added and the error class.
2. **server**: `sqldebug serve` on a free loopback port. For ``--seconds``, a poller times
   ``GET /health`` every 10 ms while 3 normal sessions step back to back (the baseline); then the
   same again while ``--attackers`` sessions send the corpus in a loop. Prints /health p50/p99/max
   and the normal steps' in both phases, the slowest answer to each case, and the server's peak
   RSS added during the attack (VmHWM from /proc, Linux).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from http_load import TASK, free_port, wait_healthy  # noqa: E402

from tests.test_attacks import ATTACKS  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1e3 if xs else float("nan")


def one_case(name: str) -> dict[str, object]:
    """Run in a child process: step one case, report time, RSS added and the answer."""
    import sqldebug

    env = sqldebug.make(TASK)
    env.reset(seed=0)
    env.step("SELECT 1")  # warm: instances cloned, statement caches filled
    env.reset(seed=0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    obs, *_ = env.step({"type": "submit", "sql": ATTACKS[name][0]})
    elapsed = time.perf_counter() - t0
    added = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    after, *_ = env.step(env.task.solution)
    return {
        "name": name,
        "seconds": elapsed,
        "rss_added_mb": added / 1024,
        "kind": obs.error.kind if obs.error else "none",
        "observation_kb": len(obs.model_dump_json()) / 1e3,
        "next_step_solved": after.solved,
    }


def in_process(names: list[str]) -> None:
    print("in-process: one fresh process per case (time to answer a submit, peak RSS it added)")
    print(f"  {'case':28} {'answer':>8} {'RSS added':>10}  {'class':7} {'obs KB':>7}  next step")
    for name in names:
        out = subprocess.run(
            [sys.executable, __file__, "--case", name], capture_output=True, text=True, timeout=120
        )
        if out.returncode != 0:
            print(f"  {name:28} FAILED: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout)
        print(
            f"  {name:28} {r['seconds'] * 1e3:6.0f} ms {r['rss_added_mb']:7.1f} MB  {r['kind']:7}"
            f" {r['observation_kb']:7.1f}  {'solved' if r['next_step_solved'] else 'NOT SOLVED'}"
        )


def vm_hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def poll(url: str, seconds: float) -> dict[str, list[object]]:
    """Run in a child process: time ``GET /health`` every 10 ms on one keep-alive connection."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    health: list[object] = []
    failures: list[object] = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        t0 = time.perf_counter()
        conn.request("GET", "/health")
        r = conn.getresponse()
        r.read()
        health.append(time.perf_counter() - t0)
        if r.status != 200:
            failures.append(f"health {r.status}")
        time.sleep(0.01)
    return {"health": health, "failures": failures}


def behind_the_server() -> None:
    """Lower this client thread's CPU priority (Linux): real clients are on other machines.

    On a 2-core machine, 35 client threads parsing answers would otherwise take the cores that
    the server's event loop and the /health poller need, and their delay would be counted as the
    server's.
    """
    if sys.platform.startswith("linux"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), int(os.environ.get("CNICE", 10)))


def phase(url: str, seconds: float, attackers: int, names: list[str]) -> dict[str, object]:
    stop = time.monotonic() + seconds
    health: list[float] = []
    steps: list[float] = []
    answers: collections.Counter[str] = collections.Counter()
    slowest: dict[str, float] = collections.defaultdict(float)
    failures: list[str] = []

    def normal(i: int) -> None:
        behind_the_server()
        with httpx.Client(base_url=url, timeout=60) as c:
            while time.monotonic() < stop:
                sid = c.post("/reset", json={"task_id": TASK, "seed": i}).headers["x-session-id"]
                for n in range(8):
                    if time.monotonic() >= stop:
                        break
                    t0 = time.perf_counter()
                    r = c.post(
                        "/step", json={"action": f"SELECT {n} AS n"}, headers={"X-Session-Id": sid}
                    )
                    steps.append(time.perf_counter() - t0)
                    if r.status_code != 200:
                        failures.append(f"step {r.status_code}")
                c.delete("/session", headers={"X-Session-Id": sid})

    def attack(offset: int) -> None:
        behind_the_server()
        with httpx.Client(base_url=url, timeout=120) as c:
            k = offset
            while time.monotonic() < stop:
                sid = c.post("/reset", json={"task_id": TASK}).headers["x-session-id"]
                for _ in range(7):  # max_steps is 8
                    if time.monotonic() >= stop:
                        break
                    name = names[k % len(names)]
                    k += 1
                    t0 = time.perf_counter()
                    r = c.post(
                        "/step", json={"action": ATTACKS[name][0]}, headers={"X-Session-Id": sid}
                    )
                    slowest[name] = max(slowest[name], time.perf_counter() - t0)
                    if r.status_code == 413 and name == "ten-megabytes":  # over --max-body-bytes
                        answers["413 too_large"] += 1
                        continue
                    if r.status_code != 200 or "Traceback" in r.text:
                        failures.append(f"{name} {r.status_code}")
                        continue
                    answers[(r.json()["observation"]["error"] or {}).get("kind", "none")] += 1
                c.delete("/session", headers={"X-Session-Id": sid})

    # /health is timed from a process of its own: in this one, 35 client threads share a GIL,
    # and their waits would be counted as the server's
    poller = subprocess.Popen(
        [sys.executable, __file__, "--poll", url, "--seconds", str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    threads = [threading.Thread(target=normal, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=attack, args=(i,)) for i in range(attackers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    polled = json.loads(poller.communicate(timeout=120)[0])
    health, failures = polled["health"], failures + polled["failures"]
    return {
        "health_ms": (statistics.median(health) * 1e3, pct(health, 0.99), max(health) * 1e3),
        "step_ms": (statistics.median(steps) * 1e3, pct(steps, 0.99), max(steps) * 1e3),
        "health_n": len(health),
        "steps_n": len(steps),
        "answers": dict(answers),
        "slowest": dict(slowest),
        "failures": failures,
    }


def on_server(seconds: float, attackers: int, names: list[str]) -> None:
    port = free_port()
    exe = str(Path(sys.executable).parent / "sqldebug")
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(port)
        url = f"http://127.0.0.1:{port}"
        print(f"server: {attackers} attacking sessions cycling through {len(names)} cases")
        for name, n in (("baseline", 0), ("attack", attackers)):
            hwm = vm_hwm_mb(proc.pid)
            r = phase(url, seconds, n, names)
            h, s = r["health_ms"], r["step_ms"]
            print(
                f"  {name:8}  /health p50 {h[0]:6.2f} ms  p99 {h[1]:6.2f} ms  max {h[2]:7.2f} ms"  # type: ignore[index]
                f"  ({r['health_n']} polls) | normal step p50 {s[0]:6.2f} p99 {s[1]:7.2f} ms"  # type: ignore[index]
                f"  ({r['steps_n']} steps)"
            )
            if n:
                print(f"            peak RSS added: {vm_hwm_mb(proc.pid) - hwm:.0f} MB")
                engine = httpx.get(f"{url}/benchmark").json()["latency"]["step"]
                print(
                    "            time in the engine per step (queue excluded, both phases): "
                    f"p95 {engine['p95_ms']:.0f} ms, max {engine['max_ms']:.0f} ms"
                )
                print(f"            hostile requests answered: {r['answers']}")
                slow = sorted(r["slowest"].items(), key=lambda kv: -kv[1])  # type: ignore[attr-defined]
                print(
                    "            slowest answer per case: "
                    + ", ".join(f"{k} {v:.2f} s" for k, v in slow)
                )
            print(f"            failed requests: {len(r['failures'])} {r['failures'][:5]}")  # type: ignore[arg-type, index]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--attackers", type=int, default=32)
    parser.add_argument("--only", nargs="*", help="cases to run (default: all)")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: one case, in a child
    parser.add_argument("--poll", help=argparse.SUPPRESS)  # internal: time /health at URL
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--skip-in-process", action="store_true")
    args = parser.parse_args()
    if args.poll:
        print(json.dumps(poll(args.poll, args.seconds)))
        return 0
    if args.case:
        print(json.dumps(one_case(args.case)))
        return 0
    names = args.only or list(ATTACKS)
    if not args.skip_in_process:
        in_process(names)
    if not args.skip_server:
        on_server(args.seconds, args.attackers, names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
