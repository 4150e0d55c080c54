"""Command-line latency: what one `sqldebug` invocation costs a person or a shell script.

    python benchmarks/cli.py [--repeat 15]

Each figure is the median wall time of running the installed executable in a fresh process,
next to a bare interpreter start (``python -c pass``) measured in the same run, so the ratio says
what sqldebug adds. ``step`` replays the session's action log first (that is how a local episode
is kept), so it is measured on a fresh episode and on one seven steps in.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = str(Path(sys.executable).parent / "sqldebug")
TASK = "shop/top-products-ties"


def wall(
    cmd: list[str], env: dict[str, str], repeat: int, before: list[str] | None = None
) -> float:
    samples = []
    for _ in range(repeat):
        if before:
            subprocess.run(before, env=env, capture_output=True, check=False)
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=False)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    home = tempfile.mkdtemp()
    env = {**os.environ, "SQLDEBUG_HOME": home}
    r = args.repeat
    reset = [EXE, "reset", "--task", TASK, "--seed", "0", "--json"]
    rows = [
        ("python -c pass (interpreter start)", wall([sys.executable, "-c", "pass"], env, r)),
        ("python -c 'import sqldebug'", wall([sys.executable, "-c", "import sqldebug"], env, r)),
        ("sqldebug --help", wall([EXE, "--help"], env, r)),
        ("sqldebug tasks list --json", wall([EXE, "tasks", "list", "--json"], env, r)),
        ("sqldebug reset --task ... --json", wall(reset, env, r)),
        (
            "sqldebug step 'SELECT 1' (1st step)",
            wall([EXE, "step", "SELECT 1", "--json"], env, r, before=reset),
        ),
    ]
    long_reset = [EXE, "reset", "--task", TASK, "--seed", "0", "--session", "long"]
    subprocess.run(long_reset, env=env, capture_output=True, check=True)
    for i in range(7):
        subprocess.run(
            [EXE, "step", f"SELECT {i}", "--session", "long"],
            env=env,
            capture_output=True,
            check=False,
        )
    # the 8th step on a 7-step log, measured without saving: state replays the same log
    rows.append(
        (
            "sqldebug state (replays 7 steps)",
            wall([EXE, "state", "--session", "long", "--json"], env, r),
        )
    )
    base = rows[0][1]
    print(f"{'command':40} {'median ms':>10} {'x python start':>15}")
    for name, secs in rows:
        print(f"{name:40} {secs * 1e3:10.1f} {secs / base:15.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
