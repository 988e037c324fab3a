"""`huitou plan --html FILE`: the dry run as one self-contained page a marketer reads
before launch - problems first, the headline, the calendar of sends, each rule's funnel
from its segment to what is sent, the messages as they arrive and a few customers' weeks.

Inline CSS, no script, nothing fetched (the CSP says so). Every text from the data or the
templates is escaped by Jinja's autoescape; an email's HTML part is shown in a sandboxed
frame (srcdoc, which inherits the page's CSP: no script, no network - a remote image in the
email is not fetched - no navigation; `frame-src data:` is what lets Chromium draw it). Contacts are
masked unless --show-pii. The numbers a test or a reader checks carry `data-metric` or
`data-step` and their exact value in `data-value`."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from ..i18n import N_, _, language, money, said_date
from ..plan.overview import LOSSES, Overview, RuleFunnel
from ..sms import measure
from ..templates import mask_contacts
from ..words import said
from .html_report import FONTS

# A holdout that can only show an uplift in conversion this large (5 points) or larger
# will show nothing: a retention message rarely moves conversion that much.
UNDETECTABLE = 0.05

LABELS = {
    "title": N_("The plan, before launch"),
    "problems": N_("Look at these first"),
    "no_problems": N_("Nothing to look at first: every rule sends, and every holdout can show an effect."),
    "headline": N_("At a glance"),
    "customers": N_("customers with a candidate message"),
    "channels": N_("Per channel"),
    "calendar": N_("Sends per day"),
    "calendar_note": N_("Local send dates. ↷ moved by a quiet hour, ✕ lost to a cap or to care first, ○ held out."),
    "funnel": N_("Each rule, from its segment to what is sent"),
    "messages": N_("The messages as they arrive"),
    "weeks": N_("A customer's plan, message by message"),
    "total": N_("total"),
    "channel": N_("channel"),
    "messages_sent": N_("messages"),
    "segments": N_("SMS segments"),
    "cost": N_("cost"),
    "html_part": N_("HTML part"),
    "rule": N_("rule"),
    "when": N_("send time"),
    "outcome": N_("outcome"),
    "step": N_("step"),
    "no_message": N_("no candidate message in this plan"),
}

_PAGE = """<!DOCTYPE html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src data:">
<title>{{ L.title }} {{ plan_id }}</title>
<style>
body { font-family: {{ fonts }}; margin: 2rem auto; max-width: 74rem; color: #1e293b; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; border-bottom: 1px solid #e2e8f0; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; } small, .meta { color: #64748b; font-weight: normal; }
.problems li { color: #92400e; margin: .3rem 0; } .fine { color: #15803d; }
.headline { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { border: 1px solid #e2e8f0; border-radius: .5rem; padding: .8rem 1rem; min-width: 10rem; }
.card .value { font-size: 1.8rem; font-weight: 600; } .card .what { color: #64748b; font-size: .85rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .4rem 0; }
th, td { padding: .25rem .45rem; border-bottom: 1px solid #f1f5f9; text-align: right; vertical-align: top; }
th:first-child, td:first-child, .text { text-align: left; } .time { white-space: nowrap; font-variant-numeric: tabular-nums; }
.calendar td.n { min-width: 1.8rem; } .calendar td.zero { color: #cbd5e1; } .calendar tr.playbook td { font-weight: 600; padding-top: .8rem; }
.calendar .marks { display: block; font-size: .7rem; color: #b45309; }
tr.care td.rule { border-left: 4px solid #16a34a; } tr.promotion td.rule { border-left: 4px solid #f59e0b; } tr.service td.rule { border-left: 4px solid #2563eb; }
.step { display: flex; align-items: center; gap: .6rem; margin: .15rem 0; font-size: .85rem; }
.step .label { min-width: 16rem; } .step .count { min-width: 4.5rem; text-align: right; font-variant-numeric: tabular-nums; }
.step .bar { background: #93c5fd; height: .8rem; } .step.lost .bar { background: #fca5a5; } .step.held .bar { background: #cbd5e1; } .step.sent .bar { background: #16a34a; }
.sms { background: #e2f7d6; border-radius: 1rem 1rem 1rem .2rem; padding: .6rem .9rem; max-width: 24rem; white-space: pre-wrap; }
.email { border: 1px solid #cbd5e1; border-radius: .4rem; max-width: 42rem; }
.email .subject { background: #f8fafc; padding: .5rem .8rem; font-weight: 600; }
.email .body { padding: .6rem .8rem; white-space: pre-wrap; } .email iframe { width: 100%; height: 18rem; border: 0; border-top: 1px solid #e2e8f0; }
.plain { border-left: 3px solid #cbd5e1; padding: .3rem .8rem; white-space: pre-wrap; max-width: 42rem; }
.listed { border: 1px dashed #94a3b8; padding: .3rem .8rem; max-width: 42rem; font-size: .85rem; } .listed .to { color: #64748b; margin-right: 1rem; }
.samples { display: flex; flex-wrap: wrap; gap: 1rem 2rem; } .sample { break-inside: avoid; max-width: 34rem; } .s-send { color: #15803d; } .s-holdout { color: #64748b; } .s-suppressed { color: #b91c1c; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } .funnel, table { break-inside: avoid; } }
</style></head><body>
<h1>{{ L.title }}</h1>
<p>{{ header }}</p>
<h2>{{ L.problems }}</h2>
{% if problems %}<ul class="problems">{% for p in problems %}<li data-problem="{{ p.kind }}">{{ p.text }}</li>{% endfor %}</ul>
{% else %}<p class="fine">{{ L.no_problems }}</p>{% endif %}
<h2>{{ L.headline }}</h2>
<div class="headline">
  <div class="card"><div class="value" data-metric="customers" data-value="{{ o.customers }}">{{ n(o.customers) }}</div><div class="what">{{ L.customers }}</div></div>
  {% for word, count in status %}<div class="card"><div class="value" data-metric="{{ word }}" data-value="{{ count }}">{{ n(count) }}</div><div class="what">{{ said(word) }}</div></div>{% endfor %}
</div>
<h3>{{ L.channels }}</h3>
<table class="channels"><thead><tr><th>{{ L.channel }}</th><th>{{ L.messages_sent }}</th><th>{{ L.segments }}</th><th>{{ L.cost }}</th></tr></thead><tbody>
{% for c in o.channels %}<tr data-channel="{{ c.channel }}"><td>{{ c.channel }}</td><td data-metric="messages" data-value="{{ c.messages }}">{{ n(c.messages) }}</td>
<td>{{ n(c.segments) if kinds.get(c.channel) == "sms" else "-" }}</td><td data-metric="cost" data-value="{{ c.cost if c.cost is not none else '' }}">{{ cost(c) }}</td></tr>{% endfor %}
</tbody></table>
<h2>{{ L.calendar }}</h2>
<p class="meta">{{ L.calendar_note }}</p>
<table class="calendar"><thead><tr><th>{{ L.rule }}</th>{% for d in days %}<th>{{ d.label }}</th>{% endfor %}<th>{{ L.total }}</th></tr></thead><tbody>
{% for row in calendar %}{% if row.playbook %}<tr class="playbook"><td colspan="{{ days|length + 2 }}">{{ row.playbook }}</td></tr>
{% else %}<tr class="{{ row.intent }}" data-rule="{{ row.name }}"><td class="rule">{{ row.rule }} <small>{{ said(row.intent) }}</small></td>
{% for c in row.cells %}<td class="n{{ ' zero' if not c.sent }}" data-day="{{ c.day }}" data-value="{{ c.sent }}" data-deferred="{{ c.deferred }}">{{ n(c.sent) if c.sent else "·" }}
{%- if c.marks %}<span class="marks">{{ c.marks }}</span>{% endif %}</td>{% endfor %}
<td data-metric="sends" data-value="{{ row.total }}">{{ n(row.total) }}</td></tr>{% endif %}{% endfor %}
<tr class="totals"><td>{{ L.total }}</td>{% for d in days %}<td data-day="{{ d.day }}" data-value="{{ d.total }}">{{ n(d.total) }}</td>{% endfor %}
<td data-metric="sends" data-value="{{ sends }}">{{ n(sends) }}</td></tr>
</tbody></table>
<h2>{{ L.funnel }}</h2>
{% for r in funnels %}<div class="funnel" data-rule="{{ r.name }}"><h3>{{ r.name }} <small>{{ said(r.intent) }} · {{ r.channel }}</small></h3>
{% for s in r.steps %}<div class="step {{ s.kind }}" data-step="{{ s.key }}" data-value="{{ s.n }}"><span class="label">{{ s.label }}</span>
<span class="count">{{ s.shown }}</span><span class="bar" style="width: {{ s.width }}rem"></span></div>{% endfor %}
</div>{% endfor %}
{% if not_due %}<p class="meta" data-step="not_due">{{ not_due }}</p>{% endif %}
<h2>{{ L.messages }}</h2>
{% for g in samples %}<h3>{{ g.rule }} <small>{{ g.title }}</small></h3><div class="samples">
{% for s in g.shown %}<div class="sample" data-rule="{{ s.rule }}"><div class="meta">{{ s.meta }}</div>
{% if s.kind == "sms" %}<div class="sms">{{ s.body }}</div><div class="meta">{{ s.sms }}</div>
{% elif s.subject %}<div class="email"><div class="subject">{{ s.subject }}</div>
{% if s.body %}<div class="body">{{ s.body }}</div>{% endif %}
{% if s.html %}<iframe sandbox="" referrerpolicy="no-referrer" title="{{ L.html_part }}" srcdoc="{{ s.html }}"></iframe>{% endif %}</div>
{% elif s.kind in ("phone", "parcel_insert") %}<div class="listed"><span class="to">{{ s.customer_id }} {{ s.to or "" }}</span>{{ s.body }}</div>
{% else %}<div class="plain">{{ s.body }}</div>{% endif %}</div>{% endfor %}</div>{% endfor %}
<h2>{{ L.weeks }}</h2>
{% for customer, shown, rows in weeks %}<h3 data-customer="{{ customer }}">{{ shown }}</h3>
{% if rows %}<table class="week"><thead><tr><th>{{ L.when }}</th><th class="text">{{ L.rule }}</th><th>{{ L.step }}</th><th class="text">{{ L.channel }}</th><th class="text">{{ L.outcome }}</th></tr></thead><tbody>
{% for m in rows %}<tr data-status="{{ m.status }}"><td class="time">{{ m.send_at[:16].replace("T", " ") }} <small>{{ m.send_at[19:] }}</small></td><td class="text">{{ m.playbook }}/{{ m.rule_id }}</td><td>{{ m.step }}</td><td class="text">{{ m.channel }}</td>
<td class="text s-{{ m.status }}">{{ said(m.status) }}{% if m.reason %}: {{ said(m.reason) }}{% endif %}{% if m.reason_detail %} <small>{{ m.reason_detail }}</small>{% endif %}</td></tr>{% endfor %}
</tbody></table>{% else %}<p class="meta">{{ L.no_message }}</p>{% endif %}{% endfor %}
</body></html>
"""


def plan_html(
    o: Overview,
    status: dict[str, int],
    sizing: list[Any],
    header: dict[str, Any],
    kinds: dict[str, str],
    warned: list[dict[str, str]],
    show_pii: bool = False,
) -> str:
    """The page. `status`: the plan's rows per status; `sizing`: each holdout's detectable
    uplift (report.sizing); `header`: the plan's id, as-of date, window and notes; `kinds`:
    each channel's kind; `warned`: what validation warned of, said first."""
    sends = sum(f.sent for f in o.rules)
    template = Environment(autoescape=True).from_string(_PAGE)
    return template.render(
        lang=language(),
        fonts=Markup(FONTS[language()]),
        L={key: _(text) for key, text in LABELS.items()},
        plan_id=header["plan_id"],
        header=_(
            "Plan {id} as of {as_of}: {days} days from {start} (dry run: nothing is sent)",
            id=header["plan_id"],
            as_of=said_date(header["as_of"]),
            days=header["days"],
            start=said_date(header["start"]),
        ),
        problems=[*warned, *rule_problems(o, sizing), *({"kind": "note", "text": t} for t in header["notes"])],
        o=o,
        status=[(word, status.get(word, 0)) for word in ("send", "holdout", "suppressed")],
        kinds=kinds,
        days=[{"day": d, "label": f"{int(d[5:7])}/{int(d[8:])}", "total": sum(c.get(d, _EMPTY).sent for c in o.calendar.values())} for d in o.days],
        calendar=_calendar(o),
        sends=sends,
        funnels=[_funnel(f) for f in o.rules if f.candidates],
        not_due=_not_due(o),
        samples=_samples(o.messages, kinds),
        weeks=[(c, c if show_pii else mask_contacts(c), rows) for c, rows in o.weeks.items()],
        said=said,
        n=lambda value: f"{value:,}",
        cost=lambda c: "-" if c.cost is None else money(c.cost, c.currency),
    )


def rule_problems(o: Overview, sizing: list[Any]) -> list[dict[str, str]]:
    """Rules whose candidates all fall out (with what took them), segments that select no
    one, and holdouts too small to ever show an effect."""
    out = []
    for f in o.rules:
        if f.candidates and not f.sent:
            losses = [(said(r), n) for r, n in sorted(f.lost.items(), key=lambda kv: -kv[1])] + ([(said("holdout"), f.held)] if f.held else [])
            text = _(
                "{rule} sends to no one; what became of its candidate messages: {losses}",
                rule=f.name,
                losses=_(", ").join(_("{n:,} {word}", n=n, word=word) for word, n in losses),
            )
            out.append({"kind": "no_send", "text": text})
    empty = [f.name for f in o.rules if f.in_segment == 0]
    if empty:
        out.append({"kind": "empty_segment", "text": _("no customer is in the segment of {rules}", rules=_(", ").join(empty))})
    for s in sizing:
        if s.mde is None or s.mde >= UNDETECTABLE:
            name, detectable = f"{s.playbook}/{s.rule}", "-" if s.mde is None else f"+{s.mde:.1%}"
            text = _(
                "{rule}: its holdout ({held:,} customers against {treated:,} treated) is too small to show an effect "
                "a message can have (it detects {detectable} or more)",
                rule=name,
                held=s.holdout,
                treated=s.treated,
                detectable=detectable,
            )
            out.append({"kind": "small_holdout", "text": text})
    return out


def _not_due(o: Overview) -> str:
    """The rules with customers in their segment but no date in the window, in one line."""
    waiting = [_("{rule} ({n:,} in the segment)", rule=f.name, n=f.in_segment) for f in o.rules if not f.candidates and f.in_segment]
    return _("No candidate message in this window: {rules}", rules=_(", ").join(waiting)) if waiting else ""


_EMPTY = type("Empty", (), {"sent": 0, "deferred": 0, "held": 0, "capped": 0})()


def _calendar(o: Overview) -> list[dict[str, Any]]:
    """A heading row per playbook, then its rules (care, service, promotion) with their
    sends per day and what the day moved, capped or held out."""
    out: list[dict[str, Any]] = []
    for f in o.rules:
        if not out or out[-1].get("playbook_of") != f.playbook:
            out.append({"playbook": f.playbook})
        cells = []
        for day in o.days:
            c = o.calendar.get(f.name, {}).get(day, _EMPTY)
            marks = " ".join(
                m for m in (f"↷{c.deferred}" if c.deferred else "", f"✕{c.capped}" if c.capped else "", f"○{c.held}" if c.held else "") if m
            )
            cells.append({"day": day, "sent": c.sent, "deferred": c.deferred, "marks": marks})
        out.append({"playbook_of": f.playbook, "name": f.name, "rule": f.rule, "intent": f.intent, "cells": cells, "total": f.sent})
    return out


def _funnel(f: RuleFunnel) -> dict[str, Any]:
    """The steps of a rule's funnel: its segment's customers, its candidate messages in the
    window, what each reason took (in the order the stages decide), the holdout, the sends."""
    steps: list[dict[str, Any]] = []
    if f.in_segment is not None:
        steps.append({"key": "in_segment", "kind": "", "label": _("customers in the segment"), "n": f.in_segment})
    steps.append({"key": "candidates", "kind": "", "label": _("candidate messages in the window"), "n": f.candidates})
    steps += [{"key": r, "kind": "lost", "label": _("not sent: {reason}", reason=said(r)), "n": f.lost[r]} for r in LOSSES if f.lost.get(r)]
    if f.held:
        steps.append({"key": "holdout", "kind": "held", "label": _("held out (the control group)"), "n": f.held})
    steps.append({"key": "send", "kind": "sent", "label": _("sent"), "n": f.sent})
    widest = max((s["n"] for s in steps), default=1) or 1
    for s in steps:
        s["shown"] = ("−" if s["kind"] in ("lost", "held") else "") + f"{s['n']:,}"
        s["width"] = f"{max(s['n'] * 28 / widest, 0.15):.2f}"
    return {"name": f.name, "intent": f.intent, "channel": f.channel, "steps": steps}


def _samples(messages: list[dict[str, Any]], kinds: dict[str, str]) -> list[dict[str, Any]]:
    """The messages grouped by rule and step, each as it arrives."""
    groups: dict[tuple[str, Any], dict[str, Any]] = {}
    for m in messages:
        title = _("step {step} · {channel}", step=m["step"], channel=m["channel"])
        groups.setdefault((m["rule"], m["step"]), {"rule": m["rule"], "title": title, "shown": []})["shown"].append(_sample(m, kinds))
    return list(groups.values())


def _sample(sample: dict[str, Any], kinds: dict[str, str]) -> dict[str, Any]:
    """A rule's first message as it arrives: an SMS with its segments and encoding, an
    email with its subject, text and HTML part, anything else as its text."""
    kind = kinds.get(str(sample.get("channel")), "")
    body = str(sample.get("body") or "")
    out = {**sample, "kind": kind, "body": body}
    out["meta"] = _("{customer} ({to}) at {send_at}", customer=sample["customer_id"], to=sample.get("to") or "-", send_at=sample["send_at"])
    if kind == "sms":
        length = measure(body)
        encoding = "GSM-7" if length.encoding == "gsm7" else "UCS-2"
        out["sms"] = _("{segments} SMS segment(s), {encoding}", segments=sample.get("segments") or length.segments, encoding=encoding)
    return out
