"""The agent protocol: an observation in, an action out, with a reset hook between episodes.

Every agent — built-in, an external program, a model endpoint — is driven the same way by the
bench runner and the TUI's watch mode::

    agent.reset(obs, info)          # a new episode starts
    while not done:
        action = agent.act(obs)     # an Action, an action dict, or a bare SQL string
        obs, reward, ... = env.step(action)
    agent.close()                   # the run is over (free processes, connections)

``usage()`` reports what the agent spent (for example model tokens); it is recorded per episode.
An agent raises :class:`AgentError` when it cannot act (a crashed program, a model that keeps
timing out): the runner records the episode as failed and goes on.
"""

from __future__ import annotations

import abc
from typing import Any, Protocol, runtime_checkable

from sqldebug.errors import SQLDebugError
from sqldebug.models import Action, Observation


class AgentError(SQLDebugError):
    """The agent could not produce an action (it crashed, timed out or answered nonsense)."""


@runtime_checkable
class Agent(Protocol):
    """What the runner needs from an agent."""

    name: str

    def reset(self, obs: Observation, info: dict[str, Any]) -> None:
        """A new episode begins with this observation."""

    def act(self, obs: Observation) -> Action | dict[str, Any] | str:
        """The next action for this observation."""

    def usage(self) -> dict[str, Any]:
        """What the agent spent in the current episode (tokens, calls, ...); {} if nothing."""

    def close(self) -> None:
        """Release what the agent holds (processes, connections)."""


class BaseAgent(abc.ABC):
    """Convenience base: no-op hooks, so a simple agent only writes ``act``."""

    name = "base"

    def reset(self, obs: Observation, info: dict[str, Any]) -> None:
        return None

    @abc.abstractmethod
    def act(self, obs: Observation) -> Action | dict[str, Any] | str:
        """The next action for this observation."""

    def usage(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        return None
