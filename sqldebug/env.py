"""SQLDebugEnv: one episode at a time, with the Gymnasium-style API people already know.

``reset(*, seed=None, options=None) -> (Observation, info)`` and
``step(action) -> (Observation, reward, terminated, truncated, info)``; ``terminated`` means
solved, ``truncated`` means out of steps. The seed picks the hidden instances (and the task, when
the environment was made for a set of tasks); the same seed and the same actions give identical
observations, rewards and info.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from itertools import chain
from typing import Any

from sqldebug import prompt
from sqldebug.actions import parse_action
from sqldebug.errors import EpisodeError, OptionError, TaskFileError
from sqldebug.grading import Grader, Outcome
from sqldebug.instances import Instance
from sqldebug.models import (
    Action,
    ActionType,
    EpisodeState,
    ErrorClass,
    Finding,
    HistoryEntry,
    Observation,
    ResultTable,
    RewardBreakdown,
    SQLError,
)
from sqldebug.reward import RewardWeights, Score, step_reward
from sqldebug.runtime import Runtime
from sqldebug.sandbox import Limits, QueryError, Result, check_text
from sqldebug.sources import Resolver, TaskList, TaskSource, task_list
from sqldebug.spec import Task
from sqldebug.variants import SPACE


def is_generated(task_id: str) -> bool:
    """Whether a task reference asks for a generated task (``generated`` or ``generated:...``)."""
    return task_id == "generated" or task_id.startswith(("generated:", "generated?"))


@dataclass(frozen=True)
class EnvConfig:
    """How episodes are run. Every field can be passed to :func:`sqldebug.make` by name."""

    k: int = 4  # hidden instances per episode
    pool_size: int = SPACE  # hidden variant indices per dataset to draw from
    weights: RewardWeights = field(default_factory=RewardWeights)
    limits: Limits = field(default_factory=Limits)
    review: bool = False  # review every submission (blocked SQL is then not run)
    show_rows: int = 20  # result rows shown in an observation
    max_steps: int | None = None  # override the task's

    @classmethod
    def build(cls, **config: Any) -> EnvConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise OptionError(f"unknown option(s) {unknown}; known: {sorted(known)}")
        if isinstance(config.get("weights"), dict):
            config["weights"] = RewardWeights.from_mapping(config["weights"])
        if isinstance(config.get("limits"), dict):
            config["limits"] = replace(Limits(), **config["limits"])
        built = cls(**config)
        if built.k < 1 or built.pool_size < built.k:
            raise OptionError("need 1 <= k <= pool_size")
        return built


def to_table(result: Result, limit: int, max_chars: int = 200) -> ResultTable:
    """A result as shown to agents: the first ``limit`` rows, blobs as ``<blob N bytes>``, and a
    text longer than ``max_chars`` cut there with its length said, so that no value (up to
    ``Limits.max_value_bytes``) makes the observation big."""
    shown = result.rows[:limit]
    values = list(chain.from_iterable(shown))
    types = set(map(type, values))
    long = str in types and max(len(v) for v in values if type(v) is str) > max_chars
    if bytes in types or long:

        def show(v: Any) -> Any:
            if isinstance(v, bytes):
                return f"<blob {len(v):,} bytes>"
            if isinstance(v, str) and len(v) > max_chars:
                return f"{v[:max_chars]}... ({len(v):,} characters)"
            return v

        rows = [[show(v) for v in r] for r in shown]
    else:
        rows = [list(r) for r in shown]
    return ResultTable(
        columns=result.columns,
        rows=rows,
        row_count=len(result.rows),
        truncated=result.truncated or len(result.rows) > limit,
    )


#: The error class of a review finding that stops a statement: the class SQLite would have given.
_BLOCKING_CLASS: dict[str, ErrorClass] = {
    "unknown-table": "binding",
    "unknown-column": "binding",
    "unknown-function": "binding",
}


class SQLDebugEnv:
    """An environment over one task, or over a set of tasks that ``reset`` draws from by seed."""

    def __init__(
        self,
        runtime: Runtime,
        tasks: Sequence[Task] | TaskSource,
        config: EnvConfig | None = None,
        *,
        resolve: Resolver | None = None,
    ) -> None:
        """``tasks``: the tasks a reset draws from by seed, or a task source (a generator).
        ``resolve`` turns a reset's ``task_id`` option into a source; by default only catalog
        task ids are known (:func:`sqldebug.api.resolve` knows ``generated:...`` too)."""
        self.runtime = runtime
        self.source: TaskSource = task_list(tasks)
        self.resolve: Resolver = resolve or self._catalog_task
        self.config = config or EnvConfig()
        self._task: Task | None = None
        self._obs: Observation | None = None

    def _catalog_task(self, task_id: str) -> TaskSource:
        if is_generated(task_id):
            raise OptionError(
                f"{task_id!r}: this environment knows catalog task ids only; build it with"
                " sqldebug.make() to play generated tasks"
            )
        return TaskList((self.runtime.catalog.get(task_id),))

    # -- episode ------------------------------------------------------------------------------

    @property
    def task(self) -> Task:
        if self._task is None:
            raise EpisodeError("no episode yet: call reset() first")
        return self._task

    @property
    def observation(self) -> Observation:
        if self._obs is None:
            raise EpisodeError("no episode yet: call reset() first")
        return self._obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        options = dict(options or {})
        task_id = options.pop("task_id", None)
        perturb = options.pop("perturb_visible", False)
        if options:
            raise OptionError(
                f"unknown reset option(s) {sorted(options)}; known: ['perturb_visible', 'task_id']"
            )
        if task_id is not None and not isinstance(task_id, str):
            raise OptionError(f"task_id must be a string, not {type(task_id).__name__}")
        if not isinstance(perturb, bool):
            raise OptionError("perturb_visible must be true or false")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise OptionError(f"seed must be an integer, not {type(seed).__name__}")
        self.seed = seed if seed is not None else secrets.randbelow(2**31)
        playing = self.source if task_id is None else self.resolve(task_id)
        task = playing.task_for(self.seed)
        self._task = task
        try:
            instances, baseline = self.runtime.episode(
                task, self.seed, self.config.k, perturb_visible=perturb
            )
        except QueryError as exc:  # the task is at fault, not the player: name its file
            source = self.runtime.catalog.sources.get(task.id, task.id)
            raise TaskFileError(
                source, f"{task.id}: the solution does not run: {exc.kind}: {exc.message}"
            ) from None
        self.instances: list[Instance] = instances
        self.grader: Grader = self.runtime.grader(task)
        self.max_steps = self.config.max_steps or task.max_steps
        self.best: Score = baseline.score
        self.step_count = 0
        self.solved = False
        self.done = False
        self.total_reward = 0.0
        self.failed_submissions = 0
        # (action, reward, solved, error) per step; state() turns them into HistoryEntry models
        self.history: list[tuple[Action, float, bool, SQLError | None]] = []
        # per graded submission: (step, per-instance progress); for the trainer, never the agent
        self._verdicts: list[tuple[int, list[float]]] = []
        self._submitted: set[int] = set()
        # named by what defines it, so a replay (``sqldebug state``) names it alike
        self.episode_id = hashlib.sha256(f"{task.id}|{self.seed}|{perturb}".encode()).hexdigest()[
            :16
        ]
        visible = self.instances[0]
        obs = Observation(
            task_id=task.id,
            title=task.title,
            intent=task.intent,
            dataset=task.dataset,
            dataset_description=self.runtime.catalog.datasets[task.dataset].description,
            difficulty=task.difficulty,
            kind=task.kind,
            schema_sql=self.runtime.catalog.datasets[task.dataset].ddl,
            sample_rows=self.runtime.samples(task, visible),
            broken_query=task.broken,
            current_query=task.broken,
            max_steps=self.max_steps,
            message="Episode started: fix the broken query.",
        )
        if task.provenance is None:  # generated tasks are too many to keep prompts for
            obs._static_prompt = self.runtime.memo(
                ("prompt", task.id, visible.key), lambda: prompt.static_part(obs)
            )
        self._obs = obs
        return obs, self._info(None, None)

    def step(self, action: Any) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        task = self.task
        if self.done:
            state = "solved" if self.solved else "out of steps"
            raise EpisodeError(f"the episode is over ({state}); call reset() to start another")
        act = parse_action(action)
        # Nothing below changes the episode until every statement has run, so a step that
        # raises (say, a statement interrupted mid-way) can be run again from scratch.
        step_no = self.step_count + 1
        done = _HANDLERS[act.type](self, act)
        findings, outcome, error, result = done.findings, done.outcome, done.error, done.result
        message = done.message
        current = self.observation.current_query if done.current is None else done.current
        unsafe = error is not None and error.kind in ("blocked", "budget")
        repeated = False
        if act.type == "submit":
            key = hash((act.sql or "").strip())  # an int, whatever was pasted
            repeated = key in self._submitted
            self._submitted.add(key)
        breakdown = step_reward(
            self.config.weights,
            score=outcome.score if outcome else None,
            best=self.best,
            repeated=repeated,
            unsafe=unsafe,
        )
        self.step_count = step_no
        if outcome is not None:
            self._verdicts.append((step_no, list(outcome.per_instance)))
            self.best = self.best.best(outcome.score)
            self.solved = outcome.correct
            if not outcome.correct:
                self.failed_submissions += 1
        truncated = not self.solved and self.step_count >= self.max_steps
        self.done = self.solved or truncated
        self.total_reward = round(self.total_reward + breakdown.total, 6)
        err = SQLError(kind=error.kind, message=error.message) if error else None
        act = self._shown(act)
        obs = self.observation.model_copy(
            update={
                "last_action": act,
                "current_query": current,
                "result": result,
                "error": err,
                "findings": findings,
                "reward_breakdown": breakdown,
                "step": self.step_count,
                "done": self.done,
                "solved": self.solved,
                "hints": task.hints[: self.failed_submissions // 2],
                "message": message,
            }
        )
        self._obs = obs
        self.history.append((act, breakdown.total, self.solved, err))
        return obs, breakdown.total, self.solved, truncated, self._info(outcome, breakdown)

    # -- one handler per action type: what the action did, before the episode records it ------

    def _on_submit(self, act: Action) -> _Done:
        sql = act.sql or ""
        findings, outcome = self._submit(sql, review_first=act.review or self.config.review)
        result = None
        if outcome.result is not None:
            result = to_table(outcome.result, self.config.show_rows)
        kept = sql if len(sql) <= self.config.limits.max_sql_chars else None
        return _Done(_verdict(outcome), findings, outcome, outcome.error, result, kept)

    def _on_probe(self, act: Action) -> _Done:
        sql = act.sql or ""
        findings = self._review(sql)[0] if act.review else []
        message = "Probe ran on the visible data (not graded)."
        try:
            rows = self.instances[0].reader().run(sql, max_rows=self.config.show_rows)
        except QueryError as exc:
            return _Done(message, findings, error=exc)
        return _Done(message, findings, result=to_table(rows, self.config.show_rows))

    def _on_inspect_schema(self, act: Action) -> _Done:
        rows = [
            [t, c.name, c.type, c.notnull, c.pk]
            for t, cols in self.runtime.pool(self.task.dataset).schema.items()
            for c in cols
        ]
        table = ResultTable(
            columns=["table", "column", "type", "notnull", "pk"],
            rows=rows,
            row_count=len(rows),
            truncated=False,
        )
        return _Done("", result=table)

    def _on_inspect_sample(self, act: Action) -> _Done:
        result, error = self._sample(act.table)
        return _Done("", result=result, error=error)

    def _on_reset_query(self, act: Action) -> _Done:
        return _Done("The query is back to the broken one.", current=self.task.broken)

    def state(self) -> EpisodeState:
        task = self.task  # before any reset: EpisodeError, not AttributeError
        return EpisodeState(
            episode_id=self.episode_id,
            task_id=task.id,
            seed=self.seed,
            step=self.step_count,
            max_steps=self.max_steps,
            done=self.done,
            solved=self.solved,
            total_reward=self.total_reward,
            history=[
                HistoryEntry(step=i, action=act, reward=reward, solved=solved, error=err)
                for i, (act, reward, solved, err) in enumerate(self.history, start=1)
            ],
        )

    def grading_report(self) -> dict[str, Any]:
        """For trainers, not agents: the hidden instances of the episode and each graded
        submission's progress on each (visible first). Only once the episode is over, so nothing
        of it can steer the agent; no face shows it to the agent."""
        if self._task is None:
            raise EpisodeError("no episode yet: call reset() first")
        if not self.done:
            raise EpisodeError(
                "the grading report is for trainers, once the episode is over (solved or out of "
                "steps)"
            )
        return {
            "task_id": self.task.id,
            "seed": self.seed,
            "instances": [i.key for i in self.instances],
            "submissions": [
                {"step": step, "per_instance": [round(p, 6) for p in scores]}
                for step, scores in self._verdicts
            ],
        }

    def close(self) -> None:
        self._obs = None

    # -- helpers ------------------------------------------------------------------------------

    def _shown(self, act: Action) -> Action:
        """The action as kept in observations and history: an oversized statement is cut, so a
        10 MB paste costs the episode ~1 KB (it is rejected unrun anyway)."""
        limit = self.config.limits.max_sql_chars
        if act.sql is None or len(act.sql) <= limit:
            return act
        cut = f"{act.sql[:1000]}\n-- [cut: the statement has {len(act.sql):,} characters]"
        return act.model_copy(update={"sql": cut})

    def _review(self, sql: str) -> tuple[list[Finding], bool | None]:
        """Findings, and whether the SQL binds to the schema (None: the reviewer could not parse
        it, so SQLite, which runs it next, has the last word on syntax)."""
        from sqldebug import review  # sqlglot is imported only when a review is asked for

        statements, err = review.parse(sql)
        if err is not None:
            note = f"the reviewer could not parse this statement ({err}); SQLite decides"
            return [Finding(code="unparsed", severity="info", message=note)], None
        findings = review.review(
            statements,
            self.runtime.pool(self.task.dataset).schema,
            kind=self.task.kind,
            most_statements=self.config.limits.max_statements,
        )
        return findings, review.binds(findings)

    def _submit(self, sql: str, *, review_first: bool) -> tuple[list[Finding], Outcome]:
        if not review_first:
            return [], self.grader.grade(sql, self.instances)
        try:
            check_text(sql, self.config.limits)
        except QueryError as exc:
            return [], Outcome(Score(), error=exc)
        findings, valid = self._review(sql)
        blocking = [f for f in findings if f.severity == "block"]
        if blocking:
            kind = _BLOCKING_CLASS.get(blocking[0].code, "blocked")
            error = QueryError(kind, blocking[0].message)
            return findings, Outcome(Score(valid=float(bool(valid))), error=error)
        return findings, self.grader.grade(sql, self.instances, valid=valid)

    def _sample(self, table: str | None) -> tuple[ResultTable | None, QueryError | None]:
        schema = self.runtime.pool(self.task.dataset).schema
        if not table:
            return None, QueryError("syntax", "inspect_sample needs a table name")
        if table.lower() not in schema:
            return None, QueryError(
                "binding", f"no such table: {table} (tables: {', '.join(schema)})"
            )
        name = next(
            s.name
            for s in self.runtime.pool(self.task.dataset).shapes
            if s.name.lower() == table.lower()
        )
        return to_table(
            self.instances[0].rows(name, self.config.show_rows), self.config.show_rows
        ), None

    def _info(self, outcome: Outcome | None, breakdown: RewardBreakdown | None) -> dict[str, Any]:
        info: dict[str, Any] = {
            "task_id": self.task.id,
            "seed": self.seed,
            "step": self.step_count,
        }
        if breakdown is not None:
            info["reward_breakdown"] = breakdown.__dict__.copy()
        if outcome is not None:
            s = outcome.score
            info["score"] = round(s.weighted(self.config.weights), 6)
            info["components"] = {
                "correct": s.correct,
                "executes": s.executes,
                "valid": s.valid,
                "progress": round(s.progress, 6),
            }
            info["error_class"] = outcome.error.kind if outcome.error else None
        return info


def _verdict(outcome: Outcome) -> str:
    """What a submission's observation says of it: whether it ran, and whether it is right; for
    an answer that is right on the visible rows only, that much, never which instance or how far
    off."""
    if outcome.correct:
        return "Correct: the fix answers the intent on every instance."
    if outcome.error is not None:
        return "The statement did not run."
    if outcome.per_instance and outcome.per_instance[0] == 1.0:
        return (
            "Right on the rows you can see, wrong on other data of the same shape: the query "
            "fits these rows but not the intent."
        )
    return f"Not correct yet (progress {outcome.score.progress:.2f})."


@dataclass(frozen=True)
class _Done:
    """What one action did: its message, review findings, graded outcome (submissions only), error,
    result table, and the query the episode now holds (None: unchanged)."""

    message: str
    findings: list[Finding] = field(default_factory=list)
    outcome: Outcome | None = None
    error: QueryError | None = None
    result: ResultTable | None = None
    current: str | None = None


#: The handler of each action type (models.Action.type); step() records what it returns.
_HANDLERS: dict[ActionType, Callable[[SQLDebugEnv, Action], _Done]] = {
    "submit": SQLDebugEnv._on_submit,
    "probe": SQLDebugEnv._on_probe,
    "inspect_schema": SQLDebugEnv._on_inspect_schema,
    "inspect_sample": SQLDebugEnv._on_inspect_sample,
    "reset_query": SQLDebugEnv._on_reset_query,
}
