"""Glue between sqldebug and training libraries.

- :mod:`sqldebug.integrations.trl`: TRL's GRPO trainer: dataset rows, reward functions (the total
  and one per reward component) and a multi-turn tool environment for ``environment_factory``.
- :mod:`sqldebug.integrations.extract`: the SQL a model's completion submits.

Nothing here is imported by ``import sqldebug``, and the training libraries themselves
(``datasets``, ``trl``) are imported only by the helpers that need them: install them with
``pip install 'sqldebug[trl]'``.
"""
