"""Measured difficulty per task: the built-in agents' solve rates and the blind solves, as a table.

    sqldebug bench --agent noop   --seeds 3 --out runs/noop
    sqldebug bench --agent search --seeds 3 --out runs/search
    python benchmarks/difficulty.py runs/noop runs/search [--blind docs/blind-solves.json] \
        [--out docs/tasks.md]

Each run folder is a ``sqldebug bench`` output (its ``episodes.jsonl``). ``--blind`` is a JSON list
of ``{"task_id", "first_submission_right", "solved", "steps", "fair"}`` records, one per blind
solve (a solver who saw only the agent's view: the prompt, probes, feedback).

The measured tier of a task follows from the search agent's solve rate over its seeds (the
rule is :func:`measured_tier`); the table marks where it differs from the task file's label, and
``--check`` exits 1 if any does, for CI or a pre-commit run.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqldebug.bench import read_episodes  # noqa: E402


def measured_tier(search_rate: float) -> str:
    """easy: search solves it on at least 2/3 of the seeds; medium: on some; hard: on none."""
    if search_rate >= 2 / 3:
        return "easy"
    if search_rate > 0:
        return "medium"
    return "hard"


def load_runs(folders: list[Path]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """task id -> agent -> its episodes."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for folder in folders:
        for episode in read_episodes(folder / "episodes.jsonl"):
            out[episode["task_id"]][episode["agent"]].append(episode)
    return out


def rate(episodes: list[dict[str, Any]]) -> float | None:
    return sum(e["solved"] for e in episodes) / len(episodes) if episodes else None


def fmt(episodes: list[dict[str, Any]]) -> str:
    return f"{sum(e['solved'] for e in episodes)}/{len(episodes)}" if episodes else "-"


def table(
    runs: dict[str, dict[str, list[dict[str, Any]]]], blind: list[dict[str, Any]]
) -> tuple[str, int]:
    """The markdown table, and how many labels differ from the measured tier."""
    by_task = collections.defaultdict(list)
    for record in blind:
        by_task[record["task_id"]].append(record)
    lines = [
        "| task | dataset | category | label | measured | noop | search | blind: first right "
        "| blind: solved | blind: steps |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    mismatched = 0
    for task_id in sorted(runs):
        agents = runs[task_id]
        any_episode = next(iter(agents.values()))[0]
        search_rate = rate(agents.get("search", []))
        tier = measured_tier(search_rate) if search_rate is not None else "-"
        label = any_episode["difficulty"]
        mark = ""
        if tier not in ("-", label):
            mismatched += 1
            mark = " *"
        solves = by_task.get(task_id, [])
        first = (
            f"{sum(s['first_submission_right'] for s in solves)}/{len(solves)}" if solves else "-"
        )
        solved = f"{sum(s['solved'] for s in solves)}/{len(solves)}" if solves else "-"
        steps = ", ".join(str(s["steps"]) for s in solves) if solves else "-"
        lines.append(
            f"| {task_id} | {any_episode['dataset']} | {any_episode['category']} | {label} "
            f"| {tier}{mark} | {fmt(agents.get('noop', []))} | {fmt(agents.get('search', []))} "
            f"| {first} | {solved} | {steps} |"
        )
    lines.append("")
    lines.append(f"{mismatched} of {len(runs)} labels differ from the measured tier (marked *).")
    return "\n".join(lines), mismatched


def summary(runs: dict[str, dict[str, list[dict[str, Any]]]], blind: list[dict[str, Any]]) -> str:
    per_tier: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for agents in runs.values():
        for episode in agents.get("search", []):
            per_tier[episode["difficulty"]].append(episode)
    parts = [
        f"search solves {fmt(eps)} ({100 * (rate(eps) or 0):.0f}%) of {tier} episodes"
        for tier, eps in sorted(per_tier.items())
    ]
    if blind:
        first = sum(r["first_submission_right"] for r in blind)
        solved = sum(r["solved"] for r in blind)
        parts.append(
            f"blind solves: first submission right on {first}/{len(blind)}, "
            f"solved within max_steps {solved}/{len(blind)}"
        )
    return "\n".join(f"- {p}" for p in parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="sqldebug bench output folders")
    parser.add_argument("--blind", type=Path, help="blind solves, a JSON list")
    parser.add_argument("--dataset", action="append", help="only these datasets (repeatable)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a label is off")
    parser.add_argument(
        "--apply",
        action="store_true",
        help="rewrite each task file's difficulty to the measured tier (bundled tasks)",
    )
    args = parser.parse_args()
    runs = load_runs(args.runs)
    if args.dataset:
        runs = {
            t: a for t, a in runs.items() if next(iter(a.values()))[0]["dataset"] in args.dataset
        }
    blind = json.loads(args.blind.read_text()) if args.blind else []
    text, mismatched = table(runs, blind)
    print(summary(runs, blind))
    print()
    print(text)
    if args.apply:
        print(f"relabelled {apply(runs)} task files")
    return 1 if args.check and mismatched else 0


def apply(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> int:
    """Set ``difficulty:`` in each task file to its measured tier; returns how many changed."""
    from sqldebug.catalog import load_catalog

    catalog = load_catalog()
    changed = 0
    for task_id, agents in runs.items():
        search_rate = rate(agents.get("search", []))
        if search_rate is None or task_id not in catalog.tasks:
            continue
        tier = measured_tier(search_rate)
        source = catalog.source(task_id)
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        for n, line in enumerate(lines):
            if line.startswith("difficulty:") and line.split(":", 1)[1].strip() != tier:
                lines[n] = f"difficulty: {tier}\n"
                source.write_text("".join(lines), encoding="utf-8")
                changed += 1
                break
    return changed


if __name__ == "__main__":
    raise SystemExit(main())
