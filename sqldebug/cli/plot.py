"""``sqldebug plot``: charts that compare bench runs, written as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sqldebug.cli.options import Json
from sqldebug.cli.output import emit_json, err, guarded, out


@guarded
def plot(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Run folders written by `sqldebug bench`.",
            metavar="RUN",
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Folder for the PNG files (created if needed).", file_okay=False
        ),
    ],
    allow_mixed_tasks: Annotated[
        bool,
        typer.Option(
            "--allow-mixed-tasks",
            help="Compare runs even if they were made on different task sets.",
        ),
    ] = False,
    json: Json = False,
) -> None:
    """Chart one or more bench runs: leaderboard, success by category and difficulty, rewards."""
    from sqldebug.plots import plot_runs  # matplotlib loads only when a chart is drawn

    files = plot_runs(runs, out_dir, allow_mixed=allow_mixed_tasks)
    if json:
        emit_json({"files": [str(f) for f in files]})
        return
    err.print(f"wrote {len(files)} charts to {out_dir}", soft_wrap=True, markup=False)
    for f in files:
        out.print(str(f), soft_wrap=True, markup=False)
