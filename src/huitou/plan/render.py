"""Render the surviving sends: sandboxed Jinja, strict undefined, channel rules applied.

Only rows with status `send` are rendered. A row whose template fails for this customer
(an undefined field, a filter error) or whose SMS is over the channel's segment budget
becomes `suppressed` with the reason (`render_error`, `sms_too_long`); the plan goes on.
Templates are compiled once per (locale chain, file); each row costs one render call.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy
from jinja2 import FileSystemLoader, Template, TemplateError

from .. import sms
from ..features import CATALOG
from ..templates import environment, locale_chain
from .rules import PlannedRule

RENDERED_COLUMNS = ("cand_id", "template", "subject", "body", "html", "segments", "extra", "error", "error_reason")


class Renderer:
    """Compiled templates per locale, and the fixed parts of every context."""

    def __init__(self, rules: list[PlannedRule]) -> None:
        self.rules = {r.index: r for r in rules}
        self._envs: dict[str, Any] = {}
        self._templates: dict[tuple[str, str], Template] = {}
        self._fixed_parts: dict[int, tuple[tuple[str, ...], dict[str, Any]]] = {}
        self._offsets: dict[int, dt.timezone] = {}

    def template(self, rule: PlannedRule, step: int) -> tuple[str, Template]:
        name = rule.template_for(step)
        locale = rule.ctx.locale
        key = (locale, name)
        if key not in self._templates:
            project = rule.ctx.project
            if locale not in self._envs:
                dirs = [str(project.templates_dir / loc) for loc in locale_chain(locale, project.default_locale)]
                self._envs[locale] = environment(FileSystemLoader([d for d in dirs if Path(d).is_dir()]))
            self._templates[key] = self._envs[locale].get_template(name)
        return name, self._templates[key]

    def render(self, row: dict[str, Any]) -> tuple[Any, ...]:
        rule = self.rules[row["rule_index"]]
        name, template = self.template(rule, row["step"])
        context = self.context(rule, row)
        try:
            subject = html = None
            if rule.kind == "email":
                subject = _block(template, "subject", context)
                body = _block(template, "text", context) if "text" in template.blocks else None
                html = _block(template, "html", context) if "html" in template.blocks else None
                body = body if body is not None else ""
            else:
                body = template.render(context).strip()
        except (TemplateError, ArithmeticError, ValueError, TypeError, KeyError) as exc:
            return (row["cand_id"], name, None, None, None, None, None, f"{name}: {type(exc).__name__}: {exc}", "render_error")
        segments = None
        if rule.kind == "sms":
            settings = rule.channel_settings
            opt_out = str(settings.get("opt_out", "")) if rule.intent == "promotion" else ""
            body = sms.compose(body, str(settings.get("signature", "")), opt_out)
            measured = sms.measure(body)
            segments = measured.segments
            budget = int(settings.get("max_segments", 1))
            if segments > budget:
                detail = f"{name}: {segments} SMS segments ({measured.units} {measured.encoding} units), the channel allows {budget}"
                return (row["cand_id"], name, None, None, None, None, None, detail, "sms_too_long")
        extra = None
        if rule.kind in ("phone", "parcel_insert"):
            extra = json.dumps({"name": row.get("name"), "last_orders": row.get("_last_orders") or []}, ensure_ascii=False, default=str)
        return (row["cand_id"], name, subject, body, html, segments, extra, None, None)

    def _fixed(self, rule: PlannedRule) -> tuple[tuple[str, ...], dict[str, Any]]:
        """The customer fields and the parts of the context that are the same for every row
        of a rule (built once: per-row work is what rendering a million messages costs)."""
        if rule.index not in self._fixed_parts:
            project = rule.ctx.project
            fields = tuple(dict.fromkeys([*CATALOG, *(project.catalog or {})]))
            fixed = {
                "shop": dict(project.shop),
                "rule": {"id": rule.id, "intent": rule.intent, "channel": rule.channel, "playbook": rule.playbook},
                "locale": rule.ctx.locale,
            }
            self._fixed_parts[rule.index] = (fields, fixed)
        return self._fixed_parts[rule.index]

    def context(self, rule: PlannedRule, row: dict[str, Any]) -> dict[str, Any]:
        fields, fixed = self._fixed(rule)
        offset = self._offsets.get(row["utc_offset"])
        if offset is None:
            offset = self._offsets[row["utc_offset"]] = dt.timezone(dt.timedelta(minutes=int(row["utc_offset"])))
        at = row["send_local"].replace(tzinfo=offset)
        ctx: dict[str, Any] = {
            **fixed,
            "customer": {k: row.get(k) for k in fields},
            "send": {"at": at, "date": at.date(), "step": row["step"], "event": row["event"], "event_date": row["event_date"]},
            "last_order": row.get("_last_order") or {},
        }
        if rule.kind == "email":
            url = str(rule.channel_settings.get("unsubscribe_url", ""))
            ctx["unsubscribe_url"] = f"{url}{'&' if '?' in url else '?'}c={row['customer_id']}" if url else ""
        return ctx

def _block(template: Template, name: str, context: dict[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(context))).strip()


def _last_orders_sql() -> str:
    """Per customer with a send: the latest order, and the last three (for call lists)."""
    fields = "{'order_id': order_id, 'ordered_at': ordered_at, 'amount': amount, 'status': status, 'category': category, 'items': items, 'delivered_at': delivered_date, 'rating': rating}"
    return f"""
        SELECT customer_id, arg_max({fields}, ordered_at) AS _last_order, list({fields} ORDER BY ordered_at DESC)[1:3] AS _last_orders
        FROM orders WHERE customer_id IN (SELECT customer_id FROM plan_decided WHERE status = 'send')
          AND local_date <= (SELECT max(as_of) FROM plan_matched)
        GROUP BY customer_id"""


def render_sends(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], session: Any) -> int:
    """CREATE plan_rendered for the rows with status `send`; returns how many were rendered."""
    renderer = Renderer(rules)
    needs_orders = any(_uses_last_order(r) for r in rules)
    join = f"LEFT JOIN ({_last_orders_sql()}) o USING (customer_id)" if needs_orders else ""
    extra_cols = ", o._last_order, o._last_orders" if needs_orders else ""
    cursor = con.execute(f"""
        SELECT d.cand_id, d.rule_index, d.step, d.send_local, d.utc_offset, d.event, d.event_date, m.* EXCLUDE (customer_id){extra_cols}, d.customer_id
        FROM plan_decided d JOIN plan_matched m USING (customer_id) {join}
        WHERE d.status = 'send' ORDER BY d.cand_id""")
    names = [c[0] for c in cursor.description]
    out: list[tuple[Any, ...]] = []
    while batch := cursor.fetchmany(10_000):
        for values in batch:
            out.append(renderer.render(dict(zip(names, values))))
    columns = list(zip(*out)) if out else [[] for _ in RENDERED_COLUMNS]
    arrays = {name: numpy.array(col, dtype=object if name != "cand_id" else numpy.int64) for name, col in zip(RENDERED_COLUMNS, columns)}
    con.register("plan_rendered_arrays", arrays)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE plan_rendered AS SELECT cand_id, CAST(template AS VARCHAR) AS template, CAST(subject AS VARCHAR) AS subject, "
        "CAST(body AS VARCHAR) AS body, CAST(html AS VARCHAR) AS html, CAST(segments AS INTEGER) AS segments, CAST(extra AS JSON) AS extra, "
        "CAST(error AS VARCHAR) AS error, CAST(error_reason AS VARCHAR) AS error_reason FROM plan_rendered_arrays"
    )
    con.unregister("plan_rendered_arrays")
    return len(out)


def _uses_last_order(rule: PlannedRule) -> bool:
    if rule.kind in ("phone", "parcel_insert"):
        return True
    templates = rule.rule["template"]
    names = templates.values() if isinstance(templates, dict) else [templates]
    for name in names:
        path = rule.ctx.project.find_template(rule.ctx.locale, str(name))
        if path is not None and "last_order" in path.read_text(encoding="utf-8").replace("customer.last_order", ""):
            return True
    return False

