"""Local episodes: an episode kept on disk under ``SQLDEBUG_HOME`` between shell commands.

``sqldebug reset`` starts one and ``sqldebug step`` plays one action on it, each in a process of
its own. A saved episode is only what makes it reproducible: the task, the seed, the options and
the action log. Loading replays the log on a fresh environment (deterministic by the engine's
contract), so nothing derived can go stale, and the file stays small.

Concurrency and crashes: every change happens under an exclusive lock on the session's lock file
(two ``step`` calls on one session are serialised, and both are recorded), and a file is replaced
atomically (written beside it, flushed, then renamed over it), so a crash mid-write leaves the last
good state. A task whose file changed since the episode began is refused rather than replayed
into a different episode.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sqldebug.api import make
from sqldebug.catalog import tasks_dir
from sqldebug.env import SQLDebugEnv
from sqldebug.errors import EpisodeError, NoSessionError, SessionFileError, SQLDebugError
from sqldebug.models import Action, Observation

HOME_ENV = "SQLDEBUG_HOME"
DEFAULT_SESSION = "default"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # a session name, not SQL


def home_dir() -> Path:
    """``$SQLDEBUG_HOME``, else ``$XDG_STATE_HOME/sqldebug``, else ``~/.local/state/sqldebug``."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "sqldebug"


def check_name(name: str) -> str:
    """A session name is a file name: letters, digits, '.', '_', '-' (at most 64)."""
    if not _NAME.fullmatch(name):
        raise SQLDebugError(
            f"invalid session name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)"
        )
    return name


class SavedEpisode(BaseModel):
    """What a session file holds (format 1)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = 1
    session: str
    task_id: str
    seed: int
    tasks: str | None = Field(default=None, description="Task folder; None: the bundled tasks.")
    options: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    task_digest: str
    actions: list[Action] = Field(default_factory=list)
    created: str
    updated: str


def _task_digest(env: SQLDebugEnv) -> str:
    """A fingerprint of the task and its dataset, to notice an edit between two commands."""
    task = env.task
    dataset = env.runtime.catalog.datasets[task.dataset]
    text = task.model_dump_json() + dataset.model_dump_json(by_alias=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class EpisodeStore:
    """Saved episodes under one home folder: ``sessions/<name>.json`` and its ``.lock``."""

    def __init__(self, home: Path | None = None) -> None:
        self.root = (home or home_dir()) / "sessions"

    def path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}.json"

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold the session's exclusive lock (waits for another command holding it)."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{check_name(name)}.lock", "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def load(self, name: str) -> SavedEpisode:
        path = self.path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NoSessionError(name, DEFAULT_SESSION) from None
        try:
            return SavedEpisode.model_validate_json(text)
        except ValidationError as exc:
            raise SessionFileError(
                f"{path} is not a saved episode this version can read ({exc.errors()[0]['msg']}); "
                f"remove it with `sqldebug sessions rm {name}`"
            ) from None

    def save(self, saved: SavedEpisode) -> None:
        """Replace the session file atomically: a crash leaves the old file or the new one."""
        path = self.path(saved.session)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(saved.model_dump_json(indent=1))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def replay(self, saved: SavedEpisode) -> SQLDebugEnv:
        """A live environment in the saved episode's state: reset, then every saved action."""
        env = make(saved.task_id, tasks=saved.tasks, **saved.config)
        env.reset(seed=saved.seed, options=saved.options or None)
        if _task_digest(env) != saved.task_digest:
            raise SessionFileError(
                f"task {saved.task_id} changed since session {saved.session!r} began; "
                "start it again with `sqldebug reset`"
            )
        for action in saved.actions:
            env.step(action)
        return env

    def start(
        self,
        name: str,
        *,
        task_id: str | None,
        seed: int | None,
        tasks: str | os.PathLike[str] | None = None,
        filters: dict[str, str | None] | None = None,
        options: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> tuple[SQLDebugEnv, Observation, dict[str, Any]]:
        """Start (or restart) the episode of session ``name``; a task is drawn by seed when
        ``task_id`` is None, among the tasks matching ``filters``."""
        check_name(name)
        folder = str(tasks_dir(tasks)) if tasks is not None else None
        env = make(task_id, tasks=folder, **(filters or {}), **(config or {}))
        obs, info = env.reset(seed=seed, options=options or None)
        saved = SavedEpisode(
            session=name,
            task_id=env.source.reference or env.task.id,
            seed=env.seed,
            tasks=folder,
            options={k: v for k, v in (options or {}).items() if k != "task_id"},
            config=config or {},
            task_digest=_task_digest(env),
            created=_now(),
            updated=_now(),
        )
        with self.locked(name):
            self.save(saved)
        return env, obs, info

    def step(
        self, name: str, action: Action
    ) -> tuple[SQLDebugEnv, tuple[Observation, float, bool, bool, dict[str, Any]]]:
        """Play one action on the saved episode and record it, under the session's lock."""
        with self.locked(name):
            saved = self.load(name)
            env = self.replay(saved)
            if env.done:
                state = "solved" if env.solved else "out of steps"
                raise EpisodeError(
                    f"the episode in session {name!r} is over ({state}); "
                    "start another with `sqldebug reset`"
                )
            result = env.step(action)
            saved.actions.append(action)
            saved.updated = _now()
            self.save(saved)
        return env, result

    def open(self, name: str) -> SQLDebugEnv:
        """The saved episode, replayed (for reading its state)."""
        return self.replay(self.load(name))

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.json") if _NAME.fullmatch(p.stem))

    def remove(self, name: str) -> None:
        with self.locked(name):
            path = self.path(name)
            if not path.exists():
                raise NoSessionError(name, DEFAULT_SESSION)
            path.unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.root / f"{name}.lock").unlink()
