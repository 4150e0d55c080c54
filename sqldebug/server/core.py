"""What the server's routes share: the runtime, the session store, the worker threads, metrics.

Every route is a thin face over :class:`ServerCore`: it parses the request, calls one method here
(which runs the engine on a worker thread, off the event loop) and writes the answer. The event
loop never runs SQL: a hostile statement holds one worker thread until its deadline, and
``/health`` and every other session keep answering meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqldebug.actions import parse_action
from sqldebug.api import resolver
from sqldebug.env import EnvConfig, SQLDebugEnv
from sqldebug.models import Observation
from sqldebug.runtime import Runtime, get_runtime
from sqldebug.sessions import Session, SessionStore

T = TypeVar("T")

#: a session whose recent requests cost more CPU seconds than this (see ``Session.cost``) is
#: served on the heavy lane: one hostile statement holds a worker for up to its deadline, and
#: it must not hold the threads that every other session waits for
HEAVY_COST_S = 0.05


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``sqldebug serve`` can set."""

    tasks: str | None = None
    max_sessions: int = 1024
    session_ttl: float = 600.0
    threads: int = 4
    max_body_bytes: int = 1_000_000
    runs: str | None = None  # a bench runs folder, for /benchmark
    warm: bool = True  # build every instance at start-up
    env: EnvConfig = field(default_factory=EnvConfig)
    worker: int = 0  # this process's index among --workers
    peers: tuple[str, ...] = ()  # every worker's Unix socket, by index (empty: one process)


class Latency:
    """Recent durations of one operation (a bounded window), for /benchmark."""

    def __init__(self, size: int = 4096) -> None:
        self._window: deque[float] = deque(maxlen=size)
        self.count = 0

    def add(self, seconds: float) -> None:
        self._window.append(seconds)
        self.count += 1

    def summary(self) -> dict[str, Any]:
        data = sorted(self._window)
        if not data:
            return {"count": self.count, "p50_ms": None, "p95_ms": None, "max_ms": None}

        def pct(q: float) -> float:
            return round(data[min(len(data) - 1, int(q * len(data)))] * 1e3, 3)

        return {
            "count": self.count,
            "p50_ms": pct(0.5),
            "p95_ms": pct(0.95),
            "max_ms": round(data[-1] * 1e3, 3),
        }


def step_payload(
    obs: Observation, reward: float | None, done: bool, info: dict[str, Any], **extra: Any
) -> bytes:
    """The seed server's response shape, ``{observation, reward, done, info}``, as JSON bytes.

    The observation is serialised by pydantic (in Rust) and spliced in, so the hot path never
    round-trips it through Python dicts.
    """
    head = json.dumps(
        {"reward": reward, "done": done, "info": info, **extra}, separators=(",", ":")
    )
    return b'{"observation":' + obs.model_dump_json().encode() + b"," + head[1:].encode()


