"""The typed values that cross the engine's boundary: actions, observations, rewards, findings.

These are the wire shapes too: the CLI's ``--json``, the server and the bench artifacts all dump
these models, so there is one definition of each.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field

Cell = str | int | float | bytes | None
ErrorClass = Literal["syntax", "binding", "runtime", "budget", "blocked"]
Severity = Literal["info", "warn", "block"]
ActionType = Literal["submit", "probe", "inspect_schema", "inspect_sample", "reset_query"]


class ColumnInfo(NamedTuple):
    """One column of a table, as SQLite reports it."""

    name: str
    type: str
    notnull: bool
    pk: bool


#: table name (lower case) -> columns in declaration order
SchemaInfo = dict[str, tuple[ColumnInfo, ...]]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Finding(Model):
    """A static review finding: what looks wrong in the SQL, how bad, and where."""

    code: str = Field(description="Stable identifier, e.g. 'null-comparison'.")
    severity: Severity
    message: str
    line: int | None = None
    col: int | None = None


class SQLError(Model):
    """Why a statement did not run, classified so agents can tell mistakes apart."""

    kind: ErrorClass
    message: str


class ResultTable(Model):
    """What a statement returned on the visible instance (first rows only)."""

    columns: list[str]
    rows: list[list[Any]]
    row_count: int = Field(description="Rows fetched (at most the row cap).")
    truncated: bool = Field(description="True when more rows exist than are shown.")


class RewardBreakdown(Model):
    """The reward of one step, by component. The fields sum to ``total``.

    Submission components pay for *improvement* over the best so far in the episode, starting
    from the broken query's own score (see docs/reward.md), so nothing can be farmed.
    """

    correct: float = 0.0
    executes: float = 0.0
    valid: float = 0.0
    progress: float = 0.0
    step_cost: float = 0.0
    repeat_penalty: float = 0.0
    safety_penalty: float = 0.0
    total: float = 0.0


class Action(Model):
    """One move: submit a fix, probe the visible data, inspect, or restore the broken query."""

    type: ActionType = "submit"
    sql: str | None = None
    table: str | None = Field(default=None, description="For inspect_sample.")
    review: bool = Field(default=False, description="Review the SQL first; blocked SQL is not run.")


class HistoryEntry(Model):
    step: int
    action: Action
    reward: float
    solved: bool
    error: SQLError | None = None


class Observation(Model):
    """Everything the agent may see after a reset or a step, plus ``prompt``: the same as text."""

    task_id: str
    title: str
    intent: str
    dataset: str
    dataset_description: str = Field(
        default="", description="The dataset's own notes: what its tables hold and its conventions."
    )
    difficulty: str
    kind: str
    schema_sql: str
    sample_rows: dict[str, ResultTable]
    broken_query: str
    current_query: str
    last_action: Action | None = None
    result: ResultTable | None = None
    error: SQLError | None = None
    findings: list[Finding] = Field(default_factory=list)
    reward_breakdown: RewardBreakdown = Field(default_factory=RewardBreakdown)
    step: int = 0
    max_steps: int
    done: bool = False
    solved: bool = False
    hints: list[str] = Field(default_factory=list)
    message: str = ""

    # Observations round-trip through JSON, where the computed ``prompt`` comes along: ignore it.
    model_config = ConfigDict(extra="ignore", defer_build=True)
    _static_prompt: str | None = PrivateAttr(default=None)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def prompt(self) -> str:
        """The whole observation as text for a language model, rendered when read (so steps
        nobody reads as text do not pay for it); the unchanging part is rendered once."""
        from sqldebug import prompt

        if self._static_prompt is None:
            self._static_prompt = prompt.static_part(self)
        return prompt.render(self, self._static_prompt)


class EpisodeState(Model):
    """The whole episode so far: what was done and what it earned."""

    episode_id: str
    task_id: str
    seed: int
    step: int
    max_steps: int
    done: bool
    solved: bool
    total_reward: float
    history: list[HistoryEntry]
