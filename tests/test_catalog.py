"""Loading task folders: every kind of mistake in a task or dataset file is one clear error.

Each test writes a minimal valid folder (one dataset, one task) into tmp_path, breaks one thing,
and checks the error's type and that its message names the file, the field and, where YAML knows
it, the line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import sqldebug
from sqldebug.catalog import Catalog, load_catalog, load_tasks
from sqldebug.errors import TaskFileError, TaskSetError, UnknownTaskError
from sqldebug.grading import order_matters
from sqldebug.runtime import Runtime
from sqldebug.spec import json_schema

DATASET = """\
id: mini
description: A tiny dataset of items.
schema: |
  CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, added TEXT, code TEXT);
rows:
  items:
    - [1, apple, 2024-02-29, no]
    - [2, pear, 2024-03-01, yes]
    - [3, plum, 2024-03-02, null]
"""

TASK = """\
id: mini/count-items
title: Count the items
dataset: mini
category: aggregation
difficulty: easy
intent: How many items there are.
broken: |
  SELECT count(*) - 1 FROM items;
solution: |
  SELECT count(*) FROM items;
max_steps: 8
hints:
  - Count them all.
"""


def write_folder(root: Path, *, dataset: str = DATASET, task: str = TASK) -> tuple[Path, Path]:
    """A task folder: datasets/mini.yaml and mini/count-items.yaml; returns both paths."""
    (root / "datasets").mkdir(parents=True, exist_ok=True)
    (root / "mini").mkdir(exist_ok=True)
    ds = root / "datasets" / "mini.yaml"
    tk = root / "mini" / "count-items.yaml"
    ds.write_text(dataset, encoding="utf-8")
    tk.write_text(task, encoding="utf-8")
    return ds, tk


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def line_of(text: str, start: str) -> int:
    """1-based number of the first line of ``text`` that starts with ``start``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(start))


def load_error(root: Path) -> TaskFileError:
    with pytest.raises(TaskFileError) as info:
        Catalog.load(root)
    return info.value


def load_errors(root: Path) -> list[TaskFileError]:
    """Every problem reported for ``root``, whether as one TaskFileError or a TaskSetError."""
    with pytest.raises((TaskFileError, TaskSetError)) as info:
        Catalog.load(root)
    err = info.value
    return err.errors if isinstance(err, TaskSetError) else [err]


def assert_names(
    err: TaskFileError, path: Path, *, field: str | None = None, line: int | None = None
) -> None:
    text = str(err)
    assert err.path == path
    assert str(path) in text
    if field is not None:
        assert err.field == field
        assert f"{field}:" in text
    if line is not None:
        assert err.line == line
        assert f"{path}:{line}:" in text


# -- the valid folder ------------------------------------------------------------------------------


def test_minimal_folder_loads(tmp_path: Path) -> None:
    write_folder(tmp_path)
    cat = Catalog.load(tmp_path)
    assert list(cat.tasks) == ["mini/count-items"]
    assert list(cat.datasets) == ["mini"]
    task = cat.get("mini/count-items")
    assert task.dataset == "mini" and task.kind == "query" and task.split == "train"
    assert task.hints == ["Count them all."]
    assert cat.source("mini/count-items") == tmp_path / "mini" / "count-items.yaml"
    assert cat.digest


def test_minimal_folder_plays(tmp_path: Path) -> None:
    write_folder(tmp_path)
    env = sqldebug.make("mini/count-items", tasks=str(tmp_path), k=1, pool_size=2)
    env.reset(seed=0)
    obs, _, terminated, _, _ = env.step("SELECT count(*) FROM items")
    assert terminated and obs.solved


def test_bundled_tasks_load() -> None:
    cat = Catalog.load(None)
    assert cat.tasks
    assert {t.dataset for t in cat.tasks.values()} <= set(cat.datasets)


# -- one mistake a test ----------------------------------------------------------------------------


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    task = edit(TASK, "difficulty: easy", "difficulty: easy: hard")
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert "invalid YAML" in str(err)
    assert_names(err, path, line=line_of(task, "difficulty:"))


def test_invalid_yaml_in_dataset_names_dataset_file(tmp_path: Path) -> None:
    dataset = edit(DATASET, "    - [2, pear, 2024-03-01, yes]", "    - [2, pear, 2024-03-01, yes")
    path, _ = write_folder(tmp_path, dataset=dataset)
    # the task on this dataset may be reported too; the dataset file's own error must be there
    (err,) = [e for e in load_errors(tmp_path) if e.path == path]
    assert "invalid YAML" in str(err)
    assert_names(err, path)
    assert err.line is not None and err.line >= line_of(dataset, "    - [2,")


