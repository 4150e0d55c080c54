"""The task picker: every task in a table, a filter box, and which ones this user has solved."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from sqldebug.spec import Task

if TYPE_CHECKING:
    from sqldebug.tui.app import SQLDebugApp

COLUMNS = ("task", "category", "difficulty", "dataset", "split", "solved")


def matches(task: Task, query: str) -> bool:
    """Every word of ``query`` occurs in the task's id, category, difficulty, dataset or split."""
    haystack = " ".join((task.id, task.category, task.difficulty, task.dataset, task.split))
    return all(word in haystack.lower() for word in query.lower().split())


class PickerScreen(Screen[None]):
    """Type to filter, enter to play; arrow keys move through the list."""

    app: SQLDebugApp

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Play", show=True),
        Binding("down", "focus_table", "List", show=False),
        Binding("escape", "clear_filter", "Clear filter", key_display="esc"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("", id="picker-title")
        yield Input(placeholder="filter: e.g. 'hr easy', 'join', 'test'", id="filter")
        table: DataTable[str] = DataTable(id="tasks", cursor_type="row", zebra_stripes=True)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).cursor_blink = False
        table = self.query_one("#tasks", DataTable)
        table.add_columns(*COLUMNS)
        self.refill()
        self.query_one("#filter", Input).focus()

    def on_screen_resume(self) -> None:
        self.refill()  # a task may have been solved meanwhile

    @property
    def shown(self) -> list[str]:
        """The ids in the table, in order."""
        table = self.query_one("#tasks", DataTable)
        return [str(key.value) for key in table.rows]

    def refill(self) -> None:
        table = self.query_one("#tasks", DataTable)
        query = self.query_one("#filter", Input).value
        solved = self.app.solved
        tasks = [t for t in self.app.catalog.tasks.values() if matches(t, query)]
        table.clear()
        for t in tasks:
            mark = "✓" if t.id in solved else ""
            table.add_row(t.id, t.category, t.difficulty, t.dataset, t.split, mark, key=t.id)
        done = sum(t.id in solved for t in self.app.catalog.tasks.values())
        self.query_one("#picker-title", Static).update(
            f"[b]sqldebug play[/]  {len(tasks)} of {len(self.app.catalog.tasks)} tasks shown · "
            f"{done} solved   [dim]enter: play · f1: help[/]"
        )

    @on(Input.Changed, "#filter")
    def _filter(self) -> None:
        self.refill()

    @on(Input.Submitted, "#filter")
    def _submitted(self) -> None:
        self.action_open()

    @on(DataTable.RowSelected, "#tasks")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.open_task(str(event.row_key.value))

    def action_open(self) -> None:
        """Play the highlighted task (the first one, when typing in the filter)."""
        table = self.query_one("#tasks", DataTable)
        if not table.row_count:
            self.notify("No task matches the filter.", severity="warning", timeout=2)
            return
        row = min(table.cursor_row, table.row_count - 1)
        self.app.open_task(self.shown[max(row, 0)])

    def action_focus_table(self) -> None:
        self.query_one("#tasks", DataTable).focus()

    def action_clear_filter(self) -> None:
        self.query_one("#filter", Input).value = ""
        self.query_one("#filter", Input).focus()
