"""`huitou diff BASE [HEAD]`: what a change to the playbooks does to customers.

Both versions are validated, then planned over HEAD's data (loaded and checked once, one
set of features, history, opt-outs and ledger) for the same as-of date and horizon, and
the two plans compared (compare.py). docs/cli.md#diff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from ..data.sources import DataError
from ..engines import EngineError
from ..forecast import forecast_named
from ..i18n import _
from ..workspace import DataOptions, OpenError, Workspace
from .compare import compare, empty_plan
from .plan import Checked, check, plan_both
from .versions import Version, VersionError, resolve, uncommitted, working_tree


def _problems(checked: Checked) -> list[str]:
    """A version's validation errors as lines, and what is planned despite them."""
    if not checked.errors:
        return []
    lines = [f"{checked.version.label}: {f}:{d.line}:{d.column}: {d.code} {d.message}" for f, d in checked.errors]
    names = ", ".join(ctx.name for ctx in checked.playbooks) or "nothing"
    return [
        *lines,
        _("{version}: {n} validation error(s); planned what validates: {names}", version=checked.version.label, n=len(checked.errors), names=names),
    ]


def run_diff(base_spec: str, head_spec: str | None, opts: DataOptions, horizon: int, as_of: dt.date | None) -> tuple[dict[str, Any], list[str]]:
    """The differences (JSON-ready) and the notes for stderr (a dirty working tree, a
    version's validation errors). Raises OpenError for what stops the diff."""
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="huitou-diff-") as scratch:
        try:
            here = working_tree(Path.cwd())
            base, head = resolve(base_spec, here, Path(scratch)), resolve(head_spec, here, Path(scratch))
        except VersionError as exc:
            raise OpenError(str(exc)) from None
        if head is here and (dirty := uncommitted(here)):
            shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
            notes.append(_("HEAD is the working tree, with uncommitted changes ({files}): the diff includes them", files=shown))
        checked_base, checked_head = check(base), check(head)
        notes += _problems(checked_base) + _problems(checked_head)
        if not (checked_base.playbooks or checked_head.playbooks):
            raise OpenError(_("neither {base} nor {head} has a playbook that validates: nothing to compare", base=base.label, head=head.label))
        result = _plan_and_compare(checked_base, checked_head, opts, horizon, as_of)
    result = {"base": _about(base), "head": _about(head), **result}
    return result, notes


def _about(version: Version) -> dict[str, Any]:
    return {"label": version.label, "commit": version.commit}


def _plan_and_compare(base: Checked, head: Checked, opts: DataOptions, horizon: int, as_of: dt.date | None) -> dict[str, Any]:
    """Load HEAD's data once, plan both versions over it, compare."""
    project = head.playbooks[0].project if head.playbooks else _project_of(head)
    # HEAD's playbooks settle the timezone (a change may be to it); either's use of the
    # purchase models fits them.
    with Workspace(project, head.playbooks or base.playbooks) as ws:
        if as_of is not None:
            opts = dataclasses.replace(opts, as_of=as_of.isoformat())
        session = ws.load(opts, forecast=forecast_named(head.playbooks + base.playbooks, project.templates_dir))
        session.hold_features()  # both plans read them
        try:
            base_plan, head_plan = plan_both(session, base, head, horizon)
        except (DataError, EngineError) as exc:
            raise OpenError(str(exc)) from None
        return _compare(session, base_plan, head_plan, base, head, horizon)


def _compare(session: Any, base_plan: Any, head_plan: Any, base: Checked, head: Checked, horizon: int) -> dict[str, Any]:
    con = session.con
    head_rel = head_plan.rows.table if head_plan else None
    base_rel = base_plan.rows.table if base_plan else None
    head_rel = head_rel or empty_plan(con, base_rel, "head")  # type: ignore[arg-type]
    base_rel = base_rel or empty_plan(con, head_rel, "base")
    found = compare(con, base_rel, head_rel, base, head)
    return {"as_of": session.as_of.isoformat(), "horizon_days": horizon, **found}


def _project_of(checked: Checked) -> Any:
    """HEAD's project when none of its playbooks validates: its data is still the data."""
    from ..validate import load_config, open_project

    project = open_project([checked.version.root])
    load_config(project)
    return project
