"""The attack corpus: every hostile statement known, answered in time with bounded memory.

Each case is stepped on a real environment (and a sample of them on a real server), and must come
back as an observation with the expected error class, within the deadline plus 2 s (a bound that
proves "did not hang", not a measurement: benchmarks/attack.py has the figures), adding less than
256 MB to the process's peak RSS; the next step must then work normally. The bounded replacements
for SQLite's built-ins are checked against the built-ins themselves on many operands.
"""

from __future__ import annotations

import contextlib
import resource
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sqldebug
from sqldebug import bounded
from sqldebug.env import to_table
from sqldebug.instances import build
from sqldebug.sandbox import Limits, QueryError, Result, Sandbox
from tests.server_support import assert_no_traceback, running

TASK = "shop/top-products-ties"  # a query task on the shop dataset
DEADLINE = 1.0
BIG = "printf('%.*c', 99000, 'a')"  # a text just under the length limit
ROWS = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM r{}) "


def cte_bomb(levels: int) -> str:
    """CTEs that each use the previous one twice: 2^levels copies for SQLite to compile."""
    body = ", ".join(
        f"a{i}(x) AS (SELECT (SELECT x FROM a{i - 1}) + (SELECT x FROM a{i - 1}))"
        for i in range(1, levels + 1)
    )
    return f"WITH a0(x) AS (SELECT 1), {body} SELECT x FROM a{levels}"


#: name -> (SQL, the error class it must get; None: it runs, and is just wrong)
ATTACKS: dict[str, tuple[str, str | None]] = {
    # one built-in call that SQLite's progress handler cannot interrupt
    "printf-precision": ("SELECT printf('%.*c', 2000000000, 'x')", None),
    "printf-many-conversions": (
        "SELECT printf(replace(printf('%.*c', 12000, 'x'), 'x', '%.99999c'))",
        None,
    ),
    "format-precision": ("SELECT format('%.*c', 2000000000, 'x')", None),
    "instr-long-needle": (f"SELECT instr({BIG}, printf('%.*c', 50000, 'a') || 'b')", None),
    "replace-long-pattern": (
        f"SELECT length(replace({BIG}, printf('%.*c', 50000, 'a') || 'b', 'x'))",
        None,
    ),
    "like-long-pattern": (f"SELECT {BIG} LIKE '%' || printf('%.*c', 45000, 'a') || 'b'", "budget"),
    "like-longest-pattern": (f"SELECT {BIG} LIKE '%' || printf('%.*c', 190, 'a') || 'b'", None),
    "glob-long-pattern": (f"SELECT {BIG} GLOB '*' || printf('%.*c', 45000, 'a') || 'b'", "budget"),
    "trim-long-set": (f"SELECT length(trim({BIG}, printf('%.*c', 8000, 'b') || 'a'))", None),
    "trim-blob-set": ("SELECT length(trim(zeroblob(90000), zeroblob(90000)))", "budget"),
    # many calls, each bounded, past the deadline: the watchdog interrupts between them
    "like-on-every-row": (
        ROWS.format("") + f"SELECT count(*) FROM r WHERE {BIG} || x LIKE '%' || "
        "printf('%.*c', 190, 'a') || 'b'",
        "budget",
    ),
    # compilation
    "cte-bomb": (cte_bomb(25), "budget"),
    "cte-bomb-not-materialized": (
        cte_bomb(25).replace(" AS (", " AS NOT MATERIALIZED ("),
        "budget",
    ),
    # memory and disk
    "sort-of-big-records": (
        ROWS.format(" WHERE x < 3000") + "SELECT x, randomblob(90000) AS b FROM r ORDER BY b",
        "budget",
    ),
    "rows-of-big-text": (ROWS.format(" WHERE x < 10001") + f"SELECT {BIG} || x FROM r", "budget"),
    "rows-of-big-blobs": (ROWS.format(" WHERE x < 20") + "SELECT randomblob(99000) FROM r", None),
    "group-concat-too-long": (
        ROWS.format(" WHERE x < 100000") + "SELECT group_concat(x) FROM r",
        "budget",
    ),
    "hex-of-a-big-blob": ("SELECT hex(zeroblob(60000))", "budget"),
    "char-repeat": (
        "SELECT length(replace(printf('%.*c', 1000, 'x'), 'x', " + BIG + "))",
        "budget",
    ),
    # the existing corpus
    "runaway-recursion": (ROWS.format("") + "SELECT count(*) FROM r", "budget"),
    "cartesian-product": (
        "SELECT count(*) FROM " + ", ".join(f"order_items t{i}" for i in range(6)),
        "budget",
    ),
    "randomblob": ("SELECT randomblob(2000000000)", "budget"),
    "zeroblob": ("SELECT length(zeroblob(5000000))", "budget"),
    "attach": ("ATTACH 'x.db' AS x", "blocked"),
    "vacuum-into": ("VACUUM INTO 'stolen.db'", "blocked"),
    "load-extension": ("SELECT load_extension('x')", "blocked"),
    "pragma-write": ("PRAGMA writable_schema=1", "blocked"),
    "pragma-temp-store": ("PRAGMA temp_store=FILE", "blocked"),
    "deep-nesting": ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "budget"),
    "ten-megabytes": ("SELECT '" + "a" * 10_000_000 + "'", "budget"),
    "nul-byte": ("SELECT 1\x00; DROP TABLE orders", "syntax"),
    "statement-chain": ("SELECT 1; DROP TABLE orders", "blocked"),
    "dml-on-a-query-task": ("DELETE FROM orders", "blocked"),
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a file a statement managed to create would land here


