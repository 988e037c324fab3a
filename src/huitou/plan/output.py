"""Write the plan (JSONL, CSV or Parquet by extension) or summarise it (the dry run)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from ..contract import COLUMNS, FORMATS
from ..data.sources import DataError
from ..db import copy_out, tree
from ..i18n import _
from ..templates import mask_contacts, mask_filter
from .build import Plan


def write_plan(plan: Plan, out: Path) -> int:
    """Write every row in plan order; the same plan gives the same bytes."""
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise DataError(_("--out {file}: use a .jsonl, .csv or .parquet file name", file=out))
    out.parent.mkdir(parents=True, exist_ok=True)
    # CSV has no nested values: the content goes in as its JSON text.
    columns = [
        tree("CAST(to_json(content) AS VARCHAR)").as_("content") if c == "content" and fmt == "csv" else exp.column(c, quoted=True) for c in COLUMNS
    ]
    query = exp.select(*columns).from_(plan.rows.table.copy())
    copy_out(plan.con, query, out, _OPTIONS[fmt])  # in plan order: DuckDB preserves insertion order by default
    return plan.size


_OPTIONS = {"csv": "FORMAT CSV, HEADER", "jsonl": "FORMAT JSON", "parquet": "FORMAT PARQUET"}


@dataclass
class Summary:
    plan_id: str
    start: str
    days: int
    status: dict[str, int] = field(default_factory=dict)
    by_rule: list[tuple[str, str, str, str, int]] = field(default_factory=list)  # playbook, rule, channel, day, sends
    reasons: list[tuple[str, str, int]] = field(default_factory=list)  # reason, rule, count
    samples: list[dict[str, Any]] = field(default_factory=list)
    sizing: list[Any] = field(default_factory=list)  # report.sizing.Sizing per rule with a holdout

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "window": {"start": self.start, "days": self.days},
            "status": self.status,
            "sends": [{"playbook": p, "rule": r, "channel": c, "day": d, "count": n} for p, r, c, d, n in self.by_rule],
            "suppressed": [{"reason": reason, "rule": rule, "count": n} for reason, rule, n in self.reasons],
            "samples": self.samples,
            "holdout_sizing": [s.as_dict() for s in self.sizing],
        }


_STATUS = "SELECT status, count(*) FROM :plan GROUP BY ALL ORDER BY status"
_BY_RULE = "SELECT playbook, rule_id, channel, left(send_at, 10) AS day, count(*) FROM :plan WHERE status = 'send' GROUP BY ALL ORDER BY playbook, rule_id, day"
_REASONS = "SELECT reason, playbook, rule_id, count(*) FROM :plan WHERE status = 'suppressed' GROUP BY ALL ORDER BY reason, playbook, rule_id"
# The first send of each rule (by time, then customer), a few rules' worth.
_SAMPLES = """
    SELECT customer_id, playbook, rule_id, channel, send_at, "to", content FROM (
      SELECT *, row_number() OVER (PARTITION BY playbook, rule_id ORDER BY send_at, customer_id) AS k FROM :plan WHERE status = 'send')
    WHERE k = 1 ORDER BY playbook, rule_id LIMIT :samples"""


def _rows_of(plan: Plan, sql: str, **values: Any) -> list[tuple]:
    return plan.con.execute(tree(sql, plan=plan.rows.table, **values).sql("duckdb")).fetchall()


def status_counts(plan: Plan) -> dict[str, int]:
    """The plan's rows per status (send, suppressed, holdout), in that word's order: what
    `plan --out` says. It reads the status alone: a plan written to a file is a view, and
    the summary's other questions compute its rules' names, times and messages again."""
    return {s: int(n) for s, n in _rows_of(plan, _STATUS)}


def summarise(plan: Plan, *, samples: int = 3, show_pii: bool = False) -> Summary:
    def rows_of(sql: str, **values: Any) -> list[tuple]:
        return _rows_of(plan, sql, **values)

    out = Summary(plan.plan_id, plan.window.start.isoformat(), plan.window.days)
    out.status = status_counts(plan)
    out.by_rule = [(p, r, c, str(d), int(n)) for p, r, c, d, n in rows_of(_BY_RULE)]
    out.reasons = [(reason, f"{p}/{r}", int(n)) for reason, p, r, n in rows_of(_REASONS)]
    out.samples = [sample_of(row, show_pii) for row in rows_of(_SAMPLES, samples=int(samples))]
    return out


def sample_of(row: tuple, show_pii: bool) -> dict[str, Any]:
    """A sent row (customer_id, playbook, rule_id, channel, send_at, to, content) as the
    dry run shows it: its message's parts beside it, contacts masked unless `show_pii`."""
    customer, playbook, rule, channel, send_at, to, content = row
    sample = {
        "customer_id": customer,
        "rule": f"{playbook}/{rule}",
        "channel": channel,
        "send_at": send_at,
        "to": to if show_pii or to is None else mask_filter(to),
    }
    sample.update({k: v for k, v in dict(content or {}).items() if v is not None})
    if not show_pii:
        sample = {k: _mask_text(v, to) if isinstance(v, str) and k not in ("rule", "channel", "send_at") else v for k, v in sample.items()}
    return sample


def _mask_text(text: str, contact: str | None) -> str:
    """No contact appears in the clear in a dry run without --show-pii: the row's own,
    and any phone number or email address the template printed."""
    if contact and contact in text:
        text = text.replace(contact, mask_filter(contact))
    return mask_contacts(text)


def summary_json(summary: Summary) -> str:
    return json.dumps(summary.as_dict(), ensure_ascii=False, indent=2)