def test_file_that_is_a_list(tmp_path: Path) -> None:
    _, path = write_folder(tmp_path, task="- id: mini/count-items\n- title: Count\n")
    err = load_error(tmp_path)
    assert "mapping" in str(err) and "list" in str(err)
    assert_names(err, path)


def test_file_that_is_empty(tmp_path: Path) -> None:
    _, path = write_folder(tmp_path, task="")
    err = load_error(tmp_path)
    assert "mapping" in str(err)
    assert_names(err, path)


def test_unknown_field(tmp_path: Path) -> None:
    task = edit(TASK, "hints:", "tagz: [count]\nhints:")
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert "unknown field" in str(err)
    assert_names(err, path, field="tagz", line=line_of(task, "tagz:"))


def test_misspelt_required_field_names_the_typo(tmp_path: Path) -> None:
    # the mistake is the key `solutoin`; the message must point at it (a bare "solution is
    # missing" leaves the author hunting for the typo)
    task = edit(TASK, "solution:", "solutoin:")
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert_names(err, path)
    assert "solutoin" in str(err)
    assert f":{line_of(task, 'solutoin:')}:" in str(err)


def test_unknown_field_in_dataset(tmp_path: Path) -> None:
    dataset = edit(DATASET, "rows:", "colour: blue\nrows:")
    path, _ = write_folder(tmp_path, dataset=dataset)
    (err,) = [e for e in load_errors(tmp_path) if e.path == path]
    assert_names(err, path, field="colour", line=line_of(dataset, "colour:"))


def test_dataset_key_is_schema_not_ddl(tmp_path: Path) -> None:
    # the YAML key is `schema` (the exported JSON Schema allows nothing else); the Python
    # attribute name `ddl` is not a second spelling of it
    dataset = edit(DATASET, "schema:", "ddl:")
    path, _ = write_folder(tmp_path, dataset=dataset)
    errors = [e for e in load_errors(tmp_path) if e.path == path]
    assert errors
    assert "ddl" in str(errors[0]) or "schema" in str(errors[0])


def test_missing_required_field(tmp_path: Path) -> None:
    task = edit(TASK, "intent: How many items there are.\n", "")
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert "missing" in str(err)
    assert_names(err, path, field="intent")


def test_wrong_type(tmp_path: Path) -> None:
    task = edit(TASK, "max_steps: 8", 'max_steps: "eight"')
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert_names(err, path, field="max_steps", line=line_of(task, "max_steps:"))


def test_out_of_range_value(tmp_path: Path) -> None:
    task = edit(TASK, "max_steps: 8", "max_steps: 0")
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert_names(err, path, field="max_steps", line=line_of(task, "max_steps:"))


@pytest.mark.parametrize(
    ("old", "new", "field", "bad"),
    [
        ("difficulty: easy", "difficulty: extreme", "difficulty", "extreme"),
        ("category: aggregation", "category: not-a-category", "category", "not-a-category"),
        ("dataset: mini\n", "dataset: mini\nkind: report\n", "kind", "report"),
        ("dataset: mini\n", "dataset: mini\nsplit: validation\n", "split", "validation"),
    ],
)
def test_bad_enum_value(tmp_path: Path, old: str, new: str, field: str, bad: str) -> None:
    task = edit(TASK, old, new)
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert bad in str(err)
    assert_names(err, path, field=field, line=line_of(task, f"{field}:"))


@pytest.mark.parametrize(
    "bad_id", ["Mini/Count", "mini count", "/mini/count", "mini/count/", "mini.count", "''"]
)
def test_bad_id(tmp_path: Path, bad_id: str) -> None:
    task = edit(TASK, "id: mini/count-items", f"id: {bad_id}")
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert_names(err, path, field="id", line=line_of(task, "id:"))


def test_blank_solution(tmp_path: Path) -> None:
    task = edit(TASK, "solution: |\n  SELECT count(*) FROM items;\n", "solution: '   '\n")
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert "empty" in str(err)
    assert_names(err, path, field="solution", line=line_of(task, "solution:"))


def test_mutation_task_without_tables(tmp_path: Path) -> None:
    task = edit(TASK, "dataset: mini\n", "dataset: mini\nkind: mutation\n")
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert "tables" in str(err)
    assert "mutation" in str(err)
    assert_names(err, path)


