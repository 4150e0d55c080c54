"""Options shared by several commands, declared once."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

TasksDir = Annotated[
    Path | None,
    typer.Option(
        "--tasks",
        help="Task folder (default: $SQLDEBUG_TASKS, else the bundled tasks).",
        envvar="SQLDEBUG_TASKS",
        show_envvar=False,
        file_okay=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Split = Annotated[Literal["train", "test"] | None, typer.Option(help="train or test.")]
Difficulty = Annotated[
    Literal["easy", "medium", "hard"] | None, typer.Option(help="easy, medium or hard.")
]
Dataset = Annotated[str | None, typer.Option(help="Dataset id, e.g. shop.")]


def _check_category(value: str | None) -> str | None:
    from sqldebug.spec import CATEGORIES  # pydantic loads only when the option is used

    if value is not None and value not in CATEGORIES:
        raise typer.BadParameter(f"{value!r} is not a category; one of: {', '.join(CATEGORIES)}")
    return value


Category = Annotated[
    str | None,
    typer.Option(help="Bug category (see `sqldebug tasks list`).", callback=_check_category),
]


def _check_session(value: str) -> str:
    from sqldebug.episodes import check_name
    from sqldebug.errors import SQLDebugError

    try:
        return check_name(value)
    except SQLDebugError as exc:
        raise typer.BadParameter(str(exc)) from None


Session = Annotated[
    str,
    typer.Option("--session", "-s", help="Name of the local episode.", callback=_check_session),
]


Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Play against a running `sqldebug serve` at this URL instead of locally.",
        envvar="SQLDEBUG_SERVER",
        show_envvar=False,
    ),
]


def parse_agent_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a value is JSON when it parses as JSON (numbers, true), else text."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: an agent option is KEY=VALUE")
        try:
            options[key] = jsonlib.loads(value)
        except ValueError:
            options[key] = value
    return options


def command_group(help: str) -> typer.Typer:
    """A Typer group as every sqldebug group is made: -h works, bare use shows the help."""
    return typer.Typer(
        help=help,
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
        rich_markup_mode=None,  # as the main app: flags shown as flags (see cli/__init__.py)
    )
