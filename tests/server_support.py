"""What the server tests share: the task they play, its fix, the checks every answer must pass."""

from __future__ import annotations

from typing import Any

import sqldebug

TASK = "shop/top-products-ties"  # a query task on the shop dataset
SOLUTION = next(t.solution for t in sqldebug.load_tasks() if t.id == TASK)
STEP_KEYS = {"observation", "reward", "done", "info", "session_id"}


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
