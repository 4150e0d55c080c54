"""sqldebug for TRL's GRPO trainer: dataset rows, reward functions, a tool environment.

Single-turn (the model answers once; the reward functions grade the SQL in its answer)::

    from trl import GRPOConfig, GRPOTrainer
    from sqldebug.integrations.trl import make_dataset, reward_functions

    trainer = GRPOTrainer(
        model="Qwen/Qwen2.5-0.5B-Instruct",
        reward_funcs=reward_functions(),          # or reward_functions(components=True)
        train_dataset=make_dataset(seeds=4),      # prompt, task_id, seed, split
        args=GRPOConfig(output_dir="out"),
    )

Multi-turn (the model calls ``submit_sql``, ``probe_sql``, ``inspect_sample``; the episode's return
is the reward)::

    from sqldebug.integrations.trl import environment_factory, make_dataset

    trainer = GRPOTrainer(
        model=...,
        train_dataset=make_dataset(seeds=4, tools=True),
        environment_factory=environment_factory(),  # or environment_factory("http://127.0.0.1:8000")
        args=GRPOConfig(output_dir="out", max_tool_calling_iterations=6),
    )

Neither ``trl`` nor ``datasets`` is imported here; :func:`make_dataset` imports ``datasets`` when
called. Install both with ``pip install 'sqldebug[trl]'``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from sqldebug.env import is_generated
from sqldebug.errors import OptionError, SQLDebugError
from sqldebug.integrations.environment import (
    TOOL_INSTRUCTION,
    SQLDebugToolEnv,
    environment_factory,
)
from sqldebug.integrations.extract import completion_text, extract_sql
from sqldebug.integrations.rewards import (
    COMPONENTS,
    RewardInputError,
    RewardScorer,
    Scored,
    SQLDebugReward,
    reward_functions,
)

__all__ = [
    "COMPONENTS",
    "TOOL_INSTRUCTION",
    "TOOL_PROMPT",
    "MissingDependencyError",
    "RewardInputError",
    "RewardScorer",
    "SQLDebugReward",
    "SQLDebugToolEnv",
    "Scored",
    "completion_text",
    "dataset_rows",
    "environment_factory",
    "extract_sql",
    "make_dataset",
    "reward_functions",
]

#: The user message of a tool-mode row; the environment's ``reset`` appends the task to it.
TOOL_PROMPT = "Fix the broken SQL query of the task below by calling the tools.\n\n"


class MissingDependencyError(SQLDebugError, ImportError):
    """An optional library this helper needs is not installed."""


def dataset_rows(
    *,
    tasks: str | None = None,
    split: str | None = "train",
    category: str | None = None,
    difficulty: str | None = None,
    dataset: str | None = None,
    task_ids: Iterable[str] | None = None,
    seeds: int | Iterable[int] = 1,
    conversational: bool = True,
    system_prompt: str | None = None,
    tools: bool = False,
    **config: Any,
) -> list[dict[str, Any]]:
    """GRPO rows, one per task and seed: ``prompt``, ``task_id``, ``seed``, ``split``.

    Tasks come from ``tasks`` (a folder, generated tasks included; default ``$SQLDEBUG_TASKS``
    or the bundled set), filtered like ``sqldebug tasks list`` (``split`` defaults to
    ``"train"``; None takes every split) or named by ``task_ids``, which may be generated-task
    references too (``"generated:shop"``: each seed plays the task generated for it; the row
    keeps the reference, so the reward functions and the environment replay that very task).
    ``seeds`` is a count (seeds 0..n-1) or the seeds themselves: each seed draws other hidden
    instances to grade against.

    ``prompt`` is the observation's prompt after ``reset`` (intent, schema, sample rows, broken
    query), as chat messages (``conversational=True``, with an optional system message) or as
    text. With ``tools=True`` it is only :data:`TOOL_PROMPT`: in ``environment_factory`` mode
    TRL appends what the environment's ``reset`` returns, which is the task itself. ``config``
    holds :func:`sqldebug.make` options that change the prompt (``max_steps``, ``show_rows``).
    """
    import sqldebug

    if tools and not conversational:
        raise OptionError(
            "tools=True needs conversational prompts: TRL appends the task to the last message"
        )
    if isinstance(seeds, bool):
        raise OptionError("seeds must be a count or a list of integers")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise OptionError("seeds must name at least one seed")
    if task_ids is not None:
        references = list(task_ids)
        catalog = sqldebug.load_catalog(tasks)
        for reference in references:
            if not is_generated(reference):
                catalog.get(reference)  # an unknown id fails here, with suggestions
    else:
        references = [
            task.id
            for task in sqldebug.load_tasks(
                tasks, split=split, category=category, difficulty=difficulty, dataset=dataset
            )
        ]
    if not references:
        raise OptionError("no tasks match; see `sqldebug tasks list`")
    env = sqldebug.make(tasks=tasks, **config)
    rows: list[dict[str, Any]] = []
    for reference in references:
        for seed in seed_list:
            obs = env.reset(seed=seed, options={"task_id": reference})[0]
            text = TOOL_PROMPT if tools else obs.prompt
            prompt: Any = text
            if conversational:
                prompt = [{"role": "user", "content": text}]
                if system_prompt:
                    prompt.insert(0, {"role": "system", "content": system_prompt})
            elif system_prompt:
                prompt = f"{system_prompt}\n\n{text}"
            rows.append(
                {"prompt": prompt, "task_id": reference, "seed": seed, "split": env.task.split}
            )
    return rows


def make_dataset(**options: Any) -> Any:
    """:func:`dataset_rows` as a ``datasets.Dataset`` (needs the ``datasets`` library)."""
    try:
        datasets = importlib.import_module("datasets")
    except ImportError:
        raise MissingDependencyError(
            "make_dataset needs the 'datasets' library: pip install 'sqldebug[trl]' "
            "(or use dataset_rows(), which returns plain dicts)"
        ) from None
    return datasets.Dataset.from_list(dataset_rows(**options))
