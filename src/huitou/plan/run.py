"""Plan a project in-process: validate, load, plan (what `huitou plan`, `preview` and
`test` share)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ..errors import HuitouError
from ..data.sources import DataError
from ..evaluate import data_timezone, open_data
from ..forecast import uses_forecast
from ..project import CONFIG_NAME
from ..checks.context import PlaybookContext
from ..loader import Document
from ..validate import load_config, open_project, validate_paths
from .build import Plan, build_plan


class PlanInputError(HuitouError):
    """The playbooks do not validate, or the data cannot be read."""


def open_playbooks(root: Path) -> tuple[list[PlaybookContext], list[tuple[Path, Document]]]:
    """The project's valid playbooks and rule tests, as `huitou validate` in root sees
    them; the first error (if any) raises PlanInputError."""
    project = open_project([root])
    load_config(project)
    whole = [project.root / CONFIG_NAME, *project.playbook_dirs, project.templates_dir]
    result = validate_paths([p for p in whole if p.exists()])
    if result.errors:
        first = next(d for d in result.diagnostics if d.severity == "error")
        raise PlanInputError(f"{first.file}:{first.line}:{first.column}: {first.code} {first.message}")
    if not result.playbooks:
        raise PlanInputError(f"{root}: no playbooks")
    return result.playbooks, result.tests


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
    `today` replaces the real date as the bound on order dates."""
    project = playbooks[0].project
    try:
        session = open_data(project, timezone=data_timezone(project, playbooks, None), as_of=as_of, orders=orders, customers=customers, data_dir=data_dir,
                            quarantine_dir=quarantine_dir, today=today, inputs=[p for p in (inputs or {}).values() if p is not None])
        session.forecast_wanted = uses_forecast(playbooks, project.templates_dir)
        plan = build_plan(session, playbooks, horizon, customer=customer, jobs=jobs, inputs=inputs)
        plan.reports = session.reports
        return plan
    except DataError as exc:
        raise PlanInputError(str(exc)) from None


def run_plan(root: Path, as_of: dt.date, horizon: int, **options: Any) -> Plan:
    """Validate the project in `root` and plan it (options: as plan_playbooks)."""
    return plan_playbooks(open_playbooks(root)[0], as_of, horizon, **options)
