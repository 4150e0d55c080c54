"""Same statement, same answer: no clock and no randomness reach a statement.

An episode must replay exactly (same seed, same actions: byte-identical observations, rewards and
info, in any process), and a local episode is stored as its action log and replayed on every
command. SQLite has two sources of non-determinism a statement can reach, and both are closed here,
for every connection the sandbox runs statements on:

* **The clock.** ``date('now')``, ``CURRENT_TIMESTAMP``, ``unixepoch()``, ``julianday('now')``,
  ``strftime(..., 'now')`` and the rest read the time through the connection's VFS
  (``xCurrentTimeInt64``). :func:`connect` opens connections on a VFS of our own, registered
  once per process with ``ctypes`` over the libsqlite3 the ``sqlite3`` module uses: a copy of the
  default VFS whose clock is stopped at :data:`FIXED_NOW`. Every form of "now" then reads the same
  instant, however it is spelt or computed (``date(lower('NOW'))`` too), which no check of the
  SQL text could promise. If the VFS cannot be registered (a Python whose ``sqlite3`` links SQLite
  statically, or no ``ctypes``), :data:`CLOCK_FROZEN` is False and the statements that name the
  clock are refused by the sandbox's authorizer instead (:data:`CLOCK_FUNCTIONS`).
* **Randomness.** ``random()`` and ``randomblob(N)`` are replaced per connection
  (``create_function`` takes precedence over built-ins) by draws from a generator seeded with the
  statement's text each time it runs (:meth:`Chance.reseed`): a statement gets the same "random"
  values on every instance, step and process. That is determinism per statement, stronger than per
  (episode seed, step), and needs no episode state in the sandbox. A ``randomblob`` longer than
  :data:`BLOB_DRAW` (4 KiB) repeats its first 4 KiB: blobs stay distinct and unordered, and a
  long one costs a copy rather than draws made under the interpreter lock.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import random
import sqlite3
from typing import Any

#: The instant every "now" reads: noon UTC on 2025-01-01 (after every bundled dataset's dates).
FIXED_NOW = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
VFS_NAME = "sqldebug-fixed-clock"
#: Functions that read the clock whatever their arguments; the authorizer refuses them when the
#: clock cannot be frozen (``date``, ``datetime``, ... read it only for 'now' and stay allowed).
CLOCK_FUNCTIONS = frozenset({"current_date", "current_time", "current_timestamp"})

_JULIAN_EPOCH_MS = 210_866_760_000_000  # the Unix epoch as Julian-day milliseconds
_FIXED_MS = _JULIAN_EPOCH_MS + int(FIXED_NOW.timestamp() * 1000)


class _Vfs(ctypes.Structure):
    pass


_Ptr = ctypes.c_void_p
_CurrentTime = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_Vfs), ctypes.POINTER(ctypes.c_double))
_CurrentTime64 = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(_Vfs), ctypes.POINTER(ctypes.c_int64)
)
# struct sqlite3_vfs, version 3 (sqlite3.h); only the two clock members are replaced
_Vfs._fields_ = [
    ("iVersion", ctypes.c_int),
    ("szOsFile", ctypes.c_int),
    ("mxPathname", ctypes.c_int),
    ("pNext", ctypes.POINTER(_Vfs)),
    ("zName", ctypes.c_char_p),
    ("pAppData", _Ptr),
    ("xOpen", _Ptr),
    ("xDelete", _Ptr),
    ("xAccess", _Ptr),
    ("xFullPathname", _Ptr),
    ("xDlOpen", _Ptr),
    ("xDlError", _Ptr),
    ("xDlSym", _Ptr),
    ("xDlClose", _Ptr),
    ("xRandomness", _Ptr),
    ("xSleep", _Ptr),
    ("xCurrentTime", _CurrentTime),
    ("xGetLastError", _Ptr),
    ("xCurrentTimeInt64", _CurrentTime64),
    ("xSetSystemCall", _Ptr),
    ("xGetSystemCall", _Ptr),
    ("xNextSystemCall", _Ptr),
]


@_CurrentTime64  # type: ignore[untyped-decorator]
def _now_ms(_vfs: Any, out: Any) -> int:
    out[0] = _FIXED_MS
    return 0


@_CurrentTime  # type: ignore[untyped-decorator]
def _now_days(_vfs: Any, out: Any) -> int:
    out[0] = _FIXED_MS / 86_400_000.0
    return 0


def _register() -> bool:
    """Register the fixed-clock VFS; False when this Python's SQLite cannot be reached."""
    try:
        import _sqlite3

        lib = ctypes.CDLL(_sqlite3.__file__)  # resolves into the libsqlite3 the module uses
        lib.sqlite3_libversion.restype = ctypes.c_char_p
        if lib.sqlite3_libversion().decode() != sqlite3.sqlite_version:
            return False  # another SQLite than the module's: its VFS list is not the module's
        lib.sqlite3_vfs_find.restype = ctypes.POINTER(_Vfs)
        lib.sqlite3_vfs_find.argtypes = [ctypes.c_char_p]
        lib.sqlite3_vfs_register.argtypes = [ctypes.POINTER(_Vfs), ctypes.c_int]
        if lib.sqlite3_vfs_find(VFS_NAME.encode()):
            return True  # registered already (the module imported twice)
        base = lib.sqlite3_vfs_find(None)
        if not base or base.contents.iVersion < 2:
            return False
        vfs = _Vfs()
        ctypes.pointer(vfs)[0] = base.contents
        vfs.zName = VFS_NAME.encode()
        vfs.pNext = None
        vfs.xCurrentTime = _now_days
        vfs.xCurrentTimeInt64 = _now_ms
        if lib.sqlite3_vfs_register(ctypes.byref(vfs), 0) != 0:
            return False
        _KEEP.append(vfs)  # SQLite holds a pointer to it for the life of the process
        return True
    except (OSError, AttributeError, ImportError, ValueError):
        return False


