"""Reward-function throughput: TRL-style batches of 256 completions, in completions per second.

    python benchmarks/trl_rewards.py [--batch 256] [--repeat 5] [--generations 4]

The batch is laid out as GRPOTrainer lays it out: 256 / generations rows (bundled tasks in turn,
seed = row index), each repeated once per generation, with a column per dataset field. The
completions are a fixed mix, in turn: the task's solution in a ```sql block, the broken query in a
```sql block, prose with no SQL, a syntax error, and the solution as bare SQL between two lines of
prose (the slowest to extract: sqlglot parses to find where it ends). Prints, as medians over
``--repeat`` fresh scorers (so nothing is cached between repeats; instances are built once,
before timing, as they are after a trainer's first batch):

* extraction alone (``extract_sql`` over the batch);
* the total reward function;
* the seven component functions over the same batch (one grading, shared);
* the total reward with every completion distinct (no grade is reused within the batch).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import sqldebug
from sqldebug.integrations.extract import extract_sql
from sqldebug.integrations.trl import RewardScorer, reward_functions


def completion(kind: int, task: sqldebug.Task, salt: int) -> str:
    solution = task.solution.strip()
    if kind == 0:
        return f"The WHERE clause was wrong. Fixed:\n```sql\n{solution}\n```"
    if kind == 1:
        return f"I think it is fine as it is:\n```sql\n{task.broken.strip()}\n```"
    if kind == 2:
        return f"I could not work out the bug, sorry ({salt})."
    if kind == 3:
        return f"```sql\nSELEC id, FROM WHERE {salt}\n```"
    return f"Here is the corrected query.\n\n{solution}\n\nIt now counts every row ({salt})."


def batch(size: int, generations: int, *, distinct: bool) -> tuple[list[str], dict[str, Any]]:
    tasks = sqldebug.load_tasks(split=None)
    rows = [
        {"task_id": tasks[i % len(tasks)].id, "seed": i, "split": tasks[i % len(tasks)].split}
        for i in range(size // generations)
    ]
    laid = [row for row in rows for _ in range(generations)]
    by_id = {t.id: t for t in tasks}
    completions = []
    for i, row in enumerate(laid):
        text = completion(i % 5, by_id[row["task_id"]], i)
        if distinct:  # a comment makes each submission unique, so none is graded twice
            text = text.replace("```sql\n", f"```sql\n-- {i}\n")
        completions.append(text)
    columns = {key: [row[key] for row in laid] for key in ("task_id", "seed", "split")}
    return completions, columns


def rate(n: int, run: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        samples.append(time.perf_counter() - t0)
    return n / statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--generations", type=int, default=4)
    args = parser.parse_args()
    completions, columns = batch(args.batch, args.generations, distinct=False)
    unique, unique_columns = batch(args.batch, args.generations, distinct=True)
    n = len(completions)
    extra = {"trainer_state": None, "log_extra": lambda *a: None, "log_metric": lambda *a: None}

    warm = RewardScorer()
    t0 = time.perf_counter()
    reward_functions(scorer=warm)[0](prompts=[""] * n, completions=completions, **columns)
    first = time.perf_counter() - t0  # builds every instance the batch's seeds draw

    def total(texts: list[str], cols: dict[str, Any]) -> Callable[[], object]:
        def run() -> object:
            (func,) = reward_functions()
            return func(prompts=[""] * n, completions=texts, **cols, **extra)

        return run

    def components() -> object:
        funcs = reward_functions(components=True)
        return [f(prompts=[""] * n, completions=completions, **columns, **extra) for f in funcs]

    figures = {
        "extract_sql only": rate(n, lambda: [extract_sql(c) for c in completions], args.repeat),
        "total reward": rate(n, total(completions, columns), args.repeat),
        "7 component rewards": rate(n, components, args.repeat),
        "total reward, all distinct": rate(n, total(unique, unique_columns), args.repeat),
    }
    print(
        f"batch of {n} completions ({args.generations} generations per row), "
        f"median of {args.repeat}; first batch in a fresh process: {first:.2f} s"
    )
    for name, value in figures.items():
        print(f"{name:28s} {value:10,.0f} completions/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