@pytest.fixture(scope="module")
def env() -> Any:
    return sqldebug.make(TASK)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_answered_in_time_with_bounded_memory(
    name: str, env: Any, tmp_path: Path
) -> None:
    sql, kind = ATTACKS[name]
    env.reset(seed=0)
    before = peak_rss_mb()
    t0 = time.monotonic()
    obs, reward, terminated, _, _ = env.step({"type": "submit", "sql": sql})
    elapsed = time.monotonic() - t0
    assert elapsed < DEADLINE + 2, f"{name} took {elapsed:.1f} s"
    assert peak_rss_mb() - before < 256, name
    assert not terminated and not obs.solved
    if kind is None:
        assert obs.error is None, (name, obs.error)
    else:
        assert obs.error is not None and obs.error.kind == kind, (name, obs.error)
        assert obs.error.message and reward < 0
    assert len(obs.model_dump_json()) < 100_000  # the observation stays small
    assert list(tmp_path.iterdir()) == []
    # the engine answers the next step normally
    obs, *_ = env.step(env.task.solution)
    assert obs.error is None and obs.solved


def test_statements_never_write_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sort too big for SQLite's in-memory buffer goes to a temp file by default; not here."""
    monkeypatch.setenv("SQLITE_TMPDIR", str(tmp_path))
    conn = build("CREATE TABLE t(x);", {})
    box = Sandbox(conn, Limits(max_memory_bytes=200_000_000, deadline_s=30))
    seen: set[str] = set()

    def watch() -> int:
        for fd in Path("/proc/self/fd").iterdir():
            with contextlib.suppress(OSError):
                seen.add(str(fd.readlink()))
        return 0

    box.conn.set_progress_handler(watch, 20_000)  # replaces the budget: this test looks only
    sql = (
        ROWS.format(" WHERE x < 400")
        + "SELECT length(b) FROM (SELECT randomblob(90000) AS b FROM r ORDER BY b)"
    )
    assert len(box.run(sql).rows) == 400
    assert not [p for p in seen if "etilqs" in p or p.startswith(str(tmp_path))]


def test_deadline_holds_whatever_the_statement_does() -> None:
    conn = build("CREATE TABLE t(x);", {})
    box = Sandbox(conn, Limits(deadline_s=0.2, vm_steps=10**12))
    t0 = time.monotonic()
    with pytest.raises(QueryError) as info:
        box.run(ROWS.format("") + f"SELECT count(*) FROM r WHERE {BIG} || x LIKE '%a%b'")
    assert info.value.kind == "budget" and "deadline" in info.value.message
    assert time.monotonic() - t0 < 0.2 + 2
    assert box.run("SELECT 1").rows == [(1,)]  # the interrupt does not outlive its statement


