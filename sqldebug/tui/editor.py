"""The SQL editor: Textual's code editor, with SQL highlighting where tree-sitter is installed."""

from __future__ import annotations

from textual import events
from textual.widgets import TextArea
from textual.widgets.text_area import LanguageDoesNotExist

#: a paste larger than this is held aside rather than laid out (TextArea takes seconds per MB)
BIG_PASTE = 100_000


class SQLEditor(TextArea):
    """A TextArea set up for SQL. Without the tree-sitter extras it is a plain-text editor
    (same keys, no colours) rather than an error.

    A huge paste is kept whole but shown as a note, so the screen stays responsive and the
    engine still judges what was pasted (it rejects oversized statements as an observation).
    """

    held: str | None = None
    _placeholder: str | None = None

    @property
    def sql(self) -> str:
        """What a submit sends: the held paste while its note is untouched, else the text."""
        if self.held is not None and self.text == self._placeholder:
            return self.held
        return self.text

    async def _on_paste(self, event: events.Paste) -> None:
        if self.read_only or len(event.text) <= BIG_PASTE:
            await super()._on_paste(event)
            return
        event.stop()
        event.prevent_default()
        self.held = event.text
        self._placeholder = (
            f"-- pasted {len(event.text):,} characters: too large to show here.\n"
            "-- ctrl+s submits them as pasted; change this text to drop them."
        )
        self.load_text(self._placeholder)

    @classmethod
    def create(cls, text: str = "", *, id: str | None = None) -> SQLEditor:
        language = "sql" if "sql" in cls._sql_languages() else None
        try:
            editor = cls.code_editor(text, language=language, soft_wrap=True, id=id)
        except LanguageDoesNotExist:  # pragma: no cover - depends on the installed extras
            editor = cls.code_editor(text, language=None, soft_wrap=True, id=id)
        # Tab moves on to the next pane, as the help says; SQL needs no tab characters
        editor.tab_behavior = "focus"
        assert isinstance(editor, cls)
        editor.cursor_blink = False  # steadier to read, and snapshots stay deterministic
        return editor

    @staticmethod
    def _sql_languages() -> set[str]:
        try:
            from textual._tree_sitter import TREE_SITTER

            if not TREE_SITTER:
                return set()
            import tree_sitter_sql  # noqa: F401
        except ImportError:
            return set()
        return {"sql"}
