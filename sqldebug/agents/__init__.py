"""Agents: the protocol and the built-ins, selectable by name with options.

==========  ==============================================================  =====================
name        what it does                                                    options
==========  ==============================================================  =====================
noop        resubmits the broken query (the floor)
oracle      submits the reference solution (the ceiling)
search      repairs the broken query by trying sqlglot edits, led by        max_candidates, seed
            the environment's feedback; never reads the solution
command     any program speaking JSON lines on stdin/stdout                 command, timeout
openai      any OpenAI-compatible chat-completions endpoint                 base_url, model, ...
replay      actions recorded in a JSONL file                                file
==========  ==============================================================  =====================
"""

from __future__ import annotations

from typing import Any

from sqldebug.agents.base import Agent, AgentError, BaseAgent
from sqldebug.catalog import Catalog
from sqldebug.errors import OptionError

AGENT_NAMES = ("noop", "oracle", "search", "command", "openai", "replay")


def make_agent(name: str, options: dict[str, Any] | None = None, *, catalog: Catalog) -> Agent:
    """A built-in agent by name; ``options`` are its constructor's keyword arguments."""
    opts = dict(options or {})
    try:
        if name == "noop":
            from sqldebug.agents.simple import NoopAgent

            agent: Agent = NoopAgent(**opts)
        elif name == "oracle":
            from sqldebug.agents.simple import OracleAgent

            agent = OracleAgent(catalog, **opts)
        elif name == "replay":
            from sqldebug.agents.simple import ReplayAgent

            agent = ReplayAgent(**opts)
        elif name == "search":
            from sqldebug.agents.search import SearchAgent

            agent = SearchAgent(**opts)
        elif name == "command":
            from sqldebug.agents.command import CommandAgent

            agent = CommandAgent(**opts)
        elif name == "openai":
            from sqldebug.agents.openai_chat import OpenAIAgent

            agent = OpenAIAgent(**opts)
        else:
            raise OptionError(f"unknown agent {name!r}; the agents are: {', '.join(AGENT_NAMES)}")
    except TypeError as exc:  # a missing or unknown option, in the constructor's own words
        raise OptionError(f"agent {name!r}: {exc}") from None
    return agent


__all__ = ["AGENT_NAMES", "Agent", "AgentError", "BaseAgent", "make_agent"]
