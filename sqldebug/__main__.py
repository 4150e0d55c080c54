"""``python -m sqldebug`` runs the command line."""

from sqldebug.cli import app

app(prog_name="sqldebug")
