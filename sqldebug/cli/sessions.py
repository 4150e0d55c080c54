"""``sqldebug sessions``: list and remove local episodes."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sqldebug.cli.exit_codes import ExitCode
from sqldebug.cli.options import Json, command_group
from sqldebug.cli.output import emit_json, err, fail, guarded, out

app = command_group("List and remove local episodes (kept under $SQLDEBUG_HOME).")


@app.command("list")
@guarded
def list_(json: Json = False) -> None:
    """List local episodes with their task, progress and last change."""
    from sqldebug.episodes import EpisodeStore
    from sqldebug.errors import SQLDebugError

    store = EpisodeStore()
    rows: list[dict[str, Any]] = []
    for name in store.names():
        try:
            saved = store.load(name)
            env = store.replay(saved)
            status = "solved" if env.solved else "out of steps" if env.done else "playing"
            rows.append(
                {
                    "session": name,
                    "task_id": saved.task_id,
                    "seed": saved.seed,
                    "steps": len(saved.actions),
                    "status": status,
                    "return": env.total_reward,
                    "updated": saved.updated,
                }
            )
        except SQLDebugError as exc:  # one unreadable session does not hide the others
            rows.append(
                {
                    "session": name,
                    "task_id": None,
                    "seed": None,
                    "steps": None,
                    "status": f"unreadable: {exc}",
                    "return": None,
                    "updated": None,
                }
            )
    if json:
        emit_json(rows)
        return
    if not rows:
        err.print(f"No local episodes in {store.root}. Start one with `sqldebug reset --task ID`.")
        return
    from rich.table import Table

    table = Table(title=f"Local episodes in {store.root}", title_justify="left")
    for col in ("session", "task", "seed", "steps", "status", "return", "updated"):
        table.add_column(col, overflow="fold")
    for r in rows:
        ret = "" if r["return"] is None else f"{r['return']:+.3f}"
        table.add_row(
            r["session"],
            r["task_id"] or "",
            str(r["seed"] or ""),
            str(r["steps"] or 0),
            r["status"],
            ret,
            r["updated"] or "",
        )
    out.print(table)


@app.command("rm")
@guarded
def rm(
    names: Annotated[list[str] | None, typer.Argument(help="Session names.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Remove every local episode.")] = False,
) -> None:
    """Remove local episodes."""
    from sqldebug.episodes import EpisodeStore

    store = EpisodeStore()
    if all_ and names:
        raise fail("give session names or --all, not both", ExitCode.USAGE)
    chosen = store.names() if all_ else list(names or [])
    if not chosen and not all_:
        raise fail("name the sessions to remove, or --all", ExitCode.USAGE)
    for name in chosen:
        store.remove(name)
        err.print(f"removed session {name}")
