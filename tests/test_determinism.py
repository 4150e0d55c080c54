"""Same seed, same actions: byte-identical observations, rewards and info, in every process.

random(), randomblob() and every spelling of "now" once made the same episode differ between two
plays (and a local episode, replayed from its action log, change on every ``sqldebug state``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import sqldebug
from sqldebug import determinism
from sqldebug.cli import app
from tests.server_support import running

TASK = "shop/top-products-ties"
CHAOS = [
    "SELECT random() AS r, hex(randomblob(8)) AS b",
    "SELECT date('now') AS d, CURRENT_TIMESTAMP AS ts, CURRENT_DATE AS cd, CURRENT_TIME AS ct",
    "SELECT unixepoch() AS u, julianday('now') AS j, strftime('%s', 'now') AS s, date() AS d",
    "SELECT date(lower('NOW')) AS d, datetime('now', '+1 day') AS tomorrow",
    "SELECT id, random() % 100 AS r FROM products ORDER BY random()",
]
PLAY = """
import json, sys, sqldebug
env = sqldebug.make(sys.argv[1])
obs, info = env.reset(seed=5)
trace = [obs.model_dump(mode="json"), info]
sqls = json.loads(sys.argv[2])
for action in [{"type": "probe", "sql": sql} for sql in sqls] + sqls[:3]:
    obs, reward, term, trunc, info = env.step(action)
    trace += [obs.model_dump(mode="json"), reward, term, trunc, info]
print(json.dumps(trace, sort_keys=True))
"""


def _play_in_process() -> str:
    env = sqldebug.make(TASK)
    obs, info = env.reset(seed=5)
    trace: list[object] = [obs.model_dump(mode="json"), info]
    for action in [{"type": "probe", "sql": sql} for sql in CHAOS] + CHAOS[:3]:
        obs, reward, term, trunc, info = env.step(action)
        trace += [obs.model_dump(mode="json"), reward, term, trunc, info]
    return json.dumps(trace, sort_keys=True)


def test_the_clock_is_frozen_here() -> None:
    # this platform's sqlite3 links libsqlite3 dynamically: the fixed-clock VFS is in use
    assert determinism.CLOCK_FROZEN


@pytest.mark.parametrize("sql", CHAOS)
def test_every_kind_of_now_and_random_is_the_same_twice(sql: str) -> None:
    env = sqldebug.make(TASK)
    results = []
    for _ in range(2):
        env.reset(seed=1)
        obs, *_ = env.step({"type": "probe", "sql": sql})
        assert obs.error is None, obs.error
        results.append(obs.result)
    assert results[0] == results[1]


def test_now_reads_the_fixed_instant() -> None:
    env = sqldebug.make(TASK)
    env.reset(seed=0)
    obs, *_ = env.step({"type": "probe", "sql": CHAOS[1]})
    assert obs.result is not None
    day = determinism.FIXED_NOW.date().isoformat()
    assert obs.result.rows[0][0] == day == obs.result.rows[0][2]
    assert obs.result.rows[0][1] == determinism.FIXED_NOW.strftime("%Y-%m-%d %H:%M:%S")


def test_randomblob_over_the_length_limit_is_a_budget_error() -> None:
    env = sqldebug.make(TASK)
    env.reset(seed=0)
    obs, *_ = env.step({"type": "probe", "sql": "SELECT length(randomblob(2000000000))"})
    assert obs.error is not None and obs.error.kind == "budget"
    obs, *_ = env.step(
        {"type": "probe", "sql": "SELECT length(randomblob(0)), length(randomblob(9))"}
    )
    assert obs.result is not None and obs.result.rows == [[1, 9]]  # SQLite's own sizes


def test_a_long_randomblob_has_its_size_and_stays_distinct() -> None:
    # a long blob repeats its first BLOB_DRAW bytes of draws (drawing them all held the GIL for
    # ~4 ns a byte, away from the server's event loop); size, distinctness, order stay
    env = sqldebug.make(TASK)
    env.reset(seed=0)
    n = determinism.BLOB_DRAW * 3 + 5
    sql = (
        f"WITH b(x) AS (SELECT randomblob({n}) UNION ALL SELECT randomblob({n})) "
        "SELECT length(x), hex(substr(x, 1, 8)), count(*) OVER () FROM b"
    )
    obs, *_ = env.step({"type": "probe", "sql": sql})
    assert obs.result is not None
    (len1, head1, _), (len2, head2, _) = obs.result.rows
    assert len1 == len2 == n and head1 != head2
    again, *_ = env.step({"type": "probe", "sql": sql})
    assert again.result is not None and again.result.rows == obs.result.rows  # determinism
    chance = determinism.Chance(sqlite3.connect(":memory:"), 10**6)
    chance.reseed("x")
    blob = chance._randomblob(n)
    assert (
        len(blob) == n
        and blob[: determinism.BLOB_DRAW] == blob[determinism.BLOB_DRAW : 2 * determinism.BLOB_DRAW]
    )


def test_same_episode_in_two_processes_and_in_process_is_byte_identical() -> None:
    env = {**os.environ}
    outs = []
    for hash_seed in ("1", "2"):  # different string hashing per process must not matter
        env["PYTHONHASHSEED"] = hash_seed
        done = subprocess.run(
            [sys.executable, "-c", PLAY, TASK, json.dumps(CHAOS)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        outs.append(done.stdout.strip())
    assert outs[0] == outs[1] == _play_in_process()


def test_a_local_episode_replays_the_same_on_every_state() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["reset", "--task", TASK, "--seed", "2"]).exit_code == 0
    for sql in CHAOS[:4]:
        assert runner.invoke(app, ["step", sql, "--json"]).exit_code == 0
    first = runner.invoke(app, ["state", "--json"])
    second = runner.invoke(app, ["state", "--json"])
    assert first.exit_code == 0 and first.stdout == second.stdout
    rewards = [e["reward"] for e in json.loads(first.stdout)["history"]]
    assert len(rewards) == 4


def test_two_server_sessions_with_one_seed_answer_alike(tmp_path: Path) -> None:
    with running(tmp_path) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        bodies = []
        for _ in range(2):
            sid = http.post("/reset", json={"task_id": TASK, "seed": 9}).json()["session_id"]
            steps = []
            for sql in CHAOS:
                doc = http.post("/step", json={"action": sql}, headers={"X-Session-Id": sid})
                assert doc.status_code == 200, doc.text
                body = doc.json()
                body.pop("session_id", None)
                steps.append(body)
            bodies.append(json.dumps(steps, sort_keys=True))
        assert bodies[0] == bodies[1]
