"""Find, load and check task files; the registry of tasks by id.

Loading is all-or-nothing: every file is read, every problem is collected, and if there is any,
one :class:`TaskSetError` lists them all (each naming the file, the field and, where YAML knows it,
the line). A catalog that loads is therefore complete and consistent. The deeper invariants that
need execution (the solution is graded correct, the broken query is not, ...) are checked by
:mod:`sqldebug.validate`.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sqldebug.errors import TaskFileError, TaskSetError, UnknownTaskError
from sqldebug.spec import Dataset, Task

TASKS_ENV = "SQLDEBUG_TASKS"
M = TypeVar("M", bound=BaseModel)


# libyaml's parser where PyYAML was built with it (the wheels are): ~10x faster on task files.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader without YAML 1.1 surprises: dates stay text and only true/false are booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:timestamp",)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_bool(loader: _Loader, node: yaml.ScalarNode) -> Any:
    value = loader.construct_scalar(node)
    lowered = str(value).lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return value  # yes/no/on/off stay strings: 'no' is a region code, not False


_Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


#: The sub-folder of a task folder holding the generator's seed query banks (``<dataset>.yaml``).
SEEDS_DIR = "seeds"


def bundled_tasks_dir() -> Path:
    """The tasks that ship with sqldebug: inside the wheel, or the repo's tasks/ in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "_bundled_tasks"
    return packaged if packaged.is_dir() else here.parent / "tasks"


def tasks_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Where tasks come from: an explicit path, else ``$SQLDEBUG_TASKS``, else the bundled set."""
    chosen = path if path is not None else os.environ.get(TASKS_ENV) or None
    return Path(chosen).expanduser().resolve() if chosen is not None else bundled_tasks_dir()


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TaskFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise TaskFileError(path, f"cannot read: {exc.strerror}") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark else None
        raise TaskFileError(path, f"invalid YAML: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise TaskFileError(path, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, node


def _line_of(node: yaml.Node | None, loc: Iterable[int | str]) -> int | None:
    """The line of the YAML node at a pydantic error location (deepest node found)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if k.value == part]
            key = [k for k, _ in node.value if k.value == part]
            if not match:
                return line
            line, node = key[0].start_mark.line + 1, match[0]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def parse_model(path: Path, model: type[M]) -> M:
    """``model`` read from the YAML file at ``path``; a TaskFileError names the field and line."""
    data, node = _read_yaml(path)
    if not isinstance(data, dict):
        kind = {Dataset: "dataset", Task: "task"}.get(model, model.__name__)
        raise TaskFileError(path, f"expected a mapping of {kind} fields, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # An unknown key is usually a misspelt one, and explains the "missing" error beside it.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = list(first["loc"])
        field_name = ".".join(str(p) for p in loc) or None
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            known = [f.alias or name for name, f in model.model_fields.items()]
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            message = "unknown field" + (
                f" (did you mean {close[0]!r}?)" if close else "; see `sqldebug tasks schema`"
            )
        elif first["type"] == "missing":
            message = "required field is missing"
        elif first["type"] == "literal_error":
            message = f"{first['msg']} (got {first.get('input')!r})"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        more = len(errors) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''} in this file)"
        raise TaskFileError(path, message, field=field_name, line=_line_of(node, loc)) from None


