"""``sqldebug serve``: the HTTP/WebSocket server for trainers."""

from __future__ import annotations

import os
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
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes (one per core): sessions are sharded.")
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    secret_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the secret that keys the hidden instances (else $SQLDEBUG_SECRET; "
            "without either, the public default).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Serve episodes over HTTP (seed-compatible routes) and WebSocket (OpenEnv /ws)."""
    from sqldebug.env import EnvConfig
    from sqldebug.server.core import ServerConfig
    from sqldebug.server.run import bind
    from sqldebug.server.run import serve as run

    config = ServerConfig(
        tasks=str(tasks) if tasks else None,
        max_sessions=max_sessions,
        session_ttl=session_ttl,
        threads=threads,
        max_body_bytes=max_body,
        runs=str(runs) if runs else None,
        env=EnvConfig.build(k=k),
    )
    from sqldebug.runtime import get_runtime
    from sqldebug.variants import PUBLIC_WARNING, SECRET_ENV, deployment_secret, fingerprint

    if secret_file is not None:
        os.environ[SECRET_ENV] = read_secret(secret_file)  # worker processes inherit it

    # a broken task folder, or a task whose solution does not run, is reported before anything
    # listens (one line, exit 3); the hidden instances are built once the server listens, in the
    # background (with warehouse datasets that takes a minute), and a failure there is a log line
    get_runtime(config.tasks, limits=config.env.limits).warm(seeds=0)
    sock = bind(host, port, shared=workers > 1)
    if not deployment_secret():
        err.print(f"[yellow]warning:[/] {PUBLIC_WARNING}", highlight=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/] listening on {host}: reachable from other machines")
    shown = f"[{host}]" if ":" in host else host
    err.print(
        f"sqldebug serving on http://{shown}:{sock.getsockname()[1]}"
        + (f" with {workers} workers" if workers > 1 else "")
        + f", hidden instances {fingerprint(deployment_secret())} (Ctrl-C to stop)",
        highlight=False,
    )
    run(config, sock, workers=workers, log_level=log_level, on_exit=err.print)


def read_secret(path: Path) -> str:
    """The secret in ``path`` (surrounding whitespace dropped); a usage error when unreadable or
    empty."""
    from sqldebug.cli.exit_codes import ExitCode
    from sqldebug.cli.output import fail

    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"--secret-file {path}: cannot be read ({exc})", ExitCode.USAGE) from None
    if not secret:
        raise fail(f"--secret-file {path}: the file is empty", ExitCode.USAGE)
    return secret
