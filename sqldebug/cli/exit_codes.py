"""Exit codes are a contract with scripts: one IntEnum, one function that maps errors to codes."""

from __future__ import annotations

from enum import IntEnum

from sqldebug.errors import (
    ActionError,
    EpisodeError,
    NotARunFolderError,
    OptionError,
    TaskFileError,
    TaskSetError,
    UnknownTaskError,
)


class ExitCode(IntEnum):
    """What ``sqldebug`` returns; the README lists these."""

    OK = 0  #: the command did what was asked
    FAILURE = 1  #: the command ran and found a problem (e.g. a task that breaks an invariant)
    USAGE = 2  #: bad flags or arguments
    TASKS = 3  #: a task file is malformed or a task id is unknown
    EPISODE = 4  #: the action is not possible now (no session, episode over, bad action)
    SOLVED = 10  #: ``step``: the step solved the episode
    OUT_OF_STEPS = 11  #: ``step``: the step was the last one and the episode is not solved
    INTERRUPT = 130  #: interrupted (Ctrl-C)


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for an error that reached the command line."""
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPT
    if isinstance(exc, TaskFileError | TaskSetError | UnknownTaskError):
        return ExitCode.TASKS
    if isinstance(exc, EpisodeError | ActionError):
        return ExitCode.EPISODE
    if isinstance(exc, OptionError | NotARunFolderError):  # a run folder is an argument too
        return ExitCode.USAGE
    return ExitCode.FAILURE
