"""The trainers' server: seed-compatible HTTP routes and the OpenEnv contract over FastAPI.

``sqldebug serve`` runs :func:`create_app` under uvicorn. Faces only: every route calls the engine
through :class:`~sqldebug.server.core.ServerCore`.
"""

from __future__ import annotations

from sqldebug.server.app import create_app
from sqldebug.server.core import ServerConfig

__all__ = ["ServerConfig", "create_app"]
