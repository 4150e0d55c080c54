"""``sqldebug reset | step | state | sessions``: local episodes from the shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sqldebug
from sqldebug.cli import app
from sqldebug.cli.exit_codes import ExitCode
from sqldebug.episodes import EpisodeStore, home_dir

TASK = "shop/top-products-ties"
runner = CliRunner()


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def solution(task_id: str = TASK) -> str:
    return next(t for t in sqldebug.load_tasks() if t.id == task_id).solution


def test_reset_json_is_one_document() -> None:
    code, out, _ = run("reset", "--task", TASK, "--seed", "3", "--json")
    assert code == ExitCode.OK
    doc = json.loads(out)
    assert doc["session"] == "default" and doc["info"]["seed"] == 3
    assert doc["observation"]["task_id"] == TASK and doc["observation"]["step"] == 0
    assert "prompt" in doc["observation"]
    saved = EpisodeStore().load("default")
    assert saved.task_id == TASK and saved.seed == 3 and saved.actions == []


def test_reset_for_people_shows_the_task() -> None:
    code, out, _ = run("reset", "--task", TASK)
    assert code == ExitCode.OK
    for text in ("Top three products", "Schema", "Broken query", "LIMIT 3", "8 steps left"):
        assert text in out


def test_reset_random_with_filters_and_seed_is_reproducible() -> None:
    code, out, _ = run("reset", "--random", "--dataset", "hr", "--seed", "5", "--json")
    first = json.loads(out)["observation"]["task_id"]
    assert code == 0 and first.startswith("hr/")
    _, out, _ = run("reset", "--random", "--dataset", "hr", "--seed", "5", "--json")
    assert json.loads(out)["observation"]["task_id"] == first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "choose a task"),
        (("--task", TASK, "--random"), "not both"),
        (("--task", TASK, "--category", "window"), "--task names one"),
        (("--task", TASK, "--session", "../etc"), "invalid session name"),
        (("--random", "--category", "nope"), "not a category"),
        (("--random", "--seed", "x"), "seed"),
    ],
)
def test_reset_usage_errors(args: tuple[str, ...], message: str) -> None:
    code, out, err = run("reset", *args)
    assert code == ExitCode.USAGE and out == ""
    assert message in err and "Traceback" not in err


def test_reset_unknown_task() -> None:
    code, out, err = run("reset", "--task", "shop/nope")
    assert code == ExitCode.TASKS and out == ""
    assert "unknown task" in err and "sqldebug tasks list" in err


def test_reset_random_with_no_match() -> None:
    code, _, err = run("reset", "--random", "--dataset", "nowhere")
    assert code == ExitCode.FAILURE and "no tasks match" in err


def test_step_wrong_then_right() -> None:
    run("reset", "--task", TASK, "--seed", "1")
    code, out, _ = run("step", "SELECT 1", "--json")
    doc = json.loads(out)
    assert code == ExitCode.OK
    assert doc["observation"]["step"] == 1 and not doc["done"] and doc["reward"] < 0
    assert doc["info"]["reward_breakdown"]["total"] == doc["reward"]
    code, out, _ = run("step", solution(), "--json")
    doc = json.loads(out)
    assert code == ExitCode.SOLVED and doc["terminated"] and doc["observation"]["solved"]
    code, _, err = run("step", "SELECT 1")
    assert code == ExitCode.EPISODE and "is over (solved)" in err and "sqldebug reset" in err


def test_step_for_people_shows_rows_reward_and_steps_left() -> None:
    run("reset", "--task", TASK)
    code, out, _ = run("step", "SELECT name, 1 AS n FROM products WHERE id < 3")
    assert code == 0
    assert "SQL Basics" in out and "Reward" in out and "7 steps left" in out
    code, out, _ = run("step", "SELECT nope FROM products")
    assert "Error (binding): no such column: nope" in out


def test_out_of_steps_exit_code() -> None:
    run("reset", "--task", TASK)
    codes = [run("step", f"SELECT {i}")[0] for i in range(8)]
    assert codes == [0] * 7 + [ExitCode.OUT_OF_STEPS]


def test_step_from_file_and_stdin(tmp_path: Path) -> None:
    run("reset", "--task", TASK)
    fix = tmp_path / "fix.sql"
    fix.write_text("SELECT 2 AS two")
    code, out, _ = run("step", "--file", str(fix), "--json")
    assert json.loads(out)["observation"]["last_action"]["sql"] == "SELECT 2 AS two"
    code, out, _ = run("step", "-", "--json", stdin=solution())
    assert code == ExitCode.SOLVED


def test_probe_inspect_and_reset_query() -> None:
    run("reset", "--task", TASK)
    _, out, _ = run("step", "--probe", "SELECT count(*) AS n FROM orders", "--json")
    doc = json.loads(out)
    assert doc["observation"]["last_action"]["type"] == "probe"
    assert doc["observation"]["result"]["columns"] == ["n"] and "components" not in doc["info"]
    _, out, _ = run("step", "--inspect-schema", "--json")
    assert json.loads(out)["observation"]["result"]["columns"][:2] == ["table", "column"]
    _, out, _ = run("step", "--inspect-sample", "customers", "--json")
    assert json.loads(out)["observation"]["result"]["row_count"] > 0
    run("step", "SELECT 42")
    _, out, _ = run("step", "--reset-query", "--json")
    obs = json.loads(out)["observation"]
    assert obs["current_query"] == obs["broken_query"]


def test_review_flag_blocks_unsafe_sql_unrun() -> None:
    run("reset", "--task", TASK)
    code, out, _ = run("step", "--review", "DELETE FROM orders", "--json")
    obs = json.loads(out)["observation"]
    assert code == 0 and obs["error"]["kind"] == "blocked"
    assert any(f["severity"] == "block" for f in obs["findings"])
    _, out, _ = run("step", "--review", "SELECT * FROM orders WHERE status = NULL")
    assert "null-comparison" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give the SQL"),
        (("   ",), "the SQL is empty"),
        (("SELECT 1", "--file", "x.sql"), "not both"),
        (("--inspect-schema", "SELECT 1"), "takes no SQL"),
        (("--inspect-schema", "--reset-query"), "choose one action"),
        (("--probe", "--inspect-sample", "orders"), "choose one action"),
        (("--review", "--inspect-schema"), "--review applies to SQL"),
        (("--file", "does-not-exist.sql"), "cannot read does-not-exist.sql"),
    ],
)
def test_step_usage_errors(args: tuple[str, ...], message: str) -> None:
    run("reset", "--task", TASK)
    code, out, err = run("step", *args)
    assert code == ExitCode.USAGE and out == ""
    assert message in err and "Traceback" not in err
    assert EpisodeStore().load("default").actions == []  # nothing recorded


def test_step_unreadable_file(tmp_path: Path) -> None:
    run("reset", "--task", TASK)
    binary = tmp_path / "x.sql"
    binary.write_bytes(b"\xff\xfe\x00SELECT")
    code, _, err = run("step", "--file", str(binary))
    assert code == ExitCode.USAGE and "not UTF-8" in err


def test_no_session_says_how_to_start_one() -> None:
    for args in (("step", "SELECT 1"), ("state",), ("step", "SELECT 1", "--session", "other")):
        code, out, err = run(*args)
        assert code == ExitCode.EPISODE and out == ""
        assert "sqldebug reset --task ID" in err and "Traceback" not in err
    assert "--session other" in run("state", "--session", "other")[2]


def test_sessions_are_independent() -> None:
    run("reset", "--task", TASK, "--session", "a")
    run("reset", "--task", "hr/february-payroll-leap-day", "--session", "b")
    run("step", "SELECT 1", "--session", "a")
    _, out, _ = run("state", "--session", "a", "--json")
    assert json.loads(out)["step"] == 1
    _, out, _ = run("state", "--session", "b", "--json")
    assert json.loads(out)["step"] == 0 and json.loads(out)["task_id"].startswith("hr/")


def test_state_has_history_and_return() -> None:
    run("reset", "--task", TASK)
    rewards = [
        json.loads(run("step", sql, "--json")[1])["reward"] for sql in ("SELECT 1", solution())
    ]
    code, out, _ = run("state", "--json")
    st = json.loads(out)
    assert code == 0 and st["solved"] and [h["reward"] for h in st["history"]] == rewards
    assert st["total_reward"] == pytest.approx(sum(rewards))
    code, out, _ = run("state")
    assert "Return" in out and "solved" in out


def test_sessions_list_and_rm() -> None:
    assert json.loads(run("sessions", "list", "--json")[1]) == []
    run("reset", "--task", TASK, "--session", "one")
    run("reset", "--task", TASK, "--session", "two")
    run("step", solution(), "--session", "two")
    rows = {r["session"]: r for r in json.loads(run("sessions", "list", "--json")[1])}
    assert rows["one"]["status"] == "playing" and rows["two"]["status"] == "solved"
    code, out, _ = run("sessions", "list")
    assert code == 0 and "one" in out
    code, _, _ = run("sessions", "rm", "one")
    assert code == 0 and [
        r["session"] for r in json.loads(run("sessions", "list", "--json")[1])
    ] == ["two"]
    code, _, err = run("sessions", "rm", "one")
    assert code == ExitCode.EPISODE and "no episode in session 'one'" in err
    assert run("sessions", "rm")[0] == ExitCode.USAGE
    assert run("sessions", "rm", "--all")[0] == 0
    assert json.loads(run("sessions", "list", "--json")[1]) == []


def test_home_defaults_to_the_state_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SQLDEBUG_HOME")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert home_dir() == tmp_path / "state" / "sqldebug"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert home_dir() == Path.home() / ".local" / "state" / "sqldebug"


def test_a_crash_mid_write_keeps_the_last_good_state(monkeypatch: pytest.MonkeyPatch) -> None:
    run("reset", "--task", TASK)
    run("step", "SELECT 1")
    path = EpisodeStore().path("default")
    before = path.read_text()

    def crash(*_: object) -> None:
        raise OSError("disk pulled out")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash)
        code, _, err = run("step", "SELECT 2")
    assert code == ExitCode.FAILURE and "disk pulled out" in err and "Traceback" not in err
    assert path.read_text() == before  # the last good state
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".tmp"] == []  # no debris
    assert len(EpisodeStore().load("default").actions) == 1


def test_a_corrupt_session_file_is_a_clear_error() -> None:
    run("reset", "--task", TASK)
    EpisodeStore().path("default").write_text("{not json")
    code, _, err = run("step", "SELECT 1")
    assert code == ExitCode.EPISODE and "sqldebug sessions rm default" in err


def test_an_edited_task_is_not_replayed(tmp_path: Path) -> None:
    import shutil

    from sqldebug.catalog import bundled_tasks_dir

    folder = tmp_path / "tasks"
    shutil.copytree(bundled_tasks_dir(), folder)
    run("reset", "--task", TASK, "--tasks", str(folder))
    task_file = folder / "shop" / "top-products-ties.yaml"
    task_file.write_text(
        task_file.read_text().replace("max_steps", "tags: [x]\nmax_steps")
        if "max_steps" in task_file.read_text()
        else task_file.read_text().replace("hints:", "max_steps: 9\nhints:")
    )
    code, _, err = run("step", "SELECT 1")
    assert code == ExitCode.EPISODE and "changed since" in err


# -- the installed executable, in real processes ---------------------------------------------------

EXE = str(Path(sys.executable).parent / "sqldebug")


def sh(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=env, input=stdin, timeout=120
    )


def test_installed_executable_plays_an_episode_to_solved(tmp_path: Path) -> None:
    env = {**os.environ, "SQLDEBUG_HOME": str(tmp_path / "home")}
    assert sh("reset", "--task", TASK, "--seed", "2", env=env).returncode == 0
    wrong = sh("step", "SELECT 1", "--json", env=env)
    assert wrong.returncode == 0 and not json.loads(wrong.stdout)["done"]
    right = sh("step", "-", "--json", env=env, stdin=solution())
    assert right.returncode == ExitCode.SOLVED and json.loads(right.stdout)["observation"]["solved"]
    state = json.loads(sh("state", "--json", env=env).stdout)
    assert state["solved"] and state["step"] == 2


def test_two_concurrent_steps_are_both_recorded(tmp_path: Path) -> None:
    env = {**os.environ, "SQLDEBUG_HOME": str(tmp_path / "home")}
    assert sh("reset", "--task", TASK, env=env).returncode == 0
    procs = [
        subprocess.Popen(
            [EXE, "step", f"SELECT {i} AS n", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    steps = sorted(json.loads(o)["observation"]["step"] for o, _ in outs)
    assert steps == [1, 2]  # serialised, never interleaved: one saw the other's step
    state = json.loads(sh("state", "--json", env=env).stdout)
    assert sorted(h["action"]["sql"] for h in state["history"]) == [
        "SELECT 1 AS n",
        "SELECT 2 AS n",
    ]
