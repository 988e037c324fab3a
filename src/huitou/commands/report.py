"""`huitou report`: repeat purchase as the shop counts it, and the effect of what was sent."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import sys
from pathlib import Path

from ..diagnostics import ExitCode
from ..i18n import _
from ..workspace import DataOptions, Workspace
from . import console, opened, refuse


def report(opts: DataOptions, start: str, end: str, every: str | None, format: str, html: Path | None) -> int:
    from ..delivery.ledger import default_path
    from ..report.effect import effect_report, read_ledger
    from ..report.repeat import repeat_report
    from ..report.stats import preload
    from ..reporters.report import report_csv, report_json, report_text

    first, last = (_day(flag, value) for flag, value in (("from", start), ("to", end)))
    if first > last:
        raise refuse("report", _("--from {first} is after --to {last}", first=first, last=last))
    if opts.as_of is None:
        opts = dataclasses.replace(opts, as_of=last.isoformat())
    shop = Workspace.configured("report").project
    ledger = default_path(shop.root, shop.config)
    # SQLite reads the ledger (and statsmodels loads) while DuckDB loads the data.
    with concurrent.futures.ThreadPoolExecutor(1) as pool, opened("report") as ws:
        reading = pool.submit(read_ledger, ledger, first, last)
        pool.submit(preload)
        session = ws.load(opts, features=False)
        result = repeat_report(session.data.orders, first, last, every)
        channels = shop.config.get("channels") or {}
        effects = effect_report(
            session.data.orders, ledger, first, last, session.as_of, session.timezone, ws.playbooks, channels, read=reading.result()
        )
        if html is not None:
            from ..report.effect import sample_messages
            from ..reporters.html_report import report_html

            monthly = result.periods or repeat_report(session.data.orders, first, last, "month").periods  # the chart over time needs periods
            page = report_html(result, effects, sample_messages(ledger, first, last), session.as_of.isoformat(), monthly)
            try:
                html.write_text(page, encoding="utf-8")
            except OSError as exc:
                raise refuse("report", _("--html {file}: cannot write it ({reason})", file=html, reason=exc.strerror or exc)) from None
    if format == "json":
        sys.stdout.write(report_json(result, effects))
    elif format == "csv":
        sys.stdout.write(report_csv(result))
    else:
        report_text(console(), result, effects)
    return ExitCode.OK


def _day(flag: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise refuse("report", _("--{flag} {value} is not a date; write YYYY-MM-DD", flag=flag, value=repr(value))) from None
