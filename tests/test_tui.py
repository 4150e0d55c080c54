"""The TUI, headless: pilot tests on app state and posted messages, and a few snapshots."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual import events
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

import sqldebug
from sqldebug.tui.app import SQLDebugApp
from sqldebug.tui.editor import SQLEditor
from sqldebug.tui.episode import EpisodeScreen
from sqldebug.tui.picker import PickerScreen
from sqldebug.tui.solved import solved_path

TASK = "shop/top-products-ties"
SOLUTION = {t.id: t.solution for t in sqldebug.load_tasks()}
SIZE = (120, 36)
M = TypeVar("M", bound=Message)


def run(
    app: SQLDebugApp,
    scenario: Callable[[Pilot[None], list[Message]], Awaitable[None]],
    size: tuple[int, int] = SIZE,
) -> list[Message]:
    """Run ``scenario`` against the app headless; returns every message the app processed."""
    seen: list[Message] = []

    async def main() -> None:
        async with app.run_test(size=size, message_hook=seen.append) as pilot:
            await pilot.pause()
            await scenario(pilot, seen)

    asyncio.run(main())
    return seen


def episode(app: SQLDebugApp) -> EpisodeScreen:
    assert isinstance(app.screen, EpisodeScreen)
    return app.screen


def text_of(app: SQLDebugApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def until(pilot: Pilot[None], check: Callable[[], bool], tries: int = 400) -> None:
    """Let the app run until ``check`` holds (bounded; no fixed sleeps)."""
    for _ in range(tries):
        if check():
            return
        await pilot.pause(0.01)
    raise AssertionError("the app never reached the expected state")


async def submit(pilot: Pilot[None], sql: str) -> None:
    episode(pilot.app).editor.load_text(sql)  # type: ignore[arg-type]
    await pilot.press("ctrl+s")
    await pilot.pause()


def posted(seen: list[Message], kind: type[M]) -> list[M]:
    """Messages of ``kind``, once each (a bubbling message is seen by every node it reaches)."""
    unique = {id(m): m for m in seen if isinstance(m, kind)}
    return list(unique.values())


def stepped(seen: list[Message]) -> list[EpisodeScreen.Stepped]:
    return posted(seen, EpisodeScreen.Stepped)


# -- picker and solving ---------------------------------------------------------------------


def test_pick_a_task_and_solve_it() -> None:
    app = SQLDebugApp(seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        assert isinstance(app.screen, PickerScreen)
        await pilot.press(*"top prod", "enter")
        await pilot.pause()
        screen = episode(app)
        assert app.env.task.id == TASK
        assert screen.editor.text == app.env.task.broken
        await submit(pilot, SOLUTION[TASK])
        obs = app.env.observation
        assert obs.solved and obs.done
        assert "Solved in 1 step" in text_of(app, "#banner")
        assert screen.query_one("#banner").display
        assert "correct" in text_of(app, "#reward")
        assert f"{obs.reward_breakdown.total:+.2f}" in text_of(app, "#reward")
        assert stepped(seen)[-1].obs.solved
        assert stepped(seen)[-1].reward == obs.reward_breakdown.total > 0
        assert screen.editor.read_only
        assert json.loads(solved_path().read_text())["solved"] == [TASK]
        await pilot.press("escape")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        table = picker.query_one("#tasks", DataTable)
        assert table.get_row(TASK)[-1] == "✓"

    run(app, scenario)


def test_the_filter_matches_every_word_across_fields() -> None:
    app = SQLDebugApp(seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        await pilot.press(*"hr easy")
        await pilot.pause()
        expected = [
            t.id for t in app.catalog.tasks.values() if t.dataset == "hr" and t.difficulty == "easy"
        ]
        assert picker.shown == expected
        await pilot.press(*" nothing-like-this")
        await pilot.pause()
        assert picker.shown == []
        await pilot.press("enter")  # nothing to open: a notice, no crash
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)

    run(app, scenario)


def test_a_wrong_fix_shows_partial_reward_and_an_error() -> None:
    app = SQLDebugApp(task_id=TASK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        screen = episode(app)
        await submit(pilot, app.env.task.broken)  # runs, but is wrong
        obs = app.env.observation
        assert not obs.solved and obs.error is None and obs.step == 1
        assert "Not correct yet" in text_of(app, "#status")
        assert screen.query_one("#result-table", DataTable).row_count == len(obs.result.rows)  # type: ignore[union-attr]
        await submit(pilot, "SELECT nope FROM products")
        obs = app.env.observation
        assert obs.error is not None and obs.error.kind == "binding"
        assert "binding error" in text_of(app, "#result-message")
        assert screen.query_one("#result").has_class("-error")
        history = text_of(app, "#history")
        assert "+SELECT nope FROM products" in history
        assert [m.obs.step for m in stepped(seen)] == [1, 2]
        assert "1." in text_of(app, "#hints")  # two wrong submissions unlock the first hint

    run(app, scenario)


def test_probe_runs_on_visible_data_without_grading() -> None:
    app = SQLDebugApp(task_id=TASK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        screen = episode(app)
        screen.editor.load_text("SELECT id, name FROM products ORDER BY id")
        await pilot.press("ctrl+p")
        await pilot.pause()
        obs = app.env.observation
        assert obs.last_action is not None and obs.last_action.type == "probe"
        assert not obs.solved and obs.result is not None and obs.result.columns == ["id", "name"]
        assert screen.result.border_title is not None and "Probe" in screen.result.border_title
        assert screen.query_one("#result-table", DataTable).row_count == len(obs.result.rows)

    run(app, scenario)


def test_hint_reveals_the_next_hint_and_reset_restores_the_broken_query() -> None:
    app = SQLDebugApp(task_id=TASK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        screen = episode(app)
        hints = app.env.task.hints
        assert hints[0] not in text_of(app, "#hints")
        await pilot.press("f4")
        await pilot.pause()
        assert screen.revealed == 1
        assert hints[0] in text_of(app, "#hints")
        assert hints[1] not in text_of(app, "#hints")
        assert app.env.observation.step == 0  # a UI reveal, not a step
        screen.editor.load_text("SELECT 1")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen.editor.text == app.env.task.broken
        assert app.env.observation.step == 0

    run(app, scenario)


def test_next_task_after_solving() -> None:
    app = SQLDebugApp(task_id=TASK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        await pilot.press("n")  # not done yet: `n` is typed into the editor
        await pilot.pause()
        assert app.env.task.id == TASK
        await submit(pilot, SOLUTION[TASK])
        await pilot.press("n")
        await pilot.pause()
        screen = episode(app)
        assert app.env.task.id != TASK and app.env.observation.step == 0
        assert screen.editor.text == app.env.task.broken and not screen.editor.read_only
        assert not screen.query_one("#banner").display
        started = posted(seen, EpisodeScreen.Started)
        assert [m.obs.task_id for m in started] == [TASK, app.env.task.id]

    run(app, scenario)


def test_out_of_steps_shows_the_banner() -> None:
    app = SQLDebugApp(task_id=TASK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        for i in range(app.env.max_steps):
            await submit(pilot, f"SELECT {i}")
        obs = app.env.observation
        assert obs.done and not obs.solved
        assert "Out of steps" in text_of(app, "#banner")
        await pilot.press("ctrl+s")  # the episode is over: the key does nothing, no traceback
        await pilot.pause()
        assert app.env.observation.step == app.env.max_steps
        assert not solved_path().exists()

    run(app, scenario)


@pytest.mark.parametrize("sql", ["", "   \n"], ids=["empty", "blank"])
def test_hostile_input_is_an_observation(sql: str) -> None:
    app = SQLDebugApp(task_id=TASK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        await submit(pilot, sql)
        obs = app.env.observation
        assert obs.step == 1 and obs.error is not None and not obs.solved
        assert f"{obs.error.kind} error" in text_of(app, "#result-message")

    run(app, scenario)


def test_a_10mb_paste_is_held_and_submitted_as_pasted() -> None:
    app = SQLDebugApp(task_id=TASK, seed=1)
    pasted = "SELECT 1;\n" * 1_000_000

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        editor = episode(app).editor
        editor.post_message(events.Paste(pasted))
        await pilot.pause()
        assert editor.held == pasted and editor.sql == pasted
        assert "pasted 10,000,000 characters" in editor.text
        await pilot.press("ctrl+s")
        await pilot.pause()
        obs = app.env.observation
        assert obs.step == 1 and obs.error is not None and obs.error.kind == "budget"
        assert obs.last_action is not None and len(obs.last_action.sql or "") < 2000
        assert "budget error" in text_of(app, "#result-message")
        editor.load_text("SELECT 2")  # edited: the held paste is dropped
        assert editor.sql == "SELECT 2"

    run(app, scenario)


def test_an_engine_error_is_shown_not_raised() -> None:
    app = SQLDebugApp(task_id=TASK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        episode(app).play({"type": "dance"})  # not an action: the engine says so
        await pilot.pause()
        assert app.env.observation.step == 0
        assert "Error" in (episode(app).result.border_title or "")

    run(app, scenario)


# -- watch mode -----------------------------------------------------------------------------


def test_watch_mode_plays_the_oracle_to_solved() -> None:
    app = SQLDebugApp(task_id=TASK, seed=1, agent="oracle", delay=0.01)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        screen = episode(app)
        assert screen.watching and screen.editor.read_only
        await until(pilot, lambda: app.env.observation.done)
        assert app.env.observation.solved
        assert screen.editor.text == SOLUTION[TASK]
        assert stepped(seen)[-1].obs.solved
        assert not solved_path().exists()  # the agent's solve is not the user's

    run(app, scenario)


def test_watch_mode_pause_step_delay_and_take_over() -> None:
    # a delay long enough that the agent's first step never comes before the pause, however
    # busy the machine (0.5 s once raced on a loaded CI machine)
    app = SQLDebugApp(task_id=TASK, seed=1, agent="noop", delay=4.0)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        screen = episode(app)
        await pilot.press("space")
        assert screen.paused
        await pilot.press("full_stop")
        await pilot.pause()
        assert app.env.observation.step == 1
        await pilot.press("minus")
        assert app.delay == 2.0
        await pilot.press("plus", "plus")
        assert app.delay == 8.0
        assert "paused" in text_of(app, "#status")
        await pilot.press("t")
        await pilot.pause()
        assert not screen.watching and not screen.editor.read_only
        await submit(pilot, SOLUTION[TASK])
        assert app.env.observation.solved
        assert json.loads(solved_path().read_text())["solved"] == [TASK]

    run(app, scenario)


def test_watch_mode_replays_a_file_and_shows_agent_errors(tmp_path: Path) -> None:
    file = tmp_path / "episodes.jsonl"
    lines = [{"task_id": TASK, "action": "SELECT 1"}, {"task_id": TASK, "action": "SELECT 2"}]
    file.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    app = SQLDebugApp(
        task_id=TASK, seed=1, agent="replay", agent_options={"file": str(file)}, delay=0.01
    )

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        screen = episode(app)
        await until(pilot, lambda: screen.paused)  # the file runs out: an AgentError, shown
        assert app.env.observation.step == 2
        assert "agent error" in text_of(app, "#result-message")

    run(app, scenario)


# -- sizes and snapshots ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_the_episode_fits(size: tuple[int, int]) -> None:
    app = SQLDebugApp(task_id=TASK, seed=1)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        screen = episode(app)
        await submit(pilot, app.env.task.broken)
        for selector in ("#editor", "#result", "#schema", "#status"):
            region = screen.query_one(selector).region
            assert region.width > 0 and region.height > 0, selector
            assert region.right <= size[0] and region.bottom <= size[1], selector
        assert screen.query_one(SQLEditor).region.height >= 5

    run(app, scenario, size=size)


SNAP = (100, 30)


def test_snapshot_picker(snap_compare: Any) -> None:
    assert snap_compare(SQLDebugApp(seed=1), terminal_size=SNAP)


def test_snapshot_episode_after_a_wrong_submit(snap_compare: Any) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await submit(pilot, "SELECT nope FROM products")

    assert snap_compare(SQLDebugApp(task_id=TASK, seed=1), terminal_size=SNAP, run_before=before)


def test_snapshot_solved(snap_compare: Any) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await submit(pilot, SOLUTION[TASK])

    assert snap_compare(SQLDebugApp(task_id=TASK, seed=1), terminal_size=SNAP, run_before=before)


def test_play_a_generated_task_and_move_to_the_next_seed() -> None:
    app = SQLDebugApp(task_id="generated:shop", seed=3)

    async def scenario(pilot: Pilot[None], seen: list[Message]) -> None:
        screen = episode(app)
        first = app.env.task
        assert first.provenance is not None and first.dataset == "shop"
        assert screen.editor.text == first.broken
        await submit(pilot, first.solution)
        assert app.env.observation.solved
        await pilot.press("n")
        await pilot.pause()
        assert app.seed == 4 and app.env.seed == 4
        assert app.env.task.provenance is not None and app.env.task.dataset == "shop"
        assert episode(app).editor.text == app.env.task.broken

    run(app, scenario)


def test_a_bad_generated_reference_fails_before_the_screen() -> None:
    with pytest.raises(sqldebug.SQLDebugError, match="unknown dataset"):
        SQLDebugApp(task_id="generated:nope")
