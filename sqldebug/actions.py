"""Every accepted spelling of an action, turned into one :class:`~sqldebug.models.Action`.

Accepted: an ``Action``; a bare SQL string (a submit); ``{"type": "submit", "sql": ...}`` (any
action type, see ``ActionType``); and the original SQL Debug Environment's
``{"action_type": "submit_query", "query": ...}`` with its ``inspect_schema``, ``inspect_sample``
(``table`` or ``table_name``), ``probe_query``/``run_query`` and ``reset_query`` names.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from sqldebug.errors import ActionError
from sqldebug.models import Action

_SEED_TYPES = {
    "submit_query": "submit",
    "submit": "submit",
    "probe_query": "probe",
    "run_query": "probe",
    "probe": "probe",
    "inspect_schema": "inspect_schema",
    "inspect_sample": "inspect_sample",
    "inspect_table": "inspect_sample",
    "reset_query": "reset_query",
}


def parse_action(action: Any) -> Action:
    """One :class:`Action` from any accepted spelling; :class:`ActionError` says what is wrong.

    Text that cannot be encoded as UTF-8 (a lone surrogate, as undecodable bytes become) is
    refused here, before any step is counted: no observation, log line or answer could carry it.
    """
    act = _parse(action)
    require_utf8(act.sql, "the SQL")
    require_utf8(act.table, "the table name")
    return act


def require_utf8(text: str | None, what: str) -> None:
    """Raise :class:`ActionError` naming ``what`` and the character when ``text`` cannot be
    encoded as UTF-8 (a lone surrogate: invalid bytes decoded with ``surrogateescape``, or a
    ``\\udXXX`` escape in JSON)."""
    if text is None:
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ActionError(
            f"{what} is not valid UTF-8 text: character {exc.start + 1} is a lone surrogate "
            f"({text[exc.start]!r}); send UTF-8"
        ) from None


def _parse(action: Any) -> Action:
    if isinstance(action, Action):
        return action
    if isinstance(action, str):
        return Action(type="submit", sql=action)
    if not isinstance(action, dict):
        raise ActionError(
            f"an action is a SQL string or a JSON object, not {type(action).__name__}"
        )
    if "action_type" in action:
        seed = dict(action)
        name = seed.pop("action_type")
        if name not in _SEED_TYPES:
            raise ActionError(
                f"unknown action_type {name!r}; known: {', '.join(sorted(_SEED_TYPES))}"
            )
        sql = seed.pop("query", None) or seed.pop("sql", None)
        table = seed.pop("table_name", None) or seed.pop("table", None)
        review = bool(seed.pop("review", False))
        seed.pop("metadata", None)
        if seed:
            raise ActionError(f"unknown action field(s): {', '.join(sorted(seed))}")
        action = {"type": _SEED_TYPES[name], "sql": sql, "table": table, "review": review}
    try:
        return Action.model_validate(action)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "action"
        raise ActionError(f"invalid action: {where}: {err['msg']}") from None
