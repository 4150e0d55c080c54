"""The episode screen: intent, schema, editor, result, reward, hints and history.

Every number on it comes from the engine: the screen calls ``env.step`` with the editor's SQL (or
the agent's action, in watch mode) and renders the observation it gets back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static, Tree

from sqldebug.errors import SQLDebugError
from sqldebug.models import Action, Observation
from sqldebug.tui.editor import SQLEditor
from sqldebug.tui.history import HistoryLog
from sqldebug.tui.result import ResultPanel
from sqldebug.tui.reward import RewardBars
from sqldebug.tui.schema_tree import SchemaTree

if TYPE_CHECKING:
    from sqldebug.tui.app import SQLDebugApp

#: actions the person plays; hidden while an agent plays
_PLAYER_ACTIONS = {"submit", "probe", "reset_query", "hint"}
#: actions that steer the agent; shown only in watch mode
_WATCH_ACTIONS = {"pause", "single_step", "take_over", "slower", "faster"}
MIN_DELAY, MAX_DELAY = 0.01, 10.0


class EpisodeScreen(Screen[None]):
    """One episode at a time; ``n`` resets the same screen onto the next task."""

    app: SQLDebugApp

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s,f5", "submit", "Submit", priority=True, key_display="^s"),
        Binding("ctrl+p,f6", "probe", "Probe", priority=True, key_display="^p"),
        Binding("ctrl+r", "reset_query", "Reset query", priority=True, key_display="^r"),
        # not ctrl+h: most terminals send it for Backspace
        Binding("f4,ctrl+g", "hint", "Hint", priority=True, key_display="f4"),
        Binding("f7", "select_all", "Select all", priority=True, show=False),
        Binding("n", "next_task", "Next task", priority=True),
        Binding("escape", "back", "Tasks", priority=True, key_display="esc"),
        Binding("space", "pause", "Pause/resume", priority=True),
        Binding("full_stop", "single_step", "Step", priority=True, key_display="."),
        Binding("t", "take_over", "Take over", priority=True),
        Binding("plus", "slower", "Slower", priority=True, key_display="+"),
        Binding("minus", "faster", "Faster", priority=True, key_display="-"),
    ]

    class Stepped(Message):
        """Posted after every step the engine played, with what it returned."""

        def __init__(self, obs: Observation, reward: float) -> None:
            super().__init__()
            self.obs = obs
            self.reward = reward

    class Started(Message):
        """Posted when an episode starts (on open and on `n`)."""

        def __init__(self, obs: Observation) -> None:
            super().__init__()
            self.obs = obs

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id
        self.revealed = 0  # hints the person asked for, beyond those the engine unlocked
        self.watching = False  # an agent is playing (until paused for good by `t`)
        self.thinking = False  # the agent is choosing its action, on a worker thread
        self.paused = False
        self._timer: Timer | None = None

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="title")
        with VerticalScroll(id="intent-box"):
            yield Static("", id="intent")
        with Horizontal(id="body"):
            yield SchemaTree(id="schema")
            with Vertical(id="work"):
                yield SQLEditor.create(id="editor")
                yield ResultPanel(id="result")
            with VerticalScroll(id="side"):
                yield RewardBars(id="reward")
                yield Static("", id="hints")
                yield HistoryLog(id="history")
        yield Static("", id="banner")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#schema").border_title = "Schema"
        self.query_one("#editor").border_title = "SQL"
        self.query_one("#hints").border_title = "Hints"
        self.query_one("#history").border_title = "History"
        self.start(self.task_id)

    # -- episode ------------------------------------------------------------------------------

    @property
    def editor(self) -> SQLEditor:
        return self.query_one("#editor", SQLEditor)

    @property
    def result(self) -> ResultPanel:
        return self.query_one("#result", ResultPanel)

    def start(self, task_id: str) -> None:
        """Reset the environment onto ``task_id`` and show the fresh observation."""
        app = self.app
        try:
            obs, info = app.env.reset(seed=app.seed, options={"task_id": task_id})
        except SQLDebugError as exc:
            self.notify(str(exc), title="Cannot start the task", severity="error")
            return
        self.task_id = task_id
        self.revealed = 0
        self.editor.load_text(obs.broken_query)
        self.editor.read_only = False
        samples = {name.lower(): name for name in obs.sample_rows}
        tree = self.query_one("#schema", SchemaTree)
        tree.show_schema(app.env.runtime.pool(obs.dataset).schema, samples)
        tree.styles.width = tree.fitting_width()
        self.result.show_text("Result", "Submit (^s) or probe (^p) to run the query.")
        self.watching = app.agent is not None
        self.paused = False
        if app.agent is not None:
            try:
                app.agent.reset(obs, info)
            except Exception as exc:  # an agent is outside code: show its failure, never crash
                self._agent_failed(exc)
            self._schedule()
        self.editor.read_only = self.watching
        if not self.watching:
            self.editor.focus()
        self.post_message(self.Started(obs))
        self.render_observation(obs)

    def play(self, action: Action | dict[str, Any] | str) -> None:
        """One step on the engine; an engine error is shown in the result panel, not raised."""
        env = self.app.env
        try:
            obs, reward, terminated, _truncated, _info = env.step(action)
        except SQLDebugError as exc:
            self.result.show_text("Error", escape(str(exc)), error=True)
            return
        if terminated and not self.watching:
            self.app.mark_solved(obs.task_id)
        if self.watching and obs.last_action is not None and obs.last_action.sql is not None:
            self.editor.load_text(obs.last_action.sql)
        self.post_message(self.Stepped(obs, reward))
        self.render_observation(obs)

    def render_observation(self, obs: Observation) -> None:
        env = self.app.env
        self.query_one("#title", Static).update(
            f"[b]{escape(obs.title)}[/]  [dim]{obs.task_id} · {obs.difficulty}[/]"
        )
        notes = obs.dataset_description.strip()
        about = f"\n\n[b]About the data[/]\n{escape(notes)}" if notes else ""
        self.query_one("#intent", Static).update(escape(obs.intent.strip()) + about)
        if obs.step:
            self.result.show_observation(obs)
        self.query_one("#reward", RewardBars).show(
            obs.reward_breakdown, env.total_reward, stepped=obs.step > 0
        )
        self._show_hints(obs)
        self.query_one("#history", HistoryLog).show(env.state().history, obs.broken_query)
        banner = self.query_one("#banner", Static)
        banner.display = obs.done
        banner.set_class(obs.solved, "-solved")
        banner.set_class(obs.done and not obs.solved, "-failed")
        if obs.solved:
            banner.update(
                f"✓ Solved in {obs.step} step{'s' if obs.step != 1 else ''} "
                f"(total reward {env.total_reward:+.2f})   n: next task   esc: task list"
            )
        elif obs.done:
            banner.update("✗ Out of steps   n: next task   esc: task list")
        if obs.done:
            self.editor.read_only = True
            self._stop_timer()
        self._show_status(obs)
        self.refresh_bindings()

    def _show_hints(self, obs: Observation) -> None:
        hints = self.app.env.task.hints
        shown = hints[: max(len(obs.hints), self.revealed)]
        lines = [f"{i}. {escape(h)}" for i, h in enumerate(shown, start=1)]
        left = len(hints) - len(shown)
        if left:
            lines.append(f"[dim]{left} more: f4 (or two wrong submissions)[/]")
        elif not hints:
            lines.append("[dim]this task has no hints[/]")
        self.query_one("#hints", Static).update("\n".join(lines))

    def _show_status(self, obs: Observation) -> None:
        left = obs.max_steps - obs.step
        parts = [f"step {obs.step}/{obs.max_steps}", f"{left} left"]
        if self.watching:
            agent = self.app.agent
            name = agent.name if agent is not None else "agent"
            state = "paused" if self.paused else f"every {self.app.delay:.2f}s"
            parts.append(f"watching {name} ({state})")
        if obs.message:
            parts.append(obs.message)
        self.query_one("#status", Static).update(escape("  ·  ".join(parts)))

    # -- keys ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        try:
            done = self.app.env.observation.done
        except SQLDebugError:  # no episode yet (the task could not start)
            return action == "back"
        if action in _PLAYER_ACTIONS:
            return False if self.watching else (None if done else True)
        if action in _WATCH_ACTIONS:
            return self.watching and (not done or action in ("slower", "faster"))
        if action == "next_task":
            return done
        return True

    def action_submit(self) -> None:
        self.play(Action(type="submit", sql=self.editor.sql))

    def action_probe(self) -> None:
        self.play(Action(type="probe", sql=self.editor.sql))

    def action_select_all(self) -> None:
        """F7 from anywhere on the screen: the editor takes focus with all its text selected."""
        self.editor.focus()
        self.editor.select_all()

    def action_reset_query(self) -> None:
        """Only the editor goes back to the broken query: no step is spent."""
        self.editor.load_text(self.app.env.observation.broken_query)
        self.notify("The editor holds the broken query again.", timeout=2)

    def action_hint(self) -> None:
        obs = self.app.env.observation
        total = len(self.app.env.task.hints)
        self.revealed = min(total, max(self.revealed, len(obs.hints)) + 1)
        if self.revealed == len(obs.hints) or total == 0:
            self.notify("No more hints for this task.", timeout=2)
        self._show_hints(obs)

    def action_next_task(self) -> None:
        self.start(self.app.next_task_id(self.task_id))

    def action_back(self) -> None:
        self._stop_timer()
        self.app.open_picker()

    # -- watch mode ---------------------------------------------------------------------------

    def _schedule(self) -> None:
        self._stop_timer()
        if self.watching and not self.paused:
            self._timer = self.set_interval(self.app.delay, self._agent_tick)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _agent_tick(self) -> None:
        if self.watching and not self.paused:
            self.agent_step()

    def agent_step(self) -> None:
        """Ask the agent for one action (on a worker thread: a model may take seconds, and the
        screen keeps answering meanwhile) and play it here; its failure pauses, visibly."""
        agent, obs = self.app.agent, self.app.env.observation
        if agent is None or obs.done or self.thinking:
            return
        self.thinking = True

        def think() -> None:
            try:
                action = agent.act(obs)
            except Exception as exc:  # AgentError, or any failure of outside code
                self.app.call_from_thread(self._agent_failed, exc)
            else:
                self.app.call_from_thread(self._agent_acted, action)

        self.run_worker(think, thread=True, group="agent", exit_on_error=False)

    def _agent_acted(self, action: Action | dict[str, Any] | str) -> None:
        self.thinking = False
        if self.watching and not self.app.env.observation.done:
            self.play(action)

    def _agent_failed(self, exc: Exception) -> None:
        self.thinking = False
        kind = "agent error" if isinstance(exc, SQLDebugError) else type(exc).__name__
        self.result.show_text("Agent error", f"[b red]{kind}[/]: {escape(str(exc))}", error=True)
        self.paused = True
        self._stop_timer()
        self.refresh_bindings()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._schedule()
        self._show_status(self.app.env.observation)

    def action_single_step(self) -> None:
        self.paused = True
        self._schedule()
        self.agent_step()
        self._show_status(self.app.env.observation)

    def action_take_over(self) -> None:
        self.watching = False
        self._stop_timer()
        self.editor.read_only = False
        self.editor.focus()
        self.notify("You have the editor: the agent stopped.", timeout=2)
        self.render_observation(self.app.env.observation)

    def _set_delay(self, delay: float) -> None:
        self.app.delay = min(MAX_DELAY, max(MIN_DELAY, delay))
        self._schedule()
        self._show_status(self.app.env.observation)

    def action_slower(self) -> None:
        self._set_delay(self.app.delay * 2)

    def action_faster(self) -> None:
        self._set_delay(self.app.delay / 2)

    # -- events -------------------------------------------------------------------------------

    @on(Tree.NodeSelected, "#schema")
    def _show_sample(self, event: Tree.NodeSelected[str]) -> None:
        name = event.node.data
        samples = self.app.env.observation.sample_rows
        if name in samples:
            self.result.show_sample(name, samples[name])

    def on_unmount(self) -> None:
        self._stop_timer()
