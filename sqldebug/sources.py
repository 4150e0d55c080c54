"""Where an environment's tasks come from.

An environment plays the task its :class:`TaskSource` gives for each reset's seed. Two kinds
exist: :class:`TaskList`, a fixed set of tasks (the catalog's, or a filtered part of it), and a
task generator (:class:`sqldebug.generation.generator.Generator`, for ``generated:...``
references), which makes a task per seed. Turning a reference (a task id or a ``generated:...``
string) into a source is :func:`sqldebug.api.resolve`'s job: the engine itself never imports the
generator, so the environment is built complete, with nothing patched in afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqldebug.errors import SQLDebugError
from sqldebug.spec import Task


class TaskSource(Protocol):
    """The tasks an environment plays: one per seed."""

    #: the reference that names this source again (``generated:shop``), None for a task list
    @property
    def reference(self) -> str | None: ...

    def task_for(self, seed: int) -> Task:
        """The task an episode with ``seed`` plays (the same seed, the same task)."""
        ...


#: Turns a task reference from a reset's ``task_id`` option into a source.
Resolver = Callable[[str], TaskSource]


@dataclass(frozen=True)
class TaskList:
    """A fixed set of tasks: a reset plays the only one, or one drawn by the seed."""

    tasks: tuple[Task, ...]

    def __post_init__(self) -> None:
        if not self.tasks:
            raise SQLDebugError("no tasks match; see `sqldebug tasks list`")

    @property
    def reference(self) -> str | None:
        return None

    def task_for(self, seed: int) -> Task:
        if len(self.tasks) == 1:
            return self.tasks[0]
        return random.Random(seed).choice(self.tasks)


def task_list(tasks: Sequence[Task] | TaskSource) -> TaskSource:
    """A source as given, or a task list of the tasks given."""
    return TaskList(tuple(tasks)) if isinstance(tasks, Sequence) else tasks
