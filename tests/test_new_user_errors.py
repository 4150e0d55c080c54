"""The command line as a new user tries it (issue 14): every mistake is one line naming what was
wrong and where, with the exit code the README promises, never a traceback."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sqldebug.catalog import bundled_tasks_dir
from sqldebug.cli import app
from sqldebug.cli.exit_codes import ExitCode
from tests.server_support import EXE, TASK, free_port

runner = CliRunner()
BUNDLED = bundled_tasks_dir()


def cli(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def task_folder(tmp: Path, **fields: str) -> Path:
    """A task folder holding the bundled datasets and TASK, with some of its fields replaced."""
    root = tmp / "tasks"
    shutil.copytree(BUNDLED / "datasets", root / "datasets")
    target = root / f"{TASK}.yaml"
    target.parent.mkdir(parents=True)
    data = yaml.safe_load((BUNDLED / f"{TASK}.yaml").read_text(encoding="utf-8"))
    data.update(fields)
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return root


def break_solution(tmp: Path) -> Path:
    """TASK's folder with a solution that names a column that does not exist."""
    return task_folder(tmp, solution="SELECT p.no_such_column FROM products p")


# -- reset on a task whose solution does not run --------------------------------------------


def test_reset_on_a_task_whose_solution_does_not_run_is_one_line(tmp_path: Path) -> None:
    root = break_solution(tmp_path)
    code, out, err = cli("reset", "--tasks", root, "--task", TASK)
    assert code == ExitCode.TASKS and out == ""
    line = one_line_error(" ".join(err.split()))
    assert f"{root / TASK}.yaml: {TASK}: the solution does not run: binding:" in line
    assert "no_such_column" in line
    code, _, err = cli("reset", "--tasks", root, "--random", "--seed", "3")
    assert code == ExitCode.TASKS and "the solution does not run" in err
    code, _, err = cli("tasks", "validate", root)  # and the validator says the same of it
    assert code == ExitCode.FAILURE and "the solution does not run" in err


# -- step -------------------------------------------------------------------------------------


def test_step_on_a_server_nobody_listens_on_says_it_cannot_be_reached() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["step", "SELECT 1"], ["state"]):
        code, _, err = cli(*args, "--server", url)
        assert code == ExitCode.FAILURE
        line = one_line_error(err)
        assert line.startswith(f"error: cannot reach the server at {url}:"), line
        assert "no episode" not in line
    code, _, err = cli("reset", "--task", TASK, "--server", url)  # the words reset uses
    assert one_line_error(err).startswith(f"error: cannot reach the server at {url}:")


def test_step_json_true_is_not_submitted_as_sql() -> None:
    assert cli("reset", "--task", TASK)[0] == 0
    for value in ("true", "False", "yes"):
        code, out, err = cli("step", "--json", value)
        assert code == ExitCode.USAGE and out == ""
        assert f"{value!r} is not SQL: flags such as --json or --probe take no value" in err
    code, out, _ = cli("state", "--json")
    assert code == 0 and json.loads(out)["history"] == []


COMMANDS = [
    ["reset"],
    ["step"],
    ["state"],
    ["serve"],
    ["bench"],
    ["plot"],
    ["generate"],
    ["play"],
    ["sessions", "list"],
    ["sessions", "rm"],
    ["tasks", "list"],
    ["tasks", "show"],
    ["tasks", "validate"],
    ["tasks", "schema"],
    [],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "sqldebug")
def test_help_shows_flags_as_flags(command: list[str]) -> None:
    code, out, _ = cli(*command, "--help")
    assert code == 0
    assert "<bool>" not in out
    assert re.search(r"^\s+-h, --help\s+Show this message", out, re.M), out
    if "step" in command:
        assert re.search(r"^\s+--json\s+Print one JSON document", out, re.M), out
        assert re.search(r"^\s+--probe\s+Run the SQL", out, re.M), out
        assert re.search(r"--file <file>", out), out  # options that take a value still say so


# -- tasks validate FILE ----------------------------------------------------------------------


def test_tasks_validate_accepts_a_task_file(tmp_path: Path) -> None:
    code, _, err = cli("tasks", "validate", BUNDLED / f"{TASK}.yaml")
    assert code == 0, err
    assert "1 of 1 tasks valid (1 datasets)" in err
    # a task file alone in a folder: its dataset comes from the bundled ones
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(BUNDLED / f"{TASK}.yaml", alone / "mine.yaml")
    code, _, err = cli("tasks", "validate", alone / "mine.yaml")
    assert code == 0, err
    # and the task folder's own datasets/ win: a broken solution there is reported as such
    root = break_solution(tmp_path / "broken")
    code, _, err = cli("tasks", "validate", root / f"{TASK}.yaml")
    assert code == ExitCode.FAILURE and "the solution does not run" in err


def test_tasks_validate_says_when_a_folder_lacks_datasets(tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(BUNDLED / f"{TASK}.yaml", alone / "mine.yaml")
    code, _, err = cli("tasks", "validate", alone)
    assert code == ExitCode.TASKS
    line = one_line_error(" ".join(err.split()))
    assert f"{alone} has no datasets/ folder" in line and "or the task file itself" in line


def test_tasks_validate_a_task_file_of_an_unknown_dataset(tmp_path: Path) -> None:
    root = task_folder(tmp_path, dataset="nowhere")
    code, _, err = cli("tasks", "validate", root / f"{TASK}.yaml")
    assert code == ExitCode.TASKS
    line = one_line_error(" ".join(err.split()))
    assert "dataset: unknown dataset 'nowhere'" in line and "nor among the bundled" in line


# -- bench and plot ---------------------------------------------------------------------------


def test_bench_names_the_agents_options(tmp_path: Path) -> None:
    code, _, err = cli("bench", "--agent", "search", "-o", "foo=1", "--task", TASK)
    assert code == ExitCode.USAGE
    line = one_line_error(err)
    assert "unknown option 'foo' for agent 'search'" in line
    assert "max_candidates (default 200), seed (default 0)" in line
    assert "TypeError" not in line and "__init__" not in line
    code, _, err = cli("bench", "--agent", "noop", "-o", "depth=2", "--task", TASK)
    assert code == ExitCode.USAGE and "agent 'noop' takes no options" in err
    code, _, err = cli("bench", "--agent", "replay", "--task", TASK)
    assert code == ExitCode.USAGE and "agent 'replay' needs --replay" in err
    code, _, err = cli("bench", "--agent", "search", "-o", "max_candidates=5", "--task", TASK)
    assert code == 0, err  # a known option still works


def test_plot_on_a_missing_run_folder_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = cli("plot", tmp_path / "nope", "--out", tmp_path / "charts")
    assert code == ExitCode.USAGE
    assert one_line_error(err).endswith("nope: no such run folder")
    assert not (tmp_path / "charts").exists()


def test_serve_on_a_task_whose_solution_does_not_run_is_one_line_before_listening(
    tmp_path: Path,
) -> None:
    root = break_solution(tmp_path)
    done = subprocess.run(
        [str(EXE), "serve", "--port", "0", "--tasks", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == ExitCode.TASKS
    assert "Traceback" not in done.stderr and "serving on" not in done.stderr
    assert f"{TASK}: the solution does not run on instance visible: binding:" in " ".join(
        done.stderr.split()
    )
