"""``sqldebug bench``: score an agent over tasks x seeds; run folders, thresholds, JUnit for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sqldebug.cli.exit_codes import ExitCode
from sqldebug.cli.options import (
    Category,
    Dataset,
    Difficulty,
    Json,
    Split,
    TasksDir,
    parse_agent_options,
)
from sqldebug.cli.output import emit_json, err, fail, guarded, out


def _seeds(text: str) -> list[int]:
    """``3`` means seeds 0, 1, 2; ``5,9`` means exactly those."""
    try:
        parts = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give a count (3) or a list (0,5,9)") from None
    if len(parts) == 1 and "," not in text:
        if parts[0] < 1:
            raise typer.BadParameter("the seed count must be at least 1")
        return list(range(parts[0]))
    return parts


@guarded
def bench(
    agent: Annotated[
        str, typer.Option("--agent", "-a", help="noop, oracle, search, command, openai or replay.")
    ],
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Agent option KEY=VALUE (repeatable)."),
    ] = None,
    command: Annotated[str | None, typer.Option(help="command agent: the program to run.")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="openai agent: the endpoint's base URL.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="openai agent: the model name.")] = None,
    replay: Annotated[Path | None, typer.Option(help="replay agent: a JSONL of actions.")] = None,
    tasks: TasksDir = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", "-t", help="Task id (repeatable).")
    ] = None,
    split: Split = None,
    category: Category = None,
    difficulty: Difficulty = None,
    dataset: Dataset = None,
    seeds: Annotated[str, typer.Option(help="A count (3: seeds 0,1,2) or a list (0,5,9).")] = "1",
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes.")] = 1,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (re-running into it resumes).")
    ] = None,
    gamma: Annotated[float, typer.Option(min=0.0, max=1.0, help="Discount for the return.")] = 0.99,
    k: Annotated[int, typer.Option(min=1, help="Hidden instances per episode.")] = 4,
    min_success: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Exit 1 when the success rate is below.")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Write a JUnit XML report here.")] = None,
    json: Json = False,
) -> None:
    """Play an agent over tasks x seeds and report success, returns and pass@k."""
    from sqldebug.agents import AGENT_NAMES
    from sqldebug.bench import BenchSpec, junit_xml, read_episodes, run_bench

    if agent not in AGENT_NAMES:
        raise fail(
            f"unknown agent {agent!r}; the agents are: {', '.join(AGENT_NAMES)}", ExitCode.USAGE
        )
    options = parse_agent_options(option or [])
    for flag, key, value, owner in (
        ("--command", "command", command, "command"),
        ("--base-url", "base_url", base_url, "openai"),
        ("--model", "model", model, "openai"),
        ("--replay", "file", str(replay) if replay else None, "replay"),
    ):
        if value is not None:
            if agent != owner:
                raise fail(f"{flag} is for the {owner} agent", ExitCode.USAGE)
            options[key] = value
    spec = BenchSpec(
        agent=agent,
        agent_options=options,
        tasks=str(tasks) if tasks else None,
        task_ids=task or None,
        filters={
            "split": split,
            "category": category,
            "difficulty": difficulty,
            "dataset": dataset,
        },
        seeds=_seeds(seeds),
        env={"k": k},
        gamma=gamma,
        workers=workers,
    )
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("solved {task.fields[solved]}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=json,
    ) as bar:
        job = bar.add_task(f"{agent}", total=None, solved=0)
        solved = 0

        def progress(episode: dict[str, Any], done: int, total: int) -> None:
            nonlocal solved
            solved += bool(episode["solved"])
            bar.update(job, completed=done, total=total, solved=solved)

        summary = run_bench(spec, out_dir, on_episode=progress)
    from sqldebug.variants import PUBLIC_WARNING, deployment_secret

    if not deployment_secret():
        err.print(f"[yellow]note:[/] {PUBLIC_WARNING}", highlight=False)
    if junit is not None:
        if out_dir is None:
            raise fail(
                "--junit needs --out (the report is made from the run folder)", ExitCode.USAGE
            )
        episodes = read_episodes(out_dir / "episodes.jsonl")
        junit.write_text(junit_xml(episodes, f"sqldebug-{agent}"), encoding="utf-8")
    if json:
        emit_json(summary)
    else:
        _table(summary, out_dir)
    if min_success is not None and summary["success_rate"] < min_success:
        gap = (min_success - summary["success_rate"]) * 100
        raise fail(
            f"success rate {summary['success_rate']:.1%} is below --min-success "
            f"{min_success:.1%} by {gap:.1f} points",
            ExitCode.FAILURE,
        )


def _table(summary: dict[str, Any], out_dir: Path | None) -> None:
    from rich.table import Table

    table = Table(
        title=f"{summary['agent']}: {summary['solved']}/{summary['episodes']} solved "
        f"({summary['success_rate']:.1%}), mean return {summary['mean_return']:+.3f}",
        title_justify="left",
    )
    for col in ("category", "episodes", "solved", "success", "mean return"):
        table.add_column(col, justify="left" if col == "category" else "right")
    for name, g in summary["by_category"].items():
        table.add_row(
            name,
            str(g["episodes"]),
            str(g["solved"]),
            f"{g['success_rate']:.0%}",
            f"{g['mean_return']:+.3f}",
        )
    out.print(table)
    extra = [f"pass@{k} {v:.1%}" for k, v in summary["pass_at_k"].items()]
    if summary["mean_steps_to_solve"] is not None:
        extra.append(f"steps to solve {summary['mean_steps_to_solve']:.2f}")
    if summary["errors"]:
        extra.append(f"[red]{summary['errors']} agent errors[/]")
    if out_dir is not None:
        extra.append(f"run folder {out_dir}")
    out.print(" · ".join(extra))
