"""The one base of every error huitou reports to its user.

A `HuitouError` is a user's or an environment's problem that huitou has put into words:
its message is the line the user reads (it names the file, the option or the engine, and
says what to do), its `code` the exit code. The command line maps it in one place
(cli.main); a Python caller catches `HuitouError` and reads the same message. Anything
else that escapes a command is a bug, and is reported as one.
"""

from __future__ import annotations

import os
import sys

from .diagnostics import ExitCode
from .i18n import _
from .inert import shown


class HuitouError(Exception):
    """A problem huitou can explain. `command`, when set, is the command that refused
    (the line starts `huitou COMMAND:`); `report`, when set, is printed before the line
    (validation diagnostics), and a `message` of None means the report says it all."""

    code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str | None = None, code: ExitCode | None = None, *, command: str | None = None, report: str | None = None) -> None:
        super().__init__(message or "")
        self.message = None if message is None else str(message)
        self.command, self.report = command, report
        if code is not None:
            self.code = code


class Refused(HuitouError):
    """A command refuses its input (an option, an id, a file): raised by the commands."""


class Found(HuitouError):
    """The command ran and found a problem (no such customer, failing tests): exit 1."""

    code = ExitCode.PROBLEMS


def said(exc: HuitouError) -> int:
    """Print a HuitouError as the command line says it, and return its exit code: the report (diagnostics) if any, then the one line naming the command."""
    if exc.report:
        sys.stderr.write(exc.report)
    if exc.message is not None:
        sys.stderr.write(f"huitou{' ' + exc.command if exc.command else ''}: {shown(exc.message)}\n")  # a message can quote a file's text
    return int(exc.code)


def crashed(exc: Exception) -> int:
    """Print an error huitou did not put into words in one line (a bug, or an engine's
    error met late) and return exit code 2; HUITOU_DEBUG=1 raises it instead."""
    if "Invalid string encoding found in" in str(exc):  # duckdb's, met when the rows are read (lazily, after the checks)
        detail = shown(str(exc).splitlines()[0].split(": ", 1)[-1])
        sys.stderr.write("huitou: " + _("{detail}: a data file must hold UTF-8 text; re-export it as UTF-8", detail=detail) + "\n")
    elif type(exc).__name__ == "OutOfMemoryException":  # duckdb's; importing it here would slow every start
        line = _(
            "the data engine ran out of memory ({detail}): give it more with --memory-limit, e.g. --memory-limit 8GB", detail=str(exc).splitlines()[0]
        )
        sys.stderr.write(f"huitou: {line}\n")
    elif os.environ.get("HUITOU_DEBUG"):
        raise exc
    else:
        line = _("internal error: {kind}: {detail} (set HUITOU_DEBUG=1 for details)", kind=type(exc).__name__, detail=shown(str(exc)))
        sys.stderr.write(f"huitou: {line}\n")
    return ExitCode.ERROR