@dataclass
class Catalog:
    """Every dataset and task under one folder, checked for structure and cross-references."""

    root: Path
    datasets: dict[str, Dataset] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    digest: str = ""

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Catalog:
        root = tasks_dir(path)
        if not root.is_dir():
            raise TaskFileError(root, "no such task folder")
        cat = cls(root=root)
        errors: list[TaskFileError] = []
        hasher = hashlib.sha256()
        data_dir = root / "datasets"
        seed_dir = root / SEEDS_DIR  # the generator's seed queries: not tasks
        files = sorted(p for p in root.rglob("*.yaml") if p.is_file() and seed_dir not in p.parents)
        if not files:
            raise TaskFileError(root, "no .yaml task files in this folder")
        broken_datasets = False
        for file in files:
            hasher.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
            is_dataset = data_dir in file.parents
            try:
                item: Dataset | Task = (
                    parse_model(file, Dataset) if is_dataset else parse_model(file, Task)
                )
            except TaskFileError as exc:
                errors.append(exc)
                broken_datasets |= is_dataset
                continue
            table = cat.datasets if is_dataset else cat.tasks
            if item.id in table:
                where = cat.sources[("dataset:" if is_dataset else "") + item.id]
                errors.append(
                    TaskFileError(file, f"duplicate id {item.id!r} (also in {where})", field="id")
                )
                continue
            table[item.id] = item  # type: ignore[assignment]
            cat.sources[("dataset:" if is_dataset else "") + item.id] = file
        for task_id, task in list(cat.tasks.items()):
            if task.dataset not in cat.datasets:
                if broken_datasets:
                    continue  # the dataset file's own error is reported; do not pile on
                known = ", ".join(sorted(cat.datasets)) or "none"
                if not data_dir.is_dir():
                    known += (
                        f"; {root} has no datasets/ folder: give the task folder that holds "
                        "datasets/ beside the task folders, or the task file itself"
                    )
                source = cat.sources[task_id]
                errors.append(
                    TaskFileError(
                        source,
                        f"unknown dataset {task.dataset!r} (known: {known})",
                        field="dataset",
                        line=_line_of(_read_yaml(source)[1], ["dataset"]),
                    )
                )
        if errors:
            raise errors[0] if len(errors) == 1 else TaskSetError(errors)
        cat.tasks = dict(sorted(cat.tasks.items()))
        cat.digest = hasher.hexdigest()
        return cat

    @classmethod
    def of_file(cls, path: str | os.PathLike[str]) -> Catalog:
        """A catalog of the one task in the file at ``path``, with its dataset: from the
        ``datasets/`` folder of the task folder it is in (or beside it), else the bundled ones."""
        file = Path(path).expanduser().resolve()
        task = parse_model(file, Task)
        places = [file.parent.parent / "datasets", file.parent / "datasets"]
        places.append(bundled_tasks_dir() / "datasets")
        for place in places:
            found = {}
            for candidate in sorted(place.glob("*.yaml")) if place.is_dir() else []:
                dataset = parse_model(candidate, Dataset)
                found[dataset.id] = (dataset, candidate)
            if task.dataset in found:
                dataset, source = found[task.dataset]
                break
        else:
            looked = ", ".join(str(p) for p in places[:2])
            raise TaskFileError(
                file,
                f"unknown dataset {task.dataset!r}: not in {looked} (no such folder, or no "
                "dataset with this id there), nor among the bundled datasets",
                field="dataset",
                line=_line_of(_read_yaml(file)[1], ["dataset"]),
            )
        digest = hashlib.sha256(file.read_bytes() + b"\0" + source.read_bytes()).hexdigest()
        return cls(
            root=source.parent.parent,
            datasets={dataset.id: dataset},
            tasks={task.id: task},
            sources={task.id: file, "dataset:" + dataset.id: source},
            digest=digest,
        )

    def get(self, task_id: str) -> Task:
        if not isinstance(task_id, str):
            raise UnknownTaskError(repr(task_id))
        try:
            return self.tasks[task_id]
        except KeyError:
            close = difflib.get_close_matches(task_id, list(self.tasks), n=3)
            raise UnknownTaskError(task_id, close) from None

    def source(self, task_id: str) -> Path:
        return self.sources[task_id]

    def filter(
        self,
        *,
        split: str | None = None,
        category: str | None = None,
        difficulty: str | None = None,
        dataset: str | None = None,
        kind: str | None = None,
        ids: Iterable[str] | None = None,
    ) -> list[Task]:
        """Tasks matching every given filter, in id order."""
        wanted = set(ids) if ids is not None else None
        if wanted is not None:
            for task_id in wanted:
                self.get(task_id)  # unknown ids are an error, not an empty result
        return [
            t
            for t in self.tasks.values()
            if (split is None or t.split == split)
            and (category is None or t.category == category)
            and (difficulty is None or t.difficulty == difficulty)
            and (dataset is None or t.dataset == dataset)
            and (kind is None or t.kind == kind)
            and (wanted is None or t.id in wanted)
        ]


def counts(tasks: Iterable[Task]) -> dict[str, dict[str, int]]:
    """How many tasks there are by category, difficulty, dataset, split and kind."""
    out: dict[str, dict[str, int]] = {}
    for task in tasks:
        for key in ("category", "difficulty", "dataset", "split", "kind"):
            group = out.setdefault(key, {})
            value = str(getattr(task, key))
            group[value] = group.get(value, 0) + 1
    return {key: dict(sorted(group.items())) for key, group in out.items()}


_CACHE: dict[tuple[Path, str], Catalog] = {}


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """The catalog for a folder, loaded once per process while its files are unchanged."""
    root = tasks_dir(path)
    stamp = ""
    if root.is_dir():
        stamp = str(max((p.stat().st_mtime_ns for p in root.rglob("*.yaml")), default=0))
    key = (root, stamp)
    if key not in _CACHE:
        _CACHE[key] = Catalog.load(root)
    return _CACHE[key]


def load_tasks(path: str | os.PathLike[str] | None = None, **filters: Any) -> list[Task]:
    """The tasks under ``path`` (default: ``$SQLDEBUG_TASKS`` or the bundled set), filtered by
    ``split``, ``category``, ``difficulty``, ``dataset``, ``kind`` or ``ids``."""
    return load_catalog(path).filter(**filters)
