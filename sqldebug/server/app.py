"""The FastAPI application: the seed-compatible HTTP routes, the OpenEnv contract, the guards.

Routes stay thin: parse, call :class:`~sqldebug.server.core.ServerCore` (engine work runs on
worker threads, never on the event loop), write JSON. Every error, the framework's own included
(400 unparsable body, 404 no such route, 405 wrong method), is answered as
``{"detail": message, "error": kind}`` with a status that says who must act: 400 no session header
or a body that cannot be parsed, 404 unknown session or task, 409 episode over, 413 body too large,
422 malformed request (text that is not UTF-8 among them), 429 store full; the OpenAPI document
declares them route by route. No traceback ever reaches a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from sqldebug import __version__
from sqldebug.actions import parse_action, require_utf8
from sqldebug.errors import (
    ActionError,
    EpisodeError,
    OptionError,
    SQLDebugError,
    TaskFileError,
    UnknownTaskError,
)
from sqldebug.models import Action, EpisodeState, Observation
from sqldebug.server.asgi import replayed, send_json
from sqldebug.server.core import ServerConfig, ServerCore, step_payload
from sqldebug.server.routing import SessionRouter
from sqldebug.sessions import BadSessionIdError, StoreFullError, UnknownSessionError

log = logging.getLogger("sqldebug.server")

SessionHeader = Annotated[
    str | None,
    Header(alias="X-Session-Id", description="The session; a reset without one creates one."),
]


class ResetRequest(BaseModel):
    """Start (or restart) the session's episode. Both fields are optional."""

    model_config = ConfigDict(extra="forbid")

    task_id: str | None = Field(default=None, description="Task id; default: drawn by seed.")
    # strict: JSON false is no seed 0, nor "3" a seed 3 (the engine refuses booleans too)
    seed: int | None = Field(
        default=None, strict=True, description="Picks the hidden instances (and task)."
    )
    options: dict[str, Any] | None = Field(
        default=None, description="Reset options, e.g. {'perturb_visible': true}."
    )

    @field_validator("task_id")
    @classmethod
    def _utf8(cls, value: str | None) -> str | None:
        require_utf8(value, "the task id")  # an ActionError is a ValueError: a 422 naming it
        return value


class StepRequest(BaseModel):
    """One action, in any accepted spelling (see the README): an object or a bare SQL string."""

    model_config = ConfigDict(extra="forbid")

    action: dict[str, Any] | str


class StepResponse(BaseModel):
    """What /reset and /step answer (the seed server's shape)."""

    observation: Observation
    reward: float | None
    done: bool
    info: dict[str, Any]
    session_id: str


