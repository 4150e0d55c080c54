"""The server in-process: every route and every error, the OpenEnv contract, and a schema fuzz.

Each test runs the app under FastAPI's TestClient as a context manager, so the lifespan (warm-up,
reaper) runs as it does under uvicorn. Every HTTP answer is checked for a leaked traceback.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from starlette.websockets import WebSocketDisconnect

import sqldebug
from sqldebug.env import EnvConfig
from sqldebug.server import ServerConfig, create_app
from tests.server_support import SOLUTION, TASK, assert_no_traceback, assert_step_body


class Client(TestClient):
    """A TestClient that fails the test if any answer carries a traceback."""

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().request(*args, **kwargs)
        assert_no_traceback(response.text)
        return response


Serve = Callable[..., Client]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start an app with the given ServerConfig fields (not warmed, unless asked)."""
    with contextlib.ExitStack() as stack:

        def start(**config: Any) -> Client:
            app = create_app(ServerConfig(**{"warm": False, **config}))
            return stack.enter_context(Client(app, raise_server_exceptions=False))

        yield start


@pytest.fixture
def client(serve: Serve) -> Client:
    return serve()


def store(client: Client) -> Any:
    return client.app.state.core.store  # type: ignore[attr-defined]


def reset(client: Client, session: str | None = None, **body: Any) -> dict[str, Any]:
    headers = {"X-Session-Id": session} if session else {}
    response = client.post("/reset", json=body or None, headers=headers)
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    assert_step_body(doc)
    assert response.headers["X-Session-Id"] == doc["session_id"]
    return doc


def step(client: Client, sid: str, action: Any, path: str = "/step") -> httpx.Response:
    return client.post(path, json={"action": action}, headers={"X-Session-Id": sid})


def error_of(response: httpx.Response, status: int, kind: str | None = None) -> str:
    """The detail of an error answer, after checking its status and kind."""
    assert response.status_code == status, response.text
    doc = response.json()
    if kind is not None:
        assert doc["error"] == kind, doc
    detail: str = doc["detail"]
    return detail


# -- /health, /tasks ------------------------------------------------------------------------------


def test_health(client: Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.json()["version"] == sqldebug.__version__


def test_warm_start_builds_every_instance_in_the_background(serve: Serve) -> None:
    # A pool size no other test uses gets a runtime of its own, so the warm-up is observable.
    config = EnvConfig(k=2, pool_size=3)
    app = create_app(ServerConfig(warm=True, env=config))
    runtime = app.state.core.runtime
    with Client(app) as warm:
        # the warm-up runs in the background once the server listens: /health answers meanwhile
        assert warm.get("/health").json()["status"] == "healthy"
        deadline = time.monotonic() + 120
        while set(runtime._graders) != set(runtime.catalog.tasks):
            assert time.monotonic() < deadline, "the background warm-up did not finish"
            time.sleep(0.1)
        assert set(runtime._pools) == set(runtime.catalog.datasets)
        sid = reset(warm, task_id=TASK, seed=0)["session_id"]
        assert step(warm, sid, SOLUTION).json()["done"] is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("split", "train"),
        ("category", "ordering-ties"),
        ("difficulty", "hard"),
        ("dataset", "hr"),
    ],
)
def test_tasks_filtered(client: Client, field: str, value: str) -> None:
    response = client.get("/tasks", params={field: value})
    assert response.status_code == 200
    tasks = response.json()
    expected = sqldebug.load_tasks(**{field: value})
    assert [t["id"] for t in tasks] == [t.id for t in expected] != []
    assert all(t[field] == value for t in tasks)
    assert set(tasks[0]) >= {"id", "title", "kind", "max_steps"}
    assert "solution" not in tasks[0]


def test_tasks_unfiltered_and_unmatched(client: Client) -> None:
    assert len(client.get("/tasks").json()) == len(sqldebug.load_tasks())
    assert client.get("/tasks", params={"dataset": "nope"}).json() == []


# -- /reset ---------------------------------------------------------------------------------------


