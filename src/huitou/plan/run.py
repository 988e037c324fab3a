"""Plan a project from Python: validate, load, plan, and hand the caller the plan (what
`huitou test` runs for each test case, and what a script or notebook calls)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ..checks.context import PlaybookContext
from ..data.sources import DataError
from ..errors import HuitouError
from ..loader import Document
from ..workspace import DataOptions, OpenError, Workspace
from .build import Plan, build_plan


class PlanInputError(HuitouError):
    """The playbooks do not validate, or the data cannot be read."""


def open_playbooks(root: Path) -> tuple[list[PlaybookContext], list[tuple[Path, Document]]]:
    """The project's valid playbooks and rule tests, as `huitou validate` in root sees
    them; the first error (if any) raises PlanInputError."""
    ws = Workspace.whole(root)
    return ws.playbooks, ws.tests


def plan_playbooks(
    playbooks: list[PlaybookContext],
    as_of: dt.date,
    horizon: int,
    *,
    orders: Path | None = None,
    customers: Path | None = None,
    data_dir: Path | None = None,
    customer: str | None = None,
    quarantine_dir: Path | None = None,
    jobs: int | None = None,
    inputs: dict[str, Path | None] | None = None,
    today: dt.date | None = None,
) -> Plan:
    """`inputs` replaces the project's `data.history` / `data.suppression` (None: none);
    `today` replaces the real date as the bound on order dates. The features are computed
    here, on DuckDB. The plan holds its connection open: it is the caller's."""
    ws = Workspace(playbooks[0].project, playbooks)
    opts = DataOptions(as_of=as_of.isoformat(), orders=orders, customers=customers, data=data_dir, quarantine=quarantine_dir)
    try:
        session = ws.load(opts, features=False, say=False, today=today, inputs=[p for p in (inputs or {}).values() if p is not None])
        plan = build_plan(session, playbooks, horizon, customer=customer, jobs=jobs, inputs=inputs)
    except OpenError as exc:
        raise PlanInputError(exc.message) from None
    except DataError as exc:
        raise PlanInputError(str(exc)) from None
    plan.reports = session.reports
    return plan


def run_plan(root: Path, as_of: dt.date, horizon: int, **options: Any) -> Plan:
    """Validate the project in `root` and plan it (options: as plan_playbooks)."""
    return plan_playbooks(open_playbooks(root)[0], as_of, horizon, **options)
