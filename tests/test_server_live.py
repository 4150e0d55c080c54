"""``sqldebug serve`` for real: the installed command on a free port, over HTTP and WebSocket.

One server for the module (started once, always terminated). The tests play episodes to the end,
run 64 sessions at once and check none of their steps is lost or crossed, and keep the server
answering while some sessions send it the most hostile SQL we know.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

import sqldebug
from tests.server_support import (
    SOLUTION,
    TASK,
    TIMEOUT,
    Live,
    assert_no_traceback,
    assert_step_body,
    free_port,
    running,
)

ERROR_CLASSES = {"syntax", "binding", "runtime", "budget", "blocked"}
QUERY_TASKS = [t.id for t in sqldebug.load_tasks(kind="query")]
HOSTILE = {  # eight steps: exactly the task's max_steps (the 10 MB body is refused unread)
    "recursive CTE": "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM r) "
    "SELECT count(*) FROM r",
    "6-way cross join": "SELECT count(*) FROM order_items a, order_items b, order_items c, "
    "order_items d, order_items e, order_items f",
    "2 GB blob": "SELECT randomblob(2000000000)",
    "5,000 parentheses": "SELECT " + "(" * 5000 + "1" + ")" * 5000,
    "10 MB statement": "SELECT '" + "x" * 10_000_000 + "'",
    "ATTACH": "ATTACH DATABASE '/tmp/sqldebug-attack.db' AS evil",
    "load_extension": "SELECT load_extension('/tmp/sqldebug-attack.so')",
    "writable_schema": "PRAGMA writable_schema=1",
    "DROP TABLE": "DROP TABLE orders",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running(tmp_path_factory.mktemp("serve")) as live:
        yield live


def ok(response: httpx.Response) -> dict[str, Any]:
    assert_no_traceback(response.text)
    assert response.status_code == 200, response.text[:500]
    body: dict[str, Any] = response.json()
    return body


def test_http_episode_to_solved(server: Live) -> None:
    with server.client() as http:
        started = ok(http.post("/reset", json={"task_id": TASK, "seed": 0}))
        sid = started["session_id"]
        headers = {"X-Session-Id": sid}
        broken = ok(
            http.post(
                "/step", json={"action": started["observation"]["broken_query"]}, headers=headers
            )
        )
        assert_step_body(broken, sid)
        assert broken["done"] is False and broken["reward"] < 0
        solved = ok(http.post("/step", json={"action": SOLUTION}, headers=headers))
        assert_step_body(solved, sid)
        assert solved["done"] is True and solved["observation"]["solved"] is True
        assert solved["reward"] > 0.5
        state = ok(http.get("/state", headers=headers))
        assert state["solved"] is True and [h["solved"] for h in state["history"]] == [False, True]
        assert http.post("/step", json={"action": "SELECT 1"}, headers=headers).status_code == 409
        assert ok(http.delete("/session", headers=headers)) == {"deleted": sid}


def test_ws_episode_to_solved(server: Live) -> None:
    def call(ws: Any, message: dict[str, Any]) -> dict[str, Any]:
        ws.send(json.dumps(message))
        text = ws.recv(timeout=TIMEOUT)
        assert_no_traceback(text)
        frame: dict[str, Any] = json.loads(text)
        return frame

    with server.client() as http, connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        frame = call(ws, {"type": "reset", "data": {"task_id": TASK, "seed": 1}})
        assert frame["type"] == "observation" and frame["data"]["done"] is False
        assert frame["data"]["observation"]["metadata"]["seed"] == 1
        frame = call(ws, {"type": "step", "data": {"type": "submit", "sql": SOLUTION}})
        assert frame["data"]["done"] is True and frame["data"]["reward"] > 0.5
        assert frame["data"]["observation"]["solved"] is True
        state = call(ws, {"type": "state"})
        assert state["type"] == "state" and state["data"]["step_count"] == 1
        assert state["data"]["solved"] is True
        open_sessions = ok(http.get("/health"))["sessions"]
        ws.send(json.dumps({"type": "close"}))
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=TIMEOUT)
        # the server ends the session before it closes the connection
        assert ok(http.get("/health"))["sessions"] == open_sessions - 1


def test_64_sessions_stepping_at_once_keep_their_own_steps(server: Live) -> None:
    n = 64
    start = threading.Barrier(n)

    def play(i: int) -> dict[str, Any]:
        task = QUERY_TASKS[i % len(QUERY_TASKS)]
        with server.client() as http:
            sid = ok(http.post("/reset", json={"task_id": task, "seed": i}))["session_id"]
            headers = {"X-Session-Id": sid}
            start.wait(timeout=TIMEOUT)  # every session steps at the same moment
            steps = [
                ok(
                    http.post(
                        "/step", json={"action": f"SELECT {i} AS n, {k} AS k"}, headers=headers
                    )
                )
                for k in range(3)
            ]
            state = ok(http.get("/state", headers=headers))
        return {"i": i, "task": task, "sid": sid, "steps": steps, "state": state}

    with ThreadPoolExecutor(max_workers=n) as pool:
        played = list(pool.map(play, range(n)))

    assert len({p["sid"] for p in played}) == n
    for p in played:
        i, sid = p["i"], p["sid"]
        sent = [f"SELECT {i} AS n, {k} AS k" for k in range(3)]
        for k, body in enumerate(p["steps"]):
            assert_step_body(body, sid)
            obs = body["observation"]
            assert obs["task_id"] == p["task"] and obs["step"] == k + 1
            assert obs["last_action"]["sql"] == sent[k]
            assert f"SELECT {i} AS n" in obs["last_action"]["sql"]
            assert obs["result"]["rows"] == [[i, k]]
        state = p["state"]
        assert state["task_id"] == p["task"] and state["seed"] == i and state["step"] == 3
        assert [h["action"]["sql"] for h in state["history"]] == sent
        assert [h["step"] for h in state["history"]] == [1, 2, 3]


def test_server_keeps_answering_under_hostile_sql(server: Live, tmp_path: Path) -> None:
    attackers, victims, rounds = 3, 3, 2
    start = threading.Barrier(attackers + victims + 1)
    attack_over = threading.Event()

    def attack(_: int) -> list[tuple[str, int, str | None]]:
        """(query name, status, error class) for every hostile request."""
        seen = []
        with server.client() as http:
            start.wait(timeout=TIMEOUT)
            for _round in range(rounds):
                sid = ok(http.post("/reset", json={"task_id": TASK}))["session_id"]
                for name, sql in HOSTILE.items():
                    response = http.post(
                        "/step", json={"action": sql}, headers={"X-Session-Id": sid}
                    )
                    assert_no_traceback(response.text)
                    kind = None
                    if response.status_code == 200:
                        error = response.json()["observation"]["error"]
                        kind = error["kind"] if error else None
                    seen.append((name, response.status_code, kind))
        return seen

    def victim(_: int) -> list[int]:
        """Statuses of an ordinary session's steps (and resets) during the attack."""
        statuses = []
        probe = {"type": "probe", "sql": "SELECT count(*) AS n FROM orders"}
        with server.client() as http:
            sid = ok(http.post("/reset", json={"task_id": TASK}))["session_id"]
            start.wait(timeout=TIMEOUT)
            while True:
                response = http.post("/step", json={"action": probe}, headers={"X-Session-Id": sid})
                statuses.append(response.status_code)
                if response.status_code != 200:
                    break
                body = response.json()
                if body["observation"]["error"] is not None or not body["observation"]["result"]:
                    statuses.append(-1)  # a probe that should have run did not
                if body["done"]:
                    reset = http.post(
                        "/reset", json={"task_id": TASK}, headers={"X-Session-Id": sid}
                    )
                    statuses.append(reset.status_code)
                if attack_over.is_set():
                    break
        return statuses

    def health() -> list[tuple[int, float]]:
        seen = []
        with server.client() as http:
            start.wait(timeout=TIMEOUT)
            while True:
                t0 = time.perf_counter()
                response = http.get("/health")
                seen.append((response.status_code, time.perf_counter() - t0))
                if attack_over.is_set():
                    break
        return seen

    with ThreadPoolExecutor(max_workers=attackers + victims + 1) as pool:
        pinging = pool.submit(health)
        steady = [pool.submit(victim, v) for v in range(victims)]
        hostile = [pool.submit(attack, a) for a in range(attackers)]
        try:
            attacked = [row for f in hostile for row in f.result(timeout=300)]
        finally:
            attack_over.set()
        stepped = [status for f in steady for status in f.result(timeout=TIMEOUT)]
        pinged = pinging.result(timeout=TIMEOUT)

    assert len(attacked) == attackers * rounds * len(HOSTILE)
    for name, status, kind in attacked:
        if status == 413:
            assert name == "10 MB statement"
        else:
            assert status == 200 and kind in ERROR_CLASSES, (name, status, kind)
    assert {kind for _, _, kind in attacked} >= {"budget", "blocked"}  # the sandbox stopped them
    assert stepped and all(status == 200 for status in stepped), stepped
    assert pinged and all(status == 200 for status, _ in pinged)
    assert ok(httpx.get(f"{server.url}/health", timeout=TIMEOUT))["status"] == "healthy"

    latencies = sorted(seconds * 1e3 for _, seconds in pinged)
    report = {
        "samples": len(latencies),
        "p50_ms": round(latencies[len(latencies) // 2], 3),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 3),
        "max_ms": round(latencies[-1], 3),
        "victim_steps": len(stepped),
    }
    (tmp_path / "health_during_attack.json").write_text(json.dumps(report), encoding="utf-8")
    print(f"\n/health during the attack: {report}")


# -- the command line against a running server (`--server URL`) ------------------------------------


def test_cli_plays_against_the_server(server: Live) -> None:
    from typer.testing import CliRunner

    from sqldebug.cli import app
    from sqldebug.cli.exit_codes import ExitCode

    runner = CliRunner()

    def cli(*args: str) -> Any:
        return runner.invoke(app, [*args, "--server", server.url])

    reset = cli("reset", "--task", TASK, "--seed", "4", "--json")
    assert reset.exit_code == 0, reset.stderr
    assert json.loads(reset.stdout)["observation"]["task_id"] == TASK
    wrong = cli("step", "SELECT 1")
    assert wrong.exit_code == ExitCode.OK and "7 steps left" in wrong.stdout
    assert "Return so far -0.010" in wrong.stdout
    right = cli("step", SOLUTION, "--json")
    assert right.exit_code == ExitCode.SOLVED and json.loads(right.stdout)["observation"]["solved"]
    state = json.loads(cli("state", "--json").stdout)
    assert state["solved"] and [h["action"]["type"] for h in state["history"]] == ["submit"] * 2
    over = cli("step", "SELECT 1")
    assert over.exit_code == ExitCode.EPISODE and "over" in over.stderr
    missing = cli("step", "SELECT 1", "--session", "elsewhere")
    assert missing.exit_code == ExitCode.EPISODE and "--server" in missing.stderr
    unknown = cli("reset", "--task", "shop/nope")
    assert unknown.exit_code == ExitCode.TASKS and "unknown task" in unknown.stderr
    drawn = cli("reset", "--random", "--dataset", "hr", "--seed", "2", "--json")
    assert json.loads(drawn.stdout)["observation"]["task_id"].startswith("hr/")


def test_cli_says_when_the_server_is_unreachable() -> None:
    from typer.testing import CliRunner

    from sqldebug.cli import app
    from sqldebug.cli.exit_codes import ExitCode

    result = CliRunner().invoke(
        app, ["reset", "--task", TASK, "--server", f"http://127.0.0.1:{free_port()}"]
    )
    assert result.exit_code == ExitCode.FAILURE
    assert "cannot reach the server" in result.stderr and "Traceback" not in result.stderr


# -- several worker processes (`--workers 2`) ----------------------------------------------------


def test_workers_serve_every_session_from_its_owner(tmp_path: Path) -> None:
    import zlib

    with running(tmp_path, "--workers", "2") as live:
        # a new connection for every request: the kernel spreads them over both workers, and a
        # request that lands on the other worker must be forwarded to the session's owner
        def call(method: str, path: str, sid: str | None = None, **kw: Any) -> dict[str, Any]:
            headers = {"X-Session-Id": sid} if sid else {}
            return ok(
                httpx.request(method, live.url + path, headers=headers, timeout=TIMEOUT, **kw)
            )

        sessions = [
            call("POST", "/reset", json={"task_id": TASK, "seed": i})["session_id"]
            for i in range(16)
        ]
        sessions += [
            call("POST", "/reset", f"client-{i}", json={"task_id": TASK})["session_id"]
            for i in range(8)
        ]
        assert {zlib.crc32(s.encode()) % 2 for s in sessions[:16]} == {
            0,
            1,
        }  # both workers made some
        for n in range(3):
            for i, sid in enumerate(sessions):
                body = call("POST", "/step", sid, json={"action": f"SELECT {i} AS s, {n} AS n"})
                assert body["session_id"] == sid
                assert body["observation"]["result"]["rows"] == [[i, n]]
        for i, sid in enumerate(sessions):
            history = call("GET", "/state", sid)["history"]
            assert [h["action"]["sql"] for h in history] == [
                f"SELECT {i} AS s, {n} AS n" for n in range(3)
            ]
        mcp = call(
            "POST",
            "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "state", "arguments": {"session_id": sessions[3]}},
            },
        )
        assert mcp["result"]["step"] == 3
        from websockets.sync.client import connect

        with connect(live.url.replace("http", "ws") + "/ws") as ws:
            ws.send(json.dumps({"type": "reset", "data": {"task_id": TASK, "seed": 1}}))
            assert json.loads(ws.recv())["type"] == "observation"
            ws.send(json.dumps({"type": "step", "data": SOLUTION}))
            assert json.loads(ws.recv())["data"]["done"] is True
