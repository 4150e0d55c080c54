"""A small client for ``sqldebug serve``: what ``sqldebug reset/step/state --server URL`` use.

Standard library only (urllib), so the command line needs nothing more to play against a server.
A local session name maps to a server session id, kept under ``$SQLDEBUG_HOME/remote/``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sqldebug.episodes import check_name, home_dir
from sqldebug.errors import (
    ActionError,
    EpisodeError,
    SQLDebugError,
    UnknownTaskError,
)
from sqldebug.models import Action, EpisodeState, Observation


class ServerError(SQLDebugError):
    """The server could not be reached, or answered with an error that is not the user's."""


class RemoteEpisodes:
    """Episodes played on a server, addressed by local session names."""

    def __init__(self, server: str, home: Path | None = None, timeout: float = 60.0) -> None:
        self.server = server.rstrip("/")
        if "://" not in self.server:
            self.server = "http://" + self.server
        self.root = (home or home_dir()) / "remote"
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: Any = None, session_id: str | None = None
    ) -> Any:
        """One JSON request to the server (as ``X-Session-Id`` when given); errors raised as
        the engine's errors, so callers see the same messages as in-process."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if session_id:
            req.add_header("X-Session-Id", session_id)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("detail", exc.reason)
            except ValueError:
                detail = exc.reason
            raise _error_for(exc.code, str(detail)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerError(f"cannot reach the server at {self.server}: {reason}") from None

    def _path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}.json"

    def session_id(self, name: str) -> str:
        try:
            saved = json.loads(self._path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        if saved.get("server") != self.server or "session_id" not in saved:
            self.request("GET", "/health")  # an unreachable server is the news, not the session
            flag = "" if name == "default" else f" --session {name}"
            raise EpisodeError(
                f"no episode in session {name!r} on {self.server}; start one with "
                f"`sqldebug reset --task ID{flag} --server {self.server}`"
            )
        return str(saved["session_id"])

    def reset(
        self, name: str, *, task_id: str | None, seed: int | None
    ) -> tuple[Observation, dict[str, Any]]:
        try:
            reply = self.request("POST", "/reset", {"task_id": task_id, "seed": seed})
        except EpisodeError as exc:  # the server's 404 for a task it does not have
            if task_id is not None and "unknown task" in str(exc):
                raise UnknownTaskError(task_id) from None
            raise
        self.root.mkdir(parents=True, exist_ok=True)
        self._path(name).write_text(
            json.dumps({"server": self.server, "session_id": reply["session_id"]}), encoding="utf-8"
        )
        return Observation.model_validate(reply["observation"]), reply["info"]

    def step(self, name: str, action: Action) -> tuple[Observation, float, bool, dict[str, Any]]:
        route = "/step_with_review" if action.review else "/step"
        body = {"action": action.model_dump(exclude={"review"}, exclude_none=True)}
        reply = self.request("POST", route, body, self.session_id(name))
        obs = Observation.model_validate(reply["observation"])
        return obs, float(reply["reward"]), bool(reply["done"]), reply["info"]

    def tasks(self, **filters: str | None) -> list[dict[str, Any]]:
        """The server's tasks, filtered like ``GET /tasks``."""
        import urllib.parse

        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v})
        return list(self.request("GET", "/tasks" + (f"?{query}" if query else "")))

    def state(self, name: str) -> EpisodeState:
        return EpisodeState.model_validate(
            self.request("GET", "/state", None, self.session_id(name))
        )


def _error_for(status: int, detail: str) -> SQLDebugError:
    """The engine error a server answer stands for, so the command line maps it as usual."""
    if status in (404, 409):
        return EpisodeError(detail)
    if status == 422:
        return ActionError(detail)
    return ServerError(f"the server answered {status}: {detail}")
