"""What episodes share: the catalog, each dataset's instances, each task's grader.

Everything here is built once per process and read by any number of episodes (and threads): an
episode itself holds only its own history, which is what keeps a live episode small.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqldebug.catalog import Catalog, load_catalog
from sqldebug.database import DatasetError, Instance, Limits
from sqldebug.errors import TaskFileError
from sqldebug.grading import Grader
from sqldebug.models import ResultTable
from sqldebug.spec import Task
from sqldebug.variants import InstancePool

if TYPE_CHECKING:
    from sqldebug.generation.generator import Generator

T = TypeVar("T")

#: How many generated tasks' graders a runtime keeps (an endless curriculum must not grow).
GENERATED_GRADERS = 4096
#: How many generators (one per distinct ``generated:...`` reference) a runtime keeps.
GENERATORS = 32


@dataclass
class Runtime:
    """Instance pools and graders for one catalog, under one set of limits."""

    catalog: Catalog
    pool_size: int = 16
    limits: Limits = field(default_factory=Limits)
    sample_size: int = 5
    _pools: dict[str, InstancePool] = field(default_factory=dict, repr=False)
    _graders: dict[str, Grader] = field(default_factory=dict, repr=False)
    # generated tasks come and go: their graders are kept in a bounded LRU, and graders of tasks
    # with one solution share its answers (the seed query's)
    _generated: OrderedDict[str, Grader] = field(default_factory=OrderedDict, repr=False)
    _answers: dict[tuple[str, str, tuple[str, ...], str], dict[str, Any]] = field(
        default_factory=dict, repr=False
    )
    _generators: OrderedDict[str, Any] = field(default_factory=OrderedDict, repr=False)
    _samples: dict[str, dict[str, ResultTable]] = field(default_factory=dict, repr=False)
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def memo(self, key: Any, make: Callable[[], T]) -> T:
        """A value computed once per runtime (e.g. the unchanging part of a task's prompt)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]  # type: ignore[no-any-return]

    def pool(self, dataset_id: str) -> InstancePool:
        pool = self._pools.get(dataset_id)
        if pool is None:
            with self._lock:
                pool = self._pools.get(dataset_id)
                if pool is None:
                    ds = self.catalog.datasets[dataset_id]
                    try:
                        pool = InstancePool(
                            ds.id, ds.ddl, ds.rows, size=self.pool_size, limits=self.limits
                        )
                    except DatasetError as exc:
                        raise TaskFileError(
                            self.catalog.sources["dataset:" + dataset_id], str(exc), field=exc.field
                        ) from None
                    self._pools[dataset_id] = pool
        return pool

    def grader(self, task: Task) -> Grader:
        if task.provenance is not None:
            return self._generated_grader(task)
        grader = self._graders.get(task.id)
        if grader is None:
            grader = self._graders.setdefault(task.id, Grader(task, self._shared_answers(task)))
        return grader

    def _shared_answers(self, task: Task) -> dict[str, Any]:
        key = (task.dataset, task.kind, tuple(task.tables), task.solution)
        with self._lock:
            return self._answers.setdefault(key, {})

    def _generated_grader(self, task: Task) -> Grader:
        with self._lock:
            grader = self._generated.get(task.id)
            if grader is not None and grader.task == task:
                self._generated.move_to_end(task.id)
                return grader
        grader = Grader(task, self._shared_answers(task))
        with self._lock:
            self._generated[task.id] = grader
            while len(self._generated) > GENERATED_GRADERS:
                self._generated.popitem(last=False)
        return grader

    def generator(self, spec: str) -> Generator:
        """The task generator for a ``generated:...`` task reference (one per spec)."""
        from sqldebug.generation.generator import Generator

        with self._lock:
            gen = self._generators.get(spec)
            if gen is not None:
                self._generators.move_to_end(spec)
                return gen  # type: ignore[no-any-return]
        gen = Generator.from_spec(self, spec)  # raises on a bad reference: nothing is kept
        with self._lock:
            self._generators[spec] = gen
            while len(self._generators) > GENERATORS:  # references come from clients: bounded
                self._generators.popitem(last=False)
        return gen

    def instances(
        self, task: Task, seed: int, k: int, *, perturb_visible: bool = False
    ) -> list[Instance]:
        """The visible instance first, then the ``k`` hidden ones the seed draws.

        With ``perturb_visible`` one more variant is drawn and plays the visible part.
        """
        pool = self.pool(task.dataset)
        drawn = [pool.variant(i) for i in pool.draw(seed, k + (1 if perturb_visible else 0))]
        return drawn if perturb_visible else [pool.visible, *drawn]

    def samples(self, task: Task, visible: Instance) -> dict[str, ResultTable]:
        """The first rows of every table of the visible instance (shared by all its episodes)."""
        key = f"{task.dataset}/{visible.key}"
        cached = self._samples.get(key)
        if cached is None:
            pool = self.pool(task.dataset)
            cached = {}
            for shape in pool.shapes:
                res = visible.reader().run(
                    f'SELECT * FROM "{shape.name}"', max_rows=self.sample_size
                )
                total = visible.reader().run(f'SELECT count(*) FROM "{shape.name}"').rows[0][0]
                cached[shape.name] = ResultTable(
                    columns=res.columns,
                    rows=[list(r) for r in res.rows],
                    row_count=total,
                    truncated=res.truncated,
                )
            self._samples[key] = cached
        return cached

    def warm(self) -> None:
        """Build every instance and expected answer now, so no episode pays for it later."""
        for ds in self.catalog.datasets:
            self.pool(ds).warm()
        for task in self.catalog.tasks.values():
            pool = self.pool(task.dataset)
            grader = self.grader(task)
            for inst in [pool.visible, *(pool.variant(i) for i in range(pool.size))]:
                grader.expected(inst)


_RUNTIMES: dict[tuple[str, str, int, Limits], Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def get_runtime(
    tasks: str | os.PathLike[str] | None = None,
    *,
    pool_size: int = 16,
    limits: Limits | None = None,
) -> Runtime:
    """The shared runtime for a task folder and configuration (one per process)."""
    catalog = load_catalog(tasks)
    limits = limits or Limits()
    key = (str(catalog.root), catalog.digest, pool_size, limits)
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(key)
        if runtime is None:
            runtime = _RUNTIMES[key] = Runtime(catalog, pool_size=pool_size, limits=limits)
    return runtime
