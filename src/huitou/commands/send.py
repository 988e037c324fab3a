"""`huitou send PLAN`: deliver a plan's due messages, exactly once, through the channels
of huitou.yaml."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..diagnostics import ExitCode
from ..i18n import N_, _
from ..workspace import Workspace
from . import refuse

_TIME = N_(
    "--{flag} {value} is not a date or time of the years 1970-2199; write 2026-11-25 or 2026-11-25T18:00 (an offset such as +08:00 is allowed)"
)


def send(
    plan_file: Path,
    *,
    live: bool,
    channel: str | None,
    until: str | None,
    wait: bool,
    retry_failed: bool,
    expire_after: float | None,
    format: str,
    now: str | None,
    new_ledger: bool,
) -> int:
    from ..data.sources import DataError
    from ..delivery.channels import ConfigError
    from ..delivery.ledger import LedgerBusy, LedgerError
    from ..delivery.planfile import PlanFileError
    from ..delivery.run import parse_until
    from ..delivery.run import send as run_send
    from ..plan.inputs import read_optout_file
    from ..reporters.send import send_json, send_text

    shop = Workspace.configured("send").project
    config = shop.config
    zone = str(config.get("timezone", "Asia/Shanghai"))
    times: dict[str, float | None] = {}
    for flag, value in (("now", now), ("until", until)):
        ahead_of = (times["now"] or time.time()) if flag == "until" else None  # --until +24h: on the run's clock
        try:
            times[flag] = parse_until(value, zone, end_of_day=flag == "until", now=ahead_of)
        except ValueError:
            ahead = _(" or a time ahead of the clock: +30m, +24h, +2d") if flag == "until" else ""
            raise refuse("send", _(_TIME, flag=flag, value=repr(value)) + ahead) from None
    limit = times["until"] if times["until"] is not None else times["now"]
    try:
        optouts = read_optout_file(config, shop.root)
        with _progress(live) as progress:
            report = run_send(
                shop.root,
                config,
                plan_file,
                live=live,
                until=limit,
                channel=channel,
                wait=wait,
                expire_after_hours=expire_after,
                optouts=optouts,
                retry_failed=retry_failed,
                progress=progress,
                now=times["now"],
                new_ledger=new_ledger,
            )
    except (PlanFileError, DataError) as exc:
        raise refuse("send", str(exc)) from None
    except (LedgerError, ConfigError) as exc:
        raise refuse("send", _("nothing sent: {reason}", reason=exc)) from None
    except LedgerBusy as exc:
        raise refuse("send", _("{reason}; nothing sent (drop --no-wait to wait for it)", reason=exc)) from None
    sys.stdout.write(send_json(report) + "\n" if format == "json" else send_text(report))
    troubled = report.problems or any(c.troubled for c in report.channels.values())
    return ExitCode.PROBLEMS if troubled else ExitCode.OK


@contextlib.contextmanager
def _progress(live: bool) -> Iterator[Any]:
    """A progress bar per channel on a terminal's stderr during a live send; nothing
    otherwise (machine output stays clean)."""
    if not live or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def show(channels: dict[str, Any]) -> None:
            for name, channel in sorted(channels.items()):
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=channel.due)
                bar.update(tasks[name], completed=channel.sent + channel.failed + channel.skipped)

        yield show