def test_deadline_is_per_statement_across_threads() -> None:
    """Concurrent statements are interrupted each at its own deadline, the others unharmed."""
    conn = build("CREATE TABLE t(x);", {})
    limits = Limits(deadline_s=0.3, vm_steps=10**12)
    answers: dict[str, Any] = {}

    def slow() -> None:
        box = Sandbox(sqlite3.connect(":memory:", check_same_thread=False), limits)
        try:
            box.run(ROWS.format("") + "SELECT count(*) FROM r")
        except QueryError as exc:
            answers["slow"] = exc.kind

    thread = threading.Thread(target=slow)
    thread.start()
    fast = Sandbox(conn, limits)
    answers["fast"] = [fast.run("SELECT 41 + 1").rows for _ in range(200)][-1]
    thread.join(timeout=10)
    assert answers == {"slow": "budget", "fast": [(42,)]}


def test_fetch_cap_refuses_a_big_result_and_keeps_small_ones_whole() -> None:
    conn = build("CREATE TABLE t(x);", {})
    box = Sandbox(conn, Limits(max_fetch_bytes=1_000_000))
    with pytest.raises(QueryError) as info:
        box.run(ROWS.format(" WHERE x < 200") + "SELECT printf('%.*c', 9000, 'x') FROM r")
    assert info.value.kind == "budget" and "1 MB" in info.value.message
    rows = box.run(ROWS.format(" WHERE x < 5000") + "SELECT x, 'ab' FROM r").rows
    assert len(rows) == 5000 and rows[-1] == (5000, "ab")


def test_observation_cuts_long_values_and_names_blobs() -> None:
    table = to_table(Result(["a", "b", "c"], [("x" * 5000, b"\x00" * 70, 7)]), 20)
    assert table.rows == [["x" * 200 + "... (5,000 characters)", "<blob 70 bytes>", 7]]
    assert to_table(Result(["a"], [("short",)]), 20).rows == [["short"]]


# -- the bounded built-ins are the built-ins --------------------------------------------------

_PLAIN = sqlite3.connect(":memory:")
_PLAIN.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 2000)
_BOXED = Sandbox(build("CREATE TABLE t(x);", {}), Limits(max_value_bytes=2000))

texts = st.text(alphabet=st.sampled_from("ab %.*-+#!0,lc9sdqQwxfgz'\u00e9\u4e2d"), max_size=12)
values = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-5000, 5000),
    st.floats(allow_nan=False),
    texts,
    st.binary(max_size=6),
)


def both(sql: str, args: tuple[Any, ...]) -> tuple[Any, Any]:
    def one(conn: sqlite3.Connection) -> Any:
        try:
            return ("ok", conn.execute(sql, args).fetchall())
        except sqlite3.Error as exc:
            return ("error", type(exc).__name__)

    _BOXED.guard.arm()  # a full budget, as Sandbox.run gives each statement
    return one(_PLAIN), one(_BOXED.conn)


@settings(max_examples=400, deadline=None)
@given(
    fmt=st.one_of(
        texts,
        st.from_regex(
            r"%[-+ #!0,]{0,2}(\*|[0-9]{0,4})?(\.(\*|[0-9]{0,4}))?l{0,2}[cdsqQwfgxz%n]",
            fullmatch=True,
        ),
        st.from_regex(r"(x%[0-9]{0,3}\.[0-9*]{0,5}c){1,3}", fullmatch=True),
    ),
    args=st.lists(values, max_size=3),
)
def test_printf_is_sqlites_printf(fmt: str, args: list[Any]) -> None:
    for name in ("printf", "format"):
        sql = f"SELECT {name}({', '.join('?' * (1 + len(args)))})"
        plain, boxed = both(sql, (fmt, *args))
        assert boxed == plain, (fmt, args)


@settings(max_examples=300, deadline=None)
@given(x=values, chars=values)
def test_trim_is_sqlites_trim(x: Any, chars: Any) -> None:
    for name in ("trim", "ltrim", "rtrim"):
        plain, boxed = both(f"SELECT {name}(?, ?)", (x, chars))
        assert boxed == plain, (name, x, chars)


