"""The HTTP stack's ceiling: a bare FastAPI endpoint that does no work.

Used by ``benchmarks/http_load.py``: ``POST /reset`` and ``POST /step`` read the JSON body and
answer a canned response of ``BARE_PAYLOAD_BYTES`` bytes (the size of a real sqldebug step
response), through the same uvicorn (httptools, uvloop) and the same response class as the server.
"""

from __future__ import annotations

import json
import os

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

SIZE = int(os.environ.get("BARE_PAYLOAD_BYTES", "6000"))
PAYLOAD = json.dumps(
    {"observation": {"pad": "x" * max(0, SIZE - 60)}, "reward": 0.0, "done": False, "info": {}}
).encode()
app = FastAPI()


@app.post("/reset")
async def reset(request: Request) -> Response:
    await request.body()
    return Response(PAYLOAD, media_type="application/json", headers={"X-Session-Id": "bare"})


@app.post("/step")
async def step(request: Request) -> Response:
    json.loads(await request.body())
    return Response(PAYLOAD, media_type="application/json")


@app.websocket("/ws")
async def ws(socket: WebSocket) -> None:
    await socket.accept()
    frame = '{"type":"observation","data":' + PAYLOAD.decode() + "}"
    try:
        while True:
            message = json.loads(await socket.receive_text())
            if message.get("type") == "close":
                break
            await socket.send_text(frame)
    except WebSocketDisconnect:
        pass
