"""Charts of bench runs: read run folders (docs/bench.md) and write PNG figures that compare them.

Reading a run is plain JSON and costs nothing; drawing needs matplotlib, which is imported inside
the drawing functions only, so ``import sqldebug.plots`` stays light. Figures are drawn on a bare
:class:`matplotlib.figure.Figure` rendered by the Agg canvas, never through ``pyplot``: no window,
no global figure registry to leak, and no backend switched under a caller (a notebook, say) that
happens to import this module.

Each run keeps its colour in every chart (its position in the list given), so a reader can follow
"trained" from the leaderboard to the per-category bars without reading the legend twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqldebug.errors import MixedTaskSetsError, NotARunFolderError, RunFolderError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The run folder format this module reads (``manifest.json`` → ``format``).
FORMAT = 1
#: Pixels of every chart: 12 x 7 inches at 100 dpi.
SIZE_IN = (12.0, 7.0)
DPI = 100
DIFFICULTIES = ("easy", "medium", "hard")
# Colour-blind-friendly (Okabe-Ito); tab10, then tab20, for longer lists of runs.
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


# The house style, applied around each chart whatever the caller's own matplotlib settings are.
# (matplotlib types rc keys as a Literal of their names; a plain dict literal would not check.)
_STYLE: dict[Any, Any] = {
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "legend.fontsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.axisbelow": True,
}


@dataclass(frozen=True)
class Run:
    """One bench run folder, read: what was run, its figures, and every episode."""

    name: str
    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    episodes: list[dict[str, Any]] = field(repr=False)

    @property
    def task_set_hash(self) -> str:
        return str(self.manifest["task_set"]["hash"])

    @property
    def short_hash(self) -> str:
        return self.task_set_hash[:8]


# --- reading ------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunFolderError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); rerun `sqldebug bench` to rewrite it"
        ) from None
    except UnicodeDecodeError:
        raise RunFolderError(f"{path}: not UTF-8 text") from None


def _need(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: Path | str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RunFolderError(f"{where}: {key!r} is missing or not a {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {dict: "JSON object", list: "list", str: "string", int: "number", float: "number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _read_episodes(path: Path) -> list[dict[str, Any]]:
    episodes: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                episode = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RunFolderError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(episode, dict):
                raise RunFolderError(f"{path}:{number}: not a JSON object")
            _need(episode, "return", (int, float), f"{path}:{number}")
            episodes.append(episode)
    return episodes


def load_run(path: Path | str) -> Run:
    """Read a run folder written by ``sqldebug bench``; raise :class:`RunFolderError` if unusable.

    All three files are required: summary.json holds the aggregates the charts show and is not
    recomputed here, so a run that stopped before writing it is refused, saying so.
    """
    folder = Path(path)
    if not folder.exists():
        raise NotARunFolderError(f"{folder}: no such run folder")
    if not folder.is_dir():
        raise NotARunFolderError(f"{folder}: not a folder (give the run folder, not a file in it)")
    for name in ("manifest.json", "summary.json", "episodes.jsonl"):
        if not (folder / name).is_file():
            hint = (
                "is it a `sqldebug bench` run folder?"
                if name == "manifest.json"
                else "did the run finish? rerun `sqldebug bench` to complete it"
            )
            raise RunFolderError(f"{folder}: no {name}; {hint}")
    manifest = _read_json(folder / "manifest.json")
    where = folder / "manifest.json"
    if not isinstance(manifest, dict):
        raise RunFolderError(f"{where}: not a JSON object")
    if manifest.get("format") != FORMAT:
        raise RunFolderError(
            f"{where}: run format {manifest.get('format')!r}; this sqldebug reads format {FORMAT}"
        )
    task_set = _need(manifest, "task_set", dict, where)
    _need(task_set, "hash", str, f"{where}: task_set")
    summary = _read_json(folder / "summary.json")
    where = folder / "summary.json"
    if not isinstance(summary, dict):
        raise RunFolderError(f"{where}: not a JSON object")
    _need(summary, "success_rate", (int, float), where)
    _need(summary, "mean_reward_by_step", list, where)
    for key in ("by_category", "by_difficulty"):
        for group, figures in _need(summary, key, dict, where).items():
            if not isinstance(figures, dict):
                raise RunFolderError(f"{where}: {key}.{group} is not a JSON object")
            _need(figures, "success_rate", (int, float), f"{where}: {key}.{group}")
    name = manifest.get("run") or summary.get("run") or folder.name
    episodes = _read_episodes(folder / "episodes.jsonl")
    return Run(str(name), folder, manifest, summary, episodes)


def check_comparable(runs: Sequence[Run], allow_mixed: bool = False) -> None:
    """Refuse to compare runs made on different task sets, unless ``allow_mixed`` says it's meant.

    Success rates over different tasks are different questions; a chart that puts them side by
    side invites the wrong conclusion, so it takes an explicit flag.
    """
    if allow_mixed or len({run.task_set_hash for run in runs}) <= 1:
        return
    listed = ", ".join(f"{run.name} {run.short_hash}" for run in runs)
    raise MixedTaskSetsError(
        f"the runs were made on different task sets ({listed}), so their figures are not "
        "comparable; pass --allow-mixed-tasks to plot them anyway"
    )


# --- drawing helpers ----------------------------------------------------------------------------


def _labels(runs: Sequence[Run]) -> list[str]:
    """Run names for legends, made unique: two folders may hold runs of the same name."""
    seen: dict[str, int] = {}
    labels = []
    for run in runs:
        seen[run.name] = seen.get(run.name, 0) + 1
        labels.append(run.name if seen[run.name] == 1 else f"{run.name} #{seen[run.name]}")
    return labels


def colours(count: int) -> list[str]:
    """One colour per run, by position: the same run has the same colour in every chart."""
    if count <= len(_PALETTE):
        return list(_PALETTE[:count])
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    return [_hex(cmap(i % cmap.N)) for i in range(count)]


def _hex(rgba: tuple[float, float, float, float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgba[:3])


def _subtitle(runs: Sequence[Run]) -> str:
    hashes = list(dict.fromkeys(run.short_hash for run in runs))
    if len(hashes) == 1:
        tasks = runs[0].manifest["task_set"].get("tasks")
        count = f" ({tasks} tasks)" if isinstance(tasks, int) else ""
        return f"task set {hashes[0]}{count}"
    return "MIXED task sets: " + ", ".join(hashes)


def _title(what: str, runs: Sequence[Run]) -> str:
    labels = _labels(runs)
    who = " vs ".join(labels) if len(labels) <= 3 else f"{len(labels)} runs"
    return f"{what}: {who}"


def _figure(what: str, runs: Sequence[Run]) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    fig.suptitle(_title(what, runs), fontsize=16, fontweight="bold")
    ax = fig.add_subplot()
    mixed = len({run.task_set_hash for run in runs}) > 1
    ax.set_title(_subtitle(runs), fontsize=11, color="#B00020" if mixed else "#555555", loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _legend(fig: Figure, ax: Axes, count: int, *, always: bool = False) -> None:
    """A few runs: one row above the plot, right of the subtitle. Many: a column on the right."""
    if count == 1 and not always:
        return
    if count <= 4:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=count, borderaxespad=0.2)
    else:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper")


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png", facecolor="white")
    return path


def _styled(draw: Callable[[Sequence[Run], Path], Path]) -> Callable[[Sequence[Run], Path], Path]:
    """Draw under the house style, whatever the caller's matplotlib settings are."""
    import functools

    @functools.wraps(draw)
    def wrapper(runs: Sequence[Run], path: Path) -> Path:
        import matplotlib

        if not runs:
            raise ValueError("no runs to plot")
        with matplotlib.rc_context(_STYLE):
            return draw(runs, Path(path))

    return wrapper


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


