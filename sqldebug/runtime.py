"""What episodes share: the catalog, each dataset's instances, each task's grader.

Everything here is built once per process and read by any number of episodes (and threads): an
episode itself holds only its own history, which is what keeps a live episode small.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqldebug.catalog import Catalog, load_catalog
from sqldebug.database import DatasetError, Instance, Limits
from sqldebug.errors import TaskFileError
from sqldebug.grading import Grader
from sqldebug.models import ResultTable
from sqldebug.spec import Task
from sqldebug.variants import InstancePool

T = TypeVar("T")


@dataclass
class Runtime:
    """Instance pools and graders for one catalog, under one set of limits."""

    catalog: Catalog
    pool_size: int = 16
    limits: Limits = field(default_factory=Limits)
    sample_size: int = 5
    _pools: dict[str, InstancePool] = field(default_factory=dict, repr=False)
    _graders: dict[str, Grader] = field(default_factory=dict, repr=False)
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
        grader = self._graders.get(task.id)
        if grader is None:
            grader = self._graders.setdefault(task.id, Grader(task))
        return grader

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
