"""The engine is importable without any interface library: proven in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import sqldebug

INTERFACE = ("typer", "rich", "textual", "fastapi", "uvicorn", "matplotlib")
FACES = ("cli", "tui", "server", "__main__")
PACKAGE = Path(sqldebug.__file__).parent
#: engine modules whose own dependency loads an interface library (not an import of ours, which
#: lint-imports forbids): left out of this check, and named here with the reason
PULLED_IN = {"sqldebug.agents.openai_chat": "httpx, its HTTP client, imports rich itself"}


def contract() -> dict[str, Any]:
    """The import-linter contract in pyproject.toml: the one list of the engine's modules."""
    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    (found,) = config["tool"]["importlinter"]["contracts"]
    return found  # type: ignore[no-any-return]


def engine_modules() -> list[str]:
    """Every module under the contract's source modules (a package covers its modules)."""
    names = []
    for source in contract()["source_modules"]:
        path = PACKAGE / source.removeprefix("sqldebug.").replace(".", "/")
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        for file in files:
            parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_contract_covers_every_module_that_is_not_a_face() -> None:
    top = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    engine = {s.removeprefix("sqldebug.") for s in contract()["source_modules"]}
    assert engine == top - set(FACES), "add the new module to pyproject's import-linter contract"
    forbidden = set(contract()["forbidden_modules"])
    assert set(INTERFACE) | {f"sqldebug.{face}" for face in FACES} <= forbidden


def test_engine_modules_load_no_interface_library() -> None:
    # one fresh interpreter imports them in turn: the first that loads an interface library is
    # named (a later one could only load what is already loaded, and the first would fail first)
    code = (
        "import importlib, json, sys\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        f"    loaded = [m for m in {list(INTERFACE)!r} if m in sys.modules]\n"
        "    if loaded:\n"
        "        print(json.dumps([name, loaded]))\n"
        "        break\n"
        "else:\n"
        "    print(json.dumps(None))\n"
    )
    assert set(PULLED_IN) <= set(engine_modules())  # an exemption cannot outlive its module
    modules = ["sqldebug", *(m for m in engine_modules() if m not in PULLED_IN)]
    assert len(modules) > 40 and "sqldebug.agents.search" in modules
    argv = [sys.executable, "-c", code, json.dumps(modules)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) is None


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
