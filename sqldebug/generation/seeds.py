"""Seed queries: the correct queries that bugs are injected into.

A dataset's seeds are the solutions of its curated *train-split* tasks (id ``task:<task id>``)
followed by the queries of ``<tasks folder>/seeds/<dataset>.yaml``, a file of this shape::

    dataset: shop
    queries:
      - id: revenue-per-region
        title: Revenue per region
        intent: >
          Total paid order value per region, ...
        sql: |
          SELECT ...
        kind: mutation         # optional: UPDATE/DELETE/INSERT seeds, with
        tables: [orders]       # the tables whose final state is graded
        order_matters: true    # optional, as in a task file

The file is read with the task loader, so a mistake is reported with its file, field and line.

Generated tasks are training data (``split: train``), so nothing of the test split may seed them:
a curated test task's solution is never a seed, nor is a bank query that is the same query as one
(same :func:`sqldebug.validate.normal_form`).
"""

from __future__ import annotations

from functools import cached_property

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlglot import exp

from sqldebug.catalog import SEEDS_DIR, Catalog, parse_model
from sqldebug.errors import TaskFileError
from sqldebug.spec import Kind, Task
from sqldebug.validate import normal_form


class SeedQuery(BaseModel):
    """One correct query and what it answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    intent: str
    sql: str
    kind: Kind = "query"
    tables: list[str] = Field(default_factory=list)
    order_matters: bool | None = None

    @field_validator("id", "title", "intent", "sql")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @cached_property
    def tree(self) -> exp.Expr:
        """The parsed query (parsed once; callers copy before changing it)."""
        return sqlglot.parse_one(self.sql, read="sqlite")

    @cached_property
    def normal(self) -> str | None:
        """The query's normal form (see :func:`sqldebug.validate.normal_form`), computed once."""
        return normal_form(self.sql)

    @classmethod
    def from_task(cls, task: Task) -> SeedQuery:
        # a curated title names the curated bug; a generated task gets the intent's first words
        return cls(
            id=f"task:{task.id}",
            title=_title(task.intent),
            intent=task.intent,
            sql=task.solution,
            kind=task.kind,
            tables=task.tables,
            order_matters=task.order_matters,
        )


def _title(intent: str, width: int = 60) -> str:
    words = intent.split(". ")[0].split()
    title = ""
    for word in words:
        if len(title) + len(word) + 1 > width:
            return title + " ..."
        title = f"{title} {word}".strip()
    return title.rstrip(".:")


class SeedBank(BaseModel):
    """The file ``seeds/<dataset>.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    queries: list[SeedQuery]


def load_seeds(catalog: Catalog, dataset: str) -> list[SeedQuery]:
    """Every seed query of ``dataset``: curated solutions first, then the seed bank's queries.

    Curated tasks that are themselves generated are not seeds (no bug is injected twice), nor
    are test-split tasks, nor bank queries that are a test-split solution in another layout.
    """
    if dataset not in catalog.datasets:
        known = ", ".join(sorted(catalog.datasets))
        raise TaskFileError(catalog.root, f"unknown dataset {dataset!r} (known: {known})")
    seeds = [
        SeedQuery.from_task(t)
        for t in catalog.tasks.values()
        if t.dataset == dataset and t.provenance is None and t.split == "train"
    ]
    held_out = {
        normal_form(t.solution)
        for t in catalog.tasks.values()
        if t.dataset == dataset and t.split == "test"
    } - {None}
    path = catalog.root / SEEDS_DIR / f"{dataset}.yaml"
    if path.is_file():
        bank = parse_model(path, SeedBank)
        if bank.dataset != dataset:
            raise TaskFileError(
                path, f"names dataset {bank.dataset!r}, expected {dataset!r}", field="dataset"
            )
        seen = {s.id for s in seeds}
        for i, query in enumerate(bank.queries):
            if query.id in seen:
                raise TaskFileError(path, f"duplicate id {query.id!r}", field=f"queries.{i}.id")
            seen.add(query.id)
            try:
                query.tree  # noqa: B018 - parse now, so a bad seed is named with its file
            except sqlglot.errors.SqlglotError as exc:
                raise TaskFileError(
                    path, f"seed {query.id!r} does not parse: {exc}", field=f"queries.{i}.sql"
                ) from None
            if query.normal not in held_out:
                seeds.append(query)
    return seeds
