"""The engine's errors: one base class, a short flat hierarchy, each a clear one-line message."""

from __future__ import annotations

from pathlib import Path


class SQLDebugError(Exception):
    """Base class of every error sqldebug raises on purpose."""


class TaskFileError(SQLDebugError):
    """A task or dataset file is malformed; names the file, the field and the line."""

    def __init__(
        self, path: Path | str, message: str, *, field: str | None = None, line: int | None = None
    ) -> None:
        self.path = Path(path)
        self.field = field
        self.line = line
        self.reason = message
        where = str(self.path) + (f":{line}" if line else "")
        what = f"{field}: " if field else ""
        super().__init__(f"{where}: {what}{message}")


class TaskSetError(SQLDebugError):
    """Several task files are malformed; carries every error, so none is lost."""

    def __init__(self, errors: list[TaskFileError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"{len(errors)} problem(s) in the task files:\n{lines}")


class UnknownTaskError(SQLDebugError, KeyError):
    """No task has this id."""

    def __init__(self, task_id: str, suggestions: list[str] | None = None) -> None:
        self.task_id = task_id
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown task {task_id!r}.{hint} See `sqldebug tasks list` for the available ids."
        )

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0])


class EpisodeError(SQLDebugError):
    """An action is not possible in the episode's current state (e.g. it is already done)."""


class NoSessionError(EpisodeError):
    """There is no saved episode under this session name."""

    def __init__(self, name: str, default: str = "default") -> None:
        flag = f" --session {name}" if name != default else ""
        super().__init__(
            f"no episode in session {name!r}; start one with `sqldebug reset --task ID{flag}` "
            "(see `sqldebug tasks list`)"
        )


class SessionFileError(EpisodeError):
    """A saved episode cannot be read back (corrupt, another version's, or its task changed)."""


class OptionError(SQLDebugError, ValueError):
    """An option or a configuration value is not acceptable (unknown, or of the wrong type)."""


class RunFolderError(SQLDebugError):
    """A bench run folder cannot be used: missing, unreadable, or made by a different plan."""


class NotARunFolderError(RunFolderError):
    """The path given as a run folder is none: missing, or a file (a usage error)."""


class MixedTaskSetsError(SQLDebugError):
    """Runs over different task sets were to be compared."""


class ActionError(SQLDebugError, ValueError):
    """An action could not be understood."""
