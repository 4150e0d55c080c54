"""Agents over tasks x seeds, in parallel, into a run folder anyone can reproduce and diff.

``run_bench`` plays every (task, seed) episode of a plan with one agent and appends each finished
episode to ``episodes.jsonl`` as it ends (flushed), so an interrupted run loses at most the
episodes in flight; running again into the same folder skips what is already there. The summary
is computed from the whole file, order-independently, so an interrupted-and-resumed run and an
uninterrupted one give the same summary. docs/bench.md describes the files.

Engine-side: no terminal library here; the command line renders progress from ``on_episode``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqldebug import __version__
from sqldebug.actions import parse_action
from sqldebug.agents import Agent, AgentError, make_agent
from sqldebug.api import resolver
from sqldebug.catalog import Catalog, load_catalog
from sqldebug.env import EnvConfig, SQLDebugEnv
from sqldebug.errors import RunFolderError, SQLDebugError
from sqldebug.runtime import get_runtime
from sqldebug.variants import deployment_secret, fingerprint

FORMAT = 1


@dataclass
class BenchSpec:
    """What to run: one agent over tasks x seeds."""

    agent: str
    agent_options: dict[str, Any] = field(default_factory=dict)
    tasks: str | None = None
    task_ids: list[str] | None = None
    filters: dict[str, str | None] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    env: dict[str, Any] = field(default_factory=dict)  # EnvConfig fields: k, weights, ...
    gamma: float = 0.99
    workers: int = 1

    def catalog(self) -> Catalog:
        return load_catalog(self.tasks)

    def plan(self) -> list[tuple[str, int]]:
        """Every (task id, seed) episode, in a fixed order."""
        cat = self.catalog()
        tasks = cat.filter(ids=self.task_ids, **{k: v for k, v in self.filters.items() if v})
        if not tasks:
            raise SQLDebugError("no tasks match these filters; see `sqldebug tasks list`")
        return [(t.id, s) for t in tasks for s in self.seeds]


def _redacted(options: dict[str, Any]) -> dict[str, Any]:
    """Agent options as recorded: anything that looks like a secret is left out."""
    return {
        k: ("<redacted>" if "key" in k.lower() or "token" in k.lower() else v)
        for k, v in options.items()
    }


def manifest(spec: BenchSpec, run: str, plan: list[tuple[str, int]]) -> dict[str, Any]:
    cat = spec.catalog()
    cfg = EnvConfig.build(**spec.env)
    return {
        "format": FORMAT,
        "run": run,
        "sqldebug_version": __version__,
        "task_set": {"hash": cat.digest, "root": str(cat.root), "tasks": len(cat.tasks)},
        "agent": {"name": spec.agent, "options": _redacted(spec.agent_options)},
        "task_ids": sorted({t for t, _ in plan}),
        "seeds": list(spec.seeds),
        "filters": dict(spec.filters),
        "env": {
            "k": cfg.k,
            "pool_size": cfg.pool_size,
            "weights": asdict(cfg.weights),
            "review": cfg.review,
            # which hidden instances graded the run: two runs compare only when this agrees
            "secret_fingerprint": fingerprint(deployment_secret()),
        },
        "gamma": spec.gamma,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


# -- playing episodes ------------------------------------------------------------------------------


def play_episode(
    env: SQLDebugEnv, agent: Agent, task_id: str, seed: int, gamma: float
) -> dict[str, Any]:
    """One episode: the agent acts until the environment says done. An agent that fails ends
    its episode (recorded with the error), never the run."""
    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    task = env.task
    trajectory: list[dict[str, Any]] = []
    error: str | None = None
    total = discounted = 0.0
    try:
        agent.reset(obs, info)
        done = False
        while not done:
            a0 = time.perf_counter()
            raw = agent.act(obs)
            agent_s = time.perf_counter() - a0
            action = parse_action(raw)
            e0 = time.perf_counter()
            obs, reward, terminated, truncated, info = env.step(action)
            env_s = time.perf_counter() - e0
            done = terminated or truncated
            discounted += gamma ** len(trajectory) * reward
            total += reward
            trajectory.append(
                {
                    "step": obs.step,
                    "action": action.model_dump(mode="json"),
                    "reward": reward,
                    "reward_breakdown": info.get("reward_breakdown"),
                    "error_class": obs.error.kind if obs.error else None,
                    "result_rows": obs.result.row_count if obs.result else None,
                    "solved": obs.solved,
                    "done": done,
                    "agent_s": round(agent_s, 6),
                    "env_s": round(env_s, 6),
                }
            )
    except AgentError as exc:
        error = str(exc)
    except SQLDebugError as exc:  # e.g. an action the environment cannot understand
        error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # an agent bug: recorded, and the run goes on
        error = f"agent raised {type(exc).__name__}: {exc}"
    return {
        "agent": agent.name,
        "task_id": task.id,
        "seed": seed,
        "category": task.category,
        "difficulty": task.difficulty,
        "dataset": task.dataset,
        "split": task.split,
        "solved": env.solved,
        "steps": len(trajectory),
        "return": round(total, 6),
        "discounted_return": round(discounted, 6),
        "error": error,
        "duration_s": round(time.perf_counter() - t0, 6),
        "usage": agent.usage(),
        "trajectory": trajectory,
    }


class _Player:
    """An agent and an environment for one process, built once."""

    def __init__(self, spec: BenchSpec) -> None:
        cfg = EnvConfig.build(**spec.env)
        runtime = get_runtime(spec.tasks, pool_size=cfg.pool_size, limits=cfg.limits)
        self.env = SQLDebugEnv(
            runtime, list(runtime.catalog.tasks.values()), cfg, resolve=resolver(runtime)
        )
        self.agent = make_agent(spec.agent, spec.agent_options, catalog=runtime.catalog)
        self.gamma = spec.gamma

    def play(self, task_id: str, seed: int) -> dict[str, Any]:
        return play_episode(self.env, self.agent, task_id, seed, self.gamma)


_PLAYER: _Player | None = None


def _init_worker(spec: BenchSpec) -> None:
    global _PLAYER
    _PLAYER = _Player(spec)


def _play_in_worker(task_id: str, seed: int) -> dict[str, Any]:
    assert _PLAYER is not None
    return _PLAYER.play(task_id, seed)


# -- the run folder --------------------------------------------------------------------------------


def read_episodes(path: Path) -> list[dict[str, Any]]:
    """Every complete line of an episodes.jsonl (a last line cut short by a crash is ignored)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    episodes = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            episodes.append(json.loads(line))
        except ValueError:
            if number == len(lines):
                continue  # half-written when the run was stopped: played again on resume
            raise RunFolderError(f"{path}:{number}: not a JSON line") from None
    return episodes


