"""``sqldebug tasks``: list, show, validate, schema; errors are one clear line and an exit code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from sqldebug.catalog import bundled_tasks_dir
from sqldebug.cli import app
from sqldebug.cli.exit_codes import ExitCode
from tests.conftest import copy_small_tasks

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_help_and_version() -> None:
    code, out, _ = invoke("--help")
    assert code == 0 and "tasks" in out
    code, out, _ = invoke("-h")
    assert code == 0
    code, out, _ = invoke("--version")
    assert code == 0 and out.startswith("sqldebug ")


def test_list_json_filters() -> None:
    code, out, _ = invoke("tasks", "list", "--json")
    assert code == 0
    doc = json.loads(out)
    everything = doc["tasks"]
    assert sum(doc["counts"]["category"].values()) == len(everything)
    assert set(doc["counts"]) == {"category", "difficulty", "dataset", "split", "kind"}
    assert len(everything) >= 12 and {"id", "category", "split"} <= set(everything[0])
    code, out, _ = invoke("tasks", "list", "--json", "--dataset", "hr", "--split", "test")
    some = json.loads(out)["tasks"]
    assert some and all(t["id"].startswith("hr/") and t["split"] == "test" for t in some)
    code, out, _ = invoke("tasks", "list", "--category", "window", "--json")
    assert all(t["category"] == "window" for t in json.loads(out)["tasks"])


def test_list_for_people() -> None:
    code, out, _ = invoke("tasks", "list")
    assert code == 0 and "shop/top-products-ties" in out
    assert "by category" in out and "by split" in out


def test_bad_flags_are_usage_errors() -> None:
    code, _, err = invoke("tasks", "list", "--category", "nonsense")
    assert code == ExitCode.USAGE and "not a category" in err
    code, _, err = invoke("tasks", "list", "--difficulty", "extreme")
    assert code == ExitCode.USAGE


def test_show() -> None:
    code, out, _ = invoke("tasks", "show", "shop/top-products-ties", "--json")
    data = json.loads(out)
    assert code == 0 and data["id"] == "shop/top-products-ties" and "solution" not in data
    code, out, _ = invoke("tasks", "show", "shop/top-products-ties", "--json", "--solution")
    assert "solution" in json.loads(out)
    code, out, _ = invoke("tasks", "show", "shop/top-products-ties")
    assert code == 0 and "Broken query" in out


def test_unknown_task_is_one_clear_line() -> None:
    code, out, err = invoke("tasks", "show", "shop/top-product-ties")
    assert code == ExitCode.TASKS and out == ""
    assert (
        "unknown task" in err and "sqldebug tasks list" in err and "shop/top-products-ties" in err
    )
    assert "Traceback" not in err


def test_validate_bundled_tasks() -> None:
    code, out, _ = invoke("tasks", "validate", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["problems"] == []
    assert report["tasks"] >= 12


def test_validate_reports_each_failing_task(tmp_path: Path) -> None:
    folder = copy_small_tasks(tmp_path / "tasks")
    task_file = folder / "shop" / "top-products-ties.yaml"
    text = task_file.read_text()
    # make the broken query identical to the solution: the bug no longer shows
    import yaml

    data = yaml.safe_load(text)
    data["broken"] = data["solution"]
    task_file.write_text(yaml.safe_dump(data, sort_keys=False))
    code, out, _ = invoke("tasks", "validate", str(folder), "--json")
    report = json.loads(out)
    assert code == ExitCode.FAILURE and not report["ok"]
    assert [p["task_id"] for p in report["problems"]] == ["shop/top-products-ties"] * len(
        report["problems"]
    )
    assert any("bug does not show" in p["reason"] for p in report["problems"])
    code, _, err = invoke("tasks", "validate", str(folder))
    assert code == ExitCode.FAILURE and "top-products-ties" in err


def test_validate_malformed_folder(tmp_path: Path) -> None:
    (tmp_path / "datasets").mkdir()
    (tmp_path / "broken.yaml").write_text("id: x\ntitle: [unclosed\n")
    code, _, err = invoke("tasks", "validate", str(tmp_path))
    assert code == ExitCode.TASKS and "broken.yaml:" in err and "Traceback" not in err


def test_schema_is_json_schema() -> None:
    code, out, _ = invoke("tasks", "schema")
    schema = json.loads(out)
    assert code == 0 and "schema" in schema["Dataset"]["properties"]
    assert "broken" in schema["Task"]["properties"]


def test_tasks_env_var(tmp_path: Path, monkeypatch: object) -> None:
    folder = tmp_path / "t"
    shutil.copytree(bundled_tasks_dir(), folder)
    for sub in folder.iterdir():
        if sub.is_dir() and sub.name not in ("datasets", "shop"):
            shutil.rmtree(sub)  # only the shop tasks are left in this folder
    result = runner.invoke(app, ["tasks", "list", "--json"], env={"SQLDEBUG_TASKS": str(folder)})
    ids = [t["id"] for t in json.loads(result.stdout)["tasks"]]
    assert ids and all(i.startswith("shop/") for i in ids)


def test_installed_executable_runs() -> None:
    exe = Path(sys.executable).parent / "sqldebug"
    out = subprocess.run(
        [str(exe), "tasks", "list", "--json"], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout)
    out = subprocess.run(
        [sys.executable, "-m", "sqldebug", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("sqldebug")


def test_validate_warns_about_near_duplicates(tmp_path: Path) -> None:
    import yaml

    folder = copy_small_tasks(tmp_path / "tasks")
    original = folder / "shop" / "top-products-ties.yaml"
    data = yaml.safe_load(original.read_text())
    data["id"] = "shop/top-products-ties-again"
    data["solution"] = "  ".join(data["solution"].split())  # the same query, laid out anew
    (folder / "shop" / "top-products-ties-again.yaml").write_text(yaml.safe_dump(data))
    code, out, _ = invoke("tasks", "validate", str(folder), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"]  # a warning, not a failure
    assert any("top-products-ties-again" in w and "same solution" in w for w in report["warnings"])


def test_validate_refuses_a_broken_query_the_sandbox_blocks(tmp_path: Path) -> None:
    # a mutation task shipped with a two-statement broken script validated once: its "bug" was
    # only that an agent may submit one statement (the red team's find in a blind solve)
    import yaml

    folder = copy_small_tasks(tmp_path / "tasks")
    task_file = folder / "shop" / "top-products-ties.yaml"
    data = yaml.safe_load(task_file.read_text())
    data["broken"] = data["solution"].rstrip().rstrip(";") + ";\nSELECT 1;"
    task_file.write_text(yaml.safe_dump(data, sort_keys=False))
    code, out, _ = invoke("tasks", "validate", str(task_file), "--json")
    report = json.loads(out)
    assert code == ExitCode.FAILURE
    assert any("sandbox blocks the broken query" in p["reason"] for p in report["problems"])
