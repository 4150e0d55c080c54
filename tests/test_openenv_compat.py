"""The unmodified openenv-core client drives `sqldebug serve`, and `openenv validate` passes.

openenv-core pins heavy dependencies of its own, so it lives in a separate virtual environment
(`.venv-openenv` at the repository root, ignored by git): .ci/run creates it; this test creates it
too when it is missing, so `python -m pytest` runs the same check everywhere.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqldebug

ROOT = Path(__file__).resolve().parent.parent
OPENENV_VENV = Path(os.environ.get("SQLDEBUG_OPENENV_VENV", ROOT / ".venv-openenv"))
OPENENV_VERSION = "0.3.0"
TASK = "shop/top-products-ties"

pytestmark = pytest.mark.venv


def openenv_python() -> Path:
    python = OPENENV_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(OPENENV_VENV)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"openenv-core=={OPENENV_VERSION}"],
            check=True,
            timeout=900,
        )
    return python


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "sqldebug"
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("sqldebug serve did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


CLIENT = """
import json, sys
from openenv.core import GenericEnvClient

url, task, solution = sys.argv[1], sys.argv[2], sys.stdin.read()
out = {}
with GenericEnvClient(base_url=url).sync() as env:
    first = env.reset(task_id=task, seed=5)
    out["reset"] = [first.observation["task_id"], first.reward, first.done]
    wrong = env.step({"type": "submit", "sql": "SELECT 1"})
    out["wrong"] = [wrong.reward, wrong.done, wrong.observation["reward_breakdown"]["total"]]
    seed_style = env.step({"action_type": "submit_query", "query": solution})
    out["right"] = [seed_style.reward, seed_style.done, seed_style.observation["solved"]]
    out["metadata_seed"] = seed_style.observation["metadata"]["seed"]
    state = env.state()
    out["state"] = [state["step_count"], state["solved"], len(state["history"])]
    try:
        env.step({"type": "submit", "sql": "SELECT 2"})
    except RuntimeError as exc:
        out["after_done"] = str(exc)
print(json.dumps(out))
"""


def test_generic_env_client_plays_an_episode(server: str) -> None:
    solution = next(t.solution for t in sqldebug.load_tasks() if t.id == TASK)
    result = subprocess.run(
        [str(openenv_python()), "-c", CLIENT, server, TASK],
        input=solution,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["reset"] == [TASK, None, False]
    assert out["wrong"][1] is False and out["wrong"][0] == out["wrong"][2]
    assert out["right"][1] is True and out["right"][2] is True and out["right"][0] > 0
    assert out["metadata_seed"] == 5
    assert out["state"] == [2, True, 2]
    assert "EXECUTION_ERROR" in out["after_done"] and "reset" in out["after_done"]


def test_openenv_validate_passes(server: str) -> None:
    openenv = openenv_python().parent / "openenv"
    result = subprocess.run(
        [str(openenv), "validate", "--url", server], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] and report["summary"]["failed_criteria"] == []
