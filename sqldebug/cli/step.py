"""``sqldebug step``: play one action on the local episode and show what it did."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sqldebug.cli.exit_codes import ExitCode
from sqldebug.cli.options import Json, Server, Session
from sqldebug.cli.output import emit_json, fail, guarded, out


def _read_sql(sql: str | None, file: Path | None) -> str | None:
    """The SQL from the argument, a file, or standard input ('-'); text that is not UTF-8 is
    refused here, naming where it came from, before anything is sent or counted."""
    if sql is not None and file is not None:
        raise fail("give the SQL as an argument or with --file, not both", ExitCode.USAGE)
    if file is not None:
        try:
            return _decode(file.read_bytes(), str(file))
        except OSError as exc:
            raise fail(f"cannot read {file}: {exc.strerror}", ExitCode.USAGE) from None
    if sql == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # a text-only stdin (an embedding host): it is decoded already
            return _checked(sys.stdin.read(), "standard input")
        return _decode(stream.read(), "standard input")
    if sql is not None and sql.strip().lower() in _FLAG_VALUES:
        raise fail(
            f"{sql.strip()!r} is not SQL: flags such as --json or --probe take no value "
            "(write `sqldebug step --json 'SELECT ...'`)",
            ExitCode.USAGE,
        )
    return None if sql is None else _checked(sql, "the SQL argument")


#: what a person who reads ``--json <bool>`` types after a flag; never a statement
_FLAG_VALUES = {"true", "false", "yes", "no", "on", "off"}


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(
            f"cannot read {where}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start})",
            ExitCode.USAGE,
        ) from None


def _checked(text: str, where: str) -> str:
    """``text`` if it encodes as UTF-8; argv and text streams carry undecodable bytes as lone
    surrogates, which no step may hold."""
    from sqldebug.actions import require_utf8
    from sqldebug.errors import ActionError

    try:
        require_utf8(text, where)
    except ActionError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    return text


@guarded
def step(
    sql: Annotated[
        str | None, typer.Argument(help="The SQL; '-' reads it from standard input.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Read the SQL from this file.", dir_okay=False),
    ] = None,
    probe: Annotated[
        bool, typer.Option("--probe", help="Run the SQL on the visible data without grading.")
    ] = False,
    inspect_schema: Annotated[
        bool, typer.Option("--inspect-schema", help="Show every table and column.")
    ] = False,
    inspect_sample: Annotated[
        str | None, typer.Option("--inspect-sample", metavar="TABLE", help="Show a table's rows.")
    ] = None,
    reset_query: Annotated[
        bool, typer.Option("--reset-query", help="Go back to the broken query.")
    ] = False,
    review: Annotated[
        bool, typer.Option("--review", help="Review the SQL first; blocked SQL is not run.")
    ] = False,
    session: Session = "default",
    server: Server = None,
    json: Json = False,
) -> None:
    """Submit a fix (the default), probe, inspect or reset the query: one action.

    Exit code 0 when the episode goes on, 10 when this step solved it, 11 when it used the last
    step without solving it, so `while sqldebug step --file fix.sql; do ...; done` stops at the end.
    """
    others = {
        "--inspect-schema": inspect_schema,
        "--inspect-sample": inspect_sample is not None,
        "--reset-query": reset_query,
    }
    chosen = [flag for flag, on in others.items() if on]
    if len(chosen) + probe > 1:
        raise fail(
            f"choose one action, not {' and '.join([*chosen, *(['--probe'] if probe else [])])}",
            ExitCode.USAGE,
        )
    text = _read_sql(sql, file)
    from sqldebug.models import Action

    if chosen:
        if text is not None:
            raise fail(f"{chosen[0]} takes no SQL", ExitCode.USAGE)
        if review:
            raise fail(f"--review applies to SQL, not to {chosen[0]}", ExitCode.USAGE)
        if inspect_sample is not None:
            _checked(inspect_sample, "the --inspect-sample table name")
        kind = {
            "--inspect-schema": "inspect_schema",
            "--inspect-sample": "inspect_sample",
            "--reset-query": "reset_query",
        }[chosen[0]]
        action = Action(type=kind, table=inspect_sample)
    else:
        if text is None:
            raise fail(
                "give the SQL as an argument, with --file F, or - to read standard input "
                "(or an action flag such as --inspect-schema)",
                ExitCode.USAGE,
            )
        if not text.strip():
            raise fail("the SQL is empty", ExitCode.USAGE)
        action = Action(type="probe" if probe else "submit", sql=text, review=review)
    if server is not None:
        from sqldebug.client import RemoteEpisodes

        remote = RemoteEpisodes(server)
        obs, reward, done, info = remote.step(session, action)
        terminated, truncated = obs.solved, done and not obs.solved
        total = remote.state(session).total_reward if not json else 0.0
    else:
        from sqldebug.episodes import EpisodeStore

        env, (obs, reward, terminated, truncated, info) = EpisodeStore().step(session, action)
        total = env.total_reward
    if json:
        emit_json(
            {
                "session": session,
                "observation": obs.model_dump(mode="json"),
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "done": obs.done,
                "info": info,
            }
        )
    else:
        from sqldebug.cli import render

        out.print(render.step(obs, total))
    if terminated:
        raise typer.Exit(int(ExitCode.SOLVED))
    if truncated:
        raise typer.Exit(int(ExitCode.OUT_OF_STEPS))
