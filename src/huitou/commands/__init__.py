"""What each command does: one module per command, each a function of typed options that
writes its output and returns the exit code, callable in-process (cli.py only declares
the command line). A refusal is raised as a HuitouError carrying the command's name;
cli.main prints it in one place.

The helpers here are what several commands share: the output streams, the shop's own
project and data, and the options every data command parses the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..diagnostics import ExitCode
from ..errors import Refused
from ..workspace import DataOptions, OpenError, Workspace, as_of_date

# Wide enough that no table of a file, a pipe or a cron log cuts a rule's name short.
WIDE = 4096


def echo(text: str = "", err: bool = False) -> None:
    """One line to stdout (or stderr), as the streams are now (the CLI scrubs them)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def console() -> Any:
    """stdout's console: a terminal's width (or COLUMNS when set); a file or a pipe gets
    WIDE, where rich would cut every table at 80 characters."""
    from rich.console import Console

    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(file=sys.stdout, highlight=False, width=WIDE if wide else None)


def refuse(command: str, message: str, code: ExitCode = ExitCode.ERROR) -> Refused:
    """The error that stops `command` with `message` (printed as `huitou COMMAND: ...`)."""
    return Refused(message, code, command=command)


def as_of(command: str, value: str | None) -> dt.date | None:
    try:
        return as_of_date(value)
    except OpenError as exc:
        raise refuse(command, str(exc)) from None


def horizon(text: str, command: str = "plan", flag: str = "horizon") -> int:
    """A number of days from --horizon (or another flag taking a duration)."""
    from ..plan.timing import parse_horizon

    try:
        return parse_horizon(text)
    except ValueError as exc:
        raise refuse(command, f"--{str(exc).replace('horizon', flag, 1)}") from None


@contextlib.contextmanager
def opened(command: str, paths: Sequence[Path] = (), *, playbooks: bool = True) -> Iterator[Workspace]:
    """Workspace.open for `command`, closed when the block ends; what stops it opening or
    loading the data is said as the command's own refusal."""
    try:
        with Workspace.open(paths, playbooks=playbooks) as ws:
            yield ws
    except OpenError as exc:
        exc.command = exc.command or command
        raise


def preload_plan(ws: Workspace, opts: DataOptions, modules: Sequence[str] = ()) -> None:
    """Start loading, beside the data, what planning the workspace's playbooks reads
    slowly, and `modules`, which the command imports once the plan is made."""
    from ..plan.preload import Preload, plan_needs

    ws.hold(Preload(plan_needs(ws.playbooks, as_of_date(opts.as_of), modules)))


def build(
    command: str,
    session: Any,
    playbooks: list[Any],
    days: int,
    customer: str | None = None,
    jobs: int | None = None,
    keep: bool = False,
    count_segments: bool = False,
) -> Any:
    """Plan, with the plan's own inputs (history, opt-outs) read on the way: an unreadable
    one is a usage error naming the file; rows left out of them are said on stderr.
    `keep`: the rows computed once into a table (build_plan), for a command that reads
    them several times."""
    from ..data.sources import DataError
    from ..delivery.ledger import LedgerError
    from ..plan.build import build_plan
    from ..plan.render_jobs import RenderWorkerError

    try:
        result = build_plan(session, playbooks, days, customer=customer, jobs=jobs, keep=keep, count_segments=count_segments)
    except (DataError, RenderWorkerError, LedgerError) as exc:
        raise refuse(command, str(exc)) from None
    for note in [*result.notes, *result.warnings]:
        echo(note, err=True)
    return result