def test_reset_without_a_body_creates_a_session(client: Client) -> None:
    response = client.post("/reset")
    assert response.status_code == 200
    doc = response.json()
    assert_step_body(doc)
    assert doc["session_id"] in store(client)
    assert response.headers["X-Session-Id"] == doc["session_id"]
    assert doc["observation"]["task_id"] in {t.id for t in sqldebug.load_tasks()}


def test_reset_with_task_and_seed_is_reproducible(client: Client) -> None:
    first = reset(client, task_id=TASK, seed=3)
    again = reset(client, task_id=TASK, seed=3)
    assert first["session_id"] != again["session_id"]
    for doc in (first, again):
        assert doc["observation"]["task_id"] == TASK and doc["info"]["seed"] == 3
    assert first["info"] == again["info"] and "instances" not in first["info"]
    assert first["observation"]["sample_rows"] == again["observation"]["sample_rows"]


def test_reset_with_a_client_chosen_session_id_restarts_that_session(client: Client) -> None:
    doc = reset(client, "trainer-7.env:3", task_id=TASK, seed=1)
    assert doc["session_id"] == "trainer-7.env:3"
    assert step(client, "trainer-7.env:3", "SELECT 1").json()["observation"]["step"] == 1
    again = reset(client, "trainer-7.env:3", task_id=TASK, seed=2)
    assert again["session_id"] == "trainer-7.env:3" and again["observation"]["step"] == 0
    assert len(store(client)) == 1


def test_reset_rejects_a_bad_session_id(client: Client) -> None:
    response = client.post("/reset", headers={"X-Session-Id": "../etc/passwd"})
    assert "1-128 letters" in error_of(response, 422, "invalid_session_id")
    assert len(store(client)) == 0


@pytest.mark.parametrize("session", [None, "fresh-one"])
def test_reset_unknown_task_is_404_and_leaves_no_session(
    client: Client, session: str | None
) -> None:
    reset(client, task_id=TASK)  # an unrelated live session
    headers = {"X-Session-Id": session} if session else {}
    response = client.post("/reset", json={"task_id": "shop/nope"}, headers=headers)
    detail = error_of(response, 404, "unknown_task")
    assert "shop/nope" in detail and "sqldebug tasks list" in detail
    assert len(store(client)) == 1
    assert session not in store(client)


def test_reset_unknown_task_keeps_an_existing_session(client: Client) -> None:
    reset(client, "keep-me", task_id=TASK)
    response = client.post(
        "/reset", json={"task_id": "shop/nope"}, headers={"X-Session-Id": "keep-me"}
    )
    error_of(response, 404, "unknown_task")
    assert "keep-me" in store(client)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"seed": "abc"}, "seed"),
        ({"seed": [1]}, "seed"),
        ({"task_id": 5}, "task_id"),
        ({"options": "x"}, "options"),
        ({"task_id": TASK, "bogus": 1}, "bogus"),
    ],
)
def test_reset_malformed_body_is_422_naming_the_field(
    client: Client, body: dict[str, Any], field: str
) -> None:
    detail = error_of(client.post("/reset", json=body), 422, "invalid_request")
    assert detail.startswith(f"{field}:"), detail
    assert len(store(client)) == 0


def test_reset_unknown_option_is_a_client_error(client: Client) -> None:
    response = client.post("/reset", json={"task_id": TASK, "options": {"bogus": True}})
    assert "unknown reset option" in error_of(response, 422, "invalid_option")


def test_reset_option_of_the_wrong_type_is_a_client_error(client: Client) -> None:
    # options.task_id is read without the validation the top-level task_id gets
    response = client.post("/reset", json={"options": {"task_id": 5}})
    assert 400 <= response.status_code < 500, response.text