_KEEP: list[_Vfs] = []
CLOCK_FROZEN = _register()
_URI = f"file:sqldebug?mode=memory&vfs={VFS_NAME}"


def connect() -> sqlite3.Connection:
    """A new private in-memory database whose clock reads :data:`FIXED_NOW`."""
    if CLOCK_FROZEN:
        return sqlite3.connect(_URI, uri=True, isolation_level=None, check_same_thread=False)
    return sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)


#: bytes of a ``randomblob`` drawn from the generator; a longer blob repeats them
BLOB_DRAW = 4096


class Chance:
    """``random()`` and ``randomblob()`` for one connection, reseeded per statement."""

    __slots__ = ("_max_bytes", "_rng")

    def __init__(self, conn: sqlite3.Connection, max_value_bytes: int) -> None:
        self._rng = random.Random(0)
        self._max_bytes = max_value_bytes
        conn.create_function("random", 0, self._random)
        conn.create_function("randomblob", 1, self._randomblob)

    def reseed(self, sql: str) -> None:
        """Start the statement's draws: the same text draws the same values."""
        self._rng.seed(sql, version=2)

    def _random(self) -> int:
        return self._rng.getrandbits(64) - 2**63

    def _randomblob(self, n: Any) -> bytes:
        try:
            size = int(n)  # SQLite reads the argument as an integer
        except (TypeError, ValueError, OverflowError):
            size = 1
        if size > self._max_bytes:
            # over the length limit: a result one byte too long, which SQLite refuses as too big
            # (what the built-in says), without drawing a gigabyte first
            return bytes(self._max_bytes + 1)
        size = max(1, size)
        head = self._rng.randbytes(min(size, BLOB_DRAW))
        if size <= BLOB_DRAW:
            return head
        # the rest repeats the draw: a copy, not more draws, because drawing holds the interpreter
        # lock (~4 ns a byte) and a statement of 3,000 blobs of 90 KB held it for a second,
        # away from the server's event loop
        return (head * (size // BLOB_DRAW + 1))[:size]