def test_query_task_with_tables(tmp_path: Path) -> None:
    task = edit(TASK, "dataset: mini\n", "dataset: mini\ntables: [items]\n")
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert "tables" in str(err)
    assert_names(err, path)


def test_unknown_dataset_reference(tmp_path: Path) -> None:
    task = edit(TASK, "dataset: mini", "dataset: shopp")
    _, path = write_folder(tmp_path, task=task)
    err = load_error(tmp_path)
    assert "'shopp'" in str(err)
    assert "mini" in str(err)  # the datasets that do exist
    assert_names(err, path, field="dataset")


def test_duplicate_task_ids_name_both_files(tmp_path: Path) -> None:
    _, first = write_folder(tmp_path)
    second = tmp_path / "mini" / "count-items-copy.yaml"
    second.write_text(TASK, encoding="utf-8")
    err = load_error(tmp_path)
    assert "duplicate" in str(err)
    assert "mini/count-items" in str(err)
    assert str(first) in str(err) and str(second) in str(err)
    assert err.field == "id"


def test_duplicate_dataset_ids_name_both_files(tmp_path: Path) -> None:
    first, _ = write_folder(tmp_path)
    second = tmp_path / "datasets" / "mini-copy.yaml"
    second.write_text(DATASET, encoding="utf-8")
    err = load_error(tmp_path)
    assert "duplicate" in str(err)
    assert str(first) in str(err) and str(second) in str(err)


def test_dataset_schema_that_does_not_build(tmp_path: Path) -> None:
    dataset = edit(DATASET, "name TEXT NOT NULL,", "name TEXT NOT NULL,,")
    path, _ = write_folder(tmp_path, dataset=dataset)
    cat = Catalog.load(tmp_path)  # structure is fine: the SQL is checked when first used
    with pytest.raises(TaskFileError) as info:
        Runtime(cat).pool("mini")
    assert_names(info.value, path, field="schema")
    assert "schema" in str(info.value)


def test_dataset_schema_error_surfaces_through_the_environment(tmp_path: Path) -> None:
    dataset = edit(DATASET, "CREATE TABLE items", "CREATE TABEL items")
    path, _ = write_folder(tmp_path, dataset=dataset)
    env = sqldebug.make("mini/count-items", tasks=str(tmp_path), k=1, pool_size=2)
    with pytest.raises(TaskFileError) as info:
        env.reset(seed=0)
    assert_names(info.value, path, field="schema")


def test_dataset_row_with_wrong_number_of_values(tmp_path: Path) -> None:
    dataset = edit(DATASET, "    - [3, plum, 2024-03-02, null]", "    - [3, plum, 2024-03-02]")
    path, _ = write_folder(tmp_path, dataset=dataset)
    cat = Catalog.load(tmp_path)
    with pytest.raises(TaskFileError) as info:
        Runtime(cat).pool("mini")
    err = info.value
    assert err.path == path and str(path) in str(err)
    assert err.field is not None and err.field.startswith("rows.items")
    assert "rows.items" in str(err)
    assert "3 values" in str(err) and "4 columns" in str(err)


def test_dataset_row_breaking_a_constraint(tmp_path: Path) -> None:
    dataset = edit(
        DATASET, "    - [3, plum, 2024-03-02, null]", "    - [3, null, 2024-03-02, null]"
    )
    path, _ = write_folder(tmp_path, dataset=dataset)
    with pytest.raises(TaskFileError) as info:
        Runtime(Catalog.load(tmp_path)).pool("mini")
    assert info.value.path == path
    assert "rows.items" in str(info.value)


def test_dataset_rows_for_a_table_not_in_the_schema(tmp_path: Path) -> None:
    dataset = DATASET + "  itemz:\n    - [1]\n"
    path, _ = write_folder(tmp_path, dataset=dataset)
    with pytest.raises(TaskFileError) as info:
        Runtime(Catalog.load(tmp_path)).pool("mini")
    assert info.value.path == path
    assert "itemz" in str(info.value)


