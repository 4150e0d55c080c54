"""End to end with TRL: GRPOTrainer trains a tiny model on the CPU with sqldebug's rewards.

TRL pulls in torch, transformers, accelerate and datasets, so the run lives in a separate virtual
environment (`.venv-trl` at the repository root, ignored by git; `SQLDEBUG_TRL_VENV` points
elsewhere), created here when missing: `torch==2.13.0` first (the CPU build where pip is set up
for it), then transformers, trl, datasets, tokenizers and this project. Creating it takes about
70 s on 2 cores; the run itself (tests/trl_smoke/run_grpo.py) about 20 s. Nothing is downloaded
at run time: the model is built from a config, the tokenizer trained on the task text.

What it proves, with the installed TRL's real trainer: the reward functions are called with
TRL's convention and their names become `rewards/<component>/mean`; the extra dataset columns
reach them; a solved completion earns the engine's reward and a completion without SQL the step
cost; training steps run (a loss and a gradient); and `environment_factory()` works as TRL uses
it: reset with the row, a `submit_sql` tool call parsed from the model's output and executed,
`get_reward` as the rollout's reward.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import sqldebug
from sqldebug.integrations.trl import COMPONENTS
from tests.server_support import Live, running

ROOT = Path(__file__).resolve().parent.parent
TRL_VENV = Path(os.environ.get("SQLDEBUG_TRL_VENV", ROOT / ".venv-trl"))
SCRIPT = ROOT / "tests" / "trl_smoke" / "run_grpo.py"
TORCH = "torch==2.13.0"  # installed first, so the CPU wheel is what the rest builds on
#: the `trl` extra's requirements (oldest tested: trl 1.8.0, transformers 5.2.0, datasets 4.7.0)
PACKAGES = ["trl>=1.8", "transformers>=5.2", "datasets>=4.7", "jmespath>=1.0", "tokenizers"]

pytestmark = [pytest.mark.slow, pytest.mark.venv]


def trl_python() -> Path:
    python = TRL_VENV / "bin" / "python"
    ready = TRL_VENV / ".sqldebug-ready"
    if not ready.exists():
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(TRL_VENV)], check=True, timeout=300)
        subprocess.run([*pip, TORCH], check=True, timeout=1200)
        subprocess.run([*pip, *PACKAGES, "-e", str(ROOT)], check=True, timeout=1200)
        torch = subprocess.run(
            [str(python), "-c", "import torch; print(torch.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert torch.startswith(TORCH.split("==")[1]), f"pip replaced torch: {torch}"
        ready.write_text(torch, encoding="utf-8")
    return python


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("trl-smoke")
    run = subprocess.run(
        [str(trl_python()), str(SCRIPT), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        # this checkout's sqldebug, whichever checkout the venv was made from
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TRL_EXPERIMENTAL_SILENCE": "1",
            "CUDA_VISIBLE_DEVICES": "",
        },
    )
    assert run.returncode == 0, run.stderr[-4000:]
    data: dict[str, Any] = json.loads((out / "result.json").read_text(encoding="utf-8"))
    return data


def engine_reward(task_id: str, seed: int, sql: str) -> float:
    env = sqldebug.make(task_id)
    env.reset(seed=seed)
    return env.step(sql)[1]


def test_grpo_trains_with_the_component_rewards(result: dict[str, Any]) -> None:
    metrics = result["single"]["metrics"]
    for name in COMPONENTS:
        assert f"rewards/{name}/mean" in metrics
    assert metrics["sqldebug/solved"] == 0.5 and metrics["sqldebug/no_sql"] == 0.5
    assert metrics["global_step" if "global_step" in metrics else "step"] == 2
    assert metrics["grad_norm"] > 0 and metrics["loss"] != 0
    # the weighted components are the total the spy reported
    assert metrics["reward"] == pytest.approx(metrics["rewards/spy_total/mean"], abs=1e-5)


def test_trl_calls_reward_functions_with_its_convention(result: dict[str, Any]) -> None:
    calls = result["single"]["calls"]
    assert len(calls) == 2  # two steps
    for call in calls:
        assert call["n"] == 2 and call["completion_ids"] == 2
        assert call["prompt_type"] == call["completion_type"] == "str"
        assert {"task_id", "seed", "split", "trainer_state", "log_metric", "log_extra"} <= set(
            call["columns"]
        )
        (task_id,) = set(call["task_ids"])  # a GRPO group: one row, repeated
        (seed,) = set(call["seeds"])
        solution = sqldebug.load_tasks(split=None, ids=[task_id])[0].solution.strip()
        assert call["rewards"] == [pytest.approx(engine_reward(task_id, seed, solution)), -0.01]


def test_environment_factory_runs_tools_and_owns_the_reward(result: dict[str, Any]) -> None:
    assert result["tools_exposed"] == ["inspect_sample", "probe_sql", "submit_sql"]
    metrics = result["tools"]["metrics"]
    assert metrics["tools/call_frequency"] > 0 and metrics["tools/failure_frequency"] == 0
    rewards = result["tools"]["rewards"]
    assert len(rewards) == 4  # two steps x two rollouts
    assert rewards[0] > 0.5 and rewards[2] > 0.5  # submitted the fix through the tool
    assert rewards[1] == rewards[3] == -0.01  # never submitted
    assert metrics["rewards/Env/mean"] == pytest.approx(sum(rewards[2:]) / 2, abs=1e-5)


# -- examples/grpo_train.py, as a user runs it (a local model folder instead of a Hub id) ---------


def run_example(result: dict[str, Any], out: Path, *args: str) -> str:
    command = [
        str(trl_python()),
        str(ROOT / "examples" / "grpo_train.py"),
        result["tiny_model"],
        "--cpu",
        "--max-steps=1",
        "--batch-size=2",
        "--num-generations=2",
        "--max-completion-length=8",
        "--seeds=1",
        f"--output-dir={out}",
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRL_EXPERIMENTAL_SILENCE": "1"}
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    assert (out / "model.safetensors").exists()
    return run.stdout + run.stderr


def test_example_single_turn_with_components(result: dict[str, Any], tmp_path: Path) -> None:
    log = run_example(result, tmp_path / "single", "--components")
    for name in COMPONENTS:
        assert f"rewards/{name}/mean" in log
    assert "sqldebug/no_sql" in log


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running(tmp_path_factory.mktemp("serve-grpo")) as live:
        yield live


def test_example_with_tools_against_a_server(
    result: dict[str, Any], server: Live, tmp_path: Path
) -> None:
    def resets() -> int:
        count: int = httpx.get(f"{server.url}/benchmark").json()["latency"]["reset"]["count"]
        return count

    before = resets()
    log = run_example(result, tmp_path / "tools", "--tools", f"--server={server.url}")
    assert "rewards/SQLDebugToolEnv/mean" in log and "tools/call_frequency" in log
    assert resets() >= before + 2  # each rollout's episode was started on the server
