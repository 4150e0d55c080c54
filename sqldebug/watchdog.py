"""The wall-clock deadline of every statement: one thread that interrupts statements past it.

SQLite's progress handler runs between VM instructions, so it cannot stop a statement while one
built-in function works (a ``printf`` of two billion characters, a ``LIKE`` over a long string), and
a check of the clock there is only as frequent as the calls between its ticks allow. This thread
does not depend on the statement's cooperation: it wakes every :data:`PERIOD` seconds while
statements run and calls ``sqlite3_interrupt`` on each connection past its deadline. SQLite then
stops the statement at its next VM jump, that is, as soon as the built-in call in progress returns;
the bounded built-ins of :mod:`sqldebug.bounded` and the length limits keep every such call short.

Cost on the ordinary path: a lock and a dict update on each statement's start and end (about a
microsecond); the thread sleeps on an event while nothing runs, and polls while statements do.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time

#: how often the thread looks at running statements: the deadline is kept to within this
PERIOD = 0.02
#: how long the thread keeps polling after the last statement ended before it sleeps idle
LINGER = 1.0


class Watchdog:
    """Statements in flight, by token, and the thread that interrupts those past their deadline."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # also run in a forked child (server workers), which has none of the parent's threads
        self._lock = threading.Lock()
        self._running: dict[object, tuple[float, sqlite3.Connection]] = {}
        self._expired: set[object] = set()
        self._wake = threading.Event()
        self._idle = True
        self._thread: threading.Thread | None = None

    def start(self, token: object, conn: sqlite3.Connection, deadline: float) -> None:
        """``token``'s statement on ``conn`` must be over by ``deadline`` (``time.monotonic``)."""
        with self._lock:
            self._running[token] = (deadline, conn)
            self._expired.discard(token)
            if self._idle:
                self._idle = False
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._loop, name="sqldebug-watchdog", daemon=True
                    )
                    self._thread.start()
                self._wake.set()

    def stop(self, token: object) -> bool:
        """The statement is over; True if the watchdog interrupted it (it ran past its deadline)."""
        with self._lock:
            self._running.pop(token, None)
            if self._expired and token in self._expired:
                self._expired.discard(token)
                return True
            return False

    def _loop(self) -> None:
        last_busy = time.monotonic()
        while True:
            self._wake.wait()
            time.sleep(PERIOD)
            now = time.monotonic()
            with self._lock:
                for token, (deadline, conn) in self._running.items():
                    if now >= deadline and token not in self._expired:
                        self._expired.add(token)
                        with contextlib.suppress(sqlite3.Error):
                            conn.interrupt()  # thread-safe; stops the statement at its next jump
                if self._running:
                    last_busy = now
                elif now - last_busy > LINGER:
                    self._idle = True
                    self._wake.clear()


WATCHDOG = Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=WATCHDOG._reset)


__all__ = ["PERIOD", "WATCHDOG", "Watchdog"]
