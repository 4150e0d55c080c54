"""``sqldebug reset``: start a local episode and show what to fix."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sqldebug.cli.exit_codes import ExitCode
from sqldebug.cli.options import (
    Category,
    Dataset,
    Difficulty,
    Json,
    Server,
    Session,
    Split,
    TasksDir,
)
from sqldebug.cli.output import emit_json, fail, guarded, out


@guarded
def reset(
    task: Annotated[str | None, typer.Option("--task", "-t", help="Task id to play.")] = None,
    random: Annotated[
        bool, typer.Option("--random", help="Draw a task by seed (among the filters).")
    ] = False,
    category: Category = None,
    difficulty: Difficulty = None,
    split: Split = None,
    dataset: Dataset = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed: picks the hidden instances (and the task).")
    ] = None,
    session: Session = "default",
    tasks: TasksDir = None,
    server: Server = None,
    json: Json = False,
) -> None:
    """Start an episode (replacing the session's current one) and show the task."""
    filters = {"category": category, "difficulty": difficulty, "split": split, "dataset": dataset}
    if task is not None and random:
        raise fail("give either --task ID or --random, not both", ExitCode.USAGE)
    if task is not None and any(filters.values()):
        raise fail(
            "--category/--difficulty/--split/--dataset choose among tasks for --random; "
            "--task names one already",
            ExitCode.USAGE,
        )
    if task is None and not random:
        raise fail(
            "choose a task: --task ID (see `sqldebug tasks list`) or --random", ExitCode.USAGE
        )
    if server is not None:
        if tasks is not None:
            raise fail("--tasks is for local episodes; the server has its own", ExitCode.USAGE)
        obs, info = _remote_reset(server, session, task, seed, filters if random else None)
    else:
        from sqldebug.episodes import EpisodeStore

        _, obs, info = EpisodeStore().start(
            session, task_id=task, seed=seed, tasks=tasks, filters=filters if random else None
        )
    if json:
        emit_json({"session": session, "observation": obs.model_dump(mode="json"), "info": info})
        return
    from sqldebug.cli import render

    out.print(render.observation(obs, session))
    flag = "" if session == "default" else f" --session {session}"
    out.print(f"[dim]Next: sqldebug step 'SELECT ...'{flag} (or --file fix.sql, or - for stdin)[/]")


def _remote_reset(
    server: str,
    session: str,
    task: str | None,
    seed: int | None,
    filters: dict[str, str | None] | None,
) -> tuple[Any, dict[str, Any]]:
    """Reset on a server; with --random, the task is drawn here by seed among the server's."""
    import random as rnd

    from sqldebug.client import RemoteEpisodes

    remote = RemoteEpisodes(server)
    if task is None:
        ids = [t["id"] for t in remote.tasks(**(filters or {}))]
        if not ids:
            raise fail("no tasks on the server match these filters", ExitCode.FAILURE)
        task = rnd.Random(seed).choice(ids)
    return remote.reset(session, task_id=task, seed=seed)
