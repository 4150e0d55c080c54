"""What a hostile client does to everyone else: /health and normal steps during an attack.

    python benchmarks/attack.py [--seconds 10] [--attackers 3]

Starts `sqldebug serve` on a free loopback port. First, for ``--seconds``, a poller times
``GET /health`` every 10 ms while 3 normal sessions step back to back (the baseline). Then the
same again while ``--attackers`` threads send the engine issue's hostile statements in a loop
(unbounded recursion, a 6-way cross join, randomblob(2e9), 5,000 nested parentheses, a 10 MB
statement, ATTACH, load_extension, PRAGMA writable_schema, DROP TABLE). Prints p50/p99/max of
/health and of the normal steps in both phases, and how each hostile request was answered.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_load import TASK, free_port, wait_healthy

HOSTILE = [
    "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM r) SELECT count(*) FROM r",
    "SELECT count(*) FROM " + ", ".join(f"order_items t{i}" for i in range(6)),
    "SELECT randomblob(2000000000)",
    "SELECT " + "(" * 5000 + "1" + ")" * 5000,
    "SELECT '" + "a" * 10_000_000 + "'",
    "ATTACH 'x.db' AS x",
    "SELECT load_extension('x')",
    "PRAGMA writable_schema=1",
    "DROP TABLE orders",
]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1e3 if xs else float("nan")


def phase(url: str, seconds: float, attackers: int) -> dict[str, object]:
    stop = time.monotonic() + seconds
    health: list[float] = []
    steps: list[float] = []
    answers: collections.Counter[str] = collections.Counter()
    failures: list[str] = []

    def poll() -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = c.get("/health")
                health.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    failures.append(f"health {r.status_code}")
                time.sleep(0.01)

    def normal(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
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

    def attack() -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            while time.monotonic() < stop:
                sid = c.post("/reset", json={"task_id": TASK}).headers["x-session-id"]
                for sql in HOSTILE[:7]:  # max_steps is 8
                    if time.monotonic() >= stop:
                        break
                    r = c.post("/step", json={"action": sql}, headers={"X-Session-Id": sid})
                    kind = (
                        (r.json()["observation"]["error"] or {}).get("kind", "none")
                        if r.status_code == 200
                        else str(r.status_code)
                    )
                    answers[kind] += 1
                c.delete("/session", headers={"X-Session-Id": sid})

    threads = [threading.Thread(target=poll)]
    threads += [threading.Thread(target=normal, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=attack) for _ in range(attackers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "health_ms": (statistics.median(health) * 1e3, pct(health, 0.99), max(health) * 1e3),
        "step_ms": (statistics.median(steps) * 1e3, pct(steps, 0.99), max(steps) * 1e3),
        "health_n": len(health),
        "steps_n": len(steps),
        "answers": dict(answers),
        "failures": failures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--attackers", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    exe = str(Path(sys.executable).parent / "sqldebug")
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(port)
        url = f"http://127.0.0.1:{port}"
        for name, attackers in (("baseline", 0), ("attack", args.attackers)):
            r = phase(url, args.seconds, attackers)
            h, s = r["health_ms"], r["step_ms"]
            print(
                f"{name:8}  /health p50 {h[0]:6.2f} ms  p99 {h[1]:6.2f} ms  max {h[2]:7.2f} ms"  # type: ignore[index]
                f"  ({r['health_n']} polls) | normal step p50 {s[0]:6.2f} p99 {s[1]:6.2f} ms"  # type: ignore[index]
                f"  ({r['steps_n']} steps)"
            )
            if attackers:
                print(f"          hostile requests answered: {r['answers']}")
            print(f"          failed requests: {len(r['failures'])}")  # type: ignore[arg-type]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
