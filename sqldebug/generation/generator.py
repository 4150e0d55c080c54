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

from sqldebug.errors import OptionError, SQLDebugError
from sqldebug.generation.operators import OPERATORS, Mutant, Operator, Schema, render
from sqldebug.generation.seeds import SeedQuery, load_seeds
from sqldebug.generation.splice import splice
from sqldebug.sandbox import QueryError
from sqldebug.spec import CATEGORIES, Category, Difficulty, Provenance, Task
from sqldebug.validate import failed_invariants, normal_form

if TYPE_CHECKING:
    from sqldebug.grading import Answer, Grader
    from sqldebug.runtime import Runtime

#: The prefix of a task reference that asks for a generated task: ``generated:shop``,
#: ``generated:shop,hr?category=window&difficulty=hard``, or ``generated`` (every dataset).
GENERATED = "generated"
DIFFICULTIES: tuple[Difficulty, ...] = ("easy", "medium", "hard")
#: The share of candidates that get two or three bugs (when multi-bug tasks are wanted).
MULTI_SHARE = 0.2
#: Candidates tried for one task of an endless curriculum before giving up.
MAX_TRIES = 200
#: The bug classes that a glance at the error message fixes. A run that may make other classes
#: keeps at most this share of its tasks in them (an endless curriculum: of its seeds, on average).
TRIVIAL: frozenset[str] = frozenset({"syntax", "unknown-identifier"})
TRIVIAL_SHARE = 0.2
#: Difficulty is measured: the search agent (sqldebug.agents.search) plays each kept task for
#: CALIBRATION_EPISODES episodes (episode seeds 0, 1, ...). Solved in every episode within
#: EASY_STEPS submissions: easy; solved in some episode within the task's max_steps: medium;
#: never solved: hard.
CALIBRATION_EPISODES = 1
EASY_STEPS = 2


@dataclass(frozen=True)
class Candidate:
    """One proposed task: a seed query with bugs injected."""

    index: int
    dataset: str
    seed: SeedQuery
    operators: tuple[str, ...]
    broken: str
    #: the broken text is sqlglot's full reprint (the seed's layout could not be kept)
    reprinted: bool = False


@dataclass(frozen=True)
class Calibration:
    """What the search agent did on a task: the episodes it solved, and in how many steps."""

    episodes: int
    steps: tuple[int | None, ...]  # per episode: submissions to solve, None if unsolved

    @property
    def solve_rate(self) -> float:
        return sum(s is not None for s in self.steps) / self.episodes

    @property
    def difficulty(self) -> Difficulty:
        if all(s is not None and s <= EASY_STEPS for s in self.steps):
            return "easy"
        return "medium" if self.solve_rate > 0 else "hard"


@dataclass
class Stats:
    """What a run tried and why it threw candidates away."""

    candidates: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    operators: Counter[str] = field(default_factory=Counter)  # in kept tasks
    categories: Counter[str] = field(default_factory=Counter)
    difficulties: Counter[str] = field(default_factory=Counter)
    reprinted: int = 0  # kept tasks whose broken text is a full reprint, not a splice
    calibrated: int = 0  # tasks the search agent played
    calibration_seconds: float = 0.0
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
            "reprinted": self.reprinted,
            "reprinted_share": round(self.reprinted / self.kept, 3) if self.kept else None,
            "calibrated": self.calibrated,
            "calibration_seconds": round(self.calibration_seconds, 2),
        }


def _slug(seed: SeedQuery) -> str:
    """The seed's part of a task id. A bank query's id names what it answers; a curated task's
    id names its own bug, so a curated seed is named by the first words of its title instead."""
    if not seed.id.startswith("task:"):
        return seed.id.replace("/", "-")
    words = "".join(c if c.isalnum() else " " for c in seed.title.lower()).split()
    return "-".join(words[:5]) or "query"


def _subject(seed: SeedQuery) -> str:
    """The seed's title as the subject of a task title: a curated seed's title (the first words
    of its intent) is cut at its first aside, so no half clause dangles."""
    title = seed.title.removesuffix(" ...")
    for mark in (" (", ":", ";", ","):
        head = title.split(mark)[0]
        if len(head.split()) >= 3:
            title = head
    return title.rstrip(" ,;:(")


