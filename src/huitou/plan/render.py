"""Render one send: sandboxed Jinja, strict undefined, then the channel's rules.

A row whose template fails for this customer (an undefined field, a filter error, a
bound of the sandbox passed: see sandbox.py) or whose SMS is over the channel's segment
budget comes back with an error and a reason (`render_error`, `sms_too_long`) instead of
content; the plan goes on without it. A template that runs out of time on
TIMEOUTS_BEFORE_SKIP messages is not run again in this plan: its other rows are
render_error at once, so a runaway loop costs seconds, not a second per customer.

Per row the work is one context dict and one call of the compiled template: everything
that is the same for a rule (its templates, their globals, the shop, the channel's
signature and budget) is prepared once, and the customer arrives as a dict of just the
fields the templates read, built by DuckDB (rendering a million messages is that loop).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import Template
from jinja2.runtime import Context

from .. import sms
from ..redact import secret_env
from ..sandbox import RenderClock, RenderTimeout, bounded_output
from ..templates import TemplateLoader, environment, locale_chain, template_uses
from ..unsubscribe import make_token, unsubscribe_link
from ..vocabulary import Intent
from .rules import PlannedRule

# What render_batch returns per row, in this order (send_local: the time rendered for).


class RenderRow(NamedTuple):
    """A send to render: render_jobs selects these columns, in this order."""

    cand_id: int
    rule_index: int
    step: int | None  # a countdown's step, None for a one-message rule
    send_local: dt.datetime  # the send time on the customer's clock
    utc_offset: int  # its offset from UTC, in minutes
    event: str | None  # what the message answers (an order id, ...), for `send.event`
    event_date: dt.date | None
    customer_id: str
    customer: dict[str, Any]  # the fields the rule's templates read
    last_order: dict[str, Any] | None  # the orders, for rules whose templates read them
    last_orders: list[dict[str, Any]] | None
    latest_order: dict[str, Any] | None


class Rendered(NamedTuple):
    """What rendering one send gives: the message, or why there is none."""

    template: str
    subject: str | None = None
    body: str | None = None
    html: str | None = None
    segments: int | None = None  # SMS parts
    extra: str | None = None  # JSON for call and print lists: the name and the last orders
    error: str | None = None
    error_reason: str | None = None  # render_error or sms_too_long


_CAND_ID, _SEND_LOCAL = RenderRow._fields.index("cand_id"), RenderRow._fields.index("send_local")

# The rendered relation's columns: the send's key, then what rendering gave.
RENDERED_COLUMNS = ("cand_id", "send_local", *Rendered._fields)
TIMEOUTS_BEFORE_SKIP = 3


@dataclass
class _Compiled:
    name: str
    template: Template
    globals: dict[str, Any]  # the environment's and template's globals, flattened once
    # An email's html block comes from the same file compiled with autoescape: customer
    # data is written by the public, and in HTML a name can be markup.
    html: Template | None = None


@dataclass
class RuleSpec:
    """What rendering needs to know about a rule: plain data, so a worker process can
    build its own Renderer from it."""

    kind: str
    fixed: dict[str, Any]
    template_dirs: list[str]
    templates: dict[int | None, str]  # step -> template name; None: the one for every step
    signature: str = ""
    opt_out: str = ""
    budget: int = 1
    unsubscribe: str = ""
    # The environment variable holding the secret that signs unsubscribe tokens: each
    # process reads it itself, so the secret is never written into a worker's spec file.
    unsubscribe_secret_env: str = ""


def rule_specs(rules: list[PlannedRule]) -> dict[int, RuleSpec]:
    specs = {}
    for rule in rules:
        template = rule.rule["template"]
        project, locale, settings = rule.ctx.project, rule.ctx.locale, rule.channel_settings
        dirs = [str(project.templates_dir / loc) for loc in locale_chain(locale, project.default_locale)]
        specs[rule.index] = RuleSpec(
            kind=rule.kind,
            fixed={
                "shop": dict(project.shop),
                "rule": {"id": rule.id, "intent": rule.intent, "channel": rule.channel, "playbook": rule.playbook},
                "locale": locale,
            },
            template_dirs=[d for d in dirs if Path(d).is_dir()],
            templates={int(k): str(v) for k, v in template.items()} if isinstance(template, dict) else {None: str(template)},
            signature=str(settings.get("signature", "")),
            opt_out=str(settings.get("opt_out", "")) if rule.intent == Intent.PROMOTION else "",
            budget=int(settings.get("max_segments", 1)),
            unsubscribe=str(settings.get("unsubscribe_url", "")),
            unsubscribe_secret_env=str(settings.get("unsubscribe_secret_env", "")),
        )
    return specs


@dataclass
class _RuleRender:
    spec: RuleSpec
    templates: dict[int | None, _Compiled]
    needs_orders: bool  # reads last_order, or lists the last orders (call and print lists)
    customer_fields: set[str] | None  # None: may read any
    unsubscribe_secret: str | None = None


class Renderer:
    """Compiled templates of every rule and step, and what their contexts need."""

    @property
    def unsigned_unsubscribe(self) -> list[str]:
        """Email rules whose unsubscribe links carry the bare customer id: the channel's
        unsubscribe_secret_env is not set (or not configured)."""
        return sorted(
            {
                f"{r.spec.fixed['rule']['channel']} ({r.spec.unsubscribe_secret_env or 'no unsubscribe_secret_env'})"
                for r in self.rules.values()
                if r.spec.kind == "email" and r.spec.unsubscribe and not r.unsubscribe_secret
            }
        )

    @staticmethod
    def _unsubscribe_link(rule: _RuleRender, customer_id: str) -> str:
        """The same signed link `huitou send` puts in List-Unsubscribe, when the secret is
        at hand; else the URL with the customer id."""
        url = rule.spec.unsubscribe
        if not url:
            return ""
        if rule.unsubscribe_secret:
            return unsubscribe_link(url, make_token(rule.unsubscribe_secret, customer_id, rule.spec.fixed["rule"]["channel"]))
        return f"{url}{'&' if '?' in url else '?'}c={customer_id}"

    def __init__(self, specs: dict[int, RuleSpec]) -> None:
        envs: dict[tuple[str, ...], Any] = {}
        html_envs: dict[tuple[str, ...], Any] = {}
        compiled: dict[tuple[tuple[str, ...], str, bool], tuple[_Compiled, bool, set[str] | None]] = {}
        self.specs = specs
        self.rules: dict[int, _RuleRender] = {}
        self.customer_fields: set[str] | None = set()
        for index, spec in specs.items():
            dirs = tuple(spec.template_dirs)
            if dirs not in envs:
                envs[dirs] = environment(TemplateLoader(list(dirs)))
            listing = spec.kind in ("phone", "parcel_insert")
            templates: dict[Any, _Compiled] = {}
            needs_orders = listing
            rule_fields: set[str] | None = {"name"} if listing else set()
            for step, name in spec.templates.items():
                key = (dirs, name, spec.kind == "email")
                if key not in compiled:
                    template = envs[dirs].get_template(name)
                    names, fields = template_uses(envs[dirs], name)
                    html = None
                    if spec.kind == "email" and "html" in template.blocks:
                        if dirs not in html_envs:
                            html_envs[dirs] = environment(TemplateLoader(list(dirs)), autoescape=True)
                        html = html_envs[dirs].get_template(name)
                    compiled[key] = (
                        _Compiled(name, template, dict(template.globals), html),
                        bool({"last_order", "latest_order"} & names),
                        fields,
                    )
                templates[step], uses_orders, fields = compiled[key]
                needs_orders |= uses_orders
                rule_fields = None if fields is None or rule_fields is None else rule_fields | fields
            secret = secret_env(spec.unsubscribe_secret_env) if spec.unsubscribe_secret_env else None
            self.rules[index] = _RuleRender(spec, templates, needs_orders, rule_fields, secret or None)
            self.customer_fields = None if rule_fields is None or self.customer_fields is None else self.customer_fields | rule_fields
        self._offsets: dict[int, dt.timezone] = {}
        self._clock = RenderClock()  # armed only while render_batch runs
        self._timeouts: dict[str, int] = {}

    @property
    def rules_needing_orders(self) -> list[int]:
        return [index for index, r in self.rules.items() if r.needs_orders]

    def render_batch(self, rows: list[tuple[Any, ...]]) -> list[list[Any]]:
        """Rows with the RenderRow's columns -> the RENDERED_COLUMNS as lists."""
        out: list[list[Any]] = [[] for _ in RENDERED_COLUMNS]
        with self._clock:
            for row in rows:  # plain tuples in RenderRow's order: no record built per message
                for column, value in zip(out, (row[_CAND_ID], row[_SEND_LOCAL], *self.render(row))):
                    column.append(value)
        return out

    def render(self, row: RenderRow | tuple[Any, ...]) -> Rendered:
        """One send's message, or why it has none (`row`: RenderRow's columns, in its order)."""
        _, rule_index, step, send_local, utc_offset, event, event_date, customer_id, customer, last_order, last_orders, latest_order = row
        prepared = self.rules[rule_index]
        rule = prepared.spec
        compiled = prepared.templates[step if step in prepared.templates else None]
        offset = self._offsets.get(utc_offset)
        if offset is None:
            offset = self._offsets[utc_offset] = dt.timezone(dt.timedelta(minutes=int(utc_offset)))
        at = send_local.replace(tzinfo=offset)
        context = {
            **compiled.globals,
            **rule.fixed,
            "customer": customer,
            "send": {"at": at, "date": at.date(), "step": step, "event": event, "event_date": event_date},
            "last_order": last_order or {},
            "latest_order": latest_order or {},
        }
        if rule.kind == "email":
            context["unsubscribe_url"] = self._unsubscribe_link(prepared, customer_id)
        template, name = compiled.template, compiled.name
        subject = html = segments = extra = None
        if self._timeouts.get(name, 0) >= TIMEOUTS_BEFORE_SKIP:
            detail = f"{name}: not rendered: the template ran out of time on {TIMEOUTS_BEFORE_SKIP} messages of this plan"
            return Rendered(name, error=detail, error_reason="render_error")
        try:
            self._clock.start()
            if rule.kind == "email":
                subject = _run(template, template.blocks["subject"], context)
                body = _run(template, template.blocks["text"], context) if "text" in template.blocks else ""
                html = _run(compiled.html, compiled.html.blocks["html"], context) if compiled.html is not None else None
            else:
                body = _run(template, template.root_render_func, context)
            self._clock.stop()
        except Exception as exc:  # a template is staff's code run per customer: any failure is this row's
            self._clock.stop()
            if isinstance(exc, RenderTimeout):
                self._timeouts[name] = self._timeouts.get(name, 0) + 1
            return Rendered(name, error=f"{name}: {type(exc).__name__}: {exc}", error_reason="render_error")
        if rule.kind == "sms":
            body = sms.compose(body, rule.signature, rule.opt_out)
            measured = sms.measure(body)
            segments = measured.segments
            if segments > rule.budget:
                detail = f"{name}: {segments} SMS segments ({measured.units} {measured.encoding} units), the channel allows {rule.budget}"
                return Rendered(name, error=detail, error_reason="sms_too_long")
        elif rule.kind in ("phone", "parcel_insert"):
            extra = json.dumps({"name": customer.get("name"), "last_orders": last_orders or []}, ensure_ascii=False, default=str)
        return Rendered(name, subject, body, html, segments, extra)


def _run(template: Template, function: Any, context: dict[str, Any]) -> str:
    """One render of a template (or one of its blocks). The context is shared, not
    copied: `context` already holds the globals (Template.render would copy them again)."""
    return bounded_output(function(Context(template.environment, context, template.name, template.blocks))).strip()
