"""Which tasks this user has solved: a small JSON file under ``SQLDEBUG_HOME``.

Kept apart from the widgets (and free of textual) so that it is plain to test and to reuse. The
file is written to a temporary name and renamed, so a crash mid-write leaves the old file whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from sqldebug.episodes import home_dir

FILE_NAME = "solved.json"


def solved_path() -> Path:
    return home_dir() / FILE_NAME


def load_solved() -> set[str]:
    """The ids of solved tasks; an unreadable or malformed file counts as none solved."""
    try:
        data = json.loads(solved_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    ids = data.get("solved") if isinstance(data, dict) else None
    return {i for i in ids if isinstance(i, str)} if isinstance(ids, list) else set()


def mark_solved(task_id: str) -> set[str]:
    """Record ``task_id`` as solved and return the new set. An unwritable home is not fatal
    to the game: the mark is then kept for this run only (the caller holds the set)."""
    solved = load_solved() | {task_id}
    path = solved_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".solved.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"solved": sorted(solved)}, f, indent=2)
        os.replace(tmp, path)
    except OSError:
        pass
    return solved
