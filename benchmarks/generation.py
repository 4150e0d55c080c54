"""How fast `sqldebug generate` makes valid tasks, why it throws candidates away, and how the
agents score on what it makes.

    python benchmarks/generation.py [--count 1000] [--seed 0] [--agents oracle,noop,search]

1. Runs the installed `sqldebug generate --count N` in a fresh process (start-up counts) and
   prints valid tasks per second and the share of candidates rejected by each check.
2. Runs `sqldebug tasks validate` on the folder it wrote (every task must pass).
3. Runs `sqldebug bench` with each agent over the generated set (one seed) and prints the share
   solved: the issue asks for oracle 100%, noop 0% and search somewhere between.

Target (generator issue): 1,000 valid tasks in under 2 minutes on this 2-core machine.
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


def run(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    done = subprocess.run([EXE, *args], capture_output=True, text=True, check=False)
    return time.perf_counter() - t0, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--agents", default="oracle,noop,search")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/gen"
        wall, done = run(
            "generate", "--count", str(args.count), "--seed", str(args.seed), "--out", out, "--json"
        )
        if done.returncode:
            print(done.stderr)
            return 1
        stats = json.loads(done.stdout)
        n = stats["candidates"]
        print(
            f"generate: {stats['kept']} valid tasks from {n} candidates in {wall:.1f} s wall "
            f"({stats['seconds']:.1f} s generating): {stats['kept'] / wall:.0f} valid tasks/s"
        )
        print(f"  kept {stats['kept'] / n:6.1%}")
        for reason, count in stats["rejected"].items():
            print(f"  rejected by {reason:22} {count:5}  {count / n:6.1%}")
        print(f"  operators used: {len(stats['operators'])}: {stats['operators']}")
        print(f"  categories: {stats['categories']}")
        print(f"  difficulties: {stats['difficulties']}")
        wall, done = run("tasks", "validate", "--tasks", out, "--json")
        report = json.loads(done.stdout)
        print(
            f"validate: {report['tasks'] - len(report['problems'])} of {report['tasks']} valid "
            f"in {wall:.1f} s"
        )
        for agent in filter(None, args.agents.split(",")):
            wall, done = run(
                "bench",
                "--agent",
                agent,
                "--tasks",
                out,
                "--workers",
                "2",
                "--out",
                f"{tmp}/run-{agent}",
                "--json",
            )
            summary = json.loads(done.stdout)
            print(
                f"bench {agent:7}: solved {summary['success_rate']:6.1%} of "
                f"{summary['episodes']} episodes in {wall:.1f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
