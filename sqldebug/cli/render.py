"""Rich renderings of observations, steps and episode state, for people (``--json`` is for scripts).

Only presentation lives here: every value shown comes from the engine's models.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from sqldebug.models import EpisodeState, Observation, ResultTable, RewardBreakdown

_ERROR_STYLE = "bold red"


def sql(text: str) -> Syntax:
    return Syntax(
        text.strip(), "sql", theme="ansi_dark", background_color="default", word_wrap=True
    )


def _cell(value: Any) -> Text:
    if value is None:
        return Text("NULL", style="dim italic")
    return Text(str(value))


def result_table(result: ResultTable, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for col in result.columns:
        table.add_column(col, overflow="fold")
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    if result.row_count > len(result.rows):
        table.caption = f"… {result.row_count - len(result.rows)} more rows"
    elif result.truncated:
        table.caption = "… more rows"
    elif not result.rows:
        table.caption = "(no rows)"
    return table


def steps_left(obs: Observation) -> Text:
    if obs.solved:
        return Text(f"Solved at step {obs.step} of {obs.max_steps}.", style="bold green")
    if obs.done:
        return Text(f"Out of steps ({obs.max_steps}); not solved.", style="bold red")
    left = obs.max_steps - obs.step
    return Text(f"{left} step{'s' if left != 1 else ''} left (of {obs.max_steps}).", style="bold")


def observation(obs: Observation, session: str) -> RenderableType:
    """A new episode: what to fix, the data, the broken query."""
    meta = " · ".join([obs.task_id, obs.difficulty, obs.kind, f"session {session}"])
    parts: list[RenderableType] = [
        Panel(obs.intent.strip(), title=f"[bold]{obs.title}[/]", subtitle=meta, expand=True),
    ]
    if obs.dataset_description.strip():
        parts += [Text("About the data", style="bold"), Text(obs.dataset_description.strip())]
    parts += [
        Text("Schema", style="bold"),
        sql(obs.schema_sql),
    ]
    for name, table in obs.sample_rows.items():
        parts.append(result_table(table, title=f"{name} ({table.row_count} rows)"))
    parts += [Text("Broken query", style="bold"), sql(obs.broken_query), steps_left(obs)]
    return Group(*parts)


def breakdown(rb: RewardBreakdown) -> Text:
    terms = [
        f"{name.replace('_', ' ')} {value:+.3f}"
        for name, value in rb.model_dump().items()
        if name != "total" and value
    ]
    style = "green" if rb.total > 0 else "red" if rb.total < 0 else ""
    text = Text("Reward ", style="bold")
    text.append(f"{rb.total:+.3f}", style=f"bold {style}".strip())
    if terms:
        text.append("  (" + ", ".join(terms) + ")", style="dim")
    return text


def step(obs: Observation, total_return: float) -> RenderableType:
    """One action's outcome: rows or error, findings, reward, status."""
    act = obs.last_action
    kind = act.type if act else "step"
    parts: list[RenderableType] = [Text(f"Step {obs.step}: {kind}", style="bold")]
    if obs.error is not None:
        parts.append(Text(f"Error ({obs.error.kind}): {obs.error.message}", style=_ERROR_STYLE))
    elif obs.result is not None:
        parts.append(result_table(obs.result))
    for f in obs.findings:
        where = f" (line {f.line}, col {f.col})" if f.line else ""
        style = {"block": "red", "warn": "yellow", "info": "cyan"}[f.severity]
        parts.append(Text(f"[{f.severity}] {f.code}: {f.message}{where}", style=style))
    if obs.message:
        parts.append(Text(obs.message))
    parts.append(breakdown(obs.reward_breakdown))
    parts.append(Text(f"Return so far {total_return:+.3f}", style="dim"))
    for hint in obs.hints:
        parts.append(Text(f"Hint: {hint}", style="italic"))
    parts.append(steps_left(obs))
    return Group(*parts)


def state(st: EpisodeState, session: str) -> RenderableType:
    table = Table(title=f"{st.task_id} · seed {st.seed} · session {session}", title_justify="left")
    for col in ("step", "action", "SQL / table", "reward", "error", "solved"):
        table.add_column(col, overflow="fold")
    for h in st.history:
        what = (h.action.sql or h.action.table or "").strip().replace("\n", " ")
        table.add_row(
            str(h.step),
            h.action.type,
            what if len(what) <= 60 else what[:57] + "...",
            f"{h.reward:+.3f}",
            h.error.kind if h.error else "",
            "yes" if h.solved else "",
        )
    status = (
        "solved"
        if st.solved
        else "out of steps"
        if st.done
        else f"{st.max_steps - st.step} steps left"
    )
    return Group(table, Text(f"Return {st.total_reward:+.3f} · {status}", style="bold"))
