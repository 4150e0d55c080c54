"""A multi-turn sqldebug episode in the shape of TRL's ``environment_factory``.

TRL builds environments with a no-argument constructor, calls ``reset(**row)`` with a dataset
row before each rollout (a returned string is appended to the row's last user message), exposes
every public method but ``reset`` and ``get_reward`` to the model as a tool (described by its
type hints and its Google-style docstring), and scores the rollout with ``get_reward()``.

:class:`SQLDebugToolEnv` is that environment: tools ``submit_sql``, ``probe_sql`` and
``inspect_sample``, the episode's return as the reward. It plays in this process, or against
``sqldebug serve`` when its class attribute ``url`` is set; :func:`environment_factory` makes a
configured subclass::

    from sqldebug.integrations.trl import environment_factory
    GRPOTrainer(..., environment_factory=environment_factory())              # in-process
    GRPOTrainer(..., environment_factory=environment_factory("http://127.0.0.1:8000"))

(No other public methods may be added to the class: TRL would offer them to the model as tools.)
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from sqldebug.client import RemoteEpisodes
from sqldebug.errors import ActionError, EpisodeError, OptionError
from sqldebug.models import Action, Observation

if TYPE_CHECKING:
    from sqldebug.env import SQLDebugEnv

#: The prompt's closing instruction, and what it says instead when the model answers by tools.
_FENCE_INSTRUCTION = "Reply with the fixed SQL in a ```sql block."
TOOL_INSTRUCTION = (
    "Answer with the tools: submit_sql(sql) grades a fix (on this data and on hidden variants "
    "of it; the episode ends when it is correct), probe_sql(sql) runs a query on the visible "
    "data without grading it, inspect_sample(table) shows a table's first rows. Every call "
    "costs a step."
)


class _Remote(RemoteEpisodes):
    """The server client, addressing sessions by id (TRL's rollouts need no local names)."""

    def start(self, task_id: str | None, seed: int | None) -> tuple[str, Observation]:
        reply = self.request("POST", "/reset", {"task_id": task_id, "seed": seed})
        return str(reply["session_id"]), Observation.model_validate(reply["observation"])

    def act(self, session_id: str, action: Action) -> tuple[Observation, float]:
        body = {"action": action.model_dump(exclude={"review"}, exclude_none=True)}
        reply = self.request("POST", "/step", body, session_id)
        return Observation.model_validate(reply["observation"]), float(reply["reward"])

    def end(self, session_id: str) -> None:
        with contextlib.suppress(EpisodeError):  # expired already
            self.request("DELETE", "/session", None, session_id)


class SQLDebugToolEnv:
    """One sqldebug episode per rollout, played through tools.

    Configure it by class attributes (or use :func:`environment_factory`): ``url`` of a
    ``sqldebug serve`` (None: in-process), ``tasks`` (a task folder, in-process only) and
    ``config`` (:func:`sqldebug.make` options such as ``k``, ``weights``, ``max_steps``,
    in-process only; a server uses its own). ``reset`` reads the row's ``task_id`` and ``seed``
    and ignores its other columns.
    """

    url: ClassVar[str | None] = None
    tasks: ClassVar[str | None] = None
    config: ClassVar[Mapping[str, Any]] = {}
    timeout: ClassVar[float] = 60.0
    #: taken off the return of a rollout that never called submit_sql: by default the step cost
    #: of one empty submission, so that doing nothing earns what a completion without SQL earns
    #: in single-turn training (the reward functions), not more than a wrong fix
    no_submission_penalty: ClassVar[float] = 0.01

    def __init__(self) -> None:
        self._env: SQLDebugEnv | None = None
        self._remote: _Remote | None = None
        self._session: str | None = None
        self._obs: Observation | None = None
        self._return = 0.0
        self._submitted = False

    # -- what TRL calls -------------------------------------------------------------------------

    def reset(self, **row: Any) -> str:
        """Start the row's episode (``task_id``, ``seed``); returns the task as text."""
        task_id = row.get("task_id")
        seed = row.get("seed")
        if task_id is not None and not isinstance(task_id, str):
            raise OptionError(f"task_id must be a string, not {type(task_id).__name__}")
        if seed is not None:
            try:
                seed = operator.index(seed)  # numpy integers too, as datasets may hand them over
            except TypeError:
                raise OptionError(f"seed must be an integer, not {type(seed).__name__}") from None
        self._return = 0.0
        self._submitted = False
        if self.url is None:
            if self._env is None:
                import sqldebug

                self._env = sqldebug.make(tasks=self.tasks, **dict(self.config))
            options = {"task_id": task_id} if task_id is not None else None
            self._obs = self._env.reset(seed=seed, options=options)[0]
        else:
            if self._remote is None:
                self._remote = _Remote(self.url, timeout=self.timeout)
            if self._session is not None:
                self._remote.end(self._session)
                self._session = None
            self._session, self._obs = self._remote.start(task_id, seed)
        text = self._obs.prompt
        if _FENCE_INSTRUCTION in text:
            return text.replace(_FENCE_INSTRUCTION, TOOL_INSTRUCTION)
        return f"{text}\n\n{TOOL_INSTRUCTION}"

    def get_reward(self) -> float:
        """The episode's return: the sum of its step rewards, less ``no_submission_penalty``
        when nothing was submitted."""
        penalty = 0.0 if self._submitted else self.no_submission_penalty
        return round(self._return - penalty, 6)

    # -- tools ----------------------------------------------------------------------------------

    def submit_sql(self, sql: str) -> str:
        """Submit a fixed query. It is graded on the visible data and on hidden variants of it;
        the episode ends when it is correct or when the steps run out.

        Args:
            sql: The whole fixed statement, one SQL statement for SQLite.

        Returns:
            The result or error on the visible data, whether the fix is correct, and the steps left.
        """
        return self._act(Action(type="submit", sql=sql))

    def probe_sql(self, sql: str) -> str:
        """Run a query on the visible data to look at it. It is not graded, and costs a step.

        Args:
            sql: A SELECT statement for SQLite.

        Returns:
            The first rows of the result, or the error, and the steps left.
        """
        return self._act(Action(type="probe", sql=sql))

    def inspect_sample(self, table: str) -> str:
        """Show the first rows of one table of the visible data. Costs a step.

        Args:
            table: The table's name, as in the schema.

        Returns:
            The table's first rows, and the steps left.
        """
        return self._act(Action(type="inspect_sample", table=table))

    # -- helpers (private: TRL exposes every public method as a tool) ----------------------------

    def _act(self, action: Action) -> str:
        from sqldebug import prompt

        if self._obs is None:
            raise EpisodeError("no episode yet: the trainer calls reset() first")
        if self._obs.done:
            state = "solved" if self._obs.solved else "out of steps"
            return f"The episode is over ({state}); there is nothing more to do."
        try:
            if self._env is not None:
                obs, reward = self._env.step(action)[:2]
            else:
                assert self._remote is not None and self._session is not None
                obs, reward = self._remote.act(self._session, action)
        except ActionError as exc:  # e.g. an empty table name: the model's mistake, told to it
            return f"That call could not be run: {exc}"
        self._obs = obs
        self._return += reward
        self._submitted = self._submitted or action.type == "submit"
        return prompt.dynamic_part(obs)


def environment_factory(
    url: str | None = None,
    *,
    tasks: str | None = None,
    timeout: float = 60.0,
    no_submission_penalty: float = 0.01,
    **config: Any,
) -> type[SQLDebugToolEnv]:
    """A :class:`SQLDebugToolEnv` subclass for ``GRPOTrainer(environment_factory=...)``.

    ``url``: a ``sqldebug serve`` to play against (None: in this process). ``tasks`` and
    ``config`` (:func:`sqldebug.make` options) apply in-process only; a server is configured
    when it is started. ``no_submission_penalty`` is taken off the return of a rollout that
    never submits. Options are checked here, so a mistake fails before training starts.
    """
    if url is not None and (tasks is not None or config):
        raise OptionError(
            "tasks and episode options apply in-process only; a server uses the ones it was "
            "started with (sqldebug serve --tasks ... --k ...)"
        )
    if url is None:
        import sqldebug
        from sqldebug.env import EnvConfig

        EnvConfig.build(**config)
        sqldebug.load_catalog(tasks)  # a bad folder fails now
    attributes = {
        "url": url,
        "tasks": tasks,
        "config": dict(config),
        "timeout": timeout,
        "no_submission_penalty": no_submission_penalty,
    }
    return type("SQLDebugToolEnv", (SQLDebugToolEnv,), attributes)
