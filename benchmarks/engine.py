"""Engine benchmark: step cost against bare SQLite, reset latency, memory per live episode.

    python benchmarks/engine.py [--repeat 200] [--episodes 2000]

Prints three figures over the bundled tasks (targets from the engine issue):

* step ratio: time of ``env.step(sql)`` divided by the time bare ``sqlite3`` takes to execute the
  same SQL on the same instances and fetch every row (target <= 2.0). The SQL is each task's
  broken query and its solution, so both the wrong and the solved path are measured.
* reset p50: ``env.reset(seed)`` over fresh seeds once the variant pool is built (target <= 1 ms),
  and the cold first reset of a dataset, which builds its instances.
* memory per live episode: traced Python allocations of N episodes kept alive, each reset and
  stepped three times, divided by N (target <= 100 KB). The instances are shared, not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sqlite3
import statistics
import sys
import time
import tracemalloc

import sqldebug
from sqldebug.catalog import Catalog
from sqldebug.runtime import Runtime


def bare_time(conns: list[sqlite3.Connection], sql: str, repeat: int) -> float:
    """Median seconds for plain sqlite3 to run ``sql`` on every connection and fetch all rows."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for c in conns:
            with contextlib.suppress(sqlite3.Error):
                c.execute(sql).fetchall()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def step_time(env: sqldebug.SQLDebugEnv, sql: str, repeat: int) -> float:
    """Median seconds of one ``env.step(sql)`` (each from a fresh reset, not timed)."""
    samples = []
    for i in range(repeat):
        env.reset(seed=i % 7)
        t0 = time.perf_counter()
        env.step(sql)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--episodes", type=int, default=2000)
    args = parser.parse_args()

    catalog = Catalog.load()
    tasks = [t for t in catalog.tasks.values()]
    print(
        f"sqldebug {sqldebug.__version__}, {len(tasks)} tasks, "
        f"SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}"
    )

    # cold reset: the first episode on each dataset builds its visible instance and variants
    cold = []
    for ds in catalog.datasets:
        runtime = Runtime(catalog)
        task = next(t for t in tasks if t.dataset == ds)
        env = sqldebug.SQLDebugEnv(runtime, [task])
        t0 = time.perf_counter()
        env.reset(seed=0)
        cold.append(time.perf_counter() - t0)

    runtime = Runtime(catalog)
    t0 = time.perf_counter()
    runtime.warm()
    warm_s = time.perf_counter() - t0

    # 1. step cost / bare sqlite
    ratios = []
    rows = []
    for task in tasks:
        env = sqldebug.SQLDebugEnv(runtime, [task])
        env.reset(seed=0)
        for label, sql in (("broken", task.broken), ("solution", task.solution)):
            if task.kind == "query":
                conns = []
                for inst in env.instances:
                    c = sqlite3.connect(":memory:")
                    inst.template.backup(c)
                    conns.append(c)
            else:  # a mutation runs on a fresh copy each time: the bare cost includes the copy
                conns = [inst.template for inst in env.instances]
            bare = (
                bare_time(conns, sql, args.repeat)
                if task.kind == "query"
                else _bare_mutation(env, sql, args.repeat)
            )
            step = step_time(env, sql, args.repeat)
            ratios.append(step / bare)
            rows.append((task.id, label, step * 1e6, bare * 1e6, step / bare))
    print(f"\n{'task':48} {'sql':8} {'step us':>9} {'bare us':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r[0]:48} {r[1]:8} {r[2]:9.1f} {r[3]:9.1f} {r[4]:6.2f}")

    # 2. reset latency over fresh seeds
    env = sqldebug.SQLDebugEnv(runtime, tasks)
    resets = []
    for seed in range(5000):
        t0 = time.perf_counter()
        env.reset(seed=seed)
        resets.append(time.perf_counter() - t0)
    resets.sort()

    # 3. memory per live episode
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    base = tracemalloc.get_traced_memory()[0]
    alive = []
    for i in range(args.episodes):
        e = sqldebug.SQLDebugEnv(runtime, tasks)
        e.reset(seed=i)
        e.step(e.task.broken)
        e.step({"type": "probe", "sql": "SELECT 1"})
        e.step({"type": "inspect_schema"})
        alive.append(e)
    gc.collect()
    per_episode = (tracemalloc.get_traced_memory()[0] - base) / args.episodes
    del before
    tracemalloc.stop()

    # 4. hostile statements: each must come back as an observation, fast
    hostile = {
        "unbounded recursive CTE": "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM r) "
        "SELECT count(*) FROM r",
        "6-way cross join": "SELECT count(*) FROM "
        + ", ".join(f"order_items t{i}" for i in range(6)),
        "randomblob(2e9)": "SELECT randomblob(2000000000)",
        "5,000 nested parentheses": "SELECT " + "(" * 5000 + "1" + ")" * 5000,
        "10 MB statement": "SELECT '" + "a" * 10_000_000 + "'",
    }
    shop_task = next(t for t in tasks if t.dataset == "shop" and t.kind == "query")
    hostile_rows = []
    for review in (False, True):
        env = sqldebug.SQLDebugEnv(runtime, [shop_task], sqldebug.EnvConfig(review=review))
        env.reset(seed=0)
        env.step("SELECT 1")  # warm-up: the first review imports sqlglot
        for name, sql in hostile.items():
            env.reset(seed=0)
            t0 = time.perf_counter()
            obs, *_ = env.step(sql)
            took = time.perf_counter() - t0
            kind = obs.error.kind if obs.error else "none"
            hostile_rows.append((name, "review" if review else "plain", kind, took))

    solution_ratios = [r[4] for r in rows if r[1] == "solution"]
    broken_ratios = [r[4] for r in rows if r[1] == "broken"]
    print("\nhostile statement (one step)         mode    error    ms")
    for name, mode, kind, took in hostile_rows:
        print(f"{name:36} {mode:7} {kind:8} {took * 1e3:6.1f}")

    print("\nsummary")
    print(
        f"  step / bare sqlite, median over {len(ratios)} task queries: "
        f"{statistics.median(ratios):.2f}  (max {max(ratios):.2f}; target <= 2.0)"
    )
    print(
        f"    solutions (graded correct): median {statistics.median(solution_ratios):.2f}; "
        f"broken queries (graded wrong, progress computed): "
        f"median {statistics.median(broken_ratios):.2f}"
    )
    print(
        f"  reset p50: {resets[len(resets) // 2] * 1e3:.3f} ms, "
        f"p95: {resets[int(len(resets) * 0.95)] * 1e3:.3f} ms  (target p50 <= 1 ms)"
    )
    print(
        f"  cold first reset per dataset: {', '.join(f'{c * 1e3:.1f} ms' for c in cold)}; "
        f"warming every instance and answer: {warm_s * 1e3:.0f} ms"
    )
    print(
        f"  memory per live episode: {per_episode / 1024:.1f} KB over {args.episodes} episodes "
        "(target <= 100 KB)"
    )
    return 0


def _bare_mutation(env: sqldebug.SQLDebugEnv, sql: str, repeat: int) -> float:
    samples = []
    tables = env.task.tables
    for _ in range(repeat):
        t0 = time.perf_counter()
        for inst in env.instances:
            c = sqlite3.connect(":memory:")
            inst.template.backup(c)
            with contextlib.suppress(sqlite3.Error):
                c.execute(sql)
            for t in tables:
                c.execute(f'SELECT * FROM "{t}"').fetchall()
            c.close()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


if __name__ == "__main__":
    raise SystemExit(main())
