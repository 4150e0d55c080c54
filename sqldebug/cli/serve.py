"""``sqldebug serve``: the HTTP/WebSocket server for trainers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sqldebug.cli.options import TasksDir
from sqldebug.cli.output import err, guarded


@guarded
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to bind (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = 8000,
    tasks: TasksDir = None,
    max_sessions: Annotated[
        int, typer.Option(min=1, help="Live sessions at most; more are refused (429).")
    ] = 1024,
    session_ttl: Annotated[
        float, typer.Option(min=1.0, help="Seconds a session may idle before it is reaped.")
    ] = 600.0,
    threads: Annotated[
        int, typer.Option(min=1, max=256, help="Worker threads that run SQL off the event loop.")
    ] = 4,
    max_body: Annotated[
        int, typer.Option(min=1024, help="Largest request body, bytes.")
    ] = 1_000_000,
    runs: Annotated[
        Path | None, typer.Option(help="Bench runs folder: /benchmark shows its latest summary.")
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="Hidden instances per episode.")] = 4,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve episodes over HTTP (seed-compatible routes) and WebSocket (OpenEnv /ws)."""
    import uvicorn

    from sqldebug.env import EnvConfig
    from sqldebug.server import ServerConfig, create_app

    config = ServerConfig(
        tasks=str(tasks) if tasks else None,
        max_sessions=max_sessions,
        session_ttl=session_ttl,
        threads=threads,
        max_body_bytes=max_body,
        runs=str(runs) if runs else None,
        env=EnvConfig.build(k=k),
    )
    app = create_app(config)
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    bound = sock.getsockname()[1]
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/] listening on {host}: reachable from other machines")
    err.print(f"sqldebug serving on http://{host}:{bound} (Ctrl-C to stop)", highlight=False)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,
            ws_max_size=max_body,
            # compressing every ~10 KB observation cost a third of a step's CPU on loopback,
            # where bytes are free; trainers talk to a local server
            ws_per_message_deflate=False,
        )
    )
    server.run(sockets=[sock])
