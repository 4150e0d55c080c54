"""What the server tests share: the task they play, its fix, the checks every answer must pass,
and `sqldebug serve` started for real on a free port."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

import sqldebug

TASK = "shop/top-products-ties"  # a query task on the shop dataset
SOLUTION = next(t.solution for t in sqldebug.load_tasks() if t.id == TASK)
STEP_KEYS = {"observation", "reward", "done", "info", "session_id"}
EXE = Path(sys.executable).parent / "sqldebug"
TIMEOUT = 60.0  # every request must complete within this; it is a bound, not a measurement
T = TypeVar("T")


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text, f"a traceback reached the client: {text[:500]}"


def assert_step_body(body: dict[str, Any], session_id: str | None = None) -> None:
    """The seed server's shape; a step's reward breakdown is in the observation and in info."""
    assert set(body) == STEP_KEYS, sorted(body)
    if session_id is not None:
        assert body["session_id"] == session_id
    obs, info = body["observation"], body["info"]
    assert obs["step"] == info["step"]
    if body["reward"] is None:  # a reset
        assert body["done"] is False and obs["step"] == 0
        return
    breakdown = obs["reward_breakdown"]
    assert breakdown == info["reward_breakdown"]
    assert body["reward"] == breakdown["total"]
    assert body["done"] == obs["done"]


@dataclass(frozen=True)
class Live:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=TIMEOUT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def poll(check: Callable[[], T | None], what: str, timeout: float) -> T:
    """Call ``check`` until it returns something; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.05)


@contextlib.contextmanager
def running(tmp: Path, *extra: str) -> Iterator[Live]:
    """`sqldebug serve` on a free port, healthy, stopped afterwards."""
    log = tmp / "serve.log"
    live = Live(free_port(), log)
    args = [str(EXE), "serve", "--port", str(live.port), "--max-sessions", "200", *extra]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:

        def healthy() -> bool | None:
            assert proc.poll() is None, f"serve exited early:\n{log.read_text()}"
            try:
                return httpx.get(f"{live.url}/health", timeout=2).status_code == 200 or None
            except httpx.TransportError:
                return None

        poll(healthy, "the server's /health", timeout=60)
        yield live
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
