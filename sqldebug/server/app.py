"""The FastAPI application: the seed-compatible HTTP routes, the OpenEnv contract, the guards.

Routes stay thin: parse, call :class:`~sqldebug.server.core.ServerCore` (engine work runs on
worker threads, never on the event loop), write JSON. Errors are answered as
``{"detail": message, "error": kind}`` with a status that says who must act: 404 unknown session
or task, 409 episode over, 413 body too large, 422 malformed request, 429 store full. No traceback
ever reaches a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from sqldebug import __version__
from sqldebug.errors import (
    ActionError,
    EpisodeError,
    OptionError,
    SQLDebugError,
    TaskFileError,
    UnknownTaskError,
)
from sqldebug.models import EpisodeState, Observation
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
    seed: int | None = Field(default=None, description="Picks the hidden instances (and task).")
    options: dict[str, Any] | None = Field(
        default=None, description="Reset options, e.g. {'perturb_visible': true}."
    )


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
        if config.warm:
            await core.run(core.warm)
        reaper = asyncio.create_task(_reap_forever(core))
        try:
            yield
        finally:
            reaper.cancel()
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
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        ]
        return _error(422, "invalid_request", "; ".join(problems))

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

    @app.get("/tasks", tags=["seed"])
    async def tasks(
        split: Annotated[str | None, Query()] = None,
        category: Annotated[str | None, Query()] = None,
        difficulty: Annotated[str | None, Query()] = None,
        dataset: Annotated[str | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        """The tasks, filtered."""
        chosen = core.runtime.catalog.filter(
            split=split, category=category, difficulty=difficulty, dataset=dataset
        )
        keep = {"id", "title", "dataset", "category", "difficulty", "kind", "split", "max_steps"}
        return [t.model_dump(include=keep) for t in chosen]

    @app.post(
        "/reset", tags=["seed"], response_model=None, responses={200: {"model": StepResponse}}
    )
    async def reset(
        x_session_id: SessionHeader = None, body: ResetRequest | None = None
    ) -> Response:
        """Start an episode; without X-Session-Id, a new session is created and its id returned."""
        req = body or ResetRequest()

        def work() -> tuple[str, bytes]:
            session, obs, info = core.reset(x_session_id, req.task_id, req.seed, req.options)
            return session.id, step_payload(obs, None, False, info, session_id=session.id)

        sid, payload = await core.run_fast(work)
        return Response(payload, media_type="application/json", headers={"X-Session-Id": sid})

    async def _step(session_id: str | None, body: StepRequest, review: bool) -> Response:
        if not session_id:
            return _error(
                400,
                "missing_session",
                "the X-Session-Id header is required: "
                "call POST /reset first and send the id it returns",
            )

        def work() -> bytes:
            obs, reward, terminated, truncated, info = core.step(
                session_id, body.action, review=review
            )
            return step_payload(obs, reward, terminated or truncated, info, session_id=session_id)

        return Response(await core.run_fast(work), media_type="application/json")

    @app.post("/step", tags=["seed"], response_model=None, responses={200: {"model": StepResponse}})
    async def step(body: StepRequest, x_session_id: SessionHeader = None) -> Response:
        """One action on the session's episode."""
        return await _step(x_session_id, body, review=False)

    @app.post(
        "/step_with_review",
        tags=["seed"],
        response_model=None,
        responses={200: {"model": StepResponse}},
    )
    async def step_with_review(body: StepRequest, x_session_id: SessionHeader = None) -> Response:
        """One action, reviewed first: SQL with a blocking finding is not run."""
        return await _step(x_session_id, body, review=True)

    @app.get("/state", tags=["seed"], response_model=EpisodeState)
    async def state(x_session_id: SessionHeader = None) -> EpisodeState | JSONResponse:
        """The session's episode so far: each action, its reward, the return."""
        if not x_session_id:
            return _error(400, "missing_session", "the X-Session-Id header is required")

        def work() -> EpisodeState:
            with core.hold(x_session_id) as held:
                return held.env.state()

        return await core.run_fast(work)

    @app.delete("/session", tags=["seed"])
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


async def _reap_forever(core: ServerCore) -> None:
    period = max(0.5, min(core.store.ttl / 4, 30.0))
    while True:
        await asyncio.sleep(period)
        core.store.reap()
