"""What episodes share: the catalog, each dataset's instances, each task's grader.

Everything here is built once per process and read by any number of episodes (and threads): an
episode itself holds only its own history, which is what keeps a live episode small.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sqldebug.catalog import Catalog, load_catalog
from sqldebug.errors import TaskFileError
from sqldebug.grading import Baseline, Grader
from sqldebug.instances import DatasetError, Instance, generated_rows
from sqldebug.models import ResultTable
from sqldebug.sandbox import Limits, QueryError
from sqldebug.spec import Task
from sqldebug.variants import SPACE, InstancePool, deployment_secret

#: the VM-instruction budget of a statement grows with the dataset: this many per visible row
#: (a warehouse of 40,000 rows gets 40 million, ~0.2-0.4 s of SQLite; the bundled small datasets
#: keep the default 5 million); the wall-clock deadline holds whatever the budget
STEPS_PER_ROW = 1_000

T = TypeVar("T")

#: How many generated tasks' graders a runtime keeps (an endless curriculum must not grow).
GENERATED_GRADERS = 4096
#: How many instance sets a reset draws at most, looking for one that exposes the bug.
DRAW_ATTEMPTS = 16


@dataclass
class Runtime:
    """Instance pools and graders for one catalog, under one set of limits."""

    catalog: Catalog
    pool_size: int = SPACE
    limits: Limits = field(default_factory=Limits)
    sample_size: int = 5
    #: keys the hidden instances (see :mod:`sqldebug.variants`); "" is the public default
    secret: str = field(default="", repr=False)
    _pools: dict[str, InstancePool] = field(default_factory=dict, repr=False)
    _graders: dict[str, Grader] = field(default_factory=dict, repr=False)
    # generated tasks come and go: their graders are kept in a bounded LRU (the solution's
    # answers live on the instances, so tasks made from one seed query share them)
    _generated: OrderedDict[str, Grader] = field(default_factory=OrderedDict, repr=False)
    _bounded: dict[str, OrderedDict[Hashable, Any]] = field(default_factory=dict, repr=False)
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
                        rows = (
                            ds.rows
                            if ds.generate is None
                            else generated_rows(ds.ddl, ds.rows, ds.generate)
                        )
                        limits = self.limits
                        # a big dataset's statements need more VM instructions: at least
                        # STEPS_PER_ROW per visible row, or the dataset's own vm_steps
                        wanted = max(
                            ds.vm_steps or 0,
                            STEPS_PER_ROW * sum(len(table) for table in rows.values()),
                        )
                        if wanted > limits.vm_steps:
                            limits = replace(limits, vm_steps=wanted)
                        if ds.deadline_s is not None and ds.deadline_s > limits.deadline_s:
                            limits = replace(limits, deadline_s=ds.deadline_s)
                        pool = InstancePool(
                            ds.id,
                            ds.ddl,
                            rows,
                            size=min(self.pool_size, ds.variants or self.pool_size),
                            limits=limits,
                            secret=self.secret,
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
            grader = self._graders.setdefault(task.id, Grader(task))
        return grader

    def _generated_grader(self, task: Task) -> Grader:
        with self._lock:
            grader = self._generated.get(task.id)
            if grader is not None and grader.task == task:
                self._generated.move_to_end(task.id)
                return grader
        grader = Grader(task)
        with self._lock:
            self._generated[task.id] = grader
            while len(self._generated) > GENERATED_GRADERS:
                self._generated.popitem(last=False)
        return grader

    def bounded(self, kind: str, key: Hashable, make: Callable[[], T], *, most: int) -> T:
        """The value of ``kind`` kept for ``key``, made by ``make`` the first time, in a
        least-recently-used cache of at most ``most`` values per kind (for values keyed by what
        clients send, such as generated-task references, which must not grow without bound).
        ``make`` runs outside the lock, and a value it fails to make is not kept."""
        with self._lock:
            cache = self._bounded.setdefault(kind, OrderedDict())
            if key in cache:
                cache.move_to_end(key)
                return cache[key]  # type: ignore[no-any-return]
        value = make()
        with self._lock:
            cache[key] = value
            while len(cache) > most:
                cache.popitem(last=False)
        return value

    def instances(
        self, task: Task, seed: int, k: int, *, perturb_visible: bool = False, attempt: int = 0
    ) -> list[Instance]:
        """The visible instance first, then the ``k`` hidden ones the seed draws.

        With ``perturb_visible`` one more variant is drawn and plays the visible part.
        """
        pool = self.pool(task.dataset)
        wanted = k + (1 if perturb_visible else 0)
        drawn = [pool.variant(i) for i in pool.draw(seed, wanted, attempt)]
        return drawn if perturb_visible else [pool.visible, *drawn]

    def episode(
        self, task: Task, seed: int, k: int, *, perturb_visible: bool = False
    ) -> tuple[list[Instance], Baseline]:
        """The instances an episode of ``task`` with ``seed`` is graded on, and the broken query's
        baseline there.

        The seed's first draw is kept when some hidden instance in it exposes the bug (fails the
        broken query and has another answer than the visible one: :meth:`Grader.exposes`);
        otherwise the seed draws again, up to :data:`DRAW_ATTEMPTS` times, deterministically. So
        "the typed-out answer when the data looks visible, the broken query otherwise" cannot pass
        an episode. ``tasks validate`` checks that the first draws of a sample of seeds expose
        the bug often (``hidden-exposes-bug``), so redraws are rare and cheap.
        """
        grader = self.grader(task)
        for attempt in range(DRAW_ATTEMPTS):
            instances = self.instances(
                task, seed, k, perturb_visible=perturb_visible, attempt=attempt
            )
            baseline = grader.baseline(instances)
            if baseline.exposes:
                break
        return instances, baseline

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

    def warm(self, seeds: int = 4, k: int = 4) -> None:
        """Build the visible instances, the hidden ones that seeds ``0 .. seeds-1`` draw first,
        and every task's answers on them now, so the first episodes do not pay for it."""
        for task in self.catalog.tasks.values():
            pool = self.pool(task.dataset)
            grader = self.grader(task)
            for inst in [pool.visible, *(pool.variant(i) for i in pool.sample(seeds, k))]:
                try:
                    grader.expected(inst)
                except QueryError as exc:  # the task file is at fault: say which, in one line
                    raise TaskFileError(
                        self.catalog.sources.get(task.id, task.id),
                        f"{task.id}: the solution does not run on instance {inst.key}: "
                        f"{exc.kind}: {exc.message}",
                    ) from None


_RUNTIMES: dict[tuple[str, str, int, Limits, str], Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def get_runtime(
    tasks: str | os.PathLike[str] | None = None,
    *,
    pool_size: int = SPACE,
    limits: Limits | None = None,
    secret: str | None = None,
) -> Runtime:
    """The shared runtime for a task folder and configuration (one per process).

    ``secret`` keys the hidden instances; by default ``$SQLDEBUG_SECRET`` (or the public "").
    """
    catalog = load_catalog(tasks)
    limits = limits or Limits()
    secret = deployment_secret() if secret is None else secret
    key = (str(catalog.root), catalog.digest, pool_size, limits, secret)
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(key)
        if runtime is None:
            runtime = _RUNTIMES[key] = Runtime(
                catalog, pool_size=pool_size, limits=limits, secret=secret
            )
    return runtime
