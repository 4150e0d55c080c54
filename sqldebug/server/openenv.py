"""The OpenEnv contract, so the unmodified openenv-core client drives sqldebug.

``WS /ws``: one connection is one session. Client frames are ``{"type": "reset", "data":
{kwargs}}``, ``{"type": "step", "data": <action>}``, ``{"type": "state"}`` and ``{"type":
"close"}``; each request gets exactly one reply, in order: ``{"type": "observation", "data":
{"observation", "reward", "done"}}``, ``{"type": "state", "data": {...}}`` or ``{"type": "error",
"data": {"message", "code"}}`` with OpenEnv's codes. openenv-core 0.3.0 drops an observation's
``metadata`` on the wire, so the reward breakdown travels in ``observation.reward_breakdown`` and
``info`` in ``observation.metadata``. A connection beyond capacity is accepted, told
``CAPACITY_REACHED`` and closed, as openenv's own server does.

Plus ``GET /metadata``, ``GET /schema`` (action, observation and state JSON Schemas) and
``POST /mcp`` (JSON-RPC 2.0: ``tools/list``, ``tools/call`` for list_tasks, reset, step and state,
always answered with HTTP 200).
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from sqldebug import __version__
from sqldebug.errors import ActionError, OptionError, SQLDebugError
from sqldebug.models import Action, EpisodeState, Observation
from sqldebug.server.core import ServerCore
from sqldebug.sessions import StoreFullError

log = logging.getLogger("sqldebug.server")

DESCRIPTION = (
    "Execution-grounded SQL debugging: fix a query that looks right but is wrong; graded on the "
    "visible data and hidden neighbours of it, with a decomposed reward."
)


def observation_frame(
    obs: Observation, reward: float | None, done: bool, info: dict[str, Any]
) -> str:
    """The OpenEnv observation reply, as text (info rides inside the observation)."""
    compact = (",", ":")
    body = obs.model_dump_json()[:-1] + ',"metadata":' + json.dumps(info, separators=compact) + "}"
    tail = json.dumps({"reward": reward, "done": done}, separators=compact)
    return '{"type":"observation","data":{"observation":' + body + "," + tail[1:] + "}"


def state_data(state: EpisodeState) -> dict[str, Any]:
    return {**state.model_dump(mode="json"), "step_count": state.step}


def _error(message: str, code: str, **extra: Any) -> str:
    data = {"message": message, "code": code, **extra}
    return json.dumps({"type": "error", "data": data}, separators=(",", ":"))


def _unwrap(data: Any) -> Any:
    """The action inside a step frame (openenv sends it bare; ``{"action": ...}`` also works)."""
    if isinstance(data, dict) and set(data) == {"action"}:
        return data["action"]
    return data


def add_openenv_routes(app: FastAPI, core: ServerCore) -> None:
    @app.get("/metadata", tags=["openenv"])
    async def metadata() -> dict[str, Any]:
        """Who this environment is (OpenEnv EnvironmentMetadata)."""
        return {
            "name": "sqldebug",
            "description": DESCRIPTION,
            "readme_content": None,
            "version": __version__,
            "author": "sqldebug developers",
            "documentation_url": None,
        }

    @app.get("/schema", tags=["openenv"])
    async def schema() -> dict[str, Any]:
        """JSON Schemas of the action, the observation and the state."""
        return {
            "action": Action.model_json_schema(),
            "observation": Observation.model_json_schema(mode="serialization"),
            "state": EpisodeState.model_json_schema(),
        }

    @app.post("/mcp", tags=["openenv"])
    async def mcp(request: Request) -> JSONResponse:
        """JSON-RPC 2.0 (MCP tools): always HTTP 200, errors in the JSON-RPC body."""
        raw = await request.body()
        try:
            message = json.loads(raw or b"null")
        except ValueError:
            return _rpc(None, error=(-32700, "Parse error"))
        if (
            not isinstance(message, dict)
            or message.get("jsonrpc") != "2.0"
            or not isinstance(message.get("method"), str)
        ):
            return _rpc(
                message.get("id") if isinstance(message, dict) else None,
                error=(-32600, "Invalid request: expected {jsonrpc: '2.0', method, params, id}"),
            )
        rid = message.get("id")
        params = message.get("params") or {}
        if not isinstance(params, dict):
            return _rpc(rid, error=(-32602, "params must be an object"))
        if message["method"] == "tools/list":
            return _rpc(rid, result={"tools": TOOLS})
        if message["method"] != "tools/call":
            return _rpc(rid, error=(-32601, f"Method not found: {message['method']}"))
        name = params.get("name")
        args = params.get("arguments") or {}
        if not isinstance(name, str):
            return _rpc(rid, error=(-32602, "Missing 'name' in params"))
        if name not in {t["name"] for t in TOOLS} or not isinstance(args, dict):
            return _rpc(
                rid,
                error=(
                    -32602,
                    f"Tool not found: {name}"
                    if name not in {t["name"] for t in TOOLS}
                    else "arguments must be an object",
                ),
            )
        try:
            result = await core.run(lambda: _call_tool(core, name, args), args.get("session_id"))
        except (OptionError, ActionError) as exc:
            return _rpc(rid, error=(-32602, str(exc)))
        except SQLDebugError as exc:
            return _rpc(rid, error=(-32000, str(exc)))
        except Exception as exc:  # a bug: still a JSON-RPC answer with HTTP 200, and a log line
            log.exception("tools/call %s failed", name)
            return _rpc(rid, error=(-32603, f"internal error ({type(exc).__name__})"))
        return _rpc(rid, result=result)

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        try:
            session = core.store.create()
        except StoreFullError as exc:
            await socket.send_text(
                _error(
                    str(exc),
                    "CAPACITY_REACHED",
                    active_sessions=len(core.store),
                    max_sessions=core.store.capacity,
                )
            )
            await socket.close(code=1000)
            return
        session.pinned = True
        try:
            while True:
                text = await socket.receive_text()
                reply = await _handle(core, session.id, text)
                if reply is None:
                    break
                await socket.send_text(reply)
        except WebSocketDisconnect:
            pass
        finally:
            session.pinned = False
            with contextlib.suppress(KeyError):
                core.store.delete(session.id)
        with contextlib.suppress(RuntimeError):  # already closed by the client
            await socket.close(code=1000)


async def _handle(core: ServerCore, session_id: str, text: str) -> str | None:
    """One client frame in, one reply out (None: the client asked to close)."""
    try:
        message = json.loads(text)
    except ValueError as exc:
        return _error(f"Invalid JSON: {exc}", "INVALID_JSON")
    if not isinstance(message, dict):
        return _error(
            "Invalid message: expected a JSON object with a 'type'", "VALIDATION_ERROR", errors=[]
        )
    kind = message.get("type")
    data = message.get("data")
    try:
        if kind == "close":
            return None
        if kind == "reset":
            kwargs = data if isinstance(data, dict) else {}
            seed = kwargs.get("seed")
            options = kwargs.get("options") if isinstance(kwargs.get("options"), dict) else None

            def reset() -> str:
                _, obs, info = core.reset(session_id, kwargs.get("task_id"), seed, options)
                return observation_frame(obs, None, False, info)

            return await core.run(reset, session_id)
        if kind == "step":
            if data is None:
                return _error(
                    "Invalid message: step needs data (the action)", "VALIDATION_ERROR", errors=[]
                )

            def step() -> str:
                obs, reward, term, trunc, info = core.step(session_id, _unwrap(data))
                return observation_frame(obs, reward, term or trunc, info)

            return await core.run(step, session_id)
        if kind == "state":

            def state() -> str:
                with core.hold(session_id) as held:
                    return json.dumps({"type": "state", "data": state_data(held.env.state())})

            return await core.run(state, session_id)
        return _error(f"Unknown message type: {kind}", "UNKNOWN_TYPE")
    except (ActionError, OptionError) as exc:
        return _error(f"Invalid message: {exc}", "VALIDATION_ERROR", errors=[])
    except SQLDebugError as exc:
        return _error(str(exc), "EXECUTION_ERROR")
    except Exception as exc:  # a bug: answer it and keep the connection, log the traceback
        log.exception("WebSocket %s failed", kind)
        return _error(
            f"internal error ({type(exc).__name__}); see the server log", "EXECUTION_ERROR"
        )


def _rpc(rid: Any, *, result: Any = None, error: tuple[int, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": rid}
    if error is not None:
        body["error"] = {"code": error[0], "message": error[1], "data": None}
    else:
        body["result"] = result
    return JSONResponse(body)


_SESSION = {"type": "string", "description": "Session id returned by reset."}
TOOLS: list[dict[str, Any]] = [
    {
        "name": "list_tasks",
        "description": "List the tasks, filtered by split, category, difficulty or dataset.",
        "inputSchema": {
            "type": "object",
            "properties": {
                k: {"type": "string"} for k in ("split", "category", "difficulty", "dataset")
            },
        },
    },
    {
        "name": "reset",
        "description": "Start an episode; returns its session_id and the first observation.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "task_id": {"type": "string"},
                "seed": {"type": "integer"},
                "session_id": _SESSION,
            },
        },
    },
    {
        "name": "step",
        "description": "Play one action (submit SQL by default) in a session.",
        "inputSchema": {
            "type": "object",
            "required": ["session_id", "action"],
            "properties": {
                "session_id": _SESSION,
                "action": {
                    "description": "SQL string or an action object",
                    "anyOf": [{"type": "string"}, {"type": "object"}],
                },
                "review": {"type": "boolean"},
            },
        },
    },
    {
        "name": "state",
        "description": "The session's episode so far.",
        "inputSchema": {
            "type": "object",
            "required": ["session_id"],
            "properties": {"session_id": _SESSION},
        },
    },
]


def _call_tool(core: ServerCore, name: str, args: dict[str, Any]) -> Any:
    if name == "list_tasks":
        keep = {"id", "title", "dataset", "category", "difficulty", "kind", "split"}
        filters = {k: args.get(k) for k in ("split", "category", "difficulty", "dataset")}
        return [t.model_dump(include=keep) for t in core.runtime.catalog.filter(**filters)]
    if name == "reset":
        session, obs, info = core.reset(
            args.get("session_id"), args.get("task_id"), args.get("seed")
        )
        return {
            "session_id": session.id,
            "observation": obs.model_dump(mode="json"),
            "reward": None,
            "done": False,
            "info": info,
        }
    session_id = args.get("session_id")
    if not isinstance(session_id, str):
        raise ActionError("'session_id' is required")
    if name == "step":
        if "action" not in args:
            raise ActionError("'action' is required")
        obs, reward, term, trunc, info = core.step(
            session_id, args["action"], review=bool(args.get("review"))
        )
        return {
            "observation": obs.model_dump(mode="json"),
            "reward": reward,
            "done": term or trunc,
            "info": info,
        }
    with core.hold(session_id) as held:
        return held.env.state().model_dump(mode="json")
