"""The TUI as a new user finds it: the keys the help promises, and a 100x30 screen that cuts
nothing it cannot show whole (issue 14). Headless, with Textual's pilot, on the real engine."""

from __future__ import annotations

import io

from rich.console import Console
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import DataTable

from sqldebug.tui.app import SQLDebugApp
from sqldebug.tui.editor import SQLEditor
from sqldebug.tui.help import KEYS
from sqldebug.tui.schema_tree import SchemaTree
from tests.test_tui import episode, run, submit

BANK = "bank/account-activity-inner-join"  # the dataset with the longest column names
SMALL = (100, 30)


def screen_lines(app: SQLDebugApp) -> list[str]:
    """The screen as the terminal shows it, one string per row."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text().splitlines()


def text_in(app: SQLDebugApp, selector: str) -> str:
    """What the terminal shows inside a widget's region, rows joined by spaces."""
    region = app.screen.query_one(selector).region
    rows = screen_lines(app)[region.y : region.bottom]
    return " ".join(" ".join(row[region.x : region.right].split()) for row in rows)


def test_f7_selects_all_of_the_editor_from_anywhere() -> None:
    app = SQLDebugApp(task_id=BANK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        screen = episode(app)
        screen.query_one(SchemaTree).focus()
        await pilot.pause()
        assert not screen.editor.has_focus
        await pilot.press("f7")
        await pilot.pause()
        assert screen.editor.has_focus
        assert screen.editor.selected_text == screen.editor.text == app.env.task.broken
        await pilot.press(*"SELECT 1")  # typing replaces the selection
        assert screen.editor.text == "SELECT 1"
        assert app.env.observation.step == 0

    run(app, scenario)


def test_ctrl_h_is_backspace_not_the_hint_key() -> None:
    app = SQLDebugApp(task_id=BANK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        screen = episode(app)
        screen.editor.load_text("SELECT 12")
        screen.editor.move_cursor(screen.editor.document.end)
        await pilot.press("ctrl+h")
        await pilot.pause()
        assert screen.revealed == 0  # no hint revealed
        assert app.env.task.hints[0] not in text_of_hints(app)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert screen.revealed == 1
        assert app.env.observation.step == 0

    run(app, scenario)
    assert "ctrl+h" not in KEYS and "f4 / ctrl+g" in KEYS


def text_of_hints(app: SQLDebugApp) -> str:
    return str(app.screen.query_one("#hints").render())


def test_tab_leaves_the_editor_and_reaches_the_result_table() -> None:
    app = SQLDebugApp(task_id=BANK, seed=1)
    wide = (
        "SELECT a.id, a.customer_id, a.type, a.currency, a.opened_on, a.closed_on, "
        "a.overdraft_limit_cents, a.nickname FROM accounts a"
    )

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        screen = episode(app)
        await submit(pilot, wide)
        screen.editor.focus()
        await pilot.pause()
        await pilot.press("tab")
        await pilot.pause()
        assert not screen.editor.has_focus
        assert "\t" not in screen.editor.text and screen.editor.text == wide
        table = screen.query_one("#result-table", DataTable)
        assert table.has_focus  # the pane after the editor
        assert table.max_scroll_x > 0  # wider than its pane at 100x30 ...
        for _ in range(60):
            await pilot.press("right")
        await until_scrolled(pilot, table)
        # ... and scrolled to its end, the last column's name shows whole
        assert "overdraft_limit_cents" in text_in(app, "#result-table")
        assert "nickname" in text_in(app, "#result-table")
        await pilot.press("shift+tab")
        await pilot.pause()
        assert screen.editor.has_focus

    run(app, scenario, size=SMALL)


async def until_scrolled(pilot: Pilot[None], table: DataTable[str]) -> None:
    for _ in range(200):
        if table.scroll_x >= table.max_scroll_x:
            return
        await pilot.pause(0.01)
    raise AssertionError(f"the table never scrolled to its end ({table.scroll_x})")


def test_at_100x30_every_column_name_in_the_schema_shows_whole() -> None:
    app = SQLDebugApp(task_id=BANK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        tree = episode(app).query_one(SchemaTree)
        for node in tree.root.children:
            node.expand()
        await pilot.pause()
        schema = app.env.runtime.pool("bank").schema
        names = [c.name for cols in schema.values() for c in cols]
        assert "overdraft_limit_cents" in names
        room = tree.scrollable_content_region.width - 2  # less the tree guide, "├ "
        assert room >= max(len(n) for n in names), (room, max(names, key=len))

    run(app, scenario, size=SMALL)


def test_at_100x30_a_long_status_wraps_instead_of_being_cut() -> None:
    app = SQLDebugApp(task_id=BANK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        # the visible answer typed out is right on the visible rows only: the longest verdict
        episode(app).editor.load_text(app.env.task.solution)
        await pilot.press("ctrl+p")  # a probe shows the solution's rows on the visible data
        await pilot.pause()
        visible = app.env.observation.result
        assert visible is not None and visible.rows
        rows = ", ".join("(" + ", ".join(sql_literal(v) for v in row) + ")" for row in visible.rows)
        await submit(pilot, f"SELECT * FROM (VALUES {rows})")
        obs = app.env.observation
        assert obs.message.startswith("Right on the rows you can see"), obs.message
        status = f"step 2/{obs.max_steps}  ·  {obs.max_steps - 2} left  ·  {obs.message}"
        assert len(status) > SMALL[0]  # it cannot fit on one line ...
        assert " ".join(status.split()) in text_in(app, "#status")  # ... and is shown whole
        assert app.screen.query_one("#status").region.bottom <= SMALL[1]

    run(app, scenario, size=SMALL)


def sql_literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def test_the_editor_tabs_to_focus_not_to_indent() -> None:
    assert SQLEditor.create().tab_behavior == "focus"
