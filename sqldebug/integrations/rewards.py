"""Reward functions with TRL's calling convention, scoring single-turn completions in-process.

TRL calls every reward function as ``f(prompts=..., completions=..., completion_ids=...,
**columns)``, where ``columns`` holds each extra dataset column as a list (one value per
completion) plus ``trainer_state``, ``log_extra`` and ``log_metric``. A function returns one
float per completion, or ``None`` where it does not apply (TRL leaves that function out of that
completion's reward).

Here a completion is scored as the **first step of a fresh episode** of its row's task and seed:
the SQL is extracted (:mod:`sqldebug.integrations.extract`) and submitted, and the engine's
:class:`~sqldebug.models.RewardBreakdown` is the answer. So the reward is exactly what
``sqldebug.make(task_id).reset(seed=seed)`` followed by ``step(sql)`` pays, penalties included:

- a completion with no SQL is scored as an empty submission: only the step cost (-0.01 by
  default), and it never raises;
- ``None`` is returned for a row whose ``task_id`` is ``None``: a row of another data source in a
  mixed dataset, left to the other reward functions;
- a batch without a ``task_id`` column, or with a task id sqldebug does not know, raises a
  :class:`~sqldebug.errors.SQLDebugError`, since that is a mistake in the set-up.

The component functions (one per :class:`~sqldebug.models.RewardBreakdown` field) return the
breakdown's values, which are weighted already: with TRL's default ``reward_weights`` (all 1)
they add up to the total. Use either the total or the components, not both, or the reward is
counted twice. Every function of one :func:`reward_functions` call shares one scorer, so a
completion is graded once however many components are logged.
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqldebug.errors import SQLDebugError
from sqldebug.integrations.extract import extract_sql
from sqldebug.models import Action, RewardBreakdown

if TYPE_CHECKING:
    from sqldebug.env import SQLDebugEnv

#: The reward components, in RewardBreakdown's order; each has a reward function of its name.
COMPONENTS: tuple[str, ...] = tuple(
    name for name in RewardBreakdown.model_fields if name != "total"
)


class RewardInputError(SQLDebugError, ValueError):
    """A reward function was called with a batch it cannot score (missing or misshapen columns)."""


@dataclass(frozen=True)
class Scored:
    """One completion's grade: what it submitted and what that earned."""

    task_id: str
    seed: int
    sql: str | None  # None: the completion had no SQL
    breakdown: RewardBreakdown
    solved: bool
    error_class: str | None  # syntax, binding, runtime, budget, blocked; None when it ran

    def value(self, component: str) -> float:
        return float(getattr(self.breakdown, component))