# --- charts -------------------------------------------------------------------------------------


def _grouped_success(
    runs: Sequence[Run], path: Path, key: str, order: Sequence[str], what: str, axis: str
) -> Path:
    from matplotlib.ticker import PercentFormatter

    groups = [g for g in order if any(g in run.summary[key] for run in runs)]
    groups += sorted({g for run in runs for g in run.summary[key]} - set(groups))
    fig, ax = _figure(what, runs)
    if not groups:
        _empty(ax, "no episodes")
        return _save(fig, path)
    width = 0.8 / len(runs)
    annotate = len(groups) * len(runs) <= 24
    for i, (run, label, colour) in enumerate(
        zip(runs, _labels(runs), colours(len(runs)), strict=True)
    ):
        xs = [g + (i - (len(runs) - 1) / 2) * width for g in range(len(groups))]
        ys = [run.summary[key].get(g, {}).get("success_rate", math.nan) for g in groups]
        # A zero is drawn as a stub on the axis, so that it is not mistaken for "no episodes".
        heights = [0.006 if y == 0 else y for y in ys]
        bars = ax.bar(xs, heights, width, label=label, color=colour)
        if annotate:
            ax.bar_label(
                bars, ["" if math.isnan(y) else f"{y:.0%}" for y in ys], padding=2, fontsize=9
            )
    ax.set_xticks(range(len(groups)), groups)
    if max(len(g) for g in groups) * len(groups) > 90:
        ax.tick_params(axis="x", labelrotation=35)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
            tick.set_rotation_mode("anchor")
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("success rate (episodes solved)")
    ax.set_xlabel(axis)
    ax.grid(axis="x", visible=False)
    _legend(fig, ax, len(runs))
    return _save(fig, path)


@_styled
def success_by_category(runs: Sequence[Run], path: Path) -> Path:
    """Grouped bars: the success rate of each run in each bug category (taxonomy order)."""
    from sqldebug.spec import CATEGORIES

    return _grouped_success(
        runs, path, "by_category", CATEGORIES, "Success rate by category", "bug category"
    )


@_styled
def success_by_difficulty(runs: Sequence[Run], path: Path) -> Path:
    """Grouped bars: the success rate of each run at each difficulty."""
    return _grouped_success(
        runs, path, "by_difficulty", DIFFICULTIES, "Success rate by difficulty", "difficulty"
    )


