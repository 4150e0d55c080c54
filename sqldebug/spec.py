"""The task format: pydantic models of the YAML files under ``tasks/``.

A *dataset* is a schema plus the rows the agent sees; a *task* names a dataset and carries a broken
query, what it should answer (``intent``) and a reference fix (``solution``). Attribute names are
the YAML keys (the one exception is ``Dataset.ddl``, spelled ``schema`` in YAML because pydantic
reserves that name). Every model forbids unknown keys, so a typo in a task file is an error, not a
silent default. ``json_schema()`` exports both models for editors and other tools.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Difficulty = Literal["easy", "medium", "hard"]
Kind = Literal["query", "mutation"]
Split = Literal["train", "test"]

Category = Literal[
    "syntax",
    "unknown-identifier",
    "join-fanout",
    "join-type",
    "join-condition",
    "null-handling",
    "aggregation",
    "having-vs-where",
    "type-coercion",
    "date-range",
    "distinct",
    "window",
    "subquery",
    "ordering-ties",
    "set-operations",
    "string-matching",
    "mutation",
    "multi-bug",
]
#: The fixed bug taxonomy, in order; docs/task-format.md says what each category means.
CATEGORIES: tuple[str, ...] = get_args(Category)

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_/")
Cell = str | int | float | bool | None


def _check_id(value: str) -> str:
    if not value or not set(value) <= _ID_CHARS or value.startswith("/") or value.endswith("/"):
        raise ValueError(
            "must be lower-case letters, digits, '-', '_' and '/' separators, e.g. 'shop/revenue'"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Dataset(_Strict):
    """A schema and the visible rows that every task on it shares."""

    id: str
    description: str
    ddl: str = Field(alias="schema", description="CREATE TABLE statements (SQLite).")
    rows: dict[str, list[list[Cell]]] = Field(
        default_factory=dict, description="Visible rows per table, values in column order."
    )
    vm_steps: int | None = Field(
        default=None,
        ge=1_000_000,
        le=500_000_000,
        description=(
            "VM instructions one statement may run on this dataset, if more than the engine's "
            "default (5,000,000): a warehouse's joins need more. The wall-clock deadline "
            "still holds."
        ),
    )
    variants: int | None = Field(
        default=None,
        ge=8,
        le=4096,
        description=(
            "How many hidden variants this dataset's episodes draw from, if fewer than the "
            "engine's 2^32: a warehouse's variant costs ~0.5 s to build, so its episodes draw "
            "from a finite set that stays built, and `tasks validate` checks every one of them."
        ),
    )
    deadline_s: float | None = Field(
        default=None,
        gt=0,
        le=10,
        description=(
            "Wall-clock seconds one submission may take over all its instances, if more than the "
            "engine's default (1 s): a warehouse's five instances of 40-80k rows each need more, "
            "so that the VM budget, which is deterministic, binds before the clock does."
        ),
    )
    generate: str | None = Field(
        default=None,
        description=(
            "A SQLite script run once after the schema and `rows`, statement by statement "
            "(INSERT ... SELECT, recursive CTEs), that makes the rest of the visible rows; "
            "random() is seeded by each statement's text, 'now' is fixed: the same file makes "
            "the same rows."
        ),
    )

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return _check_id(value)


class Provenance(_Strict):
    """Where a generated task came from (``sqldebug generate``): enough to make it again."""

    seed_query: str = Field(description="Id of the correct seed query the bug was injected into.")
    operators: list[str] = Field(description="The mutation operators applied, in order.")
    generator_seed: int = Field(description="The --seed of the run.")
    index: int = Field(ge=0, description="The candidate number within the run.")
    generator: str = Field(default="sqldebug-generate/1", description="Generator version.")


class Task(_Strict):
    """One debugging task: a plausible but wrong query, its intent and a reference fix."""

    id: str
    title: str
    dataset: str
    category: Category
    difficulty: Difficulty
    kind: Kind = "query"
    split: Split = "train"
    intent: str
    broken: str
    solution: str
    order_matters: bool | None = Field(
        default=None,
        description="Whether row order is graded; when absent (None), true iff the solution has "
        "a top-level ORDER BY: sqldebug.grading.order_matters(task) gives the value in force.",
    )
    column_order: Literal["position", "any"] = Field(
        default="position",
        description="How result columns are matched: 'position' (the default: column i must hold "
        "the reference's column i, as the intent states them) or 'any' (some permutation of the "
        "columns must match; for intents that do not fix an order).",
    )
    tables: list[str] = Field(
        default_factory=list,
        validate_default=True,
        description="Mutation tasks: the tables whose final state is graded.",
    )
    max_steps: int = Field(default=8, ge=1, le=100)
    hints: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    provenance: Provenance | None = Field(
        default=None, description="Generated tasks only: the seed query, operators and seed."
    )

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return _check_id(value)

    @field_validator("intent", "broken", "solution", "title")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("tables")
    @classmethod
    def _tables_match_kind(cls, tables: list[str], info: ValidationInfo) -> list[str]:
        kind = info.data.get("kind", "query")
        if kind == "mutation" and not tables:
            raise ValueError("a mutation task must list the graded tables")
        if kind == "query" and tables:
            raise ValueError("only mutation tasks list graded tables")
        return tables


def json_schema() -> dict[str, Any]:
    """JSON Schema of both file kinds, keyed by model name."""
    return {
        "Dataset": Dataset.model_json_schema(by_alias=True),
        "Task": Task.model_json_schema(by_alias=True),
    }
