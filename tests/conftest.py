"""Shared fixtures: an isolated user directory, a fixed console width, the bundled catalog."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqldebug
import sqldebug.catalog
from sqldebug.runtime import Runtime, get_runtime

BUNDLED = sqldebug.load_tasks()
_CATALOG = sqldebug.load_catalog()
#: per-task engine tests run on every task of the small datasets and on the first
#: WAREHOUSE_SAMPLE tasks (by id) of each warehouse dataset (one with generated rows): a warehouse
#: task's episode costs 10-100x a small one's, and `tasks validate` over every bundled task
#: (tests/test_cli_tasks.py) checks all of them
WAREHOUSE_SAMPLE = 3
_WAREHOUSES = {d for d, ds in _CATALOG.datasets.items() if ds.generate is not None}
ENGINE_TASKS = [t for t in BUNDLED if t.dataset not in _WAREHOUSES] + [
    t
    for d in sorted(_WAREHOUSES)
    for t in sorted((t for t in BUNDLED if t.dataset == d), key=lambda t: t.id)[:WAREHOUSE_SAMPLE]
]
QUERY_TASKS = [t for t in ENGINE_TASKS if t.kind == "query"]


def copy_small_tasks(dest: Path) -> Path:
    """A copy of the bundled task folder without the warehouse datasets and their tasks: for
    tests that validate a whole folder (a warehouse's validation costs minutes, and
    tests/test_cli_tasks.py validates the bundled set as it is)."""
    root = sqldebug.catalog.bundled_tasks_dir()
    drop = {_CATALOG.sources[f"dataset:{d}"].resolve() for d in _WAREHOUSES}
    drop |= {_CATALOG.sources[t.id].resolve() for t in BUNDLED if t.dataset in _WAREHOUSES}
    shutil.copytree(
        root,
        dest,
        ignore=lambda folder, names: [n for n in names if (Path(folder) / n).resolve() in drop],
    )
    return dest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SQLDEBUG_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SQLDEBUG_TASKS", raising=False)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    yield


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    return get_runtime()
