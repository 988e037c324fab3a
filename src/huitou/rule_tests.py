"""`huitou test`: the playbooks' own tests, in NAME.test.yaml files beside them.

Each test gives customers, orders, history and opt-outs as rows and an as-of date; the
rows are written to CSV files and planned exactly as real data would be (same loader,
same checks, same planner), with the project's playbooks and templates. Each expectation
names a customer and a rule and says what the plan must hold for them: a send (at a
time, with text in the message), a suppression (with its reason), a holdout, or no row.
The format is docs/testing.md; the schema is schemas/test.v1.schema.json.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from .diagnostics import did_you_mean
from .i18n import _
from .loader import Document
from .plan.run import PlanInputError, plan_playbooks
from .plan.timing import parse_horizon

TABLES = ("customers", "orders", "history", "optouts")


@dataclass
class Failure:
    line: int
    column: int
    message: str


@dataclass
class Outcome:
    file: str
    name: str
    line: int
    column: int
    failures: list[Failure] = field(default_factory=list)
    error: str | None = None  # the test could not run (its data does not load)

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


def run_tests(playbooks: list[Any], tests: list[Document], name_filter: str | None = None) -> list[Outcome]:
    outcomes = []
    for doc in tests:
        for i, test in enumerate(doc.data["tests"]):
            if name_filter and name_filter not in test["name"]:
                continue
            line, column = doc.position(("tests", i, "name"))
            outcome = Outcome(doc.path, test["name"], line, column)
            try:
                rows = _plan_rows(playbooks, test)
            except (PlanInputError, ValueError) as exc:
                outcome.error = str(exc)
            else:
                for j, expectation in enumerate(test["expect"]):
                    problem = check(expectation, rows, playbooks)
                    if problem:
                        outcome.failures.append(Failure(*doc.position(("tests", i, "expect", j)), problem))
            outcomes.append(outcome)
    return outcomes


def _plan_rows(playbooks: list[Any], test: dict[str, Any]) -> list[dict[str, Any]]:
    given = test["given"]
    as_of = dt.date.fromisoformat(test["as_of"])
    days = parse_horizon(str(test.get("horizon", "14d")))
    with tempfile.TemporaryDirectory(prefix="huitou-test-") as tmp:
        work = Path(tmp)
        files = {table: _write_csv(work / f"{table}.csv", given.get(table) or [], table) for table in TABLES}
        try:
            plan = _plan(playbooks, files, work, given, as_of, days)
        except PlanInputError as exc:
            # Name the test's tables, not the temporary files they were written to.
            message = str(exc)
            for table, path in files.items():
                message = message.replace(str(path), _("given {table}", table=table))
            raise PlanInputError(message) from None
        # A given row the loader rejects or repairs is a mistake in the test, not data to
        # plan around: say so instead of testing something else.
        for report in plan.reports:
            problems = {**report.rejected, **report.kept_with_issues}
            if problems:
                counts = ", ".join(f"{n} {why}" for why, n in sorted(problems.items()))
                done = _("rejected") if report.rejected else _("field set to NULL")
                raise PlanInputError(_("given {table}: {counts} ({done})", table=report.source, counts=counts, done=done))
        notes = [n for n in plan.notes if n]
        if notes:
            raise PlanInputError("; ".join(notes))
        columns = ("customer_id", "playbook", "rule_id", "step", "channel", "send_at", "status", "reason", "reason_detail", "content")
        cursor = plan.con.execute(exp.select(*columns).from_(plan.rows.table.copy()).sql("duckdb"))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def _plan(playbooks: list[Any], files: dict[str, Path], work: Path, given: dict[str, Any], as_of: dt.date, days: int) -> Any:
    return plan_playbooks(
        playbooks,
        as_of,
        days,
        orders=files["orders"],
        customers=files["customers"],
        quarantine_dir=work / "quarantine",
        jobs=1,
        inputs={
            "history": files["history"] if given.get("history") else None,
            "suppression": files["optouts"] if given.get("optouts") else None,
            "ledger": None,
        },
        # The test's dates, not the calendar's, decide what is in the future.
        today=max(dt.date.today(), as_of + dt.timedelta(days=days)),
    )


# Columns a table needs even when the test gives no rows of it.
_HEADERS = {
    "customers": ["customer_id"],
    "orders": ["order_id", "customer_id", "ordered_at", "amount"],
    "history": ["customer_id", "channel", "intent", "sent_at"],
    "optouts": ["customer_id", "channel"],
}


def _write_csv(path: Path, rows: list[dict[str, Any]], table: str) -> Path:
    columns = list(dict.fromkeys([key for row in rows for key in row])) or _HEADERS[table]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check(expectation: dict[str, Any], rows: list[dict[str, Any]], playbooks: list[Any]) -> str | None:
    """None when some plan row meets the expectation, else what was found instead."""
    customer, rule = str(expectation["customer"]), str(expectation["rule"])
    playbook, _slash, rule_id = rule.rpartition("/")
    mine = [
        r
        for r in rows
        if r["customer_id"] == customer
        and r["rule_id"] == rule_id
        and (not playbook or r["playbook"] == playbook)
        and ("step" not in expectation or r["step"] == expectation["step"])
    ]
    known = {f"{ctx.name}/{r['id']}" for ctx in playbooks for r in ctx.rules}
    if not any(k == rule or k.endswith("/" + rule) for k in known):
        ids = sorted({k.split("/", 1)[1] for k in known} | known)
        return _("no rule '{rule}' in the playbooks", rule=rule) + (
            f"; {did_you_mean(rule, ids)}" if did_you_mean(rule, ids) else _(" (rules: {rules})", rules=", ".join(sorted(known)))
        )
    what = f"{customer} / {rule}" + (_(" step {step}", step=expectation["step"]) if "step" in expectation else "")
    if expectation["status"] == "none":
        return None if not mine else _("{what}: expected no plan row, got {got}", what=what, got=_describe(mine))
    if not mine:
        return _(
            "{what}: expected {status}, but the plan has no row (not in the segment, or no date in the window)",
            what=what,
            status=expectation["status"],
        )
    misses = [_miss(expectation, r) for r in mine]
    if any(m is None for m in misses):
        return None
    return f"{what}: {'; '.join(m for m in misses if m)}"


def _miss(expectation: dict[str, Any], row: dict[str, Any]) -> str | None:
    """Why this row does not meet the expectation, or None."""
    got = _describe([row])
    for key in ("status", "reason", "send_at", "channel"):
        if key in expectation and str(row[key]) != str(expectation[key]):
            return _("expected {key} {wanted}, got {got}", key=key, wanted=expectation[key], got=got)
    text = _text(row.get("content"))
    for fragment in _as_list(expectation.get("contains")):
        if fragment not in text:
            return _("the message does not contain {fragment}: {text}", fragment=repr(fragment), text=repr(text))
    for fragment in _as_list(expectation.get("not_contains")):
        if fragment in text:
            return _("the message contains {fragment}: {text}", fragment=repr(fragment), text=repr(text))
    return None


def _describe(rows: list[dict[str, Any]]) -> str:
    parts = []
    for r in rows:
        why = f" {r['reason']} ({r['reason_detail']})" if r["reason"] else ""
        parts.append(f"{r['status']}{why} at {r['send_at']}" + (f" step {r['step']}" if r["step"] else ""))
    return ", ".join(parts)


def _text(content: Any) -> str:
    if not content:
        return ""
    if isinstance(content, str):
        content = json.loads(content)
    return "\n".join(str(content[k]) for k in ("subject", "body", "html") if content.get(k))


def _as_list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)