# -- /step ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ("SELECT 1 AS one", "submit"),
        ({"type": "submit", "sql": "SELECT 2 AS two"}, "submit"),
        ({"action_type": "submit_query", "query": "SELECT 3 AS three"}, "submit"),
        ({"type": "probe", "sql": "SELECT count(*) AS n FROM orders"}, "probe"),
        ({"action_type": "probe_query", "query": "SELECT count(*) AS n FROM orders"}, "probe"),
        ({"type": "inspect_schema"}, "inspect_schema"),
        ({"type": "inspect_sample", "table": "orders"}, "inspect_sample"),
        ({"action_type": "inspect_sample", "table_name": "orders"}, "inspect_sample"),
        ({"type": "reset_query"}, "reset_query"),
    ],
)
def test_step_accepts_every_spelling(client: Client, action: Any, kind: str) -> None:
    sid = reset(client, task_id=TASK, seed=0)["session_id"]
    response = step(client, sid, action)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert_step_body(doc, sid)
    obs, info = doc["observation"], doc["info"]
    assert obs["last_action"]["type"] == kind and obs["step"] == 1 and doc["done"] is False
    assert doc["reward"] < 0  # nothing solved: the step cost
    assert obs["error"] is None
    if kind == "submit":
        assert info["components"]["executes"] == 1.0 and obs["result"]["rows"]
    if kind == "probe":
        assert obs["result"]["columns"] == ["n"] and "components" not in info
    if kind == "inspect_schema":
        assert obs["result"]["columns"][:2] == ["table", "column"]
    if kind == "inspect_sample":
        assert obs["result"]["row_count"] > 0
    if kind == "reset_query":
        assert obs["current_query"] == obs["broken_query"]


def test_solving_ends_the_episode_and_a_later_step_is_409(client: Client) -> None:
    sid = reset(client, task_id=TASK, seed=0)["session_id"]
    doc = step(client, sid, SOLUTION).json()
    assert_step_body(doc, sid)
    assert doc["done"] is True and doc["observation"]["solved"] is True
    assert doc["info"]["components"]["correct"] == 1.0 and doc["reward"] > 0.5
    detail = error_of(step(client, sid, "SELECT 1"), 409, "episode")
    assert "over" in detail and "reset" in detail


def test_step_without_a_session_header_is_400(client: Client) -> None:
    response = client.post("/step", json={"action": "SELECT 1"})
    assert "POST /reset" in error_of(response, 400, "missing_session")


@pytest.mark.parametrize("path", ["/step", "/step_with_review"])
def test_step_on_an_unknown_session_is_404_saying_to_reset(client: Client, path: str) -> None:
    detail = error_of(step(client, "nope", "SELECT 1", path), 404, "unknown_session")
    assert "'nope'" in detail and "call POST /reset" in detail


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        (b"{not json", "JSON decode error"),
        (b"", "Field required"),
        (b'{"action": 5}', "action"),
        (b'{"action": ["SELECT 1"]}', "action"),
        (b'{"action": {"type": "submit", "sql": 5}}', "sql"),
        (b'{"action": {"type": "drop_table"}}', "type"),
        (b'{"action": {"action_type": "nuke"}}', "unknown action_type"),
        (b'{"action": {"type": "submit", "colour": "red"}}', "colour"),
        (b'{"action": "SELECT 1", "extra": 1}', "extra"),
    ],
)
def test_step_malformed_request_is_422_naming_the_problem(
    client: Client, body: bytes, expect: str
) -> None:
    sid = reset(client, task_id=TASK)["session_id"]
    headers = {"X-Session-Id": sid, "Content-Type": "application/json"}
    response = client.post("/step", content=body, headers=headers)
    assert expect in error_of(response, 422), response.text
    assert client.get("/state", headers={"X-Session-Id": sid}).json()["step"] == 0


def test_body_over_the_limit_with_a_declared_length_is_413(serve: Serve) -> None:
    client = serve(max_body_bytes=2000)
    sid = reset(client, task_id=TASK)["session_id"]
    assert step(client, sid, "SELECT 1 -- " + "x" * 1500).status_code == 200  # under the limit
    response = step(client, sid, "SELECT 1 -- " + "x" * 3000)
    assert "limit of 2,000 bytes" in error_of(response, 413, "too_large")
    assert client.get("/state", headers={"X-Session-Id": sid}).json()["step"] == 1


