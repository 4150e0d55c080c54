"""Task generation: bugs injected into correct seed queries, kept only when they make valid tasks.

``sqldebug generate`` writes generated tasks as files; ``sqldebug.make("generated:shop")`` plays
them without files (each ``reset(seed=...)`` gets the task made for that seed). See
docs/generation.md.
"""

from sqldebug.generation.generator import Generator, Stats, task_yaml, write_tasks
from sqldebug.generation.operators import OPERATORS, Operator
from sqldebug.generation.seeds import SeedQuery, load_seeds

__all__ = [
    "OPERATORS",
    "Generator",
    "Operator",
    "SeedQuery",
    "Stats",
    "load_seeds",
    "task_yaml",
    "write_tasks",
]
