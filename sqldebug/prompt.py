"""The one place an observation becomes text for a language model.

The prompt carries what an agent needs (intent, schema, sample rows, the broken query, the last
result or error, review findings, hints, steps left, how to answer) and nothing it must not see:
no solution, no hidden rows, no expected answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # models imports this module to render Observation.prompt
    from sqldebug.models import Observation, ResultTable

MAX_CELL = 40


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def format_table(table: ResultTable, *, limit: int = 20) -> str:
    """A plain pipe table, the first ``limit`` rows, with a line for what is left out."""
    lines = [" | ".join(table.columns) if table.columns else "(no columns)"]
    lines += [" | ".join(_cell(v) for v in row) for row in table.rows[:limit]]
    shown = min(len(table.rows), limit)
    if table.row_count > shown or table.truncated:
        more = "more" if table.truncated else f"{table.row_count - shown} more"
        lines.append(f"... ({more} rows)")
    if not table.rows:
        lines.append("(no rows)")
    return "\n".join(lines)


def static_part(obs: Observation) -> str:
    """What does not change during an episode (cached by the environment)."""
    samples = "\n\n".join(
        f"{name} ({t.row_count} rows):\n{format_table(t)}" for name, t in obs.sample_rows.items()
    )
    goal = (
        "Write the SQL that changes the data as the task asks: one statement, or a script of"
        " statements run in order."
        if obs.kind == "mutation"
        else "Write one SQL query (SQLite) that answers the task."
    )
    notes = obs.dataset_description.strip()
    about = f"## About the data\n{notes}\n\n" if notes else ""
    return (
        f"# Task: {obs.title}\n\n"
        f"You are fixing a SQL {'statement' if obs.kind == 'mutation' else 'query'} "
        "that looks right but is wrong.\n\n"
        f"## What it must do\n{obs.intent.strip()}\n\n"
        f"{about}"
        f"## Schema (SQLite)\n{obs.schema_sql.strip()}\n\n"
        f"## Sample rows\n{samples}\n\n"
        f"## The broken query\n```sql\n{obs.broken_query.strip()}\n```\n\n"
        f"{goal} Answers are checked by running them on this data and on hidden variants of it, "
        "so fix the logic rather than the output. Reply with the fixed SQL in a ```sql block."
    )


def dynamic_part(obs: Observation) -> str:
    parts: list[str] = []
    if obs.last_action is not None:
        act = obs.last_action
        parts.append(f"## Last action: {act.type}" + (f" ({act.table})" if act.table else ""))
        if act.sql:
            parts.append(f"```sql\n{act.sql.strip()}\n```")
        if obs.error is not None:
            parts.append(f"Error ({obs.error.kind}): {obs.error.message}")
        elif obs.result is not None:
            parts.append("Result on the visible data:\n" + format_table(obs.result))
        if obs.message:
            parts.append(obs.message)
    if obs.findings:
        parts.append("## Review findings")
        parts += [
            f"- [{f.severity}] {f.code}: {f.message}" + (f" (line {f.line})" if f.line else "")
            for f in obs.findings
        ]
    if obs.hints:
        parts.append("## Hints")
        parts += [f"- {h}" for h in obs.hints]
    state = (
        "solved"
        if obs.solved
        else ("out of steps" if obs.done else f"{obs.max_steps - obs.step} steps left")
    )
    parts.append(f"## Status\nStep {obs.step} of {obs.max_steps}: {state}.")
    return "\n\n".join(parts)


def render(obs: Observation, static: str | None = None) -> str:
    """The whole observation as text; pass ``static`` to reuse the unchanging part."""
    return (static if static is not None else static_part(obs)) + "\n\n" + dynamic_part(obs)