def _check_resumable(out: Path, new: dict[str, Any]) -> None:
    path = out / "manifest.json"
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path} cannot be read ({exc}); use another --out") from None
    for key, what in (
        ("task_set", "task set"),
        ("agent", "agent or its options"),
        ("env", "environment settings"),
        ("gamma", "gamma"),
    ):
        a = old.get(key, {}).get("hash") if key == "task_set" else old.get(key)
        b = new[key]["hash"] if key == "task_set" else new[key]
        if a != b:
            raise RunFolderError(
                f"{out} holds a run with a different {what}; resume it with the same settings "
                "or use another --out"
            )


def run_bench(
    spec: BenchSpec,
    out: Path | None = None,
    *,
    on_episode: Callable[[dict[str, Any], int, int], None] | None = None,
) -> dict[str, Any]:
    """Play the plan (skipping episodes already in ``out``) and return the summary.

    ``on_episode(episode, done, total)`` is called as each episode finishes.
    """
    plan = spec.plan()
    run = out.name if out is not None else f"{spec.agent}"
    info = manifest(spec, run, plan)
    episodes: list[dict[str, Any]] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if (out / "manifest.json").exists():
            _check_resumable(out, info)
            episodes = [
                e
                for e in read_episodes(out / "episodes.jsonl")
                if (e["task_id"], e["seed"]) in set(plan)
            ]
        else:
            (out / "manifest.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    done_keys = {(e["task_id"], e["seed"]) for e in episodes}
    todo = [key for key in plan if key not in done_keys]
    sink = (out / "episodes.jsonl").open("a", encoding="utf-8") if out is not None else None
    finished = len(plan) - len(todo)

    def record(episode: dict[str, Any]) -> None:
        nonlocal finished
        episodes.append(episode)
        finished += 1
        if sink is not None:
            sink.write(json.dumps(episode) + "\n")
            sink.flush()
        if on_episode is not None:
            on_episode(episode, finished, len(plan))

    try:
        _run(spec, todo, record)
    finally:
        if sink is not None:
            sink.close()
    summary = summarize(episodes, info)
    if out is not None:
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _run(
    spec: BenchSpec, todo: list[tuple[str, int]], record: Callable[[dict[str, Any]], None]
) -> None:
    """Play ``todo``: in this process, or spread over ``spec.workers`` processes."""
    if not todo:
        return
    if spec.workers <= 1:
        player = _Player(spec)
        try:
            for task_id, seed in todo:
                record(player.play(task_id, seed))
        finally:
            player.agent.close()
        return
    with ProcessPoolExecutor(
        max_workers=spec.workers, initializer=_init_worker, initargs=(spec,)
    ) as pool:
        pending = {pool.submit(_play_in_worker, t, s) for t, s in todo}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                record(future.result())


# -- figures ---------------------------------------------------------------------------------------


def _group(episodes: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in episodes:
        groups[str(e[key])].append(e)
    return {name: _figures(items) for name, items in sorted(groups.items())}


def _figures(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(episodes)
    solved = sum(bool(e["solved"]) for e in episodes)
    return {
        "episodes": n,
        "solved": solved,
        "success_rate": round(solved / n, 6) if n else 0.0,
        "mean_return": round(sum(e["return"] for e in episodes) / n, 6) if n else 0.0,
    }


def pass_at_k(episodes: list[dict[str, Any]], k: int) -> float:
    """The unbiased pass@k over the seeds run per task (Chen et al. 2021), averaged over tasks."""
    by_task: dict[str, list[bool]] = defaultdict(list)
    for e in episodes:
        by_task[e["task_id"]].append(bool(e["solved"]))
    scores = []
    for outcomes in by_task.values():
        n, c = len(outcomes), sum(outcomes)
        if n < k:
            continue
        scores.append(1.0 if n - c < k else 1.0 - math.comb(n - c, k) / math.comb(n, k))
    return round(sum(scores) / len(scores), 6) if scores else 0.0


def summarize(episodes: list[dict[str, Any]], manifest_: dict[str, Any]) -> dict[str, Any]:
    """The run's figures, independent of the order episodes finished in."""
    episodes = sorted(episodes, key=lambda e: (e["task_id"], e["seed"]))
    n = len(episodes)
    solved = [e for e in episodes if e["solved"]]
    seeds = len(manifest_.get("seeds", [])) or 1
    by_step: dict[int, list[float]] = defaultdict(list)
    for e in episodes:
        for s in e["trajectory"]:
            by_step[s["step"]].append(s["reward"])
    ks = sorted({1, seeds})
    return {
        "run": manifest_.get("run"),
        "agent": manifest_.get("agent", {}).get("name"),
        "task_set_hash": manifest_.get("task_set", {}).get("hash"),
        "secret_fingerprint": manifest_.get("env", {}).get("secret_fingerprint", "public"),
        **_figures(episodes),
        "errors": sum(e["error"] is not None for e in episodes),
        "mean_discounted_return": round(sum(e["discounted_return"] for e in episodes) / n, 6)
        if n
        else 0.0,
        "gamma": manifest_.get("gamma"),
        "mean_steps_to_solve": round(sum(e["steps"] for e in solved) / len(solved), 6)
        if solved
        else None,
        "pass_at_k": {str(k): pass_at_k(episodes, k) for k in ks},
        "mean_reward_by_step": [round(sum(v) / len(v), 6) for _, v in sorted(by_step.items())],
        "by_category": _group(episodes, "category"),
        "by_difficulty": _group(episodes, "difficulty"),
        "by_dataset": _group(episodes, "dataset"),
        "by_split": _group(episodes, "split"),
    }


def junit_xml(episodes: list[dict[str, Any]], suite: str) -> str:
    """One JUnit test case per episode (failed when not solved), for CI systems to show."""
    from xml.sax.saxutils import quoteattr

    ordered = sorted(episodes, key=lambda e: (e["task_id"], e["seed"]))
    failures = sum(not e["solved"] for e in ordered)
    total_time = sum(e["duration_s"] for e in ordered)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuite name={quoteattr(suite)} tests="{len(ordered)}" failures="{failures}" '
        f'errors="0" time="{total_time:.3f}">',
    ]
    for e in ordered:
        name = quoteattr(f"{e['task_id']}[seed={e['seed']}]")
        cls = quoteattr(e["category"])
        head = f'  <testcase classname={cls} name={name} time="{e["duration_s"]:.3f}"'
        if e["solved"]:
            lines.append(head + "/>")
            continue
        why = e["error"] or f"not solved in {e['steps']} steps (return {e['return']:+.3f})"
        lines.append(head + ">")
        lines.append(f"    <failure message={quoteattr(why)}/>")
        lines.append("  </testcase>")
    lines.append("</testsuite>")
    return "\n".join(lines) + "\n"