def test_several_broken_files_are_reported_together(tmp_path: Path) -> None:
    ds, tk = write_folder(tmp_path)  # the original task stays valid
    typo = tmp_path / "mini" / "typo.yaml"
    typo.write_text(
        edit(edit(TASK, "id: mini/count-items", "id: mini/typo"), "hints:", "tagz: [a]\nhints:"),
        encoding="utf-8",
    )
    enum = tmp_path / "mini" / "enum.yaml"
    enum.write_text(
        edit(
            edit(TASK, "id: mini/count-items", "id: mini/enum"),
            "difficulty: easy",
            "difficulty: extreme",
        ),
        encoding="utf-8",
    )
    listing = tmp_path / "datasets" / "listing.yaml"
    listing.write_text("- just\n- a list\n", encoding="utf-8")

    with pytest.raises(TaskSetError) as info:
        Catalog.load(tmp_path)
    err = info.value
    assert len(err.errors) == 3
    assert all(isinstance(e, TaskFileError) for e in err.errors)
    assert {e.path for e in err.errors} == {typo, enum, listing}
    text = str(err)
    for path in (typo, enum, listing):
        assert str(path) in text
    assert "tagz" in text and "extreme" in text
    assert str(tk) not in text and str(ds) not in text
    # all or nothing: the valid task is not handed out on its own
    with pytest.raises(TaskSetError):
        load_tasks(tmp_path)


def test_empty_folder(tmp_path: Path) -> None:
    err = load_error(tmp_path)
    assert_names(err, tmp_path.resolve())
    assert "no .yaml" in str(err)


def test_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    err = load_error(missing)
    assert_names(err, missing.resolve())


def test_non_utf8_file(tmp_path: Path) -> None:
    _, path = write_folder(tmp_path)
    path.write_bytes(TASK.replace("Count the items", "Caf\xe9 items").encode("latin-1"))
    err = load_error(tmp_path)
    assert "UTF-8" in str(err)
    assert_names(err, path)


# -- values keep their YAML spelling ---------------------------------------------------------------


def test_dates_stay_text(tmp_path: Path) -> None:
    write_folder(tmp_path)
    cat = Catalog.load(tmp_path)
    rows = cat.datasets["mini"].rows["items"]
    assert rows[0][2] == "2024-02-29"
    assert type(rows[0][2]) is str
    visible = Runtime(cat).pool("mini").visible.rows("items").rows
    assert ("2024-02-29" in {r[2] for r in visible}) and all(type(r[2]) is str for r in visible)


def test_yes_and_no_stay_strings(tmp_path: Path) -> None:
    write_folder(tmp_path)
    rows = Catalog.load(tmp_path).datasets["mini"].rows["items"]
    assert rows[0][3] == "no" and rows[1][3] == "yes"
    assert rows[2][3] is None


@pytest.mark.parametrize("word", ["on", "off", "No", "YES", "y", "n"])
def test_other_yaml_11_booleans_stay_strings(tmp_path: Path, word: str) -> None:
    write_folder(tmp_path, dataset=edit(DATASET, "2024-02-29, no]", f"2024-02-29, {word}]"))
    rows = Catalog.load(tmp_path).datasets["mini"].rows["items"]
    assert rows[0][3] == word


def test_true_and_false_are_booleans(tmp_path: Path) -> None:
    write_folder(tmp_path, task=edit(TASK, "max_steps: 8", "max_steps: 8\norder_matters: false"))
    assert Catalog.load(tmp_path).get("mini/count-items").order_matters is False


@pytest.mark.parametrize(
    ("solution", "expected"),
    [
        ("SELECT name FROM items ORDER BY name", True),
        ("SELECT name FROM items", False),
        ("SELECT name FROM (SELECT name FROM items ORDER BY name LIMIT 2)", False),
        ("SELECT id, rank() OVER (ORDER BY id) FROM items", False),
        ("WITH t AS (SELECT name FROM items ORDER BY name) SELECT name FROM t", False),
        ("WITH t AS (SELECT name FROM items) SELECT name FROM t ORDER BY name", True),
        ("SELECT name FROM items UNION SELECT code FROM items ORDER BY 1", True),
        ("SELECT name FROM items WHERE id IN (SELECT id FROM items ORDER BY id LIMIT 2)", False),
    ],
)
def test_order_matters_default_follows_top_level_order_by(
    tmp_path: Path, solution: str, expected: bool
) -> None:
    task = edit(TASK, "  SELECT count(*) FROM items;", f"  {solution};")
    write_folder(tmp_path, task=task)
    task = Catalog.load(tmp_path).get("mini/count-items")
    assert task.order_matters is None  # left out of the file...
    assert order_matters(task) is expected  # ...and decided by the solution


@pytest.mark.parametrize(
    ("value", "solution"),
    [("false", "SELECT name FROM items ORDER BY name"), ("true", "SELECT name FROM items")],
)
def test_explicit_order_matters_wins(tmp_path: Path, value: str, solution: str) -> None:
    task = edit(TASK, "  SELECT count(*) FROM items;", f"  {solution};")
    write_folder(tmp_path, task=task + f"order_matters: {value}\n")
    task = Catalog.load(tmp_path).get("mini/count-items")
    assert task.order_matters is order_matters(task) is (value == "true")