class ErrorBody(BaseModel):
    """Every error answer: a one-line message and a stable kind to branch on."""

    detail: str = Field(description="What was wrong and where, in one line.")
    error: str = Field(description="The kind: invalid_request, unknown_session, episode, ...")


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entry for the error statuses a route may answer."""
    reasons = {
        400: "No X-Session-Id header, or a body that cannot be parsed",
        404: "Unknown session or task",
        405: "Method not allowed",
        409: "The episode is over: reset it",
        413: "Request body over the server's limit",
        422: "Malformed request: wrong types, unknown fields, an action that cannot be "
        "understood, text that is not UTF-8",
        429: "The session store is full; see Retry-After",
    }
    return {code: {"model": ErrorBody, "description": reasons[code]} for code in statuses}


#: every route with a JSON body can be refused for its size or its syntax
_BODY_ERRORS = (400, 413, 422)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, before the app sees any of it.

    The declared ``Content-Length`` is checked first; a body without one (chunked) is read here,
    up to the limit, and handed to the app whole.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.limit:
                await _too_large(self.limit, send)
                return
            await self.app(scope, receive, send)  # the server enforces the declared length
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: let the app see the disconnect
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await _too_large(self.limit, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        await self.app(scope, replayed(body, receive), send)


async def _too_large(limit: int, send: Send) -> None:
    message = f"request body over the limit of {limit:,} bytes"
    await send_json(send, 413, {"detail": message, "error": "too_large"})


def _error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": message, "error": kind}, status_code=status, headers=headers)


def error_status(exc: Exception) -> tuple[int, str]:
    """The HTTP status and error kind for an engine error (one table, used by every route)."""
    table: list[tuple[type[Exception], int, str]] = [
        (UnknownSessionError, 404, "unknown_session"),
        (UnknownTaskError, 404, "unknown_task"),
        (StoreFullError, 429, "capacity"),
        (EpisodeError, 409, "episode"),
        (ActionError, 422, "invalid_action"),
        (OptionError, 422, "invalid_option"),
        (BadSessionIdError, 422, "invalid_session_id"),
        (TaskFileError, 500, "task_files"),
    ]
    for cls, status, kind in table:
        if isinstance(exc, cls):
            return status, kind
    return 400, "invalid_request"


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """The server application (``sqldebug serve`` runs it under uvicorn)."""
    config = config or ServerConfig()
    core = ServerCore(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        core.start()
        # the hidden instances the first seeds draw, and every answer on them, are built in the
        # background once the server listens: with warehouse datasets that is a minute of work
        # (`serve` checked every solution on the visible instances before listening)
        warming = asyncio.create_task(_warm_in_background(core)) if config.warm else None
        reaper = asyncio.create_task(_reap_forever(core))
        try:
            yield
        finally:
            reaper.cancel()
            if warming is not None:
                warming.cancel()
            core.stop()

    app = FastAPI(
        title="sqldebug",
        version=__version__,
        description="Execution-grounded SQL debugging episodes: the seed-compatible HTTP API "
        "and the OpenEnv WebSocket contract.",
        lifespan=lifespan,
    )
    app.state.core = core

    @app.exception_handler(SQLDebugError)
    async def engine_error(request: Request, exc: SQLDebugError) -> JSONResponse:
        status, kind = error_status(exc)
        headers = {"Retry-After": str(int(min(core.store.ttl, 60)))} if status == 429 else None
        return _error(status, kind, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", "; ".join(_problem(e) for e in exc.errors()))

    @app.exception_handler(HTTPException)
    async def framework_error(request: Request, exc: HTTPException) -> JSONResponse:
        """The framework's own answers (no such route, wrong method, a body that cannot be
        parsed) in the same shape as every other error."""
        cause = exc.__cause__
        if isinstance(cause, UnicodeDecodeError):  # the body is not UTF-8: say where
            byte = cause.object[cause.start : cause.start + 1].hex()
            return _error(
                422,
                "invalid_request",
                f"the body is not UTF-8 text: byte 0x{byte} at offset {cause.start}",
            )
        if isinstance(cause, RecursionError):
            return _error(400, "invalid_request", "the body is not valid JSON: nested too deeply")
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":  # Starlette's: no such route
            detail = f"no route {request.url.path}; see /docs for the routes"
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            detail = f"{request.method} is not allowed on {request.url.path}" + (
                f"; use {allowed}" if allowed else ""
            )
        elif exc.status_code == 400:
            detail = f"the body cannot be parsed: {detail}"
        status = exc.status_code
        return _error(status, kind or "invalid_request", detail, dict(exc.headers or {}) or None)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "internal", f"internal error ({type(exc).__name__}); see the server log")

    @app.get("/health", tags=["server"])
    async def health() -> dict[str, Any]:
        """Liveness: answered on the event loop, never behind engine work."""
        t0 = time.perf_counter()
        body = {"status": "healthy", "version": __version__, "sessions": len(core.store)}
        core.latency["health"].add(time.perf_counter() - t0)
        return body

    @app.get("/tasks", tags=["seed"], responses=_documented(422))
    async def tasks(
        split: Annotated[Literal["train", "test"] | None, Query()] = None,
        category: Annotated[str | None, Query(description="A bug category.")] = None,
        difficulty: Annotated[Literal["easy", "medium", "hard"] | None, Query()] = None,
        dataset: Annotated[str | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        """The tasks, filtered (an unknown split, category or difficulty is a 422, as on the
        command line)."""
        from sqldebug.spec import CATEGORIES

        if category is not None and category not in CATEGORIES:
            raise OptionError(
                f"category: {category!r} is not a category; one of: {', '.join(CATEGORIES)}"
            )
        chosen = core.runtime.catalog.filter(
            split=split, category=category, difficulty=difficulty, dataset=dataset
        )
        keep = {"id", "title", "dataset", "category", "difficulty", "kind", "split", "max_steps"}
        return [t.model_dump(include=keep) for t in chosen]

    @app.post(
        "/reset",
        tags=["seed"],
        response_model=None,
        responses={200: {"model": StepResponse}, **_documented(*_BODY_ERRORS, 404, 429)},
    )
    async def reset(
        x_session_id: SessionHeader = None, body: ResetRequest | None = None
    ) -> Response:
        """Start an episode; without X-Session-Id, a new session is created and its id returned."""
        req = body or ResetRequest()

        def work() -> tuple[str, bytes]:
            session, obs, info = core.reset(x_session_id, req.task_id, req.seed, req.options)
            return session.id, step_payload(obs, None, False, info, session_id=session.id)

        sid, payload = await core.run(work, x_session_id)
        return Response(payload, media_type="application/json", headers={"X-Session-Id": sid})

    async def _step(session_id: str | None, body: StepRequest, review: bool) -> Response:
        if not session_id:
            return _error(
                400,
                "missing_session",
                "the X-Session-Id header is required: "
                "call POST /reset first and send the id it returns",
            )

        action = _action(body.action)  # refused here, before any step is counted

        def work() -> bytes:
            obs, reward, terminated, truncated, info = core.step(session_id, action, review=review)
            return step_payload(obs, reward, terminated or truncated, info, session_id=session_id)

        return Response(await core.run(work, session_id), media_type="application/json")

    step_errors = {200: {"model": StepResponse}, **_documented(*_BODY_ERRORS, 404, 409, 429)}

    @app.post("/step", tags=["seed"], response_model=None, responses=step_errors)
    async def step(body: StepRequest, x_session_id: SessionHeader = None) -> Response:
        """One action on the session's episode."""
        return await _step(x_session_id, body, review=False)

    @app.post("/step_with_review", tags=["seed"], response_model=None, responses=step_errors)
    async def step_with_review(body: StepRequest, x_session_id: SessionHeader = None) -> Response:
        """One action, reviewed first: SQL with a blocking finding is not run."""
        return await _step(x_session_id, body, review=True)

    @app.get(
        "/state",
        tags=["seed"],
        response_model=EpisodeState,
        responses=_documented(400, 404, 409, 422, 429),
    )
    async def state(x_session_id: SessionHeader = None) -> EpisodeState | JSONResponse:
        """The session's episode so far: each action, its reward, the return."""
        if not x_session_id:
            return _error(400, "missing_session", "the X-Session-Id header is required")

        def work() -> EpisodeState:
            with core.hold(x_session_id) as held:
                return held.env.state()

        return await core.run(work, x_session_id)

    @app.delete("/session", tags=["seed"], responses=_documented(404, 422))
    async def end_session(x_session_id: SessionHeader = None) -> dict[str, Any]:
        """End a session now (idle ones also expire by themselves)."""
        if not x_session_id:
            return {"deleted": None}
        core.store.delete(x_session_id)
        return {"deleted": x_session_id}

    @app.get("/benchmark", tags=["seed"])
    async def benchmark() -> dict[str, Any]:
        """Live latency of this server's engine (reset, step) and the latest bench run."""
        return core.benchmark()

    from sqldebug.server.openenv import add_openenv_routes

    add_openenv_routes(app, core)
    app.add_middleware(SessionRouter, core=core)  # inner: sees bodies BodyLimit has passed
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    return app


