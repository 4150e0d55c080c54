"""The floor, the ceiling and replays: ``noop``, ``oracle`` and ``replay``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqldebug.agents.base import AgentError, BaseAgent
from sqldebug.catalog import Catalog
from sqldebug.models import Action, Observation


class NoopAgent(BaseAgent):
    """Resubmits the broken query every step: what doing nothing scores."""

    name = "noop"

    def act(self, obs: Observation) -> Action | dict[str, Any] | str:
        return obs.broken_query


class OracleAgent(BaseAgent):
    """Submits the task's reference solution: what a perfect agent scores (and a check that every
    task is solvable as shipped). The only agent that reads solutions."""

    name = "oracle"

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def act(self, obs: Observation) -> Action | dict[str, Any] | str:
        return self.catalog.get(obs.task_id).solution


class ReplayAgent(BaseAgent):
    """Plays actions recorded in a JSONL file, episode by episode.

    Each line is ``{"task_id", "seed"?, "action"}`` (an action in any spelling) or a whole episode
    as ``bench`` writes it to episodes.jsonl (its ``trajectory`` of actions is replayed). Actions
    are taken in file order for the matching task (and seed, where given); an episode with no
    recorded actions left ends with an AgentError.
    """

    name = "replay"

    def __init__(self, file: str | Path) -> None:
        path = Path(file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise AgentError(f"cannot read replay file {path}: {exc.strerror}") from None
        self.actions: dict[tuple[str, int | None], list[Any]] = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                task_id = record["task_id"]
            except (ValueError, KeyError, TypeError):
                raise AgentError(
                    f"{path}:{number}: expected a JSON object with a task_id"
                ) from None
            seed = record.get("seed")
            if "trajectory" in record:
                steps = [s["action"] for s in record["trajectory"]]
            elif "action" in record:
                steps = [record["action"]]
            else:
                raise AgentError(f"{path}:{number}: needs an 'action' or a 'trajectory'")
            self.actions.setdefault((task_id, seed), []).extend(steps)
        self._queue: list[Any] = []

    def reset(self, obs: Observation, info: dict[str, Any]) -> None:
        seed = info.get("seed")
        queue = self.actions.get((obs.task_id, seed)) or self.actions.get((obs.task_id, None))
        self._queue = list(queue or [])

    def act(self, obs: Observation) -> Action | dict[str, Any] | str:
        if not self._queue:
            raise AgentError(f"no recorded action left for {obs.task_id}")
        action: Action | dict[str, Any] | str = self._queue.pop(0)
        return action
