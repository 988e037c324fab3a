"""`huitou report --html FILE`: one self-contained page (inline CSS and SVG, no script,
no font or image fetched) with the headline rates, the charts and each rule's effect.

Every text that comes from data or the ledger is escaped by Jinja's autoescape; the
sample messages are shown as text (an email's HTML part is not embedded), with contacts
masked. Headline numbers carry `data-metric` and their exact value in `data-value`."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from ..report.effect import EffectReport
from ..report.repeat import PeriodRates, RepeatReport
from ..templates import mask_contacts
from . import charts
from .effect import effect_dict

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>huitou report {{ start }} .. {{ end }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #1e293b; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; border-bottom: 1px solid #e2e8f0; }
.headline { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { border: 1px solid #e2e8f0; border-radius: .5rem; padding: .8rem 1rem; min-width: 12rem; }
.card .value { font-size: 1.8rem; font-weight: 600; } .card .what { color: #64748b; font-size: .85rem; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; } th, td { padding: .3rem .5rem; border-bottom: 1px solid #f1f5f9; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.evidence { color: #15803d; font-weight: 600; } .none { color: #64748b; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
.sms { background: #e2f7d6; border-radius: 1rem 1rem 1rem .2rem; padding: .6rem .9rem; max-width: 24rem; white-space: pre-wrap; }
.email { border: 1px solid #cbd5e1; border-radius: .4rem; max-width: 36rem; } .email .subject { background: #f8fafc; padding: .5rem .8rem; font-weight: 600; }
.email .body { padding: .6rem .8rem; white-space: pre-wrap; } .note { color: #92400e; }
.sample { margin: 1rem 0; } .sample .rule { color: #64748b; font-size: .8rem; }
</style></head><body>
<h1>Repeat purchase and what each rule changed</h1>
<p>{{ start }} .. {{ end }}{% if every %}, per {{ every }}{% endif %}; paid orders; outcomes counted up to {{ as_of }}.</p>
<div class="headline">
  <div class="card"><div class="value" data-metric="repeat_by_customer" data-value="{{ by_customer.rate }}">{{ pct(by_customer.rate) }}</div>
    <div class="what">repeat purchase by customer: {{ "{:,}".format(by_customer.numerator) }} of {{ "{:,}".format(by_customer.denominator) }} buyers</div></div>
  <div class="card"><div class="value" data-metric="repeat_by_transaction" data-value="{{ by_transaction.rate }}">{{ pct(by_transaction.rate) }}</div>
    <div class="what">repeat purchase by transaction: {{ "{:,}".format(by_transaction.numerator) }} of {{ "{:,}".format(by_transaction.denominator) }} purchases</div></div>
  {% if median_cycle is not none %}<div class="card"><div class="value" data-metric="median_cycle" data-value="{{ median_cycle }}">{{ "%.0f"|format(median_cycle) }} days</div>
    <div class="what">median purchase cycle</div></div>{% endif %}
</div>
{% for w in warnings %}<p class="note">{{ w }}</p>{% endfor %}
<h2>Repeat purchase over time</h2>
<figure data-chart="repeat-rate">{{ charts.repeat }}</figure>
{% if charts.cohorts %}<h2>First-purchase cohorts</h2>
<figure data-chart="cohorts">{{ charts.cohorts }}</figure>{% endif %}
<h2>What each rule changed</h2>
{% if rules %}
<table><thead><tr><th>playbook / rule</th><th>window</th><th>treated</th><th>conv.</th><th>holdout</th><th>conv.</th><th>uplift</th><th>95% interval</th><th>p</th><th>incr. revenue</th><th>spend</th><th>return</th></tr></thead><tbody>
{% for r in rules %}<tr data-rule="{{ r.playbook }}/{{ r.rule or '' }}">
<td>{{ r.playbook }}/{{ r.rule or '(all rules)' }}</td><td>{{ r.attribution_window_days }}d</td>
<td>{{ "{:,}".format(r.treated.customers) }}</td><td>{{ pct(r.treated.rate) }}</td><td>{{ "{:,}".format(r.holdout.customers) }}</td><td>{{ pct(r.holdout.rate) }}</td>
<td data-metric="uplift" data-value="{{ r.uplift.absolute }}">{{ pp(r.uplift.absolute) }}</td>
<td>{% if r.uplift.ci_low is not none %}{{ pp(r.uplift.ci_low) }} .. {{ pp(r.uplift.ci_high) }}{% else %}-{% endif %}</td>
<td>{% if r.uplift.p_value is not none %}{{ "%.3f"|format(r.uplift.p_value) }}{% else %}-{% endif %}</td>
<td>{% if r.incremental_revenue %}{{ "{:,.2f}".format(r.incremental_revenue.estimate) }}{% else %}-{% endif %}</td>
<td>{% if r.cost %}{{ "{:,.2f}".format(r.cost.spend) }} {{ r.cost.currency or '' }}{% else %}-{% endif %}</td>
<td>{% if r.cost and r.cost.return_ratio is not none %}1:{{ "{:,.1f}".format(r.cost.return_ratio) }}{% else %}-{% endif %}</td></tr>
<tr><td colspan="12" class="{{ 'evidence' if r.evidence else 'none' }}">{{ r.verdict }}{% if r.open_window %} ({{ r.open_window }} customers' windows still open, left out){% endif %}</td></tr>
{% endfor %}</tbody></table>
{% if charts.uplift %}<figure data-chart="uplift">{{ charts.uplift }}</figure>{% endif %}
<figure data-chart="funnel">{{ charts.funnel }}</figure>
{% endif %}
{% for n in notes %}<p class="note">{{ n }}</p>{% endfor %}
{% if samples %}<h2>What was sent</h2>
{% for s in samples %}<div class="sample"><div class="rule">{{ s.playbook }}/{{ s.rule }} ({{ s.channel }})</div>
{% if s.subject %}<div class="email"><div class="subject">{{ s.subject }}</div><div class="body">{{ s.body }}</div></div>
{% else %}<div class="sms">{{ s.body }}</div>{% endif %}</div>
{% endfor %}{% endif %}
</body></html>
"""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _pp(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} pp"


def report_html(report: RepeatReport, effects: EffectReport, samples: list[dict[str, Any]], as_of: str, over_time: list[PeriodRates]) -> str:
    """The page; `over_time`: the periods the rate chart shows (the report's own, or months)."""
    rules = [effect_dict(e) for e in effects.effects if e.holdout.customers or not e.verdict.startswith("no holdout: the playbook sets none")]
    measured = [e for e in effects.effects if e.rule is not None]
    figures = {
        "repeat": Markup(charts.repeat_rate(over_time)),
        "cohorts": Markup(charts.cohort_heatmap(report)) if report.cohorts else None,
        "uplift": Markup(charts.uplift_bars([e for e in effects.effects if e.conversion is not None]))
        if any(e.conversion for e in effects.effects)
        else None,
        "funnel": Markup(charts.funnel(measured)),
    }
    masked = [{k: mask_contacts(v) if isinstance(v, str) and k in ("subject", "body") else v for k, v in s.items()} for s in samples]
    template = Environment(autoescape=True).from_string(_PAGE)
    return template.render(
        start=report.start,
        end=report.end,
        every=report.every,
        as_of=as_of,
        by_customer=report.total.by_customer,
        by_transaction=report.total.by_transaction,
        median_cycle=report.median_cycle_days,
        warnings=report.warnings,
        charts=figures,
        rules=rules,
        notes=effects.notes,
        samples=masked,
        pct=_pct,
        pp=_pp,
    )