def test_body_over_the_limit_streamed_without_a_length_is_413(serve: Serve) -> None:
    client = serve(max_body_bytes=2000)
    sid = reset(client, task_id=TASK)["session_id"]

    def chunks() -> Iterator[bytes]:
        yield b'{"action": "SELECT 1 -- '
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    headers = {"X-Session-Id": sid, "Content-Type": "application/json"}
    response = client.post("/step", content=chunks(), headers=headers)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "limit of 2,000 bytes" in error_of(response, 413, "too_large")


def test_step_with_review_blocks_a_delete_without_running_it(client: Client) -> None:
    sid = reset(client, task_id=TASK, seed=0)["session_id"]
    response = step(client, sid, "DELETE FROM orders", "/step_with_review")
    assert response.status_code == 200, response.text
    doc = response.json()
    assert_step_body(doc, sid)
    obs, info = doc["observation"], doc["info"]
    assert obs["error"]["kind"] == "blocked" and info["error_class"] == "blocked"
    assert any(f["severity"] == "block" for f in obs["findings"])
    assert obs["last_action"]["review"] is True
    # not run: nothing executed, nothing graded; still a valid statement, still a shaped reward
    assert obs["result"] is None and "per_instance" not in info
    assert info["components"]["executes"] == 0.0 and info["components"]["valid"] == 1
    assert obs["reward_breakdown"]["safety_penalty"] < 0
    # the orders are all still there
    after = step(client, sid, SOLUTION).json()
    assert after["done"] is True and after["info"]["components"]["correct"] == 1.0


def test_step_with_review_runs_clean_sql(client: Client) -> None:
    sid = reset(client, task_id=TASK, seed=0)["session_id"]
    doc = step(client, sid, SOLUTION, "/step_with_review").json()
    assert_step_body(doc, sid)
    assert doc["done"] is True and doc["observation"]["last_action"]["review"] is True


# -- /state, DELETE /session, capacity ------------------------------------------------------------


def test_state_has_the_history_with_per_step_rewards(client: Client) -> None:
    sid = reset(client, task_id=TASK, seed=4)["session_id"]
    actions = ["SELECT 1", {"type": "inspect_schema"}, SOLUTION]
    rewards = [step(client, sid, a).json()["reward"] for a in actions]
    response = client.get("/state", headers={"X-Session-Id": sid})
    assert response.status_code == 200
    state = response.json()
    assert state["task_id"] == TASK and state["seed"] == 4
    assert state["step"] == 3 and state["done"] is True and state["solved"] is True
    assert [h["step"] for h in state["history"]] == [1, 2, 3]
    assert [h["reward"] for h in state["history"]] == rewards
    assert [h["action"]["type"] for h in state["history"]] == ["submit", "inspect_schema", "submit"]
    assert state["history"][0]["action"]["sql"] == "SELECT 1"
    assert state["total_reward"] == pytest.approx(sum(rewards), abs=1e-6)


def test_state_needs_a_live_session(client: Client) -> None:
    error_of(client.get("/state"), 400, "missing_session")
    detail = error_of(client.get("/state", headers={"X-Session-Id": "nope"}), 404)
    assert "call POST /reset" in detail


def test_delete_session_ends_it(client: Client) -> None:
    sid = reset(client, task_id=TASK)["session_id"]
    other = reset(client, task_id=TASK)["session_id"]
    response = client.delete("/session", headers={"X-Session-Id": sid})
    assert response.status_code == 200 and response.json() == {"deleted": sid}
    assert sid not in store(client) and other in store(client)
    error_of(step(client, sid, "SELECT 1"), 404, "unknown_session")
    error_of(client.delete("/session", headers={"X-Session-Id": sid}), 404, "unknown_session")
    assert client.delete("/session").json() == {"deleted": None}


def test_full_store_is_429_with_retry_after(serve: Serve) -> None:
    client = serve(max_sessions=2, session_ttl=30.0)
    first = reset(client, task_id=TASK)["session_id"]
    reset(client, task_id=TASK)
    response = client.post("/reset", json={"task_id": TASK})
    detail = error_of(response, 429, "capacity")
    assert "maximum of 2 live sessions" in detail and "DELETE /session" in detail
    assert response.headers["Retry-After"] == "30"
    assert len(store(client)) == 2
    # a live session may still be reset in place, and freeing one makes room
    reset(client, first, task_id=TASK)
    client.delete("/session", headers={"X-Session-Id": first})
    reset(client, task_id=TASK)


