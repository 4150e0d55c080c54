"""The ``sqldebug`` command line: one module per command, composed here.

Heavy imports happen inside the commands that need them, so ``sqldebug --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sqldebug import __version__
from sqldebug.cli import (
    bench,
    generate,
    play,
    plot,
    reset,
    serve,
    sessions,
    state,
    step,
    tasks,
)

app = typer.Typer(
    name="sqldebug",
    help="Execution-grounded SQL debugging episodes on sandboxed SQLite.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
    pretty_exceptions_enable=False,
    # Click's plain help: Typer's rich help lists every flag with a type (`--json <bool>`), so
    # people typed `--json true`; plain help shows flags as flags and errors as one line.
    rich_markup_mode=None,
)
app.command("reset")(reset.reset)
app.command("step")(step.step)
app.command("state")(state.state)
app.command("serve")(serve.serve)
app.command("bench")(bench.bench)
app.command("plot")(plot.plot)
app.command("generate")(generate.generate)
app.command("play")(play.play)
app.add_typer(sessions.app, name="sessions")
app.add_typer(tasks.app, name="tasks")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sqldebug {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Execution-grounded SQL debugging episodes on sandboxed SQLite."""
