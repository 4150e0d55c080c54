"""Several worker processes, one server: each request goes to the process that owns its session.

With ``sqldebug serve --workers N`` every worker accepts connections on the shared port and keeps
its own sessions. A session id belongs to worker ``crc32(id) % N`` (ids a worker generates are
drawn so that it owns them). A request that names a session owned by another worker — by the
``X-Session-Id`` header, or ``arguments.session_id`` of an MCP call — is forwarded to that worker
over its Unix socket and its answer relayed as is. Clients see one server; a keep-alive
connection usually stays with the worker that created its sessions, so forwarding is the
exception. WebSocket sessions live with their connection and need no routing.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from sqldebug.server.asgi import replayed, send_json
from sqldebug.server.core import ServerCore

ROUTED = b"x-sqldebug-routed"
_HOP = {b"host", b"content-length", b"connection", b"transfer-encoding", b"keep-alive"}


class SessionRouter:
    """ASGI middleware: forward requests for other workers' sessions to their owner."""

    def __init__(self, app: ASGIApp, core: ServerCore) -> None:
        self.app = app
        self.core = core
        self._clients: dict[int, httpx.AsyncClient] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peers = self.core.config.peers
        if scope["type"] != "http" or len(peers) < 2:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if ROUTED in headers:  # forwarded once already: serve it here, whatever it names
            await self.app(scope, receive, send)
            return
        body: bytes | None = None
        session_id = headers.get(b"x-session-id", b"").decode("latin-1") or None
        if session_id is None and scope["path"] == "/mcp" and scope["method"] == "POST":
            body = await _read(receive)
            session_id = _mcp_session(body)
        owner = self.core.owner(session_id) if session_id else self.core.config.worker
        if owner == self.core.config.worker:
            await self.app(scope, receive if body is None else replayed(body, receive), send)
            return
        if body is None:
            body = await _read(receive)
        await self._forward(owner, scope, body, send)

    async def _forward(self, owner: int, scope: Scope, body: bytes, send: Send) -> None:
        client = self._clients.get(owner)
        if client is None:
            transport = httpx.AsyncHTTPTransport(uds=self.core.config.peers[owner])
            client = self._clients[owner] = httpx.AsyncClient(transport=transport, timeout=120)
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"http://worker{owner}{scope['path']}" + (f"?{query}" if query else "")
        headers = [(k, v) for k, v in scope.get("headers") or [] if k not in _HOP]
        headers.append((ROUTED, b"1"))
        try:
            reply = await client.request(scope["method"], url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            detail = (
                f"the worker that owns this session is unreachable ({type(exc).__name__}); "
                "call POST /reset"
            )
            await send_json(send, 503, {"detail": detail, "error": "worker_unavailable"})
            return
        out = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in reply.headers.items()
            if k.encode("latin-1").lower() not in _HOP
        ]
        await send({"type": "http.response.start", "status": reply.status_code, "headers": out})
        await send({"type": "http.response.body", "body": reply.content})


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _mcp_session(body: bytes) -> str | None:
    try:
        message: Any = json.loads(body or b"null")
        session = message["params"]["arguments"]["session_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return session if isinstance(session, str) else None
