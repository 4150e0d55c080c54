"""The steps so far: each action, its reward, and what it changed against the broken query."""

from __future__ import annotations

import difflib

from rich.text import Text
from textual.widgets import Static

from sqldebug.models import HistoryEntry

_DIFF_LINES = 8


def short_diff(broken: str, sql: str, limit: int = _DIFF_LINES) -> list[str]:
    """The changed lines of ``sql`` against ``broken`` (unified diff, no context, no headers)."""
    lines = [
        line
        for line in difflib.unified_diff(broken.splitlines(), sql.splitlines(), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]
    if len(lines) > limit:  # keep a taste of what went and most of what came in
        minus = [line for line in lines if line.startswith("-")]
        plus = [line for line in lines if line.startswith("+")]
        gone = minus[: max(1, limit // 4)]
        came = plus[: limit - len(gone)]
        lines = gone
        if len(minus) > len(gone):
            lines.append(f"… {len(minus) - len(gone)} more removed")
        lines += came
        if len(plus) > len(came):
            lines.append(f"… {len(plus) - len(came)} more added")
    return [line if len(line) <= 120 else line[:119] + "…" for line in lines]


class HistoryLog(Static):
    """The whole history, newest last; the scrolling parent keeps it readable at any size."""

    def show(self, entries: list[HistoryEntry], broken: str) -> None:
        if not entries:
            self.update(Text("no steps yet", style="dim"))
            return
        text = Text()
        for entry in entries:
            act = entry.action
            style = "green" if entry.reward > 0 else ("red" if entry.reward < 0 else "")
            text.append(f"{entry.step:>2} {act.type:<8}", style="bold")
            text.append(f" {entry.reward:+.2f}", style=style)
            if entry.solved:
                text.append(" solved", style="bold green")
            elif entry.error is not None:
                text.append(f" {entry.error.kind} error", style="red")
            text.append("\n")
            if act.sql is not None:
                diff = short_diff(broken, act.sql)
                for line in diff or ["  (unchanged)"]:
                    colour = {"+": "green", "-": "red"}.get(line[:1], "dim")
                    text.append(f"   {line}\n", style=colour)
        self.update(text)
