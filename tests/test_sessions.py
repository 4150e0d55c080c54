"""The server's session store: capacity, idle expiry, the reaper's exceptions and per-session locks.

Time is a fake clock the tests move by hand, so expiry is exact and no test waits for it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sqldebug.sessions import (
    BadSessionIdError,
    Session,
    SessionBusy,
    SessionStore,
    StoreFullError,
    UnknownSessionError,
)

TTL = 10.0


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_store(clock: FakeClock, capacity: int = 2) -> SessionStore:
    # The store never looks inside an environment: a plain object stands in for one.
    factory: Any = object
    return SessionStore(factory, capacity=capacity, ttl=TTL, clock=clock)


def wait_until(predicate: Any, what: str, timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; fail (not hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def test_create_gives_each_session_its_own_environment(clock: FakeClock) -> None:
    store = make_store(clock)
    a, b = store.create(), store.create()
    assert a.id != b.id and a.env is not b.env
    assert len(store) == 2 and a.id in store and b.id in store
    assert store.created_total == 2
    assert a.created == a.last_used == clock.now


def test_client_chosen_id_is_kept_and_a_second_create_returns_the_same_session(
    clock: FakeClock,
) -> None:
    store = make_store(clock)
    first = store.create("trainer-1.run:7_a")
    again = store.create("trainer-1.run:7_a")
    assert first.id == "trainer-1.run:7_a"
    assert again is first and len(store) == 1 and store.created_total == 1


@pytest.mark.parametrize(
    "bad",
    ["", "-leading-dash", ".hidden", "has space", "../etc/passwd", "a/b", "x" * 129, "é", "a;b"],
)
def test_client_chosen_ids_are_validated(clock: FakeClock, bad: str) -> None:
    store = make_store(clock)
    with pytest.raises(BadSessionIdError, match="1-128 letters"):
        store.create(bad)
    assert len(store) == 0


@pytest.mark.parametrize("good", ["a", "0", "A.b:c-d_e", "x" * 128])
def test_acceptable_ids(clock: FakeClock, good: str) -> None:
    assert make_store(clock).create(good).id == good


def test_capacity_refuses_and_never_evicts_a_live_session(clock: FakeClock) -> None:
    store = make_store(clock, capacity=2)
    a, b = store.create(), store.create()
    clock.advance(TTL)  # idle exactly ttl: not yet expired
    with pytest.raises(StoreFullError) as refused:
        store.create()
    message = str(refused.value)
    assert "maximum of 2 live sessions" in message and "DELETE /session" in message
    assert a.id in store and b.id in store and len(store) == 2
    # re-creating an existing client-chosen id is not a new session: allowed when full
    store.delete(b.id)
    store.create("mine")
    assert store.create("mine").id == "mine" and len(store) == 2


def test_idle_sessions_are_reaped_after_ttl_only(clock: FakeClock) -> None:
    store = make_store(clock, capacity=4)
    old = store.create()
    clock.advance(TTL / 2)
    young = store.create()
    clock.advance(TTL / 2)
    assert store.reap() == 0  # old has idled exactly ttl
    clock.advance(0.001)
    assert store.reap() == 1
    assert old.id not in store and young.id in store
    assert store.reaped_total == 1


def test_full_store_reaps_idle_sessions_before_refusing(clock: FakeClock) -> None:
    store = make_store(clock, capacity=2)
    idle = store.create()
    clock.advance(TTL / 2)
    active = store.create()
    clock.advance(TTL / 2 + 1)  # idle has idled ttl + 1, active ttl / 2 + 1
    newcomer = store.create()
    assert idle.id not in store
    assert active.id in store and newcomer.id in store
    assert store.reaped_total == 1


def test_get_restarts_the_idle_clock(clock: FakeClock) -> None:
    store = make_store(clock)
    session = store.create()
    clock.advance(TTL - 1)
    assert store.get(session.id) is session
    clock.advance(TTL - 1)
    assert store.reap() == 0 and session.id in store
    clock.advance(2)
    assert store.reap() == 1


def test_busy_session_is_never_reaped(clock: FakeClock) -> None:
    store = make_store(clock, capacity=1)
    session = store.create()
    with store.using(session.id) as held:
        assert held is session and held.busy == 1
        clock.advance(TTL * 100)
        assert store.reap() == 0
        with pytest.raises(StoreFullError):  # the reap before refusing spares it too
            store.create()
        assert session.id in store
    assert session.busy == 0
    assert session.last_used == clock.now  # the request's end restarts the idle clock
    assert store.reap() == 0
    clock.advance(TTL + 1)
    assert store.reap() == 1


def test_pinned_session_is_never_reaped(clock: FakeClock) -> None:
    store = make_store(clock, capacity=1)
    session = store.create()
    session.pinned = True
    clock.advance(TTL * 100)
    assert store.reap() == 0
    with pytest.raises(StoreFullError):
        store.create()
    session.pinned = False
    assert store.reap() == 1 and len(store) == 0


@pytest.mark.parametrize("op", ["get", "using", "delete"])
def test_unknown_session_says_to_call_reset(clock: FakeClock, op: str) -> None:
    store = make_store(clock)
    with pytest.raises(UnknownSessionError) as raised:
        if op == "using":
            with store.using("nope"):
                pass
        else:
            getattr(store, op)("nope")
    message = str(raised.value)
    assert "'nope'" in message and "POST /reset" in message
    assert isinstance(raised.value, KeyError)  # callers may catch it as a missing key


def test_delete_ends_a_session(clock: FakeClock) -> None:
    store = make_store(clock)
    a, b = store.create(), store.create()
    store.delete(a.id)
    assert a.id not in store and b.id in store and len(store) == 1
    with pytest.raises(UnknownSessionError):
        store.get(a.id)
    with pytest.raises(UnknownSessionError):
        store.delete(a.id)


def test_using_a_reaped_session_fails(clock: FakeClock) -> None:
    store = make_store(clock)
    session = store.create()
    clock.advance(TTL + 1)
    store.reap()
    with pytest.raises(UnknownSessionError), store.using(session.id):
        pass


@pytest.mark.parametrize(("capacity", "ttl"), [(0, 1.0), (1, 0.0), (1, -5.0)])
def test_store_needs_a_capacity_and_a_ttl(capacity: int, ttl: float) -> None:
    with pytest.raises(ValueError, match="capacity"):
        SessionStore(object, capacity=capacity, ttl=ttl)  # type: ignore[arg-type]


def test_using_serialises_two_threads_on_one_session(clock: FakeClock) -> None:
    """The second request on a session waits for the first to let go of its lock."""
    store = make_store(clock)
    session = store.create()
    first_inside = threading.Event()
    let_first_go = threading.Event()
    first_done = threading.Event()
    second_inside = threading.Event()
    seen_by_second: list[bool] = []
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with store.using(session.id):
                first_inside.set()
                assert let_first_go.wait(10), "the test never released the first request"
                first_done.set()  # still holding the lock
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    def second(held: Session) -> None:
        try:
            with store.using(held.id):
                seen_by_second.append(first_done.is_set())
                second_inside.set()
        except BaseException as exc:
            errors.append(exc)

    a = threading.Thread(target=first)
    a.start()
    assert first_inside.wait(10)
    b = threading.Thread(target=second, args=(session,))
    b.start()
    # The second request has registered (busy == 2) and is now blocked on the session's lock.
    wait_until(lambda: session.busy == 2, "the second request to queue on the session")
    assert session.lock.locked()
    assert not second_inside.is_set()
    # Busy sessions are safe from the reaper while they wait, too.
    clock.advance(TTL * 10)
    assert store.reap() == 0
    let_first_go.set()
    a.join(10)
    b.join(10)
    assert not a.is_alive() and not b.is_alive()
    assert not errors, errors
    assert second_inside.is_set()
    assert seen_by_second == [True]  # it entered only after the first had finished
    assert session.busy == 0 and not session.lock.locked()


def test_each_session_has_its_own_lock(clock: FakeClock) -> None:
    """Holding one session does not hold another: different episodes step in parallel."""
    store = make_store(clock)
    a, b = store.create(), store.create()
    assert a.lock is not b.lock
    with store.using(a.id):
        assert a.lock.locked() and not b.lock.locked()
        with store.using(b.id) as held:
            assert held is b and b.lock.locked()


def test_using_without_waiting_refuses_a_busy_session(clock: FakeClock) -> None:
    store = make_store(clock)
    session = store.create()
    with store.using(session.id):
        with pytest.raises(SessionBusy), store.using(session.id, wait=False):
            pass
        assert session.busy == 1  # the refused request let go of its claim
    with store.using(session.id, wait=False) as held:  # free again: no wait needed
        assert held is session and session.lock.locked()
    assert session.busy == 0 and not session.lock.locked()
