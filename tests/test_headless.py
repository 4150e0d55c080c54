"""The engine is importable without any interface library: proven in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

INTERFACE = ("typer", "rich", "textual", "fastapi", "uvicorn", "matplotlib")
ENGINE = (
    "sqldebug",
    "sqldebug.spec",
    "sqldebug.catalog",
    "sqldebug.database",
    "sqldebug.variants",
    "sqldebug.grading",
    "sqldebug.review",
    "sqldebug.reward",
    "sqldebug.env",
    "sqldebug.validate",
    "sqldebug.episodes",
)


@pytest.mark.parametrize("module", ENGINE)
def test_engine_module_loads_no_interface_library(module: str) -> None:
    code = (
        f"import sys, json, {module}\n"
        f"print(json.dumps([m for m in {list(INTERFACE)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_an_episode_runs_without_interface_libraries() -> None:
    code = (
        "import sys, json, sqldebug\n"
        "env = sqldebug.make('shop/top-products-ties')\n"
        "obs, _ = env.reset(seed=0)\n"
        "obs, *_ = env.step(env.task.solution)\n"
        "assert obs.solved\n"
        f"print(json.dumps([m for m in {list(INTERFACE)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
