"""`huitou plan`: who gets which message, on which channel, when - and why the others do
not. The dry run without --out; the send plan file with it."""

from __future__ import annotations

import sys
from pathlib import Path

from ..diagnostics import ExitCode
from ..i18n import _
from ..words import counted
from ..workspace import DataOptions
from . import build, console, echo, horizon, opened, preload_plan, refuse


def plan(
    opts: DataOptions, paths: list[Path], horizon_text: str, out: Path | None, format: str, show_pii: bool, samples: int, jobs: int | None
) -> int:
    from ..contract import FORMATS
    from ..plan.output import status_counts, summarise, summary_json, write_plan

    days = horizon(horizon_text)
    if out is not None and out.suffix.lower() not in FORMATS:
        raise refuse("plan", _("--out {file}: use a .jsonl, .csv or .parquet file name", file=out))
    with opened("plan", paths) as ws:
        # What the dry run's summary imports is loaded beside the data (commands.preload_plan).
        preload_plan(ws, opts, _SUMMARY_MODULES if out is None else ())
        session = ws.load(opts)
        # The dry run reads the rows five times (the summary, the holdout sizing): computed
        # once. A plan file is written from the view as it is computed.
        result = build("plan", session, ws.playbooks, days, jobs=jobs, keep=out is None)
        if out is not None:
            rows = write_plan(result, out)
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
            return ExitCode.OK
        from ..report.sizing import holdout_sizing

        summary = summarise(result, samples=samples, show_pii=show_pii)
        summary.sizing = holdout_sizing(result.rows, session.data.orders, ws.playbooks, session.as_of)
    if format == "json":
        sys.stdout.write(summary_json(summary) + "\n")
    else:
        from ..reporters.plan import plan_text

        plan_text(console(), summary)
    return ExitCode.OK


_SUMMARY_MODULES = ("huitou.report.sizing", "huitou.reporters.plan")  # the reporter imports rich
