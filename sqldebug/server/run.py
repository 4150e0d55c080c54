"""Running the server: bind the port, then serve it from one process or from several workers.

One process is the default. With ``workers > 1`` this process binds the port and forks the
workers; each serves the shared port and its own Unix socket (the peers' address for requests
routed to the session's owner, see :mod:`sqldebug.server.routing`). A worker that dies is
restarted (its sessions are gone: clients get 404 and reset). Ctrl-C or SIGTERM stops them all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqldebug.server.core import ServerConfig


def bind(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """The server's socket (port 0: any free port); a clear OSError when it cannot be had.

    ``shared``: bound with SO_REUSEPORT and not listening, to reserve the port for workers that
    each bind a listening socket of their own to it, so the kernel spreads connections evenly
    (one inherited socket would let whichever worker wakes first take most of them).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if not shared:
        sock.listen(2048)
    return sock


def _uvicorn_server(config: ServerConfig, log_level: str) -> object:
    import uvicorn

    from sqldebug.server.app import create_app

    return uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            log_level=log_level,
            access_log=False,
            ws_max_size=config.max_body_bytes,
            # compressing every ~10 KB observation cost a third of a step's CPU on loopback,
            # where bytes are free; trainers talk to a local server
            ws_per_message_deflate=False,
        )
    )


def _worker(config: ServerConfig, reserved: socket.socket, log_level: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when to stop
    host, port = reserved.getsockname()[:2]
    sock = socket.socket(reserved.family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    path = config.peers[config.worker]
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    uds = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    uds.bind(path)
    uds.listen(512)
    server = _uvicorn_server(config, log_level)
    server.run(sockets=[sock, uds])  # type: ignore[attr-defined]


def serve(
    config: ServerConfig,
    sock: socket.socket,
    *,
    workers: int = 1,
    log_level: str = "warning",
    on_exit: Callable[[str], None] = print,
) -> None:
    """Serve until interrupted (with workers, ``sock`` comes from ``bind(shared=True)``)."""
    # The event loop and the SQL worker threads share one GIL: a worker running Python (grading,
    # bounded built-ins) holds it for up to the switch interval before the loop can answer.
    # 1 ms instead of 5 ms keeps /health answering while hostile statements run.
    sys.setswitchinterval(0.001)
    if workers <= 1:
        server = _uvicorn_server(config, log_level)
        server.run(sockets=[sock])  # type: ignore[attr-defined]
        return
    from sqldebug.catalog import load_catalog

    load_catalog(config.tasks)  # a broken task folder fails here, once, not in every worker
    run_dir = tempfile.mkdtemp(prefix="sqldebug-serve-")
    peers = tuple(str(Path(run_dir) / f"w{i}.sock") for i in range(workers))
    context = multiprocessing.get_context("fork")  # the workers inherit the bound socket
    stopping = False

    started: dict[int, float] = {}

    def start(i: int) -> multiprocessing.process.BaseProcess:
        cfg = dataclasses.replace(config, worker=i, peers=peers)
        proc = context.Process(target=_worker, args=(cfg, sock, log_level), name=f"sqldebug-w{i}")
        proc.start()
        started[i] = time.monotonic()
        return proc

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    procs = [start(i) for i in range(workers)]
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            for i, proc in enumerate(procs):
                if not proc.is_alive() and not stopping:
                    if time.monotonic() - started[i] < 5:
                        raise RuntimeError(f"worker {i} keeps failing (exit code {proc.exitcode})")
                    on_exit(f"worker {i} exited (code {proc.exitcode}); restarting it")
                    procs[i] = start(i)
            time.sleep(0.2)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(timeout=10)
        shutil.rmtree(run_dir, ignore_errors=True)
