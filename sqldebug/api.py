"""The entry point: :func:`make`, and :func:`resolve`, which turns a task reference into the task
source an environment plays.

This module sits above both the engine (:mod:`sqldebug.env`, :mod:`sqldebug.runtime`) and the
task generator (:mod:`sqldebug.generation`), which needs the engine to validate what it makes:
putting the choice between them here keeps the engine free of the generator, with no import loop,
lazy or not.
"""

from __future__ import annotations

from typing import Any

from sqldebug.env import EnvConfig, SQLDebugEnv, is_generated
from sqldebug.runtime import Runtime, get_runtime
from sqldebug.sources import Resolver, TaskList, TaskSource

#: How many generators (one per distinct ``generated:...`` reference) a runtime keeps.
GENERATORS = 32


def resolve(runtime: Runtime, reference: str) -> TaskSource:
    """The source a task reference names: a catalog task id, or a generated-task reference
    (``generated:shop?category=window``; one generator per reference and runtime, at most
    :data:`GENERATORS` kept). A bad reference raises here, before any episode."""
    if is_generated(reference):
        # imported on first use, not for loading: it pulls in sqlglot (~0.1 s), which catalog tasks
        # never need (this is no loop: nothing under sqldebug.generation imports this module)
        from sqldebug.generation.generator import Generator

        return runtime.bounded(
            "generator", reference, lambda: Generator.from_spec(runtime, reference), most=GENERATORS
        )
    return TaskList((runtime.catalog.get(reference),))


def resolver(runtime: Runtime) -> Resolver:
    """:func:`resolve` bound to a runtime: what an environment takes as ``resolve``."""
    return lambda reference: resolve(runtime, reference)


def make(
    task_id: str | None = None,
    *,
    tasks: str | None = None,
    split: str | None = None,
    category: str | None = None,
    difficulty: str | None = None,
    dataset: str | None = None,
    **config: Any,
) -> SQLDebugEnv:
    """An environment for one task, or for every task matching the filters (drawn by seed).

    ``task_id`` may also be a generated-task reference (``"generated:shop"``,
    ``"generated:shop?category=window&difficulty=hard"``, ``"generated"`` for every dataset):
    each ``reset(seed=...)`` then plays the task the generator makes for that seed.

    ``tasks`` is a task folder (default: ``$SQLDEBUG_TASKS`` or the bundled set); ``config`` holds
    :class:`EnvConfig` fields (``k``, ``pool_size``, ``weights``, ``limits``, ``review``, ...).
    """
    cfg = EnvConfig.build(**config)
    runtime = get_runtime(tasks, pool_size=cfg.pool_size, limits=cfg.limits)
    source: TaskSource
    if task_id is not None:
        source = resolve(runtime, task_id)
    else:
        source = TaskList(
            tuple(
                runtime.catalog.filter(
                    split=split, category=category, difficulty=difficulty, dataset=dataset
                )
            )
        )
    return SQLDebugEnv(runtime, source, cfg, resolve=resolver(runtime))