class RewardScorer:
    """Grades SQL for (task, seed) pairs in this process, caching each grade.

    One environment serves every task (``reset`` picks the task and seed, and costs well under a
    millisecond once the task's instances exist); the engine shares instance pools and graders
    per process. Grades are deterministic, so identical completions in a GRPO group are graded
    once. ``tasks`` is a task folder (default: ``$SQLDEBUG_TASKS`` or the bundled set) and
    ``config`` holds :func:`sqldebug.make` options (``k``, ``weights``, ``limits``, ``review``,
    ...). Thread-safe; picklable (the environment is rebuilt where it is unpickled).
    """

    def __init__(self, *, tasks: str | None = None, cache_size: int = 4096, **config: Any) -> None:
        from sqldebug.env import EnvConfig

        EnvConfig.build(**config)  # a bad option fails here, not at the first batch
        self.tasks = tasks
        self.config = config
        self.cache_size = cache_size
        self._env: SQLDebugEnv | None = None
        self._cache: OrderedDict[tuple[str, int, str | None], Scored] = OrderedDict()
        self._lock = threading.Lock()
        self._last: tuple[Any, list[Scored | None]] | None = None  # the latest batch, graded

    def __getstate__(self) -> dict[str, Any]:
        return {"tasks": self.tasks, "config": self.config, "cache_size": self.cache_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(tasks=state["tasks"], cache_size=state["cache_size"], **state["config"])  # type: ignore[misc]

    @property
    def env(self) -> SQLDebugEnv:
        if self._env is None:
            import sqldebug

            self._env = sqldebug.make(tasks=self.tasks, **self.config)
        return self._env

    def score(self, task_id: str, seed: int, sql: str | None) -> Scored:
        """The first-step reward of submitting ``sql`` (None: no SQL) to ``task_id`` at ``seed``."""
        key = (task_id, seed, sql)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            env = self.env
            env.reset(seed=seed, options={"task_id": task_id})
            obs, _, solved, _, _ = env.step(Action(type="submit", sql=sql or ""))
            scored = Scored(
                task_id=task_id,
                seed=seed,
                sql=sql,
                breakdown=obs.reward_breakdown,
                solved=solved,
                error_class=obs.error.kind if obs.error else None,
            )
            self._cache[key] = scored
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            return scored

    def score_completion(self, completion: Any, task_id: str, seed: int = 0) -> Scored:
        """Grade one completion (a string or chat messages)."""
        return self.score(task_id, seed, extract_sql(completion))

    def score_batch(
        self, completions: Sequence[Any], columns: dict[str, Any]
    ) -> list[Scored | None]:
        """Grade a TRL batch: ``columns`` as TRL passes them (``task_id``, ``seed`` lists)."""
        if "task_id" not in columns:
            raise RewardInputError(
                "the batch has no 'task_id' column: build the dataset with "
                "sqldebug.integrations.trl.dataset_rows() (rows carry task_id and seed)"
            )
        task_ids = _column(columns, "task_id", len(completions))
        seeds = _column(columns, "seed", len(completions)) if "seed" in columns else None
        # TRL calls every reward function with the same batch: grade (and extract) it once
        key = (tuple(completions), tuple(task_ids), tuple(seeds) if seeds is not None else None)
        with self._lock:
            if self._last is not None and self._last[0] == key:
                return list(self._last[1])
        graded: list[Scored | None] = []
        for i, completion in enumerate(completions):
            task_id = task_ids[i]
            if task_id is None:
                graded.append(None)
                continue
            if not isinstance(task_id, str):
                raise RewardInputError(
                    f"task_id must be a string, not {type(task_id).__name__} (row {i})"
                )
            graded.append(self.score_completion(completion, task_id, _seed(seeds, i)))
        with self._lock:
            self._last = (key, graded)
        return list(graded)


def _column(columns: dict[str, Any], name: str, n: int) -> Sequence[Any]:
    values = columns[name]
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise RewardInputError(
            f"column {name!r} must be a list (one value per completion), "
            f"not {type(values).__name__}"
        )
    if len(values) != n:
        raise RewardInputError(
            f"column {name!r} has {len(values)} values for {n} completions; TRL repeats each "
            "row's columns once per generation, so they should match"
        )
    return values


def _seed(seeds: Sequence[Any] | None, i: int) -> int:
    if seeds is None or seeds[i] is None:
        return 0
    try:
        return operator.index(seeds[i])
    except TypeError:
        raise RewardInputError(
            f"seed must be an integer, not {type(seeds[i]).__name__} (row {i})"
        ) from None


class SQLDebugReward:
    """One reward function for TRL: the total reward, or one component of it.

    ``__name__`` is the component's name (with ``prefix``), so TRL logs it as
    ``rewards/<name>/mean``. With ``log=True`` the function also reports, through TRL's
    ``log_metric``, the share of completions that solved their task (``sqldebug/solved``) and
    that had no SQL (``sqldebug/no_sql``), and adds the extracted SQL to the completions table
    through ``log_extra``.
    """

    def __init__(
        self,
        component: str = "total",
        scorer: RewardScorer | None = None,
        *,
        prefix: str = "",
        log: bool = False,
    ) -> None:
        if component != "total" and component not in COMPONENTS:
            raise RewardInputError(
                f"unknown reward component {component!r}; known: {['total', *COMPONENTS]}"
            )
        self.component = component
        self.scorer = scorer if scorer is not None else RewardScorer()
        self.log = log
        self.__name__ = f"{prefix}{component}"

    def __repr__(self) -> str:
        return f"SQLDebugReward({self.component!r}, name={self.__name__!r})"

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Any] | None = None,
        **columns: Any,
    ) -> list[float | None]:
        if completions is None:
            raise RewardInputError("a reward function needs completions=[...]")
        graded = self.scorer.score_batch(completions, columns)
        if self.log:
            _report(graded, columns.get("log_metric"), columns.get("log_extra"))
        return [None if g is None else g.value(self.component) for g in graded]


def _report(graded: list[Scored | None], log_metric: Any, log_extra: Any) -> None:
    scored = [g for g in graded if g is not None]
    if callable(log_metric) and scored:
        metric: Callable[[str, float], None] = log_metric
        metric("sqldebug/solved", sum(g.solved for g in scored) / len(scored))
        metric("sqldebug/no_sql", sum(g.sql is None for g in scored) / len(scored))
    if callable(log_extra):
        log_extra("sql", [None if g is None else g.sql for g in graded])


def reward_functions(
    *,
    components: bool = False,
    tasks: str | None = None,
    prefix: str = "",
    scorer: RewardScorer | None = None,
    **config: Any,
) -> list[SQLDebugReward]:
    """Reward functions for ``GRPOTrainer(reward_funcs=...)``.

    ``components=False``: one function, the total reward. ``components=True``: one function per
    component (``correct``, ``executes``, ``valid``, ``progress``, ``step_cost``,
    ``repeat_penalty``, ``safety_penalty``), which add up to the total with TRL's default
    ``reward_weights``; pass ``reward_weights`` to mix them differently. ``tasks`` and
    ``config`` (``k``, ``weights``, ...) configure the episodes, as for :func:`sqldebug.make`.
    """
    scorer = scorer if scorer is not None else RewardScorer(tasks=tasks, **config)
    if not components:
        return [SQLDebugReward("total", scorer, prefix=prefix, log=True)]
    return [
        SQLDebugReward(name, scorer, prefix=prefix, log=i == 0) for i, name in enumerate(COMPONENTS)
    ]
