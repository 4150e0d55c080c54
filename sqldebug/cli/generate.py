"""``sqldebug generate``: new validated tasks by injecting bugs into correct seed queries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sqldebug.cli.exit_codes import ExitCode
from sqldebug.cli.options import Json, TasksDir
from sqldebug.cli.output import emit_json, err, fail, guarded, out


def _list_operators(value: bool) -> None:
    if not value:
        return
    from rich.table import Table

    from sqldebug.generation.operators import OPERATORS

    table = Table("operator", "category", "difficulty", "what it does", box=None)
    for op in OPERATORS.values():
        table.add_row(op.name, op.category, op.difficulty, op.summary)
    out.print(table)
    raise typer.Exit()


@guarded
def generate(
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder to write the tasks to (a task folder of its own).",
            file_okay=False,
        ),
    ] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="Tasks to make.")] = 100,
    seed: Annotated[int, typer.Option(help="Generator seed: same inputs, same tasks.")] = 0,
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", help="Dataset id (repeat for several; default: all)."),
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option("--category", help="Only these bug categories (repeatable)."),
    ] = None,
    difficulty: Annotated[
        list[str] | None,
        typer.Option("--difficulty", help="Only these difficulties (repeatable)."),
    ] = None,
    tasks: TasksDir = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a folder that already holds task files.")
    ] = False,
    json: Json = False,
    from_db: Annotated[
        list[Path] | None,
        typer.Option(
            "--from-db",
            help="Make tasks on your own SQLite database (repeatable), from --queries FILE.",
        ),
    ] = None,
    queries: Annotated[
        Path | None,
        typer.Option(
            help="With --from-db: question + reference SQL pairs, JSON Lines (docs/generation.md)."
        ),
    ] = None,
    list_operators: Annotated[
        bool,
        typer.Option(
            "--list-operators",
            help="List the mutation operators and exit.",
            callback=_list_operators,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Generate COUNT validated debugging tasks: bugs injected into correct seed queries.

    Every task written passes `sqldebug tasks validate`; each carries its provenance (seed
    query, operators, generator seed). Try: sqldebug generate --dataset shop -n 50 --out gen/
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from sqldebug.generation.generator import Generator, write_tasks
    from sqldebug.runtime import get_runtime
    from sqldebug.spec import Task

    if out_dir is None:
        raise fail("--out DIR is required: the folder to write the tasks to", ExitCode.USAGE)
    if out_dir.exists() and any(out_dir.rglob("*.yaml")) and not force:
        raise fail(
            f"{out_dir} already holds task files; choose another folder or pass --force",
            ExitCode.USAGE,
        )
    source = None
    if from_db or queries:
        from sqldebug.generation.from_db import prepare

        if not from_db or not queries or tasks is not None:
            raise fail("use --from-db FILE with --queries FILE (and no --tasks)", ExitCode.USAGE)
        source = prepare(from_db, queries, out_dir)
        for line in source.lines() if not json else ():
            err.print(line, soft_wrap=True, markup=False)
        dataset = dataset or source.datasets
    runtime = source.runtime if source else get_runtime(tasks)
    gen = Generator(runtime, dataset, categories=category, difficulties=difficulty)
    columns = (
        TextColumn("generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=err, transient=True, disable=json) as bar:
        job = bar.add_task("", total=count)

        def show(task: Task, stats: object) -> None:
            bar.update(job, advance=1, description=task.id)

        made, stats = gen.generate(count, seed, on_task=show)
    files = write_tasks(made, out_dir, runtime)
    report = {"out": str(out_dir), "files": len(files), **stats.as_dict()}
    if source is not None:
        report["from_db"] = source.as_dict()
    if json:
        emit_json(report)
    else:
        rate = f"{stats.kept / stats.seconds:.0f} tasks/s" if stats.seconds else ""
        err.print(
            f"wrote {stats.kept} tasks to {out_dir} from {stats.candidates} candidates "
            f"in {stats.seconds:.1f} s ({rate})",
            soft_wrap=True,
            markup=False,
        )
        rejected = ", ".join(f"{k} {v}" for k, v in stats.rejected.most_common())
        if rejected:
            err.print(f"rejected: {rejected}", soft_wrap=True, markup=False)
        err.print(
            "by category: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.categories.items())),
            soft_wrap=True,
            markup=False,
        )
        err.print(f"check them: sqldebug tasks validate --tasks {out_dir}", markup=False)
    if stats.kept < count:
        raise fail(
            f"only {stats.kept} of {count} tasks could be made from these seeds and filters "
            f"({stats.candidates} candidates tried)",
            ExitCode.FAILURE,
        )