def _problem(error: Any) -> str:
    """One validation problem as ``where: what``; a body that is not JSON says where it broke."""
    where = ".".join(str(p) for p in error["loc"] if p != "body") or "body"
    if error["type"] == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "JSON decode error")
        return f"the body is not valid JSON (JSON decode error at character {where}: {reason})"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def _action(raw: Any) -> Action:
    """The action of a request: any accepted spelling, refused (422) when it cannot be
    understood, holds text that is not UTF-8, or submits or probes empty SQL (as the command
    line refuses it): none of these costs a step."""
    action = parse_action(raw)
    if action.type in ("submit", "probe") and not (action.sql or "").strip():
        raise ActionError(
            f"the SQL is empty: a {action.type} needs a statement (action.sql, or the action "
            "as a SQL string)"
        )
    return action


async def _warm_in_background(core: ServerCore) -> None:
    """Build what the first episodes need; a task that fails is one log line, not a crash (its
    resets then answer with the same error)."""
    try:
        await asyncio.to_thread(core.warm)
    except SQLDebugError as exc:
        log.error("warming up: %s", exc)


async def _reap_forever(core: ServerCore) -> None:
    period = max(0.5, min(core.store.ttl / 4, 30.0))
    while True:
        await asyncio.sleep(period)
        core.store.reap()