@settings(max_examples=100, deadline=None)
@given(
    x=st.text(alphabet="abc", max_size=300),
    chars=st.text(alphabet="abcd", min_size=33, max_size=60),
)
def test_trim_with_a_long_set_is_sqlites_trim(x: str, chars: str) -> None:
    for name in ("trim", "ltrim", "rtrim"):
        plain, boxed = both(f"SELECT {name}(?, ?)", (x, chars))
        assert boxed == plain, (name, x, chars)


def test_printf_over_the_length_limit_is_null_like_sqlites() -> None:
    for sql in (
        "SELECT printf('%.*c', 2001, 'x')",
        "SELECT printf('%.1000c%.1001c', 'x', 'y')",
        "SELECT printf('%.4294967297c|%.2001c', 'x')",  # the first precision wraps to 1
        "SELECT printf('%.*c', '2001', 'x')",
    ):
        plain, boxed = both(sql, ())
        assert boxed == plain, sql
    assert both("SELECT printf('%.2001c')", ())[1] == ("ok", [(None,)])


def test_cte_expansions_count_copies() -> None:
    assert bounded.cte_expansions("SELECT 1") == 0
    assert bounded.cte_expansions("WITH a AS (SELECT 1) SELECT * FROM a, a") == 0  # one CTE
    two = "WITH a AS (SELECT 1), b AS (SELECT * FROM a, a) SELECT * FROM b, b, a"
    assert bounded.cte_expansions(two) == 2 * 3 + 1
    hidden = "WITH a AS/**/(SELECT 1), b AS--\n(SELECT * FROM a, a) SELECT * FROM b, b, a"
    assert bounded.cte_expansions(hidden) == 7
    assert bounded.cte_expansions(cte_bomb(10)) > 2**10
    recursive = ROWS.format("") + ", s AS (SELECT x FROM r) SELECT count(*) FROM s"
    assert bounded.cte_expansions(recursive) == 2  # r's reference to itself is no copy
    # every bundled task's queries are far below the cap
    for task in sqldebug.load_tasks():
        for sql in (task.solution, task.broken):
            assert bounded.cte_expansions(sql) <= 20, task.id


# -- on a real server ------------------------------------------------------------------------

SERVER_ATTACKS = [
    "printf-precision",
    "like-on-every-row",
    "cte-bomb",
    "sort-of-big-records",
    "runaway-recursion",
]


def test_server_answers_attacks_and_health_meanwhile(tmp_path: Path) -> None:
    with running(tmp_path) as live, live.client() as client:
        sessions = []
        for _ in SERVER_ATTACKS:
            r = client.post("/reset", json={"task_id": TASK, "seed": 0})
            sessions.append(r.json()["session_id"])
        results: dict[str, tuple[int, str, float]] = {}

        def attack(name: str, sid: str) -> None:
            with httpx.Client(base_url=live.url, timeout=60) as c:
                t0 = time.monotonic()
                r = c.post(
                    "/step", json={"action": ATTACKS[name][0]}, headers={"X-Session-Id": sid}
                )
                results[name] = (r.status_code, r.text, time.monotonic() - t0)

        threads = [
            threading.Thread(target=attack, args=pair)
            for pair in zip(SERVER_ATTACKS, sessions, strict=True)
        ]
        for t in threads:
            t.start()
        health = []
        while any(t.is_alive() for t in threads):
            t0 = time.monotonic()
            assert client.get("/health").status_code == 200
            health.append(time.monotonic() - t0)
        for t in threads:
            t.join()
        assert max(health) < 2, "the event loop was held"
        for name, sid in zip(SERVER_ATTACKS, sessions, strict=True):
            status, text, elapsed = results[name]
            assert status == 200, (name, text[:300])
            assert_no_traceback(text)
            error = httpx.Response(200, content=text).json()["observation"]["error"]
            kind = ATTACKS[name][1]
            assert (error or {}).get("kind") == kind, (name, error)
            assert elapsed < DEADLINE + 2 + 2, (name, elapsed)  # two statements may share a core
            r = client.post("/step", json={"action": "SELECT 1"}, headers={"X-Session-Id": sid})
            assert r.status_code == 200 and r.json()["observation"]["error"] is None


