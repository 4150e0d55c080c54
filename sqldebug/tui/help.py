"""The key reference, on F1 or ?."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = """\
[b]Episode[/]
  ctrl+s / f5   submit the editor's SQL (graded; costs a step)
  ctrl+p / f6   probe: run it on the visible data (not graded; costs a step)
  ctrl+r        put the broken query back in the editor
  f4 / ctrl+g   reveal the next hint
  f7            select all in the editor, from anywhere (then type or paste over it)
  n             next task (once the episode is over)
  escape        back to the task list
  tab           move between editor, result, history and schema (shift+tab: back);
                a focused result table scrolls sideways with the arrow keys
  select a table in the schema tree to see its sample rows

[b]Watch mode[/] (--agent)
  space         pause / resume the agent
  .             play one step
  t             take over: stop the agent, the editor is yours
  + / -         longer / shorter delay between steps

[b]Anywhere[/]
  f1 / ?        this help         q / ctrl+q   quit
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,question_mark,q", "dismiss_help", "Close", priority=True),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(KEYS, id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-box").border_title = "Keys"

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