# -- finding tasks ---------------------------------------------------------------------------------


def write_two_tasks(root: Path) -> None:
    write_folder(root)
    other = edit(
        edit(
            edit(TASK, "id: mini/count-items", "id: mini/null-codes"),
            "category: aggregation",
            "category: null-handling",
        ),
        "max_steps: 8",
        "max_steps: 8\nsplit: test",
    )
    (root / "mini" / "null-codes.yaml").write_text(other, encoding="utf-8")


def test_load_tasks_filters(tmp_path: Path) -> None:
    write_two_tasks(tmp_path)
    assert [t.id for t in load_tasks(tmp_path)] == ["mini/count-items", "mini/null-codes"]
    assert [t.id for t in load_tasks(tmp_path, split="test")] == ["mini/null-codes"]
    assert [t.id for t in load_tasks(tmp_path, split="train")] == ["mini/count-items"]
    assert [t.id for t in load_tasks(tmp_path, category="null-handling")] == ["mini/null-codes"]
    assert load_tasks(tmp_path, category="null-handling", split="train") == []
    assert [t.id for t in load_tasks(tmp_path, ids=["mini/count-items"])] == ["mini/count-items"]


def test_unknown_task_id(tmp_path: Path) -> None:
    write_folder(tmp_path)
    with pytest.raises(UnknownTaskError) as info:
        load_catalog(tmp_path).get("mini/count-item")
    text = str(info.value)
    assert "sqldebug tasks list" in text
    assert "mini/count-items" in text  # the close id is suggested
    assert isinstance(info.value, KeyError)


def test_unknown_task_id_through_make(tmp_path: Path) -> None:
    write_folder(tmp_path)
    with pytest.raises(UnknownTaskError, match="sqldebug tasks list") as info:
        sqldebug.make("mini/cout-items", tasks=str(tmp_path))
    assert "mini/count-items" in str(info.value)


def test_unknown_task_id_with_nothing_close(tmp_path: Path) -> None:
    write_folder(tmp_path)
    with pytest.raises(UnknownTaskError) as info:
        load_catalog(tmp_path).get("zzzzzz")
    assert "sqldebug tasks list" in str(info.value)
    assert "Did you mean" not in str(info.value)


def test_unknown_id_filter_is_an_error(tmp_path: Path) -> None:
    write_folder(tmp_path)
    with pytest.raises(UnknownTaskError):
        load_tasks(tmp_path, ids=["mini/nope"])


def test_sqldebug_tasks_env_var_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_two_tasks(tmp_path)
    monkeypatch.setenv("SQLDEBUG_TASKS", str(tmp_path))
    assert [t.id for t in load_tasks()] == ["mini/count-items", "mini/null-codes"]
    assert load_catalog().root == tmp_path.resolve()
    env = sqldebug.make("mini/null-codes", k=1, pool_size=2)
    obs, _ = env.reset(seed=0)
    assert obs.task_id == "mini/null-codes"


def test_explicit_path_beats_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLDEBUG_TASKS", str(tmp_path / "nowhere"))
    write_folder(tmp_path / "here")
    assert [t.id for t in load_tasks(tmp_path / "here")] == ["mini/count-items"]


def test_edited_folder_is_reloaded(tmp_path: Path) -> None:
    _, path = write_folder(tmp_path)
    assert load_tasks(tmp_path)[0].title == "Count the items"
    path.write_text(edit(TASK, "Count the items", "Count every item"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert load_tasks(tmp_path)[0].title == "Count every item"


# -- JSON Schema -----------------------------------------------------------------------------------


def test_json_schema_has_both_models() -> None:
    schemas = json_schema()
    assert set(schemas) == {"Dataset", "Task"}
    dataset = schemas["Dataset"]
    assert "schema" in dataset["properties"]
    assert "ddl" not in dataset["properties"]
    assert "schema" in dataset["required"]
    assert dataset.get("additionalProperties") is False
    task = schemas["Task"]
    for key in (
        "id",
        "title",
        "dataset",
        "category",
        "difficulty",
        "intent",
        "broken",
        "solution",
        "order_matters",
        "max_steps",
    ):
        assert key in task["properties"], key
    assert {"id", "dataset", "broken", "solution", "intent"} <= set(task["required"])
    assert task.get("additionalProperties") is False


def test_json_schema_lists_the_category_taxonomy() -> None:
    category = json_schema()["Task"]["properties"]["category"]
    assert set(category["enum"]) == set(sqldebug.CATEGORIES)