def test_a_submission_shares_one_deadline_over_all_its_instances() -> None:
    # ~0.1-0.2 s of LIKE work per instance on this machine, far under the VM budget: five
    # instances once took five deadlines; now the submission has one, and running past it is a
    # budget error, not a silent miss on the hidden data
    import sqldebug

    task = next(t for t in sqldebug.load_tasks() if t.id == "shop/top-products-ties")
    pattern = "%" + "a" * 188 + "b"
    slow = (
        f"SELECT * FROM ({task.solution.rstrip().rstrip(';')}) WHERE (WITH RECURSIVE c(n) AS "
        "(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 40) SELECT count(*) FROM c "
        f"WHERE printf('%.*c', 99000 + n, 'a') LIKE '{pattern}') = 0"
    )
    env = sqldebug.make(task.id)
    env.reset(seed=0)
    started = time.monotonic()
    obs, reward, solved, _, info = env.step(slow)
    assert time.monotonic() - started < env.config.limits.deadline_s + 2.0
    assert not solved and obs.error is not None and obs.error.kind == "budget"
    assert info["error_class"] == "budget" and reward < 0
    assert env.step(task.solution)[2]  # and the next step solves it


def test_a_costly_session_is_served_on_the_heavy_lane() -> None:
    # a session that sent a statement running to its deadline waits behind others like it, on
    # threads of their own; an ordinary session (a few ms of CPU a step) stays on the main lane
    from sqldebug.server.core import HEAVY_COST_S, ServerConfig, ServerCore

    core = ServerCore(ServerConfig(warm=False, threads=4))
    try:
        core.start()
        hostile, _, _ = core.reset(None, TASK, 0)
        normal, _, _ = core.reset(None, TASK, 1)
        assert core.lane(hostile.id) is core.executor and core.lane(normal.id) is core.executor
        for _ in range(3):
            core.step(normal.id, "SELECT 1")
        obs, *_ = core.step(hostile.id, ATTACKS["like-on-every-row"][0])
        assert obs.error is not None and obs.error.kind == "budget"
        assert hostile.cost > HEAVY_COST_S  # CPU seconds, charged to the session
        assert core.lane(hostile.id) is core.heavy
        assert core.lane(normal.id) is core.executor
        assert core.heavy is not None and core.heavy._max_workers == 2  # half of --threads
        # the charge decays: enough cheap steps bring the session back to the main lane
        for _ in range(40):
            hostile.charge(0.001)
        assert core.lane(hostile.id) is core.executor
        assert core.lane(None) is core.executor and core.lane(["not", "an id"]) is core.executor
    finally:
        core.stop()


def test_ordinary_steps_are_not_stuck_behind_an_attack(tmp_path: Path) -> None:
    # before the heavy lane, 32 attacking sessions filled every worker thread and an ordinary
    # step waited ~0.6 s (p50) behind them; now hostile sessions queue among themselves
    with running(tmp_path, "--threads", "2") as live, live.client() as client:
        stop = threading.Event()

        def attack() -> None:
            with httpx.Client(base_url=live.url, timeout=60) as c:
                sid = c.post("/reset", json={"task_id": TASK}).json()["session_id"]
                while not stop.is_set():
                    r = c.post(
                        "/step",
                        json={"action": ATTACKS["like-on-every-row"][0]},
                        headers={"X-Session-Id": sid},
                    )
                    if r.json().get("done"):
                        sid = c.post("/reset", json={"task_id": TASK}).json()["session_id"]

        attackers = [threading.Thread(target=attack) for _ in range(4)]
        for t in attackers:
            t.start()
        try:
            time.sleep(2.5)  # every attacker has had a statement run to its deadline
            sid = client.post("/reset", json={"task_id": TASK, "seed": 3}).json()["session_id"]
            waits = []
            for n in range(5):
                t0 = time.monotonic()
                r = client.post(
                    "/step", json={"action": f"SELECT {n}"}, headers={"X-Session-Id": sid}
                )
                waits.append(time.monotonic() - t0)
                assert r.status_code == 200 and r.json()["observation"]["error"] is None
        finally:
            stop.set()
            for t in attackers:
                t.join()
        # four 1-second statements on the one main thread would make every step wait ~1 s;
        # this is a bound on a queue, not a timing target
        assert sorted(waits)[2] < DEADLINE * 0.75, waits
