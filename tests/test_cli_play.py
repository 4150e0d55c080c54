"""``sqldebug play`` from the command line: bad input is one clear line (the TUI is tested in
test_tui.py under Textual's pilot)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sqldebug.cli import app
from sqldebug.cli.exit_codes import ExitCode


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--task", "shop/nope"], ExitCode.TASKS, "unknown task 'shop/nope'"),
        (["--agent", "gpt-17"], ExitCode.USAGE, "unknown agent 'gpt-17'"),
        (["--agent", "noop", "-o", "novalue"], ExitCode.USAGE, "KEY=VALUE"),
        (["--delay", "-1"], ExitCode.USAGE, "delay"),
    ],
)
def test_play_bad_input(args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(app, ["play", *args])
    assert result.exit_code == code, result.output
    assert message in result.stderr and "Traceback" not in result.stderr
