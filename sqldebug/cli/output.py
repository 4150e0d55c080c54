"""Where output goes: data (``--json``) on stdout, people's text via rich, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from sqldebug.cli.exit_codes import ExitCode, exit_code_for
from sqldebug.errors import SQLDebugError, TaskSetError

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)


def emit_json(value: Any) -> None:
    """Exactly one JSON document on stdout."""
    if hasattr(value, "model_dump_json"):  # a pydantic model (pydantic is imported lazily)
        text = value.model_dump_json(indent=2)
    else:
        text = json.dumps(value, indent=2, default=_default, ensure_ascii=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def fail(message: str, code: ExitCode = ExitCode.FAILURE) -> typer.Exit:
    """Print one clear error line and give the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(int(code))


@contextmanager
def user_errors() -> Iterator[None]:
    """The boundary: engine errors become one clear line and an exit code, never a traceback."""
    from pydantic import ValidationError  # here, not at import: `sqldebug --help` skips it

    try:
        yield
    except TaskSetError as exc:
        err.print(
            f"[bold red]error:[/] {len(exc.errors)} problems in the task files:", soft_wrap=True
        )
        for e in exc.errors:
            err.print(f"  {e}", markup=False, soft_wrap=True)
        raise typer.Exit(int(exit_code_for(exc))) from None
    except SQLDebugError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        ]
        raise fail("invalid input: " + "; ".join(lines), ExitCode.USAGE) from None
    except ValueError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    except OSError as exc:  # a full disk, a read-only home: say which file and why
        where = f"{exc.filename}: " if exc.filename else ""
        raise fail(f"{where}{exc.strerror or exc}", ExitCode.FAILURE) from None
    except KeyboardInterrupt:
        raise typer.Exit(int(ExitCode.INTERRUPT)) from None


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command so that it runs inside :func:`user_errors`."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            return fn(*args, **kwargs)

    return wrapper
