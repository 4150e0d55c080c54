"""The task generator: correct seed queries + mutation operators -> validated debugging tasks.

Candidate ``i`` of a run with seed ``s`` is a pure function of ``(s, i)`` and the task folder: its
random source is seeded with both, it picks a dataset, a seed query, one operator (or two or three
for a ``multi-bug`` task) and where each applies. A candidate becomes a task only if it passes, in
this order: it differs from the seed query; no earlier task of the run has the same broken query,
or a broken query of the same seed that returns the same thing on the visible instance; and every
invariant of ``sqldebug tasks validate`` (:func:`sqldebug.validate.failed_invariants`). The run
keeps candidates in index order until it has ``count`` tasks, so the same inputs give the same
tasks, byte for byte.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sqldebug.database import QueryError
from sqldebug.errors import OptionError, SQLDebugError
from sqldebug.generation.operators import OPERATORS, Mutant, Operator, Schema, render
from sqldebug.generation.seeds import SeedQuery, load_seeds
from sqldebug.spec import CATEGORIES, Category, Difficulty, Provenance, Task
from sqldebug.validate import failed_invariants, normal_form

if TYPE_CHECKING:
    from sqldebug.runtime import Runtime

#: The prefix of a task reference that asks for a generated task: ``generated:shop``,
#: ``generated:shop,hr?category=window&difficulty=hard``, or ``generated`` (every dataset).
GENERATED = "generated"
DIFFICULTIES: tuple[Difficulty, ...] = ("easy", "medium", "hard")
#: The share of candidates that get two or three bugs (when multi-bug tasks are wanted).
MULTI_SHARE = 0.2
#: Candidates tried for one task of an endless curriculum before giving up.
MAX_TRIES = 200


@dataclass(frozen=True)
class Candidate:
    """One proposed task: a seed query with bugs injected."""

    index: int
    dataset: str
    seed: SeedQuery
    operators: tuple[str, ...]
    broken: str


@dataclass
class Stats:
    """What a run tried and why it threw candidates away."""

    candidates: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    operators: Counter[str] = field(default_factory=Counter)  # in kept tasks
    categories: Counter[str] = field(default_factory=Counter)
    difficulties: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidates": self.candidates,
            "kept": self.kept,
            "seconds": round(self.seconds, 2),
            "tasks_per_second": round(self.kept / self.seconds, 1) if self.seconds else None,
            "rejected": dict(self.rejected.most_common()),
            "operators": dict(sorted(self.operators.items())),
            "categories": dict(sorted(self.categories.items())),
            "difficulties": dict(sorted(self.difficulties.items())),
        }


def _slug(text: str) -> str:
    return text.removeprefix("task:").replace("/", "-")


class Generator:
    """Makes tasks on some datasets of a runtime's catalog, optionally limited to some categories
    and difficulties."""

    def __init__(
        self,
        runtime: Runtime,
        datasets: list[str] | None = None,
        *,
        categories: list[str] | None = None,
        difficulties: list[str] | None = None,
        k: int = 4,
    ) -> None:
        self.runtime = runtime
        catalog = runtime.catalog
        self.datasets = sorted(datasets or catalog.datasets)
        for name in self.datasets:
            if name not in catalog.datasets:
                known = ", ".join(sorted(catalog.datasets))
                raise OptionError(f"unknown dataset {name!r} (known: {known})")
        self.categories = self._choices("category", categories, CATEGORIES)
        self.difficulties = self._choices("difficulty", difficulties, DIFFICULTIES)
        self.k = k
        self._seeds = {name: load_seeds(catalog, name) for name in self.datasets}
        self._schemas: dict[str, Schema] = {}
        self._usable: dict[str, bool] = {}
        self._plans: dict[str, list[Operator]] = {}

    @staticmethod
    def _choices(what: str, given: list[str] | None, known: tuple[str, ...]) -> set[str]:
        if not given:
            return set(known)
        wrong = sorted(set(given) - set(known))
        if wrong:
            raise OptionError(f"unknown {what} {wrong}; known: {', '.join(known)}")
        return set(given)

    @classmethod
    def from_spec(cls, runtime: Runtime, spec: str) -> Generator:
        """The generator for a task reference such as ``generated:shop?category=window``."""
        head, _, query = spec.partition("?")
        prefix, _, names = head.partition(":")
        if prefix != GENERATED:
            raise OptionError(f"not a generated-task reference: {spec!r}")
        options: dict[str, list[str]] = {}
        for part in filter(None, query.split("&")):
            key, sep, value = part.partition("=")
            if not sep or key not in ("category", "difficulty"):
                raise OptionError(
                    f"bad option {part!r} in {spec!r}: use category=... or difficulty=..."
                )
            options.setdefault(key, []).extend(filter(None, value.split(",")))
        datasets = [n for n in names.split(",") if n] or None
        return cls(
            runtime,
            datasets,
            categories=options.get("category"),
            difficulties=options.get("difficulty"),
        )

    # -- what each seed offers ----------------------------------------------------------------

    def schema(self, dataset: str) -> Schema:
        if dataset not in self._schemas:
            pool = self.runtime.pool(dataset)
            self._schemas[dataset] = {
                s.name.lower(): [c.name.lower() for c in s.columns] for s in pool.shapes
            }
        return self._schemas[dataset]

    def _category(self, seed: SeedQuery, op: Operator) -> Category:
        return "mutation" if seed.kind == "mutation" else op.category

    def _singles(self, dataset: str, seed: SeedQuery) -> list[Operator]:
        """The operators that apply to ``seed`` and give a wanted category and difficulty."""
        key = f"{dataset}\0{seed.id}"
        if key not in self._plans:
            schema = self.schema(dataset)
            self._plans[key] = [
                op
                for op in OPERATORS.values()
                if (op.name != "precedence" or seed.kind == "mutation")
                and op.mutants(seed.tree.copy(), schema)
            ]
        return [
            op
            for op in self._plans[key]
            if self._category(seed, op) in self.categories and op.difficulty in self.difficulties
        ]

    def _multi_allowed(self) -> bool:
        return "multi-bug" in self.categories and "hard" in self.difficulties

    def usable(self, dataset: str, seed: SeedQuery) -> bool:
        """Whether the seed query itself holds the task invariants that concern the solution
        (it runs everywhere, returns rows, cannot be typed out); checked once per seed."""
        key = f"{dataset}\0{seed.id}"
        if key not in self._usable:
            probe = self._task(
                Candidate(-1, dataset, seed, ("probe",), "SELECT 0 WHERE 0"), generator_seed=0
            )
            failed = {
                name for name, _ in failed_invariants(self.runtime, probe, k=self.k, oracle=False)
            }
            self._usable[key] = not failed
        return self._usable[key]

    # -- candidates ---------------------------------------------------------------------------

    def candidate(self, seed: int, index: int) -> Candidate | None:
        """Candidate ``index`` of the run with ``seed`` (None when the draw finds nothing to do)."""
        rng = random.Random(f"sqldebug-generate:{seed}:{index}")
        dataset = rng.choice(self.datasets)
        seeds = self._seeds[dataset]
        if not seeds:
            return None
        query = rng.choice(seeds)
        singles = self._singles(dataset, query)
        multi = self._multi_allowed() and len(self._plans[f"{dataset}\0{query.id}"]) >= 2
        want_multi = multi and (not singles or rng.random() < MULTI_SHARE)
        if not singles and not want_multi:
            return None
        schema = self.schema(dataset)
        if not want_multi:
            # a difficulty, then a category, then one of its operators: so the easy bug classes
            # that apply everywhere do not crowd out the rare ones
            level = rng.choice(sorted({o.difficulty for o in singles}, key=DIFFICULTIES.index))
            tier = [o for o in singles if o.difficulty == level]
            category = rng.choice(sorted({self._category(query, o) for o in tier}))
            op = rng.choice([o for o in tier if self._category(query, o) == category])
            # a typo goes into the seed's own text, keeping its layout
            source = query.sql if op.text_level else query.tree.copy()
            mutant = rng.choice(op.mutants(source, schema))
            broken = mutant if isinstance(mutant, str) else render(mutant)
            return Candidate(index, dataset, query, (op.name,), broken)
        return self._multi(rng, index, dataset, query, schema)

    def _multi(
        self,
        rng: random.Random,
        index: int,
        dataset: str,
        query: SeedQuery,
        schema: Schema,
    ) -> Candidate | None:
        wanted = 2 if rng.random() < 0.75 else 3
        tree: Mutant = query.tree.copy()
        names: list[str] = []
        for _ in range(wanted):
            assert not isinstance(tree, str)
            options = [
                op
                for op in self._plans[f"{dataset}\0{query.id}"]
                if op.name not in names and (not op.text_level or len(names) == wanted - 1)
            ]
            rng.shuffle(options)
            for op in options:
                mutants = op.mutants(tree.copy(), schema)
                if mutants:
                    tree = rng.choice(mutants)
                    names.append(op.name)
                    break
            else:
                break
            if isinstance(tree, str):
                break
        if len(names) < 2:
            return None
        broken = tree if isinstance(tree, str) else render(tree)
        return Candidate(index, dataset, query, tuple(names), broken)

    # -- tasks --------------------------------------------------------------------------------

    def _task(self, cand: Candidate, *, generator_seed: int) -> Task:
        ops = [OPERATORS[n] for n in cand.operators if n in OPERATORS]
        category: Category
        if len(cand.operators) > 1:
            category, difficulty = "multi-bug", "hard"
        elif ops:
            category, difficulty = self._category(cand.seed, ops[0]), ops[0].difficulty
        else:
            category, difficulty = "mutation" if cand.seed.kind == "mutation" else "syntax", "easy"
        digest = hashlib.sha256(f"{cand.seed.id}\0{cand.broken}".encode()).hexdigest()[:8]
        name = f"{_slug(cand.seed.id)}-{'-'.join(cand.operators)}-{digest}"
        return Task(
            id=f"gen/{cand.dataset}/{name}",
            title=cand.seed.title,
            dataset=cand.dataset,
            category=category,
            difficulty=difficulty,
            kind=cand.seed.kind,
            split="train",
            # laid out as a task file keeps them, so a written task reads back equal
            intent=" ".join(cand.seed.intent.split()),
            broken=cand.broken.rstrip() + "\n",
            solution=cand.seed.sql.rstrip() + "\n",
            order_matters=cand.seed.order_matters,
            tables=cand.seed.tables,
            max_steps=10 if len(cand.operators) > 1 else 8,
            hints=list(dict.fromkeys(op.hint for op in ops)),
            tags=["generated", *cand.operators],
            provenance=Provenance(
                seed_query=cand.seed.id,
                operators=list(cand.operators),
                generator_seed=generator_seed,
                index=max(cand.index, 0),
            ),
        )

    def _fingerprint(self, task: Task) -> str:
        """What the broken query does on the visible instance: its answer, or its error."""
        visible = self.runtime.pool(task.dataset).visible
        try:
            answer = self.runtime.grader(task).run(visible, task.broken, checked=True)
        except QueryError as exc:
            return f"error:{exc.kind}:{exc.message}"
        parts = [f"{key}:{sorted(map(repr, res.rows))}" for key, (res, _) in answer.items()]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def check(
        self,
        cand: Candidate,
        *,
        generator_seed: int,
        seen: set[str] | None = None,
    ) -> tuple[Task | None, str]:
        """The candidate as a task, or None and the name of the check it failed.

        ``seen`` (kept across a run) holds the broken queries and answers already taken.
        """
        if not self.usable(cand.dataset, cand.seed):
            return None, "seed-unusable"
        if normal_form(cand.broken) == cand.seed.normal:
            return None, "unchanged"
        task = self._task(cand, generator_seed=generator_seed)
        if seen is not None:
            if f"sql:{cand.broken}" in seen:
                return None, "duplicate-query"
            answer = f"ans:{cand.seed.id}:{self._fingerprint(task)}"
            if answer in seen:
                return None, "duplicate-answer"
        failed = failed_invariants(self.runtime, task, k=self.k, solution_checked=True)
        if failed:
            return None, failed[0][0]
        if seen is not None:
            seen.update((f"sql:{cand.broken}", answer))
        return task, "kept"

    def generate(
        self,
        count: int,
        seed: int = 0,
        *,
        max_candidates: int | None = None,
        on_task: Callable[[Task, Stats], None] | None = None,
    ) -> tuple[list[Task], Stats]:
        """``count`` valid tasks (fewer if ``max_candidates`` run out) and the run's stats."""
        if count < 0:
            raise OptionError("count must be >= 0")
        limit = max_candidates if max_candidates is not None else max(1000, count * 50)
        stats = Stats()
        tasks: list[Task] = []
        seen: set[str] = set()
        started = time.perf_counter()
        for index in range(limit):
            if len(tasks) >= count:
                break
            stats.candidates += 1
            cand = self.candidate(seed, index)
            if cand is None:
                stats.rejected["no-operator"] += 1
                continue
            task, verdict = self.check(cand, generator_seed=seed, seen=seen)
            if task is None:
                stats.rejected[verdict] += 1
                continue
            tasks.append(task)
            stats.kept += 1
            stats.operators.update(cand.operators)
            stats.categories[task.category] += 1
            stats.difficulties[task.difficulty] += 1
            if on_task is not None:
                on_task(task, stats)
        stats.seconds = time.perf_counter() - started
        return tasks, stats

    def task_for(self, seed: int) -> Task:
        """The task an episode with ``seed`` plays: the first valid candidate of that run."""
        for index in range(MAX_TRIES):
            cand = self.candidate(seed, index)
            if cand is not None:
                task, _ = self.check(cand, generator_seed=seed)
                if task is not None:
                    return task
        raise SQLDebugError(
            f"no valid task in {MAX_TRIES} candidates for seed {seed}: "
            "the categories or difficulties asked for may not apply to these datasets' seeds"
        )


def write_tasks(tasks: list[Task], out: Path, runtime: Runtime) -> list[Path]:
    """Write ``tasks`` as task files under ``out`` (a task folder of its own: the datasets they
    use are copied to ``out/datasets``). Returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted({t.dataset for t in tasks}):
        src = runtime.catalog.sources["dataset:" + name]
        dst = out / "datasets" / src.name
        dst.parent.mkdir(exist_ok=True)
        dst.write_bytes(src.read_bytes())
        written.append(dst)
    for task in tasks:
        path = out / (task.id.removeprefix("gen/") + ".yaml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(task_yaml(task), encoding="utf-8")
        written.append(path)
    return written


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def task_yaml(task: Task) -> str:
    """A task as the text of a task file (fields in the model's order, defaults left out)."""
    data = task.model_dump(mode="json", exclude_defaults=True)
    data["split"] = task.split
    ordered = {k: data[k] for k in Task.model_fields if k in data}
    return yaml.dump(ordered, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
