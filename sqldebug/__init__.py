"""sqldebug: execution-grounded SQL debugging episodes on sandboxed SQLite.

    >>> import sqldebug
    >>> env = sqldebug.make("shop/revenue-per-region-fanout")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step("SELECT ...")

Importing this package loads no interface library (typer, rich, textual, fastapi, uvicorn,
matplotlib): the engine is usable headless, and a test proves it.
"""

from __future__ import annotations

from sqldebug.actions import parse_action
from sqldebug.catalog import Catalog, load_catalog, load_tasks
from sqldebug.database import Limits
from sqldebug.env import EnvConfig, SQLDebugEnv, make
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
from sqldebug.spec import CATEGORIES, Dataset, Task

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
