"""Shared fixtures: an isolated user directory, a fixed console width, the bundled catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import sqldebug
from sqldebug.runtime import Runtime, get_runtime

BUNDLED = sqldebug.load_tasks()
QUERY_TASKS = [t for t in BUNDLED if t.kind == "query"]


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
