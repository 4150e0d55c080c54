"""The reward of the last step, component by component, as bars."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from sqldebug.models import RewardBreakdown

#: The breakdown's terms, in the model's order (everything but the total they sum to).
COMPONENTS = tuple(name for name in RewardBreakdown.model_fields if name != "total")
_BAR = 10  # cells for a magnitude of 1.0


def bar(value: float, width: int = _BAR) -> Text:
    """``value`` as a bar: green to the right for gains, red for costs; eighths for precision."""
    cells = min(abs(value), 1.0) * width
    full, part = int(cells), int((cells - int(cells)) * 8)
    glyphs = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    if value != 0 and not glyphs:
        glyphs = "▏"
    return Text(glyphs.ljust(width), style="green" if value >= 0 else "red")


class RewardBars(Static):
    """One line per reward component of the last step, and the episode's running total.

    The bars take the width left by the labels, so the panel reads at 80 columns and up."""

    _last: tuple[RewardBreakdown, float, bool] | None = None

    def on_mount(self) -> None:
        self.border_title = "Reward"

    def on_resize(self) -> None:
        if self._last is not None:
            self.show(*self._last[:2], stepped=self._last[2])

    def show(self, breakdown: RewardBreakdown, total: float, *, stepped: bool) -> None:
        self._last = (breakdown, total, stepped)
        width = max(3, min(_BAR * 2, (self.content_size.width or 28) - 17))
        if not stepped:
            self.update(Text("no step yet", style="dim"))
            return
        text = Text()
        for name in COMPONENTS:
            value = getattr(breakdown, name)
            if value == 0 and name.endswith("penalty"):
                continue  # penalties show only when they apply
            text.append(f"{name.replace('_', ' '):<10.10} ")
            text.append_text(bar(value, width))
            text.append(f" {value:+.2f}\n", style="bold" if value else "dim")
        text.append(f"{'step':<10} {breakdown.total:+.2f}\n", style="bold")
        text.append(f"{'episode':<10} {total:+.2f}", style="bold")
        self.update(text)
