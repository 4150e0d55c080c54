"""``command``: an agent that is any external program speaking JSON lines on stdin/stdout.

The program is started once per run, lazily on the first ``reset``, and kept alive across
episodes. Each message is one JSON object on one line of the program's stdin:

``{"type": "reset", "observation": {...}, "info": {...}}``
    A new episode starts. **No reply is expected**: anything the program writes is read as its
    answer to the next ``act``, so it must stay quiet here.
``{"type": "act", "observation": {...}}``
    The program answers with exactly one line: an action in any spelling that
    :func:`sqldebug.parse_action` accepts -- a JSON string (the SQL to submit) or a JSON object
    such as ``{"type": "probe", "sql": "..."}``. Blank lines are skipped.
``{"type": "close"}``
    The run is over; the program should exit. It is terminated, then killed, if it does not.

An observation is ``Observation.model_dump(mode="json")``: every field, ``prompt`` (the whole
observation as text) included. Log to stderr, never stdout: stdout carries only answers. The last
lines of stderr are kept (bounded) and quoted in errors. A minimal agent::

    import json, sys

    for line in sys.stdin:
        message = json.loads(line)
        if message["type"] == "close":
            break
        if message["type"] == "act":
            obs = message["observation"]
            print(json.dumps(obs["broken_query"]), flush=True)  # resubmit the broken query
        # "reset" gets no reply

A program that exits, writes a line that is not JSON or not an action, or does not answer within
``timeout`` seconds raises :class:`~sqldebug.agents.base.AgentError`; the program is then stopped
(its state can no longer be trusted to match the protocol) and the next ``reset`` starts it again.
A program found to have exited between episodes raises at ``reset`` (so a crash is never
hidden); the ``reset`` after that starts it again.

Reading and writing happen on background threads so that a program that stops reading its stdin
or stops writing its stdout can never block the runner longer than ``timeout``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from sqldebug.actions import parse_action
from sqldebug.agents.base import AgentError, BaseAgent
from sqldebug.errors import ActionError
from sqldebug.models import Action, Observation

#: How much of the program's stderr an error quotes.
STDERR_LINES = 20
STDERR_LINE_CHARS = 500


class CommandAgent(BaseAgent):
    """Drives an external program over JSON lines (see the module docstring for the protocol)."""

    name = "command"

    def __init__(
        self,
        command: str | Sequence[str],
        timeout: float = 30.0,
        *,
        cwd: str | Path | None = None,
        grace: float = 2.0,
    ) -> None:
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        if not argv:
            raise AgentError("the command agent needs a program to run")
        self.argv = argv
        self.timeout = float(timeout)
        self.cwd = cwd
        self.grace = float(grace)
        self.proc: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._outbox: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._threads: list[threading.Thread] = []

    # -- the protocol ------------------------------------------------------------------------

    def reset(self, obs: Observation, info: dict[str, Any]) -> None:
        if self.proc is None:
            self._start()
        elif self.proc.poll() is not None:  # it exited since the last episode: say so once
            self._fail("exited between episodes", wait=0)
        self._send({"type": "reset", "observation": obs.model_dump(mode="json"), "info": info})

    def act(self, obs: Observation) -> Action | dict[str, Any] | str:
        if self.proc is None:
            raise AgentError(
                f"the agent program {self._label} is not running; reset starts it (again)"
            )
        self._send({"type": "act", "observation": obs.model_dump(mode="json")})
        line = self._read_line()
        try:
            answer = json.loads(line)
        except ValueError:
            self._fail(f"answered with a line that is not JSON: {_excerpt(line)}", wait=0)
        try:
            return parse_action(answer)
        except ActionError as exc:
            self._fail(
                f"answered with something that is not an action ({exc}): {_excerpt(line)}", wait=0
            )

    def close(self) -> None:
        if self.proc is not None:
            self._send({"type": "close"})
            self._stop(wait=self.grace)

    # -- the process ---------------------------------------------------------------------------

    @property
    def _label(self) -> str:
        return repr(shlex.join(self.argv))

    def _start(self) -> None:
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.cwd,
                start_new_session=True,  # its own process group: stopping it stops its children
            )
        except OSError as exc:
            raise AgentError(f"cannot start the agent program {self._label}: {exc}") from None
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self.proc = proc
        # Fresh queues: nothing from an earlier (stopped) program can leak into this one.
        self._replies = queue.Queue()
        self._outbox = queue.Queue()
        self._stderr = deque(maxlen=STDERR_LINES)
        self._threads = [
            threading.Thread(target=_read_lines, args=(proc.stdout, self._replies), daemon=True),
            threading.Thread(target=_keep_tail, args=(proc.stderr, self._stderr), daemon=True),
            threading.Thread(target=_write_lines, args=(proc.stdin, self._outbox), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, default=str, separators=(",", ":")) + "\n"
        self._outbox.put(line.encode("utf-8"))

    def _read_line(self) -> str:
        while True:
            try:
                line = self._replies.get(timeout=self.timeout)
            except queue.Empty:
                self._fail(f"did not answer within {self.timeout:g} s", wait=0)
            if line is None:  # EOF: the program closed its stdout, so it is exiting
                self._fail("exited before answering", wait=self.grace)
            if line.strip():
                return line

    def _fail(self, problem: str, *, wait: float) -> NoReturn:
        """Stop the program (see ``_stop``) and raise an AgentError quoting its stderr's end."""
        code = self._stop(wait=wait)
        status = "" if code is None else f" (exit code {code})"
        tail = "\n".join(f"  {line}" for line in list(self._stderr))
        stderr = f"\nlast lines of its stderr:\n{tail}" if tail else "\n(nothing on its stderr)"
        raise AgentError(f"the agent program {self._label} {problem}{status}{stderr}")

    def _stop(self, *, wait: float) -> int | None:
        """Give the program ``wait`` seconds to exit on its own, then terminate it and, after the
        grace period, kill it. Returns its exit code if it exited on its own, else None."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        self._outbox.put(None)  # the writer closes stdin: EOF for a program reading lines
        code: int | None = None
        try:
            code = proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait()
        _signal(proc, signal.SIGKILL)  # whatever it started and left behind in its group
        for thread in self._threads:  # the pipes close when the program exits
            thread.join(timeout=self.grace)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):  # unflushed input to a program that is gone
                    pipe.close()
        return code


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the program's whole process group (it has its own), or just it off POSIX. The
    group outlives its leader while any member runs, so this also reaches orphaned children."""
    try:
        if sys.platform != "win32":
            os.killpg(proc.pid, sig)
        elif sig == signal.SIGTERM:
            proc.terminate()
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _read_lines(pipe: IO[bytes], replies: queue.Queue[str | None]) -> None:
    for raw in iter(pipe.readline, b""):
        replies.put(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
    replies.put(None)  # EOF


def _keep_tail(pipe: IO[bytes], tail: deque[str]) -> None:
    for raw in iter(pipe.readline, b""):
        tail.append(raw.decode("utf-8", errors="replace").rstrip()[:STDERR_LINE_CHARS])


def _write_lines(pipe: IO[bytes], outbox: queue.Queue[bytes | None]) -> None:
    """Write queued messages until ``None``; a program that has exited just stops the writer
    (its exit is reported by the reader)."""
    try:
        while (data := outbox.get()) is not None:
            pipe.write(data)
            pipe.flush()
        pipe.close()
    except (OSError, ValueError):  # a broken pipe, or a pipe closed by _stop
        pass


def _excerpt(text: str, limit: int = 200) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
