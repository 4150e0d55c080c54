"""How fast `sqldebug bench` plays: episodes per second for oracle and search, 1 and 2 workers.

    python benchmarks/bench_speed.py [--seeds 3]

Each configuration runs the whole bundled set x seeds into a fresh temporary run folder, in a
fresh process (the installed `sqldebug bench`), so start-up costs count as they would in CI.
Target (bench issue): the oracle over the bundled set x 3 seeds under 30 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = str(Path(sys.executable).parent / "sqldebug")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, seeds {args.seeds}")
    print(
        f"{'agent':8} {'workers':>7} {'episodes':>9} {'wall s':>8} {'episodes/s':>11} {'solved':>7}"
    )
    for agent in ("oracle", "search"):
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                done = subprocess.run(
                    [
                        EXE,
                        "bench",
                        "--agent",
                        agent,
                        "--seeds",
                        str(args.seeds),
                        "--workers",
                        str(workers),
                        "--out",
                        f"{tmp}/run",
                        "--json",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                wall = time.perf_counter() - t0
                summary = json.loads(done.stdout)
            n = summary["episodes"]
            print(
                f"{agent:8} {workers:7d} {n:9d} {wall:8.2f} {n / wall:11.1f} "
                f"{summary['success_rate']:7.1%}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
