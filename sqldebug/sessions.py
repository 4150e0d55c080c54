"""The server's session store: live episodes by id, with a capacity, idle expiry and a lock each.

Trainers open many episodes at once and sometimes vanish without closing them. The store keeps at
most ``capacity`` sessions; a session idle for longer than ``ttl`` seconds is reaped (by
:meth:`SessionStore.reap`, which the server calls periodically, and before refusing a new session).
A full store refuses new sessions with :class:`StoreFullError` — it never evicts a live episode.
Each session carries a lock: two steps on one session run one after the other, never interleaved.

This module is engine-side: no web framework here, so the same store can back any face.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqldebug.env import SQLDebugEnv
from sqldebug.errors import SQLDebugError

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")  # a client-chosen session id, not SQL


class StoreFullError(SQLDebugError):
    """The store holds its maximum of live sessions; none is idle long enough to reap."""


class UnknownSessionError(SQLDebugError, KeyError):
    """No live session has this id (never created, ended, or reaped after idling)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"unknown session {session_id!r} (never created, ended, or expired after idling): "
            "call POST /reset to start one"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class SessionBusy(Exception):
    """The session is in use by another request (only raised by ``using(..., wait=False)``)."""


class BadSessionIdError(SQLDebugError, ValueError):
    """A client-chosen session id is not acceptable."""


@dataclass
class Session:
    """One live episode and what guards it."""

    id: str
    env: SQLDebugEnv
    created: float
    last_used: float
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    busy: int = 0  # requests holding or waiting for the lock: never reaped while > 0
    pinned: bool = False  # owned by an open connection (a WebSocket): never reaped
    #: CPU seconds its recent requests took, each older one counted 0.8 times the next
    #: (the server serves a costly session on a lane of its own: see ``ServerCore.lane``)
    cost: float = 0.0

    def charge(self, seconds: float) -> None:
        self.cost = self.cost * 0.8 + seconds


class SessionStore:
    """Live sessions by id. Thread-safe: every method may be called from any thread."""

    def __init__(
        self,
        factory: Callable[[], SQLDebugEnv],
        *,
        capacity: int = 1024,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        if capacity < 1 or ttl <= 0:
            raise ValueError("a session store needs capacity >= 1 and ttl > 0")
        self.factory = factory
        self.capacity = capacity
        self.ttl = ttl
        self.clock = clock
        self.new_id = new_id or (lambda: secrets.token_hex(12))
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.created_total = 0
        self.reaped_total = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def create(self, session_id: str | None = None) -> Session:
        """A new session (with a fresh environment); ``session_id`` may be chosen by the client."""
        with self._lock:
            if session_id is not None and session_id in self._sessions:
                return self._sessions[session_id]
            if session_id is not None and not _ID.fullmatch(session_id):
                raise BadSessionIdError(
                    "a session id is 1-128 letters, digits, '_', '.', ':' or '-', "
                    "starting with a letter or digit"
                )
            if len(self._sessions) >= self.capacity:
                self._reap_locked()
            if len(self._sessions) >= self.capacity:
                raise StoreFullError(
                    f"the server holds its maximum of {self.capacity} live sessions; end one "
                    f"with DELETE /session, or retry after idle ones expire "
                    f"({self.ttl:g} s without a request)"
                )
            sid = session_id or self.new_id()
            now = self.clock()
            session = Session(sid, self.factory(), created=now, last_used=now)
            self._sessions[sid] = session
            self.created_total += 1
            return session

    def cost(self, session_id: object) -> float:
        """The session's recent engine cost (0 for no id or an unknown one); never raises."""
        session = self._sessions.get(session_id) if isinstance(session_id, str) else None
        return session.cost if session is not None else 0.0

    def get(self, session_id: str) -> Session:
        """The live session ``session_id`` (its idle clock restarts)."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                raise UnknownSessionError(session_id)
            session.last_used = self.clock()
            return session

    @contextlib.contextmanager
    def using(self, session_id: str, *, wait: bool = True) -> Iterator[Session]:
        """Hold session ``session_id`` for one request: its lock, and safety from the reaper.

        With ``wait=False`` a session whose lock is held raises :class:`SessionBusy` at once
        (an event loop must not wait on a thread).
        """
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                raise UnknownSessionError(session_id)
            session.busy += 1
        try:
            if not session.lock.acquire(blocking=wait):
                raise SessionBusy(session_id)
            try:
                yield session
            finally:
                session.lock.release()
        finally:
            with self._lock:
                session.busy -= 1
                session.last_used = self.clock()

    def delete(self, session_id: str) -> None:
        with self._lock:
            if self._sessions.pop(session_id, None) is None:
                raise UnknownSessionError(session_id)

    def reap(self) -> int:
        """Remove sessions idle for longer than ``ttl``; returns how many went."""
        with self._lock:
            return self._reap_locked()

    def _reap_locked(self) -> int:
        deadline = self.clock() - self.ttl
        stale = [
            sid
            for sid, s in self._sessions.items()
            if s.last_used < deadline and s.busy == 0 and not s.pinned
        ]
        for sid in stale:
            del self._sessions[sid]
        self.reaped_total += len(stale)
        return len(stale)
