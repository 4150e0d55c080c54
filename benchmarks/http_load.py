"""Closed-loop HTTP and WebSocket load against `sqldebug serve`, next to the HTTP stack's ceiling.

    python benchmarks/http_load.py [--sessions 32] [--seconds 10] [--threads 4]

Starts two servers as subprocesses on free loopback ports: ``sqldebug serve`` and
``benchmarks/bare_app.py`` (a FastAPI endpoint that does no work and answers a body of the same
size as a real step response, under the same uvicorn). Then N sessions each reset and step back
to back for a fixed time, over HTTP/1.1 keep-alive (raw asyncio streams: a generator that measures
the server, not itself) and over WebSocket (the OpenEnv /ws contract). Prints steps/s, p50 and
p99 per target and mode, and sqldebug's share of the bare ceiling. Targets at 32 sessions:
steps/s >= 50% of the ceiling, p99 <= 25 ms, WS faster than HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASK = "shop/top-products-ties"
STEP_SQL = (
    "SELECT p.id, p.name, SUM(oi.quantity) AS units_sold FROM products p "
    "JOIN order_items oi ON oi.product_id = p.id JOIN orders o ON o.id = oi.order_id "
    "WHERE o.status = 'paid' GROUP BY p.id, p.name ORDER BY units_sold DESC, p.id LIMIT 3"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, path: str = "/health", timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not come up")


class Http:
    """One keep-alive HTTP/1.1 connection on raw asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Http:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(
        self, path: str, body: bytes, session: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        if session:
            head += f"X-Session-Id: {session}\r\n"
        self.writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, data

    def close(self) -> None:
        self.writer.close()


async def http_session(
    port: int, index: int, stop: float, lat: list[float], errors: list[str]
) -> int:
    conn = await Http.open(port)
    steps = 0
    step_body = json.dumps({"action": {"type": "submit", "sql": STEP_SQL}}).encode()
    try:
        while time.perf_counter() < stop:
            status, headers, _ = await conn.post(
                "/reset", json.dumps({"task_id": TASK, "seed": index * 1000 + steps}).encode()
            )
            session = headers.get("x-session-id")
            if status != 200 or not session:
                errors.append(f"reset {status}")
                return steps
            done = False
            while not done and time.perf_counter() < stop:
                t0 = time.perf_counter()
                status, _, data = await conn.post("/step", step_body, session)
                lat.append(time.perf_counter() - t0)
                if status != 200:
                    errors.append(f"step {status}: {data[:100]!r}")
                    return steps
                steps += 1
                done = b'"done":true' in data
    finally:
        conn.close()
    return steps


async def ws_session(
    port: int, index: int, stop: float, lat: list[float], errors: list[str]
) -> int:
    from websockets.asyncio.client import connect

    steps = 0
    step_frame = json.dumps({"type": "step", "data": {"type": "submit", "sql": STEP_SQL}})
    async with connect(f"ws://127.0.0.1:{port}/ws", max_size=2**24) as ws:
        while time.perf_counter() < stop:
            await ws.send(
                json.dumps(
                    {"type": "reset", "data": {"task_id": TASK, "seed": index * 1000 + steps}}
                )
            )
            reply = await ws.recv()
            if not reply.startswith('{"type":"observation"'):
                errors.append(f"reset: {reply[:100]}")
                return steps
            done = False
            while not done and time.perf_counter() < stop:
                t0 = time.perf_counter()
                await ws.send(step_frame)
                reply = await ws.recv()
                lat.append(time.perf_counter() - t0)
                if not reply.startswith('{"type":"observation"'):
                    errors.append(f"step: {reply[:100]}")
                    return steps
                steps += 1
                done = '"done":true' in reply[-60:]
        await ws.send(json.dumps({"type": "close"}))
    return steps


async def drive(
    mode: str, port: int, sessions: int, seconds: float, warmup: float
) -> dict[str, float]:
    fn = http_session if mode == "http" else ws_session
    # warm-up: same load, figures thrown away
    junk: list[float] = []
    errs: list[str] = []
    await asyncio.gather(
        *(fn(port, i, time.perf_counter() + warmup, junk, errs) for i in range(sessions))
    )
    lat: list[float] = []
    errors: list[str] = []
    t0 = time.perf_counter()
    counts = await asyncio.gather(
        *(fn(port, i, t0 + seconds, lat, errors) for i in range(sessions))
    )
    elapsed = time.perf_counter() - t0
    lat.sort()
    if errors:
        print(f"  {len(errors)} error(s), first: {errors[0]}", file=sys.stderr)
    return {
        "steps_per_s": sum(counts) / elapsed,
        "p50_ms": statistics.median(lat) * 1e3 if lat else float("nan"),
        "p99_ms": lat[int(0.99 * (len(lat) - 1))] * 1e3 if lat else float("nan"),
        "errors": float(len(errors)),
    }


def start(cmd: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        cmd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_healthy(port, "/health" if "serve" in cmd else "/docs")
    return proc


def response_size(port: int) -> int:
    async def one() -> int:
        conn = await Http.open(port)
        _, headers, _ = await conn.post("/reset", json.dumps({"task_id": TASK, "seed": 0}).encode())
        _, _, data = await conn.post(
            "/step", json.dumps({"action": STEP_SQL}).encode(), headers["x-session-id"]
        )
        conn.close()
        return len(data)

    return asyncio.run(one())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=4, help="sqldebug serve --threads")
    parser.add_argument("--workers", type=int, default=1, help="sqldebug serve --workers")
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "sqldebug")
    sq_port, bare_port = free_port(), free_port()
    sq = start(
        [
            exe,
            "serve",
            "--port",
            str(sq_port),
            "--threads",
            str(args.threads),
            "--max-sessions",
            "100000",
            "--workers",
            str(args.workers),
        ],
        sq_port,
    )
    try:
        size = response_size(sq_port)
        bare = start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--port",
                str(bare_port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--app-dir",
                str(HERE),
                "--ws-per-message-deflate",
                "false",
            ],
            bare_port,
            {"BARE_PAYLOAD_BYTES": str(size)},
        )
        try:
            print(
                f"{os.cpu_count()} cores, sqldebug --workers {args.workers}, "
                f"Python {sys.version.split()[0]}, "
                f"{args.sessions} sessions, {args.seconds:g} s per run, "
                f"step response {size:,} bytes"
            )
            results = {}
            for target, port in (("bare", bare_port), ("sqldebug", sq_port)):
                for mode in ("http", "ws"):
                    results[(target, mode)] = r = asyncio.run(
                        drive(mode, port, args.sessions, args.seconds, args.warmup)
                    )
                    print(
                        f"  {target:9} {mode:5} {r['steps_per_s']:8.0f} steps/s  "
                        f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms",
                        flush=True,
                    )
        finally:
            bare.terminate()
    finally:
        sq.terminate()
    print("summary")
    for mode in ("http", "ws"):
        share = results[("sqldebug", mode)]["steps_per_s"] / results[("bare", mode)]["steps_per_s"]
        print(
            f"  {mode}: sqldebug {results[('sqldebug', mode)]['steps_per_s']:.0f} steps/s = "
            f"{share:.0%} of the bare ceiling (target >= 50%), "
            f"p99 {results[('sqldebug', mode)]['p99_ms']:.1f} ms (target <= 25 ms)"
        )
    faster = (
        results[("sqldebug", "ws")]["steps_per_s"] / results[("sqldebug", "http")]["steps_per_s"]
    )
    print(f"  ws / http: {faster:.2f}x (target > 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