class ServerCore:
    """The runtime, the sessions and the worker threads behind every route."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.runtime: Runtime = get_runtime(
            config.tasks, pool_size=config.env.pool_size, limits=config.env.limits
        )
        self.tasks = list(self.runtime.catalog.tasks.values())
        self.store = SessionStore(
            self._new_env,
            capacity=config.max_sessions,
            ttl=config.session_ttl,
            new_id=self._new_session_id,
        )
        self.executor: ThreadPoolExecutor | None = None  # the lane every session starts on
        self.heavy: ThreadPoolExecutor | None = None  # the lane for costly sessions
        self.latency = {name: Latency() for name in ("health", "reset", "step")}
        self.started = time.time()
        self._warm_lock = threading.Lock()

    def owner(self, session_id: str) -> int:
        """The worker that owns a session id (always 0 with one process)."""
        return owner_of(session_id, len(self.config.peers))

    def _new_session_id(self) -> str:
        """A fresh id that this worker owns, so requests for it are routed here."""
        while True:
            sid = secrets.token_hex(12)
            if self.owner(sid) == self.config.worker:
                return sid

    def _new_env(self) -> SQLDebugEnv:
        return SQLDebugEnv(
            self.runtime, self.tasks, self.config.env, resolve=resolver(self.runtime)
        )

    def warm(self) -> None:
        with self._warm_lock:
            self.runtime.warm()

    def start(self) -> None:
        """Start the worker threads (the app's lifespan calls this; it may run more than once).

        Two lanes: ``--threads`` workers for every session, and half as many (at least one) for
        sessions whose recent steps were costly. A session that sent a statement running to its
        deadline waits behind others like it, not in front of everyone.
        """
        if self.executor is None:
            self.heavy = ThreadPoolExecutor(
                max_workers=max(1, self.config.threads // 2),
                thread_name_prefix="sqldebug-heavy",
                initializer=_yield_to_the_loop,
                initargs=(10,),
            )
            self.executor = ThreadPoolExecutor(
                max_workers=self.config.threads,
                thread_name_prefix="sqldebug-step",
                initializer=_yield_to_the_loop,
                initargs=(10,),
            )

    def stop(self) -> None:
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        heavy, self.heavy = self.heavy, None
        if heavy is not None:
            heavy.shutdown(wait=False, cancel_futures=True)

    def lane(self, session_id: object) -> ThreadPoolExecutor:
        """The executor for a request on ``session_id``: heavy if its recent cost is high."""
        self.start()
        assert self.executor is not None and self.heavy is not None
        return self.heavy if self.store.cost(session_id) > HEAVY_COST_S else self.executor

    async def run(self, fn: Callable[[], T], session_id: object = None) -> T:
        """Run engine work on a worker thread: the event loop keeps serving meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self.lane(session_id), fn)

    def timed(self, op: str, fn: Callable[[], T], charge: Session | None = None) -> T:
        """Run ``fn``, recording its latency; its CPU time is charged to the session ``charge``.

        Steps are charged (their SQL is the client's), resets are not (their cost is the
        engine's: building instances). CPU time of this thread, not wall time: an ordinary step
        slowed down by a busy machine must not be taken for a costly one and sent to wait behind
        the hostile statements.
        """
        t0, cpu0 = time.perf_counter(), time.thread_time()
        try:
            return fn()
        finally:
            self.latency[op].add(time.perf_counter() - t0)
            if charge is not None:
                charge.charge(time.thread_time() - cpu0)

    # -- operations (each runs on a worker thread) ---------------------------------------------

    def hold(self, session_id: str) -> contextlib.AbstractContextManager[Session]:
        """A session for one request: waits for its lock (on the worker thread, never the loop)."""
        return self.store.using(session_id, wait=True)

    def reset(
        self,
        session_id: str | None,
        task_id: str | None,
        seed: int | None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Session, Observation, dict[str, Any]]:
        fresh = session_id is None or session_id not in self.store
        session = self.store.create(session_id)
        opts = dict(options or {})
        if task_id is not None:
            opts["task_id"] = task_id
        try:
            with self.hold(session.id) as held:
                obs, info = self.timed("reset", lambda: held.env.reset(seed=seed, options=opts))
        except Exception:
            if fresh:  # a reset that failed (say, an unknown task) leaves no half-made session
                with contextlib.suppress(KeyError):
                    self.store.delete(session.id)
            raise
        return session, obs, info

    def step(
        self, session_id: str, action: Any, *, review: bool = False
    ) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        act = parse_action(action)
        if review and not act.review:
            act = act.model_copy(update={"review": True})
        with self.hold(session_id) as held:
            return self.timed("step", lambda: held.env.step(act), charge=held)

    def benchmark(self) -> dict[str, Any]:
        """Live latency of this server's engine, and the latest bench run's summary if known."""
        report: dict[str, Any] = {
            "uptime_s": round(time.time() - self.started, 1),
            "sessions": len(self.store),
            "latency": {name: lat.summary() for name, lat in self.latency.items()},
            "latest_run": None,
        }
        if self.config.runs:
            report["latest_run"] = latest_run_summary(Path(self.config.runs))
        return report


def _yield_to_the_loop(niceness: int) -> None:
    """Run this worker thread at a lower CPU priority than the event loop (Linux, per thread).

    Hostile statements keep every worker thread busy in SQLite (outside the GIL) until their
    deadline; on a machine with fewer cores than threads the loop would then wait for a core,
    and /health with it. Elsewhere ``setpriority`` would lower the whole process: not done.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


def owner_of(session_id: str, workers: int) -> int:
    """Which of ``workers`` processes owns ``session_id``: a stable hash, the same everywhere."""
    return zlib.crc32(session_id.encode()) % workers if workers > 1 else 0


def latest_run_summary(runs: Path) -> dict[str, Any] | None:
    """The summary.json of the most recent run folder under ``runs`` (None if there is none)."""
    if not runs.is_dir():
        return None
    candidates = sorted(
        (p for p in runs.glob("*/summary.json") if p.is_file()), key=lambda p: p.stat().st_mtime
    )
    if not candidates:
        return None
    try:
        summary = json.loads(candidates[-1].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {"run": candidates[-1].parent.name, "summary": summary}


__all__ = ["Latency", "ServerConfig", "ServerCore", "step_payload"]
