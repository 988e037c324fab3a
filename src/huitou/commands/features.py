"""`huitou features`: the per-customer feature table, the values every predicate sees."""

from __future__ import annotations

import sys
from pathlib import Path

from ..diagnostics import ExitCode
from ..i18n import _
from ..workspace import DataOptions
from . import echo, opened, refuse


def features(opts: DataOptions, out: Path | None) -> int:
    from sqlglot import exp

    from ..data.sources import DataError
    from ..db import run
    from ..evaluate import write_features

    with opened("features", playbooks=False) as ws:
        session = ws.load(opts, forecast=True)
        if out is None:
            import csv

            cursor = run(session.con, session.features_of().order_by("customer_id"))
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow([d[0] for d in cursor.description])
            while batch := cursor.fetchmany(10_000):
                writer.writerows(["" if v is None else v for v in row] for row in batch)
            return ExitCode.OK
        try:
            rows = write_features(session, out)
        except DataError as exc:
            raise refuse("features", str(exc)) from None
        width = len(run(session.con, exp.Describe(this=session.features_of())).fetchall())
    echo(_("wrote {rows:,} customers x {width} columns to {file}", rows=rows, width=width, file=out), err=True)
    return ExitCode.OK
