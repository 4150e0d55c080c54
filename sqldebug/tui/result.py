"""What the last step returned: a result table, or the error with its class, plus findings."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from sqldebug.models import Finding, Observation, ResultTable, SQLError

_CELL_WIDTH = 40
_SEVERITY_STYLE = {"block": "bold red", "warn": "yellow", "info": "dim"}


def cell(value: Any) -> str:
    """One cell as text: NULL spelled out, long values cut so a column stays readable."""
    if value is None:
        return "NULL"
    text = str(value).replace("\n", " ")
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 1] + "…"


def error_text(error: SQLError) -> str:
    return f"[b red]{error.kind} error[/]: {escape(error.message[:2000])}"


def findings_text(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        where = f" (line {f.line})" if f.line is not None else ""
        style = _SEVERITY_STYLE[f.severity]
        lines.append(f"[{style}]{f.severity}[/] {f.code}{where}: {escape(f.message)}")
    return "\n".join(lines)


class ResultPanel(Vertical):
    """A DataTable for rows, a message area for errors, findings and notes."""

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="result-table", zebra_stripes=True)
        table.cursor_type = "none"
        yield table
        with VerticalScroll(id="result-notes"):
            yield Static("", id="result-message")

    def on_mount(self) -> None:
        self.border_title = "Result"
        self.show_rows(None, "Submit (ctrl+s) or probe (ctrl+p) to see what the query returns.")

    def show_rows(self, result: ResultTable | None, note: str = "") -> None:
        table = self.query_one("#result-table", DataTable)
        table.clear(columns=True)
        table.display = result is not None and bool(result.columns)
        if result is not None and result.columns:
            table.add_columns(*(escape(c) for c in result.columns))
            for row in result.rows:
                table.add_row(*(escape(cell(v)) for v in row))
            count = f"{result.row_count} row{'s' if result.row_count != 1 else ''}"
            if result.truncated or result.row_count > len(result.rows):
                count += f", first {len(result.rows)} shown"
            note = f"{note}  [dim]{count}[/]" if note else f"[dim]{count}[/]"
        self.query_one("#result-message", Static).update(note)

    def show_observation(self, obs: Observation) -> None:
        """The outcome of the last step: rows, or the error, then the review's findings."""
        action = obs.last_action.type if obs.last_action else None
        self.border_title = {"probe": "Probe (visible data, not graded)"}.get(
            action or "", "Result"
        )
        parts = []
        if obs.error is not None:
            parts.append(error_text(obs.error))
        if obs.findings:
            parts.append(findings_text(obs.findings))
        if obs.result is None and obs.error is None and obs.message:
            parts.append(escape(obs.message))
        self.show_rows(obs.result if obs.error is None else None, "\n".join(parts))
        self.set_class(obs.error is not None, "-error")

    def show_sample(self, table: str, rows: ResultTable) -> None:
        self.border_title = f"Sample rows: {table}"
        self.set_class(False, "-error")
        self.show_rows(rows)

    def show_text(self, title: str, text: str, *, error: bool = False) -> None:
        self.border_title = title
        self.set_class(error, "-error")
        self.show_rows(None, text)
