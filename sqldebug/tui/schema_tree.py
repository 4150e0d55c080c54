"""The dataset's schema as a tree: tables, then their columns with type and keys."""

from __future__ import annotations

from textual.widgets import Tree

from sqldebug.models import SchemaInfo


class SchemaTree(Tree[str]):
    """Tables -> columns. A table node's data is its name, so selecting it can show samples."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("schema", id=id)
        self.show_root = False
        self.guide_depth = 2

    def show_schema(self, schema: SchemaInfo, sample_names: dict[str, str]) -> None:
        """Fill the tree; ``sample_names`` maps a lower-case table name to its sample's key."""
        self.clear()
        for table, columns in schema.items():
            node = self.root.add(table, data=sample_names.get(table, table), expand=False)
            for col in columns:
                marks = " [b]PK[/]" if col.pk else (" NOT NULL" if col.notnull else "")
                node.add_leaf(f"{col.name} [dim]{col.type or 'ANY'}[/]{marks}")
        self.root.expand()
