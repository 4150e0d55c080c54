"""``sqldebug bench``: agents over the bundled tasks, run folders, resume, CI outputs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sqldebug.bench import BenchSpec, RunFolderError, read_episodes, run_bench
from sqldebug.cli import app
from sqldebug.cli.exit_codes import ExitCode
from tests.conftest import BUNDLED, ENGINE_TASKS

#: every small task and 3 per warehouse: what the tests that are not about every task play (a
#: warehouse episode costs 10-100x a small one's)
SAMPLED = [t.id for t in ENGINE_TASKS]

runner = CliRunner()


def _stable(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "run"}


def test_oracle_solves_everything_and_noop_nothing(tmp_path: Path) -> None:
    oracle = run_bench(BenchSpec(agent="oracle", seeds=[0, 1]), tmp_path / "oracle")
    noop = run_bench(BenchSpec(agent="noop", seeds=[0, 1], task_ids=SAMPLED), tmp_path / "noop")
    assert oracle["episodes"] == 2 * len(BUNDLED) and noop["episodes"] == 2 * len(SAMPLED)
    assert oracle["success_rate"] == 1.0 and oracle["mean_steps_to_solve"] == 1.0
    assert noop["success_rate"] == 0.0 and noop["mean_return"] < 0
    assert oracle["pass_at_k"] == {"1": 1.0, "2": 1.0}
    assert set(oracle["by_category"]) == {t.category for t in BUNDLED}
    assert oracle["errors"] == noop["errors"] == 0


def test_the_run_folder_has_manifest_episodes_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_bench(BenchSpec(agent="oracle", seeds=[3], filters={"dataset": "hr"}), out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["agent"] == {"name": "oracle", "options": {}}
    assert manifest["seeds"] == [3] and all(t.startswith("hr/") for t in manifest["task_ids"])
    assert len(manifest["task_set"]["hash"]) == 64 and manifest["machine"]["cpus"]
    episodes = read_episodes(out / "episodes.jsonl")
    assert len(episodes) == len(manifest["task_ids"])
    step = episodes[0]["trajectory"][0]
    assert {"action", "reward", "reward_breakdown", "error_class", "agent_s", "env_s"} <= set(step)
    assert step["reward_breakdown"]["total"] == step["reward"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task_set_hash"] == manifest["task_set"]["hash"]


def test_runs_are_deterministic_and_workers_do_not_change_results(tmp_path: Path) -> None:
    spec = BenchSpec(agent="noop", seeds=[0, 1], task_ids=SAMPLED)
    one = run_bench(spec, tmp_path / "a")
    again = run_bench(spec, tmp_path / "b")
    two = run_bench(
        BenchSpec(agent="noop", seeds=[0, 1], workers=2, task_ids=SAMPLED), tmp_path / "c"
    )
    assert _stable(one) == _stable(again) == _stable(two)


def test_an_interrupted_run_resumes_to_the_same_summary(tmp_path: Path) -> None:
    spec = BenchSpec(agent="noop", seeds=[0, 1, 2], task_ids=SAMPLED)
    whole = run_bench(spec, tmp_path / "whole")

    class Stop(Exception):
        pass

    def stop_after_ten(_: dict[str, Any], done: int, total: int) -> None:
        if done == 10:
            raise Stop

    out = tmp_path / "cut"
    with pytest.raises(Stop):
        run_bench(spec, out, on_episode=stop_after_ten)
    assert len(read_episodes(out / "episodes.jsonl")) == 10
    with (out / "episodes.jsonl").open("a") as f:
        f.write('{"task_id": "half-writ')  # a line cut short by the crash
    played: list[str] = []
    resumed = run_bench(spec, out, on_episode=lambda e, d, t: played.append(e["task_id"]))
    assert len(played) == whole["episodes"] - 10  # finished episodes are not played again
    assert _stable(resumed) == _stable(whole)


def test_resuming_with_other_settings_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_bench(BenchSpec(agent="noop", seeds=[0], filters={"dataset": "hr"}), out)
    with pytest.raises(RunFolderError, match="different agent"):
        run_bench(BenchSpec(agent="oracle", seeds=[0], filters={"dataset": "hr"}), out)
    (out / "manifest.json").write_text("{broken")
    with pytest.raises(RunFolderError, match="cannot be read"):
        run_bench(BenchSpec(agent="noop", seeds=[0]), out)


def test_replay_plays_back_a_run_bench_wrote(tmp_path: Path) -> None:
    run_bench(BenchSpec(agent="oracle", seeds=[0, 1], task_ids=SAMPLED), tmp_path / "oracle")
    replayed = run_bench(
        BenchSpec(
            agent="replay",
            agent_options={"file": str(tmp_path / "oracle" / "episodes.jsonl")},
            seeds=[0, 1],
            task_ids=SAMPLED,
        ),
        tmp_path / "replay",
    )
    assert replayed["success_rate"] == 1.0


def test_an_agent_that_fails_loses_its_episode_not_the_run(tmp_path: Path) -> None:
    task = BUNDLED[0]
    actions = tmp_path / "actions.jsonl"
    actions.write_text(json.dumps({"task_id": task.id, "action": "SELECT 1"}) + "\n")
    summary = run_bench(
        BenchSpec(
            agent="replay", agent_options={"file": str(actions)}, task_ids=[task.id, BUNDLED[1].id]
        ),
        tmp_path / "run",
    )
    episodes = {e["task_id"]: e for e in read_episodes(tmp_path / "run" / "episodes.jsonl")}
    assert summary["episodes"] == 2 and summary["errors"] == 2
    assert (
        episodes[task.id]["steps"] == 1 and "no recorded action left" in episodes[task.id]["error"]
    )
    assert episodes[BUNDLED[1].id]["steps"] == 0


def test_cli_bench_json_min_success_and_junit(tmp_path: Path) -> None:
    out, report = tmp_path / "run", tmp_path / "junit.xml"
    result = runner.invoke(
        app,
        [
            "bench",
            "--agent",
            "noop",
            "--dataset",
            "hr",
            "--seeds",
            "2",
            "--out",
            str(out),
            "--junit",
            str(report),
            "--json",
            "--min-success",
            "0.25",
        ],
    )
    assert result.exit_code == ExitCode.FAILURE
    assert "below --min-success 25.0% by 25.0 points" in result.stderr
    assert json.loads(result.stdout)["success_rate"] == 0.0
    suite = ET.parse(report).getroot()
    hr = sum(t.dataset == "hr" for t in BUNDLED)
    assert suite.get("tests") == str(2 * hr) == suite.get("failures")
    assert len(suite.findall("testcase/failure")) == 2 * hr
    ok = runner.invoke(
        app, ["bench", "--agent", "oracle", "--dataset", "shop", "--min-success", "1"]
    )
    assert ok.exit_code == 0 and "100.0%" in ok.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agent", "gpt-17"], "unknown agent 'gpt-17'"),
        (["--agent", "noop", "--model", "x"], "--model is for the openai agent"),
        (["--agent", "noop", "-o", "novalue"], "KEY=VALUE"),
        (["--agent", "noop", "--seeds", "x"], "give a count"),
        (["--agent", "noop", "-o", "colour=blue"], "agent 'noop'"),
        (["--agent", "noop", "--dataset", "nowhere"], "no tasks match"),
        (["--agent", "replay", "--replay", "/no/such/file.jsonl"], "cannot read replay file"),
    ],
)
def test_cli_bench_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["bench", *args])
    assert result.exit_code != 0
    assert message in result.stderr and "Traceback" not in result.stderr
