"""`huitou plan`: who gets which message, on which channel, when - and why the others do
not. The dry run without --out; the send plan file with it; the page with --html."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any

from ..diagnostics import ExitCode
from ..i18n import N_, _
from ..profile import lap, reported
from ..words import counted
from ..workspace import DataOptions
from . import build, console, echo, horizon, opened, preload_plan, refuse


def plan(
    opts: DataOptions,
    paths: list[Path],
    horizon_text: str,
    out: Path | None,
    format: str,
    show_pii: bool,
    samples: int,
    jobs: int | None,
    html: Path | None = None,
    customers: tuple[str, ...] = (),
    profile: bool = False,
) -> int:
    with reported(profile, _show_profile):
        from ..contract import FORMATS
        from ..plan.output import Summary, status_counts, summarise, summary_json, write_plan

        days = horizon(horizon_text)
        if out is not None and out.suffix.lower() not in FORMATS:
            raise refuse("plan", _("--out {file}: use a .jsonl, .csv or .parquet file name", file=out))
        if customers and html is None:
            raise refuse("plan", _("--customer shows a customer's messages on the page: give --html FILE as well"))
        dry_run = out is None or html is not None
        with opened("plan", paths) as ws:
            lap(N_("reading and validating the playbooks"))
            # What the dry run's summary imports is loaded beside the data (commands.preload_plan).
            preload_plan(ws, opts, _SUMMARY_MODULES if dry_run else ())
            session = ws.load(opts)
            lap(N_("loading and checking the data"), session.data.orders.count, N_("orders"))
            # The dry run reads the rows five times (the summary, the holdout sizing): computed
            # once. A plan file alone is written from the view as it is computed.
            result = build("plan", session, ws.playbooks, days, jobs=jobs, keep=dry_run, count_segments=html is not None)
            if out is not None:
                rows = write_plan(result, out)
                lap(N_("writing the plan file"), lambda: rows, N_("plan rows"))
                echo(
                    _(
                        "wrote {rows:,} rows to {file} ({counts}); plan {id}",
                        rows=rows,
                        file=out,
                        counts=counted(status_counts(result)),
                        id=result.plan_id,
                    ),
                    err=True,
                )
                if html is None:
                    return ExitCode.OK
            from ..report.sizing import holdout_sizing

            # The page alone (beside a plan file) needs the counts, not the dry run's tables.
            summary = summarise(result, samples=samples, show_pii=show_pii) if out is None else Summary(result.plan_id, "", 0, status_counts(result))
            summary.sizing = holdout_sizing(result.rows, session.data.orders, ws.playbooks, session.as_of)
            lap(N_("the dry run's summary and the holdouts' sizing"))
            if html is not None:
                _write_page(html, ws, result, summary, session.as_of, customers, show_pii)
                lap(N_("the plan's page"))
                if out is not None:
                    return ExitCode.OK
        if format == "json":
            sys.stdout.write(summary_json(summary) + "\n")
        else:
            from ..reporters.plan import plan_text

            plan_text(console(), summary)
        lap(N_("showing the dry run"))
        return ExitCode.OK


def _write_page(html: Path, ws: Any, result: Any, summary: Any, as_of: Any, customers: tuple[str, ...], show_pii: bool) -> None:
    """The plan as a page (reporters/plan_html.py), validation's warnings first."""
    from ..plan.overview import overview
    from ..reporters.plan_html import plan_html

    kinds = {name: str(settings.get("kind") or "") for name, settings in ws.project.channels.items()}
    warned = [{"kind": d.code, "text": f"{d.file}:{d.line}:{d.column} {d.code} {d.message}"} for d in ws.warnings]
    header = {
        "plan_id": result.plan_id,
        "as_of": as_of,
        "start": result.window.start,
        "days": result.window.days,
        "notes": [*result.notes, *result.warnings],
    }
    seen = overview(result, ws.project.config, customers, show_pii=show_pii)
    page = plan_html(seen, summary.status, summary.sizing, header, kinds, warned, show_pii)
    try:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(page, encoding="utf-8")
    except OSError as exc:
        # mkdir says "File exists" when a file stands where a folder of the path should be
        reason = os.strerror(errno.ENOTDIR) if isinstance(exc, FileExistsError) else exc.strerror or exc
        raise refuse("plan", _("--html {file}: cannot write it ({reason})", file=html, reason=reason)) from None
    echo(_("wrote the plan's page to {file}", file=html), err=True)


def _show_profile(measured: Any) -> None:
    from ..reporters.profile import profile_text

    echo(profile_text(measured), err=True)


_SUMMARY_MODULES = ("huitou.report.sizing", "huitou.reporters.plan")  # the reporter imports rich
