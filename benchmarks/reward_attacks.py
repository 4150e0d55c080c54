"""How often each known attack on the reward wins an episode without the fix.

    python benchmarks/reward_attacks.py [--seeds 5] [--secret S]

Attacks (tests/test_reward_integrity.py keeps each one as a test):

* swap: two same-typed columns of the solution's select list in each other's place;
* lookup: the answer of every instance of the engine's old fixed pool (16 variants) and the
  visible one, typed out and picked by the tables' row counts;
* visible-detect: the typed-out visible answer when the row counts are the visible ones, the
  broken query otherwise.

Prints, per attack, the task x seed pairs tried and won. It uses only the public API that every
version of the engine has, so it can be run against an older checkout (PYTHONPATH=...).
"""

from __future__ import annotations

import argparse
import itertools
import os

import sqlglot
from sqlglot import exp

import sqldebug
from sqldebug.runtime import get_runtime
from sqldebug.validate import constant_answer


def counts(runtime, dataset, inst):  # type: ignore[no-untyped-def]
    pool = runtime.pool(dataset)
    return " AND ".join(
        f'(SELECT count(*) FROM "{s.name}") = '
        f"{inst.reader().run(f'SELECT count(*) FROM {chr(34)}{s.name}{chr(34)}').rows[0][0]}"
        for s in pool.shapes
    )


def typed(res):  # type: ignore[no-untyped-def]
    if not res.rows:
        return "SELECT " + ", ".join(["NULL"] * len(res.columns)) + " WHERE 0"
    return constant_answer(res)


def swapped(solution: str, i: int, j: int) -> str:
    tree = sqlglot.parse_one(solution, read="sqlite")
    branches = [tree] if isinstance(tree, exp.Select) else list(tree.find_all(exp.Select))
    for sel in branches:
        if sel is not tree and not isinstance(sel.parent, exp.SetOperation):
            continue
        items = sel.expressions
        if len(items) > max(i, j):
            items[i], items[j] = items[j], items[i]
            sel.set("expressions", items)
    return tree.sql(dialect="sqlite")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--secret", default=None, help="set SQLDEBUG_SECRET for the run")
    args = parser.parse_args()
    if args.secret is not None:
        os.environ["SQLDEBUG_SECRET"] = args.secret
    runtime = get_runtime()
    tasks = [t for t in sqldebug.load_tasks() if t.kind == "query"]
    tried = dict.fromkeys(("swap", "lookup", "visible-detect"), 0)
    won = dict.fromkeys(tried, 0)
    won_tasks: dict[str, set[str]] = {k: set() for k in tried}

    def play(name: str, task, sql: str) -> None:  # type: ignore[no-untyped-def]
        env = sqldebug.SQLDebugEnv(runtime, [task])
        for seed in range(args.seeds):
            env.reset(seed=seed)
            tried[name] += 1
            if env.step(sql)[0].solved:
                won[name] += 1
                won_tasks[name].add(task.id)

    for task in tasks:
        pool = runtime.pool(task.dataset)
        grader = runtime.grader(task)
        res = grader.expected(pool.visible)[""][0]
        kinds = [
            frozenset(type(r[i]) for r in res.rows if r[i] is not None)
            for i in range(len(res.columns))
        ]
        for i, j in itertools.combinations(range(len(kinds)), 2):
            if kinds[i] == kinds[j] and any(r[i] != r[j] for r in res.rows):
                play("swap", task, swapped(task.solution, i, j))
        known = [pool.visible, *(pool.variant(i) for i in range(16))]
        branches, taken = [], []
        for inst in known:
            cond = counts(runtime, task.dataset, inst)
            if cond in taken:
                continue
            guard = cond + "".join(f" AND NOT ({c})" for c in taken)
            branches.append(f"SELECT * FROM ({typed(grader.expected(inst)[''][0])}) WHERE {guard}")
            taken.append(cond)
        play("lookup", task, "\nUNION ALL\n".join(branches))
        if grader.grade(task.broken, [pool.visible]).error is None:
            cond = counts(runtime, task.dataset, pool.visible)
            broken = task.broken.rstrip().rstrip(";")
            play(
                "visible-detect",
                task,
                f"SELECT * FROM ({typed(res)}) WHERE {cond}\n"
                f"UNION ALL SELECT * FROM ({broken}) WHERE NOT ({cond})",
            )
    for name in tried:
        print(
            f"{name:15} tried {tried[name]:5} task x seed pairs, won {won[name]:5}"
            f" ({len(won_tasks[name])} tasks)"
        )


if __name__ == "__main__":
    main()
