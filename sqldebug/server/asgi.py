"""Small raw-ASGI helpers shared by the server's middlewares (which run before FastAPI)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message, Receive, Send


async def send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    """Answer a request with a JSON body, straight from a middleware."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


def replayed(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over an already-read body, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