@_styled
def return_distribution(runs: Sequence[Run], path: Path) -> Path:
    """Overlaid step histograms of per-episode return: how the distribution moved between runs."""
    import numpy as np
    from matplotlib.ticker import PercentFormatter

    fig, ax = _figure("Return per episode", runs)
    values = [np.array([float(e["return"]) for e in run.episodes]) for run in runs]
    pooled = np.concatenate(values)
    if pooled.size == 0:
        _empty(ax, "no episodes")
        return _save(fig, path)
    bins = int(min(40, max(10, math.sqrt(pooled.size) * 2)))
    edges = np.histogram_bin_edges(pooled, bins=bins).tolist()
    for run_values, label, colour in zip(values, _labels(runs), colours(len(runs)), strict=True):
        if run_values.size == 0:
            continue
        weights = np.full(run_values.size, 1 / run_values.size)
        mean = float(run_values.mean())
        ax.hist(run_values, edges, weights=weights, histtype="stepfilled", alpha=0.15, color=colour)
        ax.hist(
            run_values,
            edges,
            weights=weights,
            histtype="step",
            linewidth=2,
            color=colour,
            label=f"{label} (n={run_values.size}, mean {mean:.2f})",
        )
        ax.axvline(mean, color=colour, linestyle="--", linewidth=1.5)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("return (sum of rewards over the episode); dashed: mean")
    ax.set_ylabel("share of the run's episodes")
    _legend(fig, ax, len(runs), always=True)
    return _save(fig, path)


@_styled
def reward_by_step(runs: Sequence[Run], path: Path) -> Path:
    """One line per run: mean reward at step i over the episodes that reached step i."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure("Mean reward by step", runs)
    longest = max(len(run.summary["mean_reward_by_step"]) for run in runs)
    if longest == 0:
        _empty(ax, "no steps")
        return _save(fig, path)
    for run, label, colour in zip(runs, _labels(runs), colours(len(runs)), strict=True):
        ys = run.summary["mean_reward_by_step"]
        xs = list(range(1, len(ys) + 1))
        ax.plot(xs, ys, marker="o", linewidth=2, markersize=6, color=colour, label=label)
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, longest + 0.5)
    ax.set_xlabel("step")
    ax.set_ylabel("mean reward (episodes that reached the step)")
    _legend(fig, ax, len(runs))
    return _save(fig, path)


@_styled
def leaderboard(runs: Sequence[Run], path: Path) -> Path:
    """Horizontal bars of overall success rate, best run on top, with the headline figures."""
    from matplotlib.ticker import PercentFormatter

    fig, ax = _figure("Leaderboard", runs)
    ranked = sorted(
        zip(runs, _labels(runs), colours(len(runs)), strict=True),
        key=lambda t: float(t[0].summary["success_rate"]),
        reverse=True,
    )
    ys = list(range(len(ranked)))[::-1]
    rates = [float(run.summary["success_rate"]) for run, _, _ in ranked]
    ax.barh(ys, rates, 0.6, color=[colour for _, _, colour in ranked])
    for y, rate, (run, _, _) in zip(ys, rates, ranked, strict=True):
        s = run.summary
        extra = []
        if isinstance(s.get("solved"), int) and isinstance(s.get("episodes"), int):
            extra.append(f"{s['solved']}/{s['episodes']} solved")
        if isinstance(s.get("mean_return"), int | float):
            extra.append(f"mean return {s['mean_return']:.2f}")
        pass_1 = (s.get("pass_at_k") or {}).get("1")
        if isinstance(pass_1, int | float):
            extra.append(f"pass@1 {pass_1:.0%}")
        text = f"{rate:.1%}" + (f"   {' · '.join(extra)}" if extra else "")
        ax.text(rate + 0.01, y, text, va="center", fontsize=12)
    ax.set_yticks(ys, [label for _, label, _ in ranked], fontsize=13)
    pad = 0.7 + max(0, 4 - len(ranked)) / 2  # a lone run gets a bar, not a block
    ax.set_ylim(-pad, len(ranked) - 1 + pad)
    ax.set_xlim(0, 1.6)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("success rate (episodes solved)")
    ax.grid(axis="y", visible=False)
    return _save(fig, path)


#: Every chart, by file name, in the order ``plot_runs`` writes them.
CHARTS: dict[str, Callable[[Sequence[Run], Path], Path]] = {
    "leaderboard.png": leaderboard,
    "success-by-category.png": success_by_category,
    "success-by-difficulty.png": success_by_difficulty,
    "return-distribution.png": return_distribution,
    "reward-by-step.png": reward_by_step,
}


def plot_runs(
    run_paths: Sequence[Path | str], out_dir: Path | str, allow_mixed: bool = False
) -> list[Path]:
    """Read the run folders, check they are comparable, and write every chart into ``out_dir``."""
    if not run_paths:
        raise ValueError("give at least one run folder")
    runs = [load_run(p) for p in run_paths]
    check_comparable(runs, allow_mixed=allow_mixed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [chart(runs, out / name) for name, chart in CHARTS.items()]
