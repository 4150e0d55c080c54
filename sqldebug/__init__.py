"""sqldebug: execution-grounded SQL debugging episodes on sandboxed SQLite.

    >>> import sqldebug
    >>> env = sqldebug.make("shop/top-products-ties")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step("SELECT ...")

Importing this package loads no interface library (typer, rich, textual, fastapi, uvicorn,
matplotlib): the engine is usable headless, and a test proves it. Public names load lazily.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first use
    from sqldebug.actions import parse_action
    from sqldebug.api import make
    from sqldebug.catalog import Catalog, load_catalog, load_tasks
    from sqldebug.env import EnvConfig, SQLDebugEnv
    from sqldebug.errors import (
        ActionError,
        EpisodeError,
        SQLDebugError,
        TaskFileError,
        TaskSetError,
        UnknownTaskError,
    )
    from sqldebug.models import (
        Action,
        EpisodeState,
        Finding,
        HistoryEntry,
        Observation,
        ResultTable,
        RewardBreakdown,
        SQLError,
    )
    from sqldebug.reward import RewardWeights
    from sqldebug.sandbox import Limits
    from sqldebug.spec import CATEGORIES, Dataset, Task

#: Where each public name lives. ``import sqldebug`` loads none of them, so the command line
#: starts fast; ``sqldebug.make`` (say) imports the engine the first time it is used.
_EXPORTS = {
    "Action": "sqldebug.models",
    "ActionError": "sqldebug.errors",
    "CATEGORIES": "sqldebug.spec",
    "Catalog": "sqldebug.catalog",
    "Dataset": "sqldebug.spec",
    "EnvConfig": "sqldebug.env",
    "EpisodeError": "sqldebug.errors",
    "EpisodeState": "sqldebug.models",
    "Finding": "sqldebug.models",
    "HistoryEntry": "sqldebug.models",
    "Limits": "sqldebug.sandbox",
    "Observation": "sqldebug.models",
    "ResultTable": "sqldebug.models",
    "RewardBreakdown": "sqldebug.models",
    "RewardWeights": "sqldebug.reward",
    "SQLDebugEnv": "sqldebug.env",
    "SQLDebugError": "sqldebug.errors",
    "SQLError": "sqldebug.models",
    "Task": "sqldebug.spec",
    "TaskFileError": "sqldebug.errors",
    "TaskSetError": "sqldebug.errors",
    "UnknownTaskError": "sqldebug.errors",
    "load_catalog": "sqldebug.catalog",
    "load_tasks": "sqldebug.catalog",
    "make": "sqldebug.api",
    "parse_action": "sqldebug.actions",
}


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'sqldebug' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value  # next time, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

__all__ = [
    "CATEGORIES",
    "Action",
    "ActionError",
    "Catalog",
    "Dataset",
    "EnvConfig",
    "EpisodeError",
    "EpisodeState",
    "Finding",
    "HistoryEntry",
    "Limits",
    "Observation",
    "ResultTable",
    "RewardBreakdown",
    "RewardWeights",
    "SQLDebugEnv",
    "SQLDebugError",
    "SQLError",
    "Task",
    "TaskFileError",
    "TaskSetError",
    "UnknownTaskError",
    "__version__",
    "load_catalog",
    "load_tasks",
    "make",
    "parse_action",
]
