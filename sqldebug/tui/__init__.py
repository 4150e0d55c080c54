"""``sqldebug play``: the Textual TUI. Nothing in the engine imports this package.

The TUI only drives :class:`sqldebug.env.SQLDebugEnv` (reset and step) and renders the models it
returns; every grade, reward and hint comes from the engine.
"""
