"""``SQLDebugApp``: the task picker and the episode screen over one environment.

The app owns the environment, the optional agent (watch mode) and the set of solved tasks; the
screens call back into it to open a task, go back to the list or record a solve.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

import sqldebug
from sqldebug.agents import Agent, make_agent
from sqldebug.api import resolve
from sqldebug.catalog import Catalog
from sqldebug.env import SQLDebugEnv, is_generated
from sqldebug.tui.episode import EpisodeScreen
from sqldebug.tui.help import HelpScreen
from sqldebug.tui.picker import PickerScreen
from sqldebug.tui.solved import load_solved, mark_solved


class SQLDebugApp(App[None]):
    """Pick a task, fix the query; or, with ``agent``, watch an agent fix it."""

    CSS_PATH = "app.tcss"
    TITLE = "sqldebug play"
    # ctrl+p is "probe" here, as in the help; the command palette moves out of its way
    COMMAND_PALETTE_BINDING = "ctrl+backslash"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", priority=True),
        Binding("question_mark", "help", "Help", show=False),
        Binding("q", "quit", "Quit", show=False),
    ]

    def __init__(
        self,
        tasks_dir: str | Path | None = None,
        task_id: str | None = None,
        seed: int | None = None,
        agent: str | None = None,
        agent_options: dict[str, Any] | None = None,
        delay: float = 0.5,
    ) -> None:
        super().__init__()
        # Errors here (a bad task folder, an unknown task or agent) surface before the screen
        # takes over the terminal, so the command line can print them plainly.
        self.env: SQLDebugEnv = sqldebug.make(tasks=str(tasks_dir) if tasks_dir else None)
        self.catalog: Catalog = self.env.runtime.catalog
        if task_id is not None and is_generated(task_id):
            resolve(self.env.runtime, task_id)  # a bad reference fails here, plainly
        elif task_id is not None:
            self.catalog.get(task_id)
        self.task_id = task_id
        self.seed = seed
        self.agent: Agent | None = (
            make_agent(agent, agent_options, catalog=self.catalog) if agent else None
        )
        self.delay = delay
        self.solved: set[str] = load_solved()

    def on_mount(self) -> None:
        if self.task_id is not None:
            self.push_screen(EpisodeScreen(self.task_id))
        else:
            self.push_screen(PickerScreen())

    def on_unmount(self) -> None:
        if self.agent is not None:
            self.agent.close()

    # -- called by the screens ----------------------------------------------------------------

    def open_task(self, task_id: str) -> None:
        self.push_screen(EpisodeScreen(task_id))

    def open_picker(self) -> None:
        """Back to the list: the one below, or a new one when the app started on a task."""
        if len(self.screen_stack) > 2 and isinstance(self.screen_stack[-2], PickerScreen):
            self.pop_screen()
        else:
            self.switch_screen(PickerScreen())

    def mark_solved(self, task_id: str) -> None:
        self.solved = mark_solved(task_id)

    def next_task_id(self, current: str) -> str:
        """The next task in id order (wrapping), preferring one this user has not solved; on a
        generated-task reference, the task generated for the next seed."""
        if is_generated(current):
            if self.seed is not None:
                self.seed += 1
            return current
        ids = list(self.catalog.tasks)
        start = ids.index(current) + 1 if current in ids else 0
        ordered = ids[start:] + ids[:start]
        return next((i for i in ordered if i not in self.solved), ordered[0])

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