# -- /benchmark, /metadata, /schema, /openapi.json ------------------------------------------------


def test_benchmark_reports_live_latency(client: Client) -> None:
    client.get("/health")
    sid = reset(client, task_id=TASK)["session_id"]
    step(client, sid, "SELECT 1")
    report = client.get("/benchmark").json()
    assert report["latest_run"] is None and report["sessions"] == 1
    for op in ("health", "reset", "step"):
        lat = report["latency"][op]
        assert lat["count"] >= 1, op
        assert 0 <= lat["p50_ms"] <= lat["p95_ms"] <= lat["max_ms"], op


def test_benchmark_shows_the_latest_bench_run(serve: Serve, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "r1").mkdir(parents=True)
    summary = {"solved": 12, "episodes": 17, "mean_return": 0.42}
    (runs / "r1" / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    client = serve(runs=str(runs))
    assert client.get("/benchmark").json()["latest_run"] == {"run": "r1", "summary": summary}


def test_metadata(client: Client) -> None:
    doc = client.get("/metadata").json()
    assert doc["name"] == "sqldebug" and doc["version"] == sqldebug.__version__
    assert doc["description"]


def test_schema_describes_action_observation_and_state(client: Client) -> None:
    doc = client.get("/schema").json()
    assert set(doc) == {"action", "observation", "state"}
    assert {"type", "sql", "table", "review"} <= set(doc["action"]["properties"])
    assert {"reward_breakdown", "prompt", "done"} <= set(doc["observation"]["properties"])
    assert {"history", "total_reward", "step"} <= set(doc["state"]["properties"])


def test_openapi_document(client: Client) -> None:
    doc = client.get("/openapi.json").json()
    assert isinstance(doc["info"]["version"], str) and doc["info"]["version"]
    expected = {"/health", "/tasks", "/reset", "/step", "/step_with_review", "/state", "/session"}
    assert expected | {"/benchmark", "/metadata", "/schema", "/mcp"} <= set(doc["paths"])


# -- POST /mcp (JSON-RPC 2.0) ---------------------------------------------------------------------


def rpc(client: Client, method: str, params: Any = None, rid: int = 1) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
    response = client.post("/mcp", json=body)
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    assert doc["jsonrpc"] == "2.0" and doc["id"] == rid
    return doc


def test_mcp_malformed_messages_are_answered_with_200(client: Client) -> None:
    response = client.post("/mcp", json={})
    assert response.status_code == 200
    assert response.json()["jsonrpc"] == "2.0" and response.json()["error"]["code"] == -32600
    response = client.post("/mcp", content=b"{oops", headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32700 and response.json()["id"] is None


def test_mcp_tools_list(client: Client) -> None:
    tools = rpc(client, "tools/list")["result"]["tools"]
    assert {t["name"] for t in tools} == {"reset", "step", "state", "list_tasks"}
    assert all(t["inputSchema"]["type"] == "object" for t in tools)


def test_mcp_tool_round_trip(client: Client) -> None:
    arguments = {"task_id": TASK, "seed": 2}
    started = rpc(client, "tools/call", {"name": "reset", "arguments": arguments})
    sid = started["result"]["session_id"]
    assert started["result"]["observation"]["task_id"] == TASK and sid in store(client)
    stepped = rpc(
        client, "tools/call", {"name": "step", "arguments": {"session_id": sid, "action": SOLUTION}}
    )["result"]
    assert stepped["done"] is True and stepped["reward"] > 0.5
    assert stepped["observation"]["reward_breakdown"] == stepped["info"]["reward_breakdown"]
    state = rpc(client, "tools/call", {"name": "state", "arguments": {"session_id": sid}})
    assert state["result"]["solved"] is True and len(state["result"]["history"]) == 1
    listed = rpc(client, "tools/call", {"name": "list_tasks", "arguments": {"dataset": "hr"}})
    assert listed["result"] and all(t["dataset"] == "hr" for t in listed["result"])


def test_mcp_errors(client: Client) -> None:
    assert rpc(client, "tools/call", {"name": "nope"})["error"]["code"] == -32602
    assert rpc(client, "resources/list")["error"]["code"] == -32601
    assert rpc(client, "tools/call", [1])["error"]["code"] == -32602
    gone = rpc(client, "tools/call", {"name": "state", "arguments": {"session_id": "nope"}})
    assert gone["error"]["code"] == -32000 and "POST /reset" in gone["error"]["message"]


@pytest.mark.parametrize("arguments", [{"seed": "abc"}, {"task_id": 5}])
def test_mcp_tool_arguments_of_the_wrong_type_are_a_json_rpc_error(
    client: Client, arguments: dict[str, Any]
) -> None:
    doc = rpc(client, "tools/call", {"name": "reset", "arguments": arguments})
    assert "error" in doc and len(store(client)) == 0


# -- WebSocket /ws (OpenEnv) ----------------------------------------------------------------------


def ws_call(ws: Any, message: Any) -> dict[str, Any]:
    """Send one frame, get its one reply."""
    ws.send_text(message if isinstance(message, str) else json.dumps(message))
    text = ws.receive_text()
    assert_no_traceback(text)
    reply: dict[str, Any] = json.loads(text)
    return reply


def test_ws_episode(client: Client) -> None:
    with client.websocket_connect("/ws") as ws:
        assert len(store(client)) == 1
        frame = ws_call(ws, {"type": "reset", "data": {"task_id": TASK, "seed": 5}})
        assert frame["type"] == "observation"
        data = frame["data"]
        assert data["reward"] is None and data["done"] is False
        obs = data["observation"]
        assert obs["task_id"] == TASK and "reward_breakdown" in obs
        assert obs["metadata"]["seed"] == 5 and obs["metadata"]["task_id"] == TASK

        frame = ws_call(ws, {"type": "step", "data": {"type": "submit", "sql": "SELECT 1"}})
        assert frame["type"] == "observation"
        obs = frame["data"]["observation"]
        assert obs["last_action"]["sql"] == "SELECT 1" and frame["data"]["done"] is False
        assert frame["data"]["reward"] == obs["reward_breakdown"]["total"]
        assert obs["metadata"]["reward_breakdown"] == obs["reward_breakdown"]

        wrapped = ws_call(ws, {"type": "step", "data": {"action": "SELECT 2"}})
        assert wrapped["data"]["observation"]["last_action"]["sql"] == "SELECT 2"

        frame = ws_call(ws, {"type": "state"})
        assert frame["type"] == "state" and frame["data"]["step_count"] == 2
        assert [h["action"]["sql"] for h in frame["data"]["history"]] == ["SELECT 1", "SELECT 2"]

        frame = ws_call(ws, {"type": "step", "data": SOLUTION})
        assert frame["data"]["done"] is True and frame["data"]["reward"] > 0.5
        after = ws_call(ws, {"type": "step", "data": "SELECT 1"})
        assert after["type"] == "error" and after["data"]["code"] == "EXECUTION_ERROR"


def test_ws_errors_keep_the_connection_working(client: Client) -> None:
    with client.websocket_connect("/ws") as ws:
        early = ws_call(ws, {"type": "step", "data": "SELECT 1"})
        assert early["type"] == "error" and early["data"]["code"] == "EXECUTION_ERROR"
        assert "reset" in early["data"]["message"]

        bad = ws_call(ws, "{not json")
        assert bad["type"] == "error" and bad["data"]["code"] == "INVALID_JSON"
        assert ws_call(ws, {"type": "dance"})["data"]["code"] == "UNKNOWN_TYPE"
        assert ws_call(ws, [1, 2])["data"]["code"] == "VALIDATION_ERROR"
        seed = ws_call(ws, {"type": "reset", "data": {"seed": "abc"}})
        assert seed["data"]["code"] == "VALIDATION_ERROR" and "seed" in seed["data"]["message"]
        unknown = ws_call(ws, {"type": "reset", "data": {"task_id": "shop/nope"}})
        assert unknown["data"]["code"] == "EXECUTION_ERROR"

        ok = ws_call(ws, {"type": "reset", "data": {"task_id": TASK, "seed": 1}})
        assert ok["type"] == "observation"
        for action in ({"type": "drop_table"}, 5, None):
            frame = ws_call(ws, {"type": "step", "data": action})
            assert frame["type"] == "error" and frame["data"]["code"] == "VALIDATION_ERROR"
        # still serving the same episode, none of the bad frames counted as a step
        assert ws_call(ws, {"type": "state"})["data"]["step_count"] == 0
        assert ws_call(ws, {"type": "step", "data": "SELECT 1"})["type"] == "observation"


def test_ws_reset_with_a_task_id_of_the_wrong_type_is_an_error_frame(client: Client) -> None:
    with client.websocket_connect("/ws") as ws:
        frame = ws_call(ws, {"type": "reset", "data": {"task_id": 5}})
        assert frame["type"] == "error"
        assert ws_call(ws, {"type": "reset", "data": {"task_id": TASK}})["type"] == "observation"


def test_ws_close_gets_no_reply_and_ends_the_session(client: Client) -> None:
    with client.websocket_connect("/ws") as ws:
        ws_call(ws, {"type": "reset", "data": {"task_id": TASK}})
        assert len(store(client)) == 1
        ws.send_text(json.dumps({"type": "close"}))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1000
    assert len(store(client)) == 0


def test_ws_disconnect_ends_the_session(client: Client) -> None:
    with client.websocket_connect("/ws") as ws:
        ws_call(ws, {"type": "reset", "data": {"task_id": TASK}})
        assert len(store(client)) == 1
    assert len(store(client)) == 0  # leaving the block waits for the server's handler


def test_ws_state_before_reset_is_an_error_frame(client: Client) -> None:
    with client.websocket_connect("/ws") as ws:
        frame = ws_call(ws, {"type": "state"})
        assert frame["type"] == "error" and frame["data"]["code"] == "EXECUTION_ERROR"
        assert ws_call(ws, {"type": "reset", "data": {"task_id": TASK}})["type"] == "observation"


def test_ws_beyond_capacity_is_told_and_closed(serve: Serve) -> None:
    client = serve(max_sessions=1)
    with client.websocket_connect("/ws") as first:
        ws_call(first, {"type": "reset", "data": {"task_id": TASK}})
        with client.websocket_connect("/ws") as second:
            frame = json.loads(second.receive_text())
            assert frame["type"] == "error" and frame["data"]["code"] == "CAPACITY_REACHED"
            assert frame["data"]["active_sessions"] == 1 and frame["data"]["max_sessions"] == 1
            with pytest.raises(WebSocketDisconnect):
                second.receive_text()
        # the refused connection did not disturb the first
        assert ws_call(first, {"type": "state"})["type"] == "state"
        error_of(client.post("/reset"), 429, "capacity")


# -- schema-driven fuzzing ------------------------------------------------------------------------


def test_the_app_can_be_started_twice(client: Client) -> None:
    """Test harnesses (TestClient, schemathesis) run an app's lifespan more than once."""
    app = client.app
    client.__exit__(None, None, None)
    # a statement too costly to run inline on the event loop: it needs a worker thread
    costly = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM r) SELECT count(*) FROM r"
    with Client(app, raise_server_exceptions=False) as again:
        sid = reset(again, task_id=TASK)["session_id"]
        response = step(again, sid, costly)
        assert response.status_code == 200, response.text
        assert response.json()["observation"]["error"]["kind"] == "budget"


API = schemathesis.openapi.from_asgi("/openapi.json", create_app(ServerConfig(warm=False)))


@API.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_route_answers_5xx(case: Any) -> None:
    response = case.call()
    assert response.status_code < 500, case.as_curl_command()
    assert_no_traceback(response.text)
