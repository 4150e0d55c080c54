"""The dataset's schema as a tree: tables, then their columns with type and keys."""

from __future__ import annotations

from textual.widgets import Tree

from sqldebug.models import SchemaInfo

#: the tree's width bounds: a name longer than MAX_WIDTH - 6 cells scrolls sideways
MIN_WIDTH, MAX_WIDTH = 16, 32


class SchemaTree(Tree[str]):
    """Tables -> columns. A table node's data is its name, so selecting it can show samples."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("schema", id=id)
        self.show_root = False
        self.guide_depth = 2
        self._widest = 0

    def show_schema(self, schema: SchemaInfo, sample_names: dict[str, str]) -> None:
        """Fill the tree; ``sample_names`` maps a lower-case table name to its sample's key."""
        self.clear()
        for table, columns in schema.items():
            node = self.root.add(table, data=sample_names.get(table, table), expand=False)
            for col in columns:
                marks = " [b]PK[/]" if col.pk else (" NOT NULL" if col.notnull else "")
                node.add_leaf(f"{col.name} [dim]{col.type or 'ANY'}[/]{marks}")
        self.root.expand()
        self._widest = max((len(c.name) for cols in schema.values() for c in cols), default=0)
        self._widest = max(self._widest, *(len(t) + 2 for t in schema), 0)

    def fitting_width(self) -> int:
        """Cells that show every column name whole (guides, borders and scrollbar included);
        the type after a name may be cut, never the name."""
        return max(MIN_WIDTH, min(MAX_WIDTH, self._widest + 6))
