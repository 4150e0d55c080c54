"""``sqldebug tasks``: list, show, validate and describe the task files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sqldebug.cli.exit_codes import ExitCode
from sqldebug.cli.options import (
    Category,
    Dataset,
    Difficulty,
    Json,
    Split,
    TasksDir,
    command_group,
)
from sqldebug.cli.output import emit_json, err, fail, guarded, out

if TYPE_CHECKING:
    from sqldebug.spec import Task

app = command_group("List, show and validate tasks.")


@app.command("list")
@guarded
def list_(
    tasks: TasksDir = None,
    split: Split = None,
    category: Category = None,
    difficulty: Difficulty = None,
    dataset: Dataset = None,
    json: Json = False,
) -> None:
    """List tasks, filtered by split, category, difficulty or dataset."""
    from sqldebug.catalog import counts, load_catalog

    catalog = load_catalog(tasks)
    chosen = catalog.filter(split=split, category=category, difficulty=difficulty, dataset=dataset)
    keep = {"id", "title", "dataset", "category", "difficulty", "kind", "split", "max_steps"}
    if json:
        emit_json({"tasks": [t.model_dump(include=keep) for t in chosen], "counts": counts(chosen)})
        return
    from rich.columns import Columns
    from rich.table import Table

    table = Table(title=f"{len(chosen)} task(s) in {catalog.root}", title_justify="left")
    table.add_column("id", no_wrap=True)
    for col in ("category", "difficulty", "kind", "split"):
        table.add_column(col)
    table.add_column("title", overflow="fold", ratio=1)
    for t in chosen:
        table.add_row(t.id, t.category, t.difficulty, t.kind, t.split, t.title)
    out.print(table)
    tallies = []
    for key, group in counts(chosen).items():
        tally = Table(title=f"by {key}", title_justify="left", show_edge=False)
        tally.add_column(key)
        tally.add_column("tasks", justify="right")
        for name, n in group.items():
            tally.add_row(name, str(n))
        tallies.append(tally)
    out.print(Columns(tallies, padding=(1, 3)))


@app.command()
@guarded
def show(
    task_id: Annotated[str, typer.Argument(help="Task id, e.g. shop/monthly-revenue-fanout.")],
    tasks: TasksDir = None,
    solution: Annotated[
        bool, typer.Option("--solution", help="Also show the reference fix.")
    ] = False,
    json: Json = False,
) -> None:
    """Show one task: intent, schema and the broken query."""
    from sqldebug.catalog import load_catalog

    catalog = load_catalog(tasks)
    task = catalog.get(task_id)
    if json:
        data = task.model_dump(exclude=set() if solution else {"solution"})
        data["source"] = str(catalog.source(task.id))
        emit_json(data)
        return
    from rich.panel import Panel
    from rich.syntax import Syntax

    meta = " · ".join(
        [
            task.category,
            task.difficulty,
            task.kind,
            f"split {task.split}",
            f"{task.max_steps} steps",
            f"dataset {task.dataset}",
        ]
    )
    out.print(
        Panel(task.intent.strip(), title=f"[bold]{task.title}[/]  ({task.id})", subtitle=meta)
    )
    out.print("[bold]Schema[/]")
    out.print(
        Syntax(
            catalog.datasets[task.dataset].ddl.strip(),
            "sql",
            theme="ansi_dark",
            background_color="default",
        )
    )
    out.print("[bold]Broken query[/]")
    out.print(Syntax(task.broken.strip(), "sql", theme="ansi_dark", background_color="default"))
    if solution:
        out.print("[bold]Solution[/]")
        out.print(
            Syntax(task.solution.strip(), "sql", theme="ansi_dark", background_color="default")
        )


@app.command()
@guarded
def validate(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A task folder, or one task file, to check (default: --tasks or the bundled "
            "set). A task file's dataset comes from the datasets/ folder of its task folder, "
            "else from the bundled datasets."
        ),
    ] = None,
    tasks: TasksDir = None,
    k: Annotated[
        int, typer.Option(min=1, help="Hidden instances per episode to check against.")
    ] = 4,
    pool_size: Annotated[
        int, typer.Option(min=1, help="Hidden variant indices per dataset to draw from.")
    ] = 2**32,
    json: Json = False,
) -> None:
    """Check every invariant of every task; exit 1 when any task breaks one."""
    from sqldebug.catalog import Catalog
    from sqldebug.runtime import Runtime
    from sqldebug.validate import near_duplicates
    from sqldebug.validate import validate as check_all

    catalog = (
        Catalog.of_file(path)
        if path is not None and path.is_file()
        else Catalog.load(path or tasks)
    )
    if pool_size < k:
        raise fail(f"--pool-size ({pool_size}) must be at least --k ({k})", ExitCode.USAGE)
    from sqldebug.variants import deployment_secret

    runtime = Runtime(catalog, pool_size=pool_size, secret=deployment_secret())
    from rich.progress import Progress

    with Progress(console=err, transient=True, disable=json) as bar:
        job = bar.add_task("validating", total=len(catalog.tasks))

        def show(task: Task) -> None:
            bar.update(job, description=task.id, advance=1)

        problems = check_all(runtime, k=k, on_task=show)
    warnings = near_duplicates(list(catalog.tasks.values()))
    if json:
        emit_json(
            {
                "ok": not problems,
                "tasks": len(catalog.tasks),
                "datasets": len(catalog.datasets),
                "problems": [
                    {"task_id": p.task_id, "path": str(p.path), "reason": p.reason}
                    for p in problems
                ],
                "warnings": warnings,
            }
        )
    else:
        for p in problems:
            err.print(f"[red]✗[/] {p}", soft_wrap=True)
        for w in warnings:
            err.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
        bad = len({p.task_id for p in problems})
        total = len(catalog.tasks)
        summary = f"{total - bad} of {total} tasks valid ({len(catalog.datasets)} datasets)"
        err.print(("[green]✓[/] " if not problems else "[red]✗[/] ") + summary)
    if problems:
        raise typer.Exit(int(ExitCode.FAILURE))


@app.command()
@guarded
def schema() -> None:
    """Print the JSON Schema of dataset and task files."""
    from sqldebug.spec import json_schema

    emit_json(json_schema())
