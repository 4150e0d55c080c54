"""``sqldebug play``: the terminal UI, to fix queries yourself or to watch an agent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sqldebug.cli.options import TasksDir, parse_agent_options
from sqldebug.cli.output import guarded


@guarded
def play(
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="Open this task, skipping the task list.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the hidden instances (default: random).")
    ] = None,
    tasks: TasksDir = None,
    agent: Annotated[
        str | None,
        typer.Option(help="Watch this agent play (noop, oracle, search, command, openai, replay)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Agent option KEY=VALUE (repeatable)."),
    ] = None,
    delay: Annotated[
        float, typer.Option(min=0.01, max=10.0, help="Seconds between the agent's steps.")
    ] = 0.5,
) -> None:
    """Play episodes in a terminal UI: pick a task, fix the query, see the reward.

    With --agent, watch an agent play instead (space pauses, . steps, t takes over). A replayed
    run: --agent replay -o file=runs/NAME/episodes.jsonl.
    """
    options = parse_agent_options(option or [])
    if agent is None and options:
        raise typer.BadParameter("-o/--option needs --agent", param_hint="--option")
    from sqldebug.tui.app import SQLDebugApp  # textual loads only for this command

    app = SQLDebugApp(
        tasks_dir=Path(tasks) if tasks else None,
        task_id=task,
        seed=seed,
        agent=agent,
        agent_options=options,
        delay=delay,
    )
    app.run()
