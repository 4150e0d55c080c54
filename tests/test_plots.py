"""``sqldebug plot`` and sqldebug.plots: charts from run folders, clear errors for bad ones."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sqldebug import plots
from sqldebug.cli.exit_codes import ExitCode
from sqldebug.cli.plot import plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CATEGORIES = ("join-fanout", "null-handling", "window", "ordering-ties", "aggregation", "distinct")
DIFFICULTIES = ("easy", "medium", "hard")
HASH_A = "a1b2c3d4" + "0" * 56
HASH_B = "e5f6a7b8" + "f" * 56

app = typer.Typer()
app.command()(plot)
runner = CliRunner()


# --- a synthetic run folder, exactly as docs/bench.md describes it --------------------------------


def _group(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    solved = sum(e["solved"] for e in episodes)
    return {
        "episodes": len(episodes),
        "solved": solved,
        "success_rate": round(solved / len(episodes), 3),
        "mean_return": round(sum(e["return"] for e in episodes) / len(episodes), 3),
    }


def _pass_at_k(episodes: list[dict[str, Any]], n: int, k: int) -> float:
    solved_by_task: dict[str, int] = defaultdict(int)
    for e in episodes:
        solved_by_task[e["task_id"]] += e["solved"]
    scores = [1 - math.comb(n - c, k) / math.comb(n, k) for c in solved_by_task.values()]
    return round(sum(scores) / len(scores), 3)


def make_run(
    root: Path,
    name: str,
    *,
    skill: float,
    tasks: int = 18,
    seeds: int = 3,
    task_hash: str = HASH_A,
    categories: tuple[str, ...] = CATEGORIES,
) -> Path:
    """A finished run of a fictional agent: deterministic numbers that depend on name and skill."""
    folder = root / name
    folder.mkdir(parents=True)
    task_ids = [f"shop/task-{i:02d}" for i in range(tasks)]
    episodes = []
    for i, task_id in enumerate(task_ids):
        category, difficulty = categories[i % len(categories)], DIFFICULTIES[i % 3]
        for seed in range(seeds):
            rng = random.Random(f"{name}/{task_id}/{seed}")
            solved = rng.random() < skill * (1.0 - 0.25 * DIFFICULTIES.index(difficulty))
            steps = rng.randint(1, 3) if solved else 5
            rewards = [round(rng.uniform(-0.08, 0.04), 3) for _ in range(steps - 1)]
            rewards.append(round(rng.uniform(0.45, 0.7), 3) if solved else -0.1)
            episodes.append(
                {
                    "agent": name,
                    "task_id": task_id,
                    "seed": seed,
                    "category": category,
                    "difficulty": difficulty,
                    "dataset": "shop",
                    "split": "train" if i % 4 else "test",
                    "solved": solved,
                    "steps": steps,
                    "return": round(sum(rewards), 3),
                    "discounted_return": round(sum(r * 0.99**t for t, r in enumerate(rewards)), 3),
                    "error": None,
                    "duration_s": 0.01,
                    "usage": {},
                    "trajectory": [
                        {
                            "step": t + 1,
                            "action": {"type": "submit", "sql": "SELECT 1", "table": None},
                            "reward": r,
                            "reward_breakdown": {"total": r},
                            "error_class": None,
                            "result_rows": 1,
                            "solved": solved and t == steps - 1,
                            "done": t == steps - 1,
                            "agent_s": 0.0001,
                            "env_s": 0.0002,
                        }
                        for t, r in enumerate(rewards)
                    ],
                }
            )
    manifest = {
        "format": 1,
        "run": name,
        "sqldebug_version": "0.1.0",
        "task_set": {"hash": task_hash, "root": "/tasks", "tasks": tasks},
        "agent": {"name": name, "options": {}},
        "task_ids": task_ids,
        "seeds": list(range(seeds)),
        "filters": {"split": None, "category": None, "difficulty": None, "dataset": None},
        "env": {"k": 4, "pool_size": 16, "weights": {"correct": 0.6}},
        "gamma": 0.99,
        "machine": {"platform": "Linux", "python": "3.11.7", "cpus": 2},
        "created": "2026-11-25T16:00:00+00:00",
    }
    by: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for e in episodes:
        for key in ("category", "difficulty", "dataset", "split"):
            by[key][e[key]].append(e)
    longest = max(e["steps"] for e in episodes)
    by_step = [
        [e["trajectory"][s]["reward"] for e in episodes if e["steps"] > s] for s in range(longest)
    ]
    solved = [e for e in episodes if e["solved"]]
    summary = {
        "run": name,
        "agent": name,
        "task_set_hash": task_hash,
        **_group(episodes),
        "errors": 0,
        "mean_discounted_return": round(
            sum(e["discounted_return"] for e in episodes) / len(episodes), 3
        ),
        "gamma": 0.99,
        "mean_steps_to_solve": round(sum(e["steps"] for e in solved) / len(solved), 2)
        if solved
        else None,
        "pass_at_k": {str(k): _pass_at_k(episodes, seeds, k) for k in (1, seeds)},
        "mean_reward_by_step": [round(sum(r) / len(r), 4) for r in by_step],
        **{
            f"by_{key}": {g: _group(es) for g, es in sorted(by[key].items())}
            for key in ("category", "difficulty", "dataset", "split")
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (folder / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return folder


def assert_png(path: Path) -> Any:
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5_000
    pixels = imread(path)
    assert pixels.shape[:2] == (700, 1200) and pixels.shape[2] in (3, 4)
    return pixels


def colour_pixels(pixels: Any, colour: str) -> int:
    import numpy as np

    rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(pixels[:, :, :3] - rgb).max(axis=2) < 0.01).sum())


# --- the charts ---------------------------------------------------------------------------------


def test_one_run_writes_every_chart(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "baseline", skill=0.45)
    files = plots.plot_runs([run], tmp_path / "out")
    assert [f.name for f in files] == list(plots.CHARTS)
    assert all(f.parent == tmp_path / "out" for f in files)
    for f in files:
        assert_png(f)


def test_two_runs_keep_their_colours_in_every_chart(tmp_path: Path) -> None:
    a = make_run(tmp_path, "baseline", skill=0.35)
    b = make_run(tmp_path, "trained", skill=0.85)
    files = plots.plot_runs([a, b], tmp_path / "out" / "nested")
    first, second = plots.colours(2)
    assert first != second
    for f in files:
        pixels = assert_png(f)
        baseline, trained = colour_pixels(pixels, first), colour_pixels(pixels, second)
        assert baseline > 100 and trained > 100, f.name
        if f.name in ("leaderboard.png", "success-by-category.png", "success-by-difficulty.png"):
            # trained solves more, so its bars cover more: its colour stayed with it
            assert trained > 1.5 * baseline, f.name


def test_many_categories_and_runs(tmp_path: Path) -> None:
    from sqldebug.spec import CATEGORIES as ALL

    runs = [
        make_run(tmp_path, f"agent-{i}", skill=0.1 * i, categories=ALL, tasks=36)
        for i in range(1, 10)
    ]
    for f in plots.plot_runs(runs, tmp_path / "out"):
        assert_png(f)
    assert len(set(plots.colours(9))) == 9


def test_load_run_reads_the_three_files(tmp_path: Path) -> None:
    run = plots.load_run(make_run(tmp_path, "baseline", skill=0.5, tasks=6, seeds=2))
    assert run.name == "baseline" and run.short_hash == "a1b2c3d4"
    assert len(run.episodes) == 12 and run.summary["episodes"] == 12
    assert set(run.summary["by_difficulty"]) == set(DIFFICULTIES)


# --- the command --------------------------------------------------------------------------------


def test_cli_json_lists_the_files(tmp_path: Path) -> None:
    a = make_run(tmp_path, "baseline", skill=0.3)
    b = make_run(tmp_path, "trained", skill=0.8)
    out = tmp_path / "charts"
    result = runner.invoke(app, [str(a), str(b), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    files = [Path(f) for f in json.loads(result.stdout)["files"]]
    assert sorted(f.name for f in files) == sorted(plots.CHARTS)
    for f in files:
        assert f.parent == out
        assert_png(f)


def test_cli_for_people_prints_one_path_a_line(tmp_path: Path) -> None:
    run = make_run(tmp_path, "baseline", skill=0.5)
    result = runner.invoke(app, [str(run), "-o", str(tmp_path / "charts")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == [str(tmp_path / "charts" / name) for name in plots.CHARTS]
    assert "wrote 5 charts" in result.stderr


def test_cli_needs_a_run_and_an_out(tmp_path: Path) -> None:
    assert runner.invoke(app, ["--out", str(tmp_path)]).exit_code == ExitCode.USAGE
    run = make_run(tmp_path, "baseline", skill=0.5)
    assert runner.invoke(app, [str(run)]).exit_code == ExitCode.USAGE


def invoke_error(*args: str | Path, code: ExitCode = ExitCode.FAILURE) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    return " ".join(result.stderr.split())  # rich may wrap long paths


def test_missing_folder(tmp_path: Path) -> None:
    message = invoke_error(tmp_path / "nope", "--out", tmp_path / "out", code=ExitCode.USAGE)
    assert "nope: no such run folder" in message
    assert not (tmp_path / "out").exists()


def test_a_file_is_not_a_run_folder(tmp_path: Path) -> None:
    run = make_run(tmp_path, "baseline", skill=0.5)
    message = invoke_error(run / "summary.json", "--out", tmp_path / "out", code=ExitCode.USAGE)
    assert "not a folder" in message


def test_folder_without_manifest(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    message = invoke_error(tmp_path / "empty", "--out", tmp_path / "out")
    assert "empty: no manifest.json" in message and "sqldebug bench" in message


def test_run_without_summary_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path, "baseline", skill=0.5)
    (run / "summary.json").unlink()
    message = invoke_error(run, "--out", tmp_path / "out")
    assert "no summary.json" in message and "did the run finish" in message


def test_corrupt_summary(tmp_path: Path) -> None:
    run = make_run(tmp_path, "baseline", skill=0.5)
    (run / "summary.json").write_text('{\n  "run": "baseline",\n  "success_rate": 0.5,\n')
    message = invoke_error(run, "--out", tmp_path / "out")
    assert "summary.json:4: not valid JSON" in message


def test_summary_without_a_needed_figure(tmp_path: Path) -> None:
    run = make_run(tmp_path, "baseline", skill=0.5)
    summary = json.loads((run / "summary.json").read_text())
    del summary["by_category"]
    (run / "summary.json").write_text(json.dumps(summary))
    message = invoke_error(run, "--out", tmp_path / "out")
    assert "summary.json: 'by_category' is missing" in message


def test_corrupt_episode_line_is_named(tmp_path: Path) -> None:
    run = make_run(tmp_path, "baseline", skill=0.5)
    lines = (run / "episodes.jsonl").read_text().splitlines()
    lines[6] = lines[6][:40]
    (run / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(plots.RunFolderError, match=r"episodes\.jsonl:7: not valid JSON"):
        plots.load_run(run)


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path, "baseline", skill=0.5)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["format"] = 2
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(plots.RunFolderError, match="run format 2; this sqldebug reads format 1"):
        plots.load_run(run)


def test_mixed_task_sets_are_refused_unless_allowed(tmp_path: Path) -> None:
    a = make_run(tmp_path, "baseline", skill=0.3, task_hash=HASH_A)
    b = make_run(tmp_path, "trained", skill=0.8, task_hash=HASH_B)
    message = invoke_error(a, b, "--out", tmp_path / "out")
    assert "different task sets" in message
    assert "baseline a1b2c3d4" in message and "trained e5f6a7b8" in message
    assert "--allow-mixed-tasks" in message
    assert not (tmp_path / "out").exists()

    result = runner.invoke(
        app, [str(a), str(b), "--out", str(tmp_path / "out"), "--allow-mixed-tasks", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["files"]) == len(plots.CHARTS)


def test_check_comparable_accepts_one_task_set(tmp_path: Path) -> None:
    runs = [plots.load_run(make_run(tmp_path, n, skill=0.5)) for n in ("a", "b", "c")]
    plots.check_comparable(runs)
    other = plots.load_run(make_run(tmp_path, "d", skill=0.5, task_hash=HASH_B))
    with pytest.raises(plots.MixedTaskSetsError):
        plots.check_comparable([*runs, other])
    plots.check_comparable([*runs, other], allow_mixed=True)


# --- matplotlib is loaded only to draw ----------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("sqldebug.plots", ("matplotlib", "numpy", "typer", "rich")),
        ("sqldebug.cli.plot", ("matplotlib", "numpy")),
    ],
)
def test_import_loads_no_drawing_library(module: str, absent: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print([m for m in {absent!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
