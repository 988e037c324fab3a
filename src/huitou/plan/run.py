"""Plan a project in-process: validate, load, plan (what `huitou plan`, `preview` and
`test` share)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..data.sources import DataError
from ..evaluate import data_timezone, open_data
from ..project import CONFIG_NAME
from ..validate import load_config, open_project, validate_paths
from .build import Plan, build_plan


class PlanInputError(Exception):
    """The playbooks do not validate, or the data cannot be read."""


def run_plan(
    root: Path,
    as_of: dt.date,
    horizon: int,
    *,
    orders: Path | None = None,
    customers: Path | None = None,
    data_dir: Path | None = None,
    customer: str | None = None,
    quarantine_dir: Path | None = None,
    jobs: int | None = None,
) -> Plan:
    project = open_project([root])
    load_config(project)
    whole = [project.root / CONFIG_NAME, *project.playbook_dirs, project.templates_dir]  # as `huitou validate` in root
    result = validate_paths([p for p in whole if p.exists()])
    if result.errors:
        first = next(d for d in result.diagnostics if d.severity == "error")
        raise PlanInputError(f"{first.file}:{first.line}:{first.column}: {first.code} {first.message}")
    playbooks = result.playbooks
    project = playbooks[0].project if playbooks else None
    if project is None:
        raise PlanInputError(f"{root}: no playbooks")
    try:
        session = open_data(project, timezone=data_timezone(project, playbooks, None), as_of=as_of, orders=orders, customers=customers, data_dir=data_dir, quarantine_dir=quarantine_dir)
    except DataError as exc:
        raise PlanInputError(str(exc)) from None
    return build_plan(session, playbooks, horizon, customer=customer, jobs=jobs)