def symptom(grader: Grader, broken: Answer | QueryError, expected: Answer) -> str:
    """What a user of the broken query sees go wrong on the visible data, in a few words: the
    symptom, never the cause (titles must not give the bug away)."""
    if isinstance(broken, QueryError):
        if broken.kind == "syntax":
            return "stops with a syntax error"
        if broken.kind == "binding":
            return "stops on a name the database does not know"
        return "fails to run"
    for key, (want, want_canon) in expected.items():
        got, got_canon = broken[key]
        if grader.same_answer({key: (want, want_canon)}, {key: (got, got_canon)}):
            continue
        fewer, more = len(got.rows) < len(want.rows), len(got.rows) > len(want.rows)
        if key:  # a mutation task (a query's result has the key ""): the table's final state
            if fewer:
                return f"leaves too few rows in {key}"
            return f"leaves too many rows in {key}" if more else f"leaves wrong values in {key}"
        if not got.rows:
            return "returns no rows"
        if fewer:
            return "misses some rows"
        if more:
            return "returns too many rows"
        if sorted(map(repr, got.rows)) == sorted(map(repr, want.rows)):
            return "lists the rows in the wrong order"
        return "gets some values wrong"
    return "gets the answer wrong"


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
        # by default the small datasets only: a warehouse's (generated rows) seeds cost 10-100x
        # to validate and calibrate (one search episode on subs-dw: ~14 s), so it is used when
        # named (--dataset subs-dw), or when it is all there is
        small = [n for n, ds in catalog.datasets.items() if ds.generate is None]
        self.datasets = sorted(datasets or small or catalog.datasets)
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
        self._curated_answers: dict[str, list[tuple[Grader, Answer | QueryError, Answer]]] = {}
        #: the ``generated:...`` reference this generator was made from (a task source's name)
        self.reference: str | None = None

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
        made = cls(
            runtime,
            datasets,
            categories=options.get("category"),
            difficulties=options.get("difficulty"),
        )
        made.reference = spec
        return made

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
        """The operators that apply to ``seed`` and give a wanted category. (An operator's
        ``difficulty`` is only the tier the sampler draws from: a task's difficulty is measured,
        see :meth:`calibrate`, so it is not a filter here.)"""
        key = f"{dataset}\0{seed.id}"
        if key not in self._plans:
            schema = self.schema(dataset)
            self._plans[key] = [
                op
                for op in OPERATORS.values()
                if (op.name != "precedence" or seed.kind == "mutation")
                and op.mutants(seed.tree.copy(), schema)
            ]
        return [op for op in self._plans[key] if self._category(seed, op) in self.categories]

    def _multi_allowed(self) -> bool:
        return "multi-bug" in self.categories

    def _trivial_capped(self) -> bool:
        """Whether the trivial classes are held to TRIVIAL_SHARE: when other classes are wanted
        too (asking for ``--category syntax`` alone gets only syntax tasks)."""
        return bool(self.categories - TRIVIAL)

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
            # a typo goes into the seed's own text; a tree edit is spliced into it
            source = query.sql if op.text_level else query.tree.copy()
            mutant = rng.choice(op.mutants(source, schema))
            broken, reprinted = self._text(query, mutant)
            return Candidate(index, dataset, query, (op.name,), broken, reprinted)
        return self._multi(rng, index, dataset, query, schema)

    @staticmethod
    def _text(query: SeedQuery, mutant: Mutant) -> tuple[str, bool]:
        """The broken query's text: the seed's own text with only the edit spliced in, or (when
        that cannot be done) sqlglot's reprint of the whole tree; and whether it is a reprint."""
        if isinstance(mutant, str):
            return mutant, False
        spliced = splice(query.sql, query.tree, mutant)
        return (spliced, False) if spliced is not None else (render(mutant), True)

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
        reprinted = False
        for _ in range(wanted):
            assert not isinstance(tree, str)
            options = [
                op
                for op in self._plans[f"{dataset}\0{query.id}"]
                if op.name not in names and (not op.text_level or len(names) == wanted - 1)
            ]
            rng.shuffle(options)
            for op in options:
                source: Mutant = tree.copy()
                if op.text_level:  # a typo (always the last bug) goes into the text made so far
                    source, reprinted = self._text(query, tree)
                mutants = op.mutants(source, schema)
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
        if isinstance(tree, str):
            broken = tree
        else:
            broken, reprinted = self._text(query, tree)
        return Candidate(index, dataset, query, tuple(names), broken, reprinted)

    # -- tasks --------------------------------------------------------------------------------

    def _task(
        self,
        cand: Candidate,
        *,
        generator_seed: int,
        title: str | None = None,
        difficulty: Difficulty = "medium",
    ) -> Task:
        """The candidate as a task. Nothing an agent sees (id, title, tags: the observation and
        its prompt) names an operator; the operators are kept in ``provenance``, for trainers.
        ``title`` and ``difficulty`` are filled in by :meth:`check` once measured."""
        ops = [OPERATORS[n] for n in cand.operators if n in OPERATORS]
        category: Category
        if len(cand.operators) > 1:
            category = "multi-bug"
        elif ops:
            category = self._category(cand.seed, ops[0])
        else:
            category = "mutation" if cand.seed.kind == "mutation" else "syntax"
        digest = hashlib.sha256(f"{cand.seed.id}\0{cand.broken}".encode()).hexdigest()[:8]
        return Task(
            id=f"gen/{cand.dataset}/{_slug(cand.seed)}-{digest}",
            title=title or _subject(cand.seed),
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
            tags=["generated"],
            provenance=Provenance(
                seed_query=cand.seed.id,
                operators=list(cand.operators),
                generator_seed=generator_seed,
                index=max(cand.index, 0),
            ),
        )

    def _answers(self, task: Task) -> tuple[Answer | QueryError, Answer]:
        """The broken query's answer on the visible instance (or its error), and the solution's."""
        visible = self.runtime.pool(task.dataset).visible
        grader = self.runtime.grader(task)
        expected = grader.expected(visible)
        try:
            return grader.run(visible, task.broken, checked=True), expected
        except QueryError as exc:
            return exc, expected

    @staticmethod
    def _fingerprint(broken: Answer | QueryError) -> str:
        """A hash of what the broken query does on the visible instance (answer or error)."""
        if isinstance(broken, QueryError):
            return f"error:{broken.kind}:{broken.message}"
        parts = [f"{key}:{sorted(map(repr, res.rows))}" for key, (res, _) in broken.items()]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _curated(self, dataset: str) -> list[tuple[Grader, Answer | QueryError, Answer]]:
        """Every curated task of ``dataset`` (both splits) with its broken query's and its
        solution's answers on the visible instance; computed once per dataset."""
        if dataset not in self._curated_answers:
            from sqldebug.grading import Grader

            found = []
            for task in self.runtime.catalog.tasks.values():
                if task.dataset != dataset or task.provenance is not None:
                    continue
                grader = Grader(task)
                visible = self.runtime.pool(dataset).visible
                try:
                    expected = grader.run(visible, task.solution)
                except QueryError:
                    continue  # `sqldebug tasks validate` names that task
                try:
                    broken: Answer | QueryError = grader.run(visible, task.broken, checked=True)
                except QueryError as exc:
                    broken = exc
                found.append((grader, broken, expected))
            self._curated_answers[dataset] = found
        return self._curated_answers[dataset]

    def duplicates_curated(self, task: Task, broken: Answer | QueryError, expected: Answer) -> bool:
        """Whether ``task`` is a curated task again: on the visible instance, its broken query
        answers as some curated task's broken query does (or fails with the same error) and its
        solution as that task's solution, compared as that task is graded
        (:meth:`sqldebug.grading.Grader.same_answer`)."""
        for grader, c_broken, c_expected in self._curated(task.dataset):
            if grader.task.kind != task.kind or not grader.same_answer(c_expected, expected):
                continue
            if isinstance(c_broken, QueryError) or isinstance(broken, QueryError):
                if (
                    isinstance(c_broken, QueryError)
                    and isinstance(broken, QueryError)
                    and (c_broken.kind, c_broken.message) == (broken.kind, broken.message)
                ):
                    return True
            elif grader.same_answer(c_broken, broken):
                return True
        return False

    def calibrate(self, task: Task) -> Calibration:
        """The search agent's play of ``task``: CALIBRATION_EPISODES episodes, each within the
        task's ``max_steps``."""
        from sqldebug.agents.search import SearchAgent
        from sqldebug.env import SQLDebugEnv

        env = SQLDebugEnv(self.runtime, [task])
        agent = SearchAgent()
        steps: list[int | None] = []
        try:
            for episode in range(CALIBRATION_EPISODES):
                obs, info = env.reset(seed=episode)
                agent.reset(obs, info)
                done = False
                while not done:
                    obs, _, terminated, truncated, info = env.step(agent.act(obs))
                    done = terminated or truncated
                steps.append(env.step_count if env.solved else None)
        finally:
            agent.close()
        return Calibration(CALIBRATION_EPISODES, tuple(steps))

    def check(
        self,
        cand: Candidate,
        *,
        generator_seed: int,
        seen: set[str] | None = None,
        trivial_ok: bool = True,
        stats: Stats | None = None,
    ) -> tuple[Task | None, str]:
        """The candidate as a task, or None and the name of the check it failed.

        ``seen`` (kept across a run) holds the broken queries and answers already taken;
        ``trivial_ok`` False turns away a candidate of a trivial class (``trivial-share``).
        """
        if not self.usable(cand.dataset, cand.seed):
            return None, "seed-unusable"
        if normal_form(cand.broken) == cand.seed.normal:
            return None, "unchanged"
        task = self._task(cand, generator_seed=generator_seed)
        if not trivial_ok and task.category in TRIVIAL:
            return None, "trivial-share"
        if seen is not None and f"sql:{cand.broken}" in seen:
            return None, "duplicate-query"
        broken, expected = self._answers(task)
        answer = f"ans:{cand.seed.id}:{self._fingerprint(broken)}"
        if seen is not None and answer in seen:
            return None, "duplicate-answer"
        if self.duplicates_curated(task, broken, expected):
            return None, "duplicate-curated"
        failed = failed_invariants(self.runtime, task, k=self.k, solution_checked=True)
        if failed:
            return None, failed[0][0]
        title = f"{_subject(cand.seed)}: {symptom(self.runtime.grader(task), broken, expected)}"
        started = time.perf_counter()
        measured = self.calibrate(task)
        if stats is not None:
            stats.calibrated += 1
            stats.calibration_seconds += time.perf_counter() - started
        if measured.difficulty not in self.difficulties:
            return None, "difficulty-mismatch"
        task = self._task(
            cand, generator_seed=generator_seed, title=title, difficulty=measured.difficulty
        )
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
        """``count`` valid tasks (fewer if ``max_candidates`` run out) and the run's stats. When
        other classes are wanted too, at most ``TRIVIAL_SHARE`` of ``count`` are trivial."""
        if count < 0:
            raise OptionError("count must be >= 0")
        limit = max_candidates if max_candidates is not None else max(1000, count * 50)
        trivial_cap = int(TRIVIAL_SHARE * count) if self._trivial_capped() else count
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
            trivial = sum(stats.categories[c] for c in TRIVIAL)
            task, verdict = self.check(
                cand, generator_seed=seed, seen=seen, trivial_ok=trivial < trivial_cap, stats=stats
            )
            if task is None:
                stats.rejected[verdict] += 1
                continue
            tasks.append(task)
            stats.kept += 1
            stats.reprinted += cand.reprinted
            stats.operators.update(cand.operators)
            stats.categories[task.category] += 1
            stats.difficulties[task.difficulty] += 1
            if on_task is not None:
                on_task(task, stats)
        stats.seconds = time.perf_counter() - started
        return tasks, stats

    def task_for(self, seed: int) -> Task:
        """The task an episode with ``seed`` plays: the first valid candidate of that run. A
        trivial class is allowed on only TRIVIAL_SHARE of the seeds (drawn from the seed)."""
        trivial_ok = not self._trivial_capped() or (
            random.Random(f"sqldebug-trivial:{seed}").random() < TRIVIAL_SHARE
        )
        for index in range(MAX_TRIES):
            cand = self.candidate(seed, index)
            if cand is not None:
                task, _ = self.check(cand, generator_seed=seed, trivial_ok=trivial_ok)
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
