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

import importlib
import inspect
from typing import Any

from sqldebug.agents.base import Agent, AgentError, BaseAgent
from sqldebug.catalog import Catalog
from sqldebug.errors import OptionError

AGENT_NAMES = ("noop", "oracle", "search", "command", "openai", "replay")
#: where each agent's class lives, imported only when that agent is made
_CLASSES = {
    "noop": ("sqldebug.agents.simple", "NoopAgent"),
    "oracle": ("sqldebug.agents.simple", "OracleAgent"),
    "replay": ("sqldebug.agents.simple", "ReplayAgent"),
    "search": ("sqldebug.agents.search", "SearchAgent"),
    "command": ("sqldebug.agents.command", "CommandAgent"),
    "openai": ("sqldebug.agents.openai_chat", "OpenAIAgent"),
}


def make_agent(name: str, options: dict[str, Any] | None = None, *, catalog: Catalog) -> Agent:
    """A built-in agent by name; ``options`` are its constructor's keyword arguments.

    An option the agent does not take, or a required one left out, is an :class:`OptionError`
    that names the agent's options, never the constructor's TypeError."""
    opts = dict(options or {})
    if name not in _CLASSES:
        raise OptionError(f"unknown agent {name!r}; the agents are: {', '.join(AGENT_NAMES)}")
    module, class_name = _CLASSES[name]
    cls: type[Agent] = getattr(importlib.import_module(module), class_name)
    given = {"catalog": catalog} if name == "oracle" else {}
    _check_options(name, cls, opts, given)
    try:
        agent: Agent = cls(**given, **opts)
    except TypeError as exc:  # a value of the wrong type, in the constructor's own words
        raise OptionError(f"agent {name!r}: {exc}") from None
    return agent


def _check_options(name: str, cls: type, opts: dict[str, Any], given: dict[str, Any]) -> None:
    """Compare ``opts`` with the keyword parameters of ``cls`` (less those sqldebug passes)."""
    params = {
        p.name: p
        for p in inspect.signature(cls).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in given
    }

    def described() -> str:
        if not params:
            return f"agent {name!r} takes no options"
        parts = [
            n if p.default is p.empty else f"{n} (default {p.default!r})" for n, p in params.items()
        ]
        return f"agent {name!r} takes: {', '.join(parts)}"

    unknown = [k for k in opts if k not in params]
    if unknown:
        which = ", ".join(repr(k) for k in unknown)
        raise OptionError(f"unknown option {which} for agent {name!r}; {described()}")
    missing = [n for n, p in params.items() if p.default is p.empty and n not in opts]
    if missing:
        flags = {"command": "--command", "file": "--replay", "base_url": "--base-url"}
        how = ", ".join(f"{flags.get(n, '-o ' + n + '=...')}" for n in missing)
        raise OptionError(f"agent {name!r} needs {how}; {described()}")


__all__ = ["AGENT_NAMES", "Agent", "AgentError", "BaseAgent", "make_agent"]
