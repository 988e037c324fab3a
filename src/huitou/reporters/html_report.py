"""`huitou report --html FILE`: one self-contained page (inline CSS and SVG, no script,
no font or image fetched) with the headline rates, the charts and each rule's effect.

Every text that comes from data or the ledger is escaped by Jinja's autoescape; the
sample messages are shown as text (an email's HTML part is not embedded), with contacts
masked. Headline numbers carry `data-metric` and their exact value in `data-value`."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from ..i18n import N_, _, language, money, said_date
from ..report.effect import EffectReport
from ..report.repeat import PeriodRates, RepeatReport
from ..templates import mask_contacts
from . import charts
from .effect import EFFECT_COLUMNS, amount, effect_dict, still_open_words
from .report import PER

_PAGE = """<!DOCTYPE html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{ L.page }} {{ start }} .. {{ end }}</title>
<style>
body { font-family: {{ fonts }}; margin: 2rem auto; max-width: 60rem; color: #1e293b; padding: 0 1rem; }
{% if lang != "en" %}figure svg text { font-family: {{ fonts }} !important; }
{% endif %}h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; border-bottom: 1px solid #e2e8f0; }
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
<h1>{{ L.title }}</h1>
<p>{{ range }}</p>
<div class="headline">
  <div class="card"><div class="value" data-metric="repeat_by_customer" data-value="{{ by_customer.rate }}">{{ pct(by_customer.rate) }}</div>
    <div class="what">{{ by_customer_words }}</div></div>
  <div class="card"><div class="value" data-metric="repeat_by_transaction" data-value="{{ by_transaction.rate }}">{{ pct(by_transaction.rate) }}</div>
    <div class="what">{{ by_transaction_words }}</div></div>
  {% if median_cycle is not none %}<div class="card"><div class="value" data-metric="median_cycle" data-value="{{ median_cycle }}">{{ cycle_days }}</div>
    <div class="what">{{ L.cycle }}</div></div>{% endif %}
</div>
{% for w in warnings %}<p class="note">{{ w }}</p>{% endfor %}
<h2>{{ L.over_time }}</h2>
<figure data-chart="repeat-rate">{{ charts.repeat }}</figure>
{% if charts.cohorts %}<h2>{{ L.cohorts }}</h2>
<figure data-chart="cohorts">{{ charts.cohorts }}</figure>{% endif %}
<h2>{{ L.changed }}</h2>
{% if rules %}
<table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for r in rules %}<tr data-rule="{{ r.playbook }}/{{ r.rule or '' }}">
<td>{{ r.playbook }}/{{ r.rule or L.all_rules }}</td><td>{{ r.attribution_window_days }}d</td>
<td>{{ "{:,}".format(r.treated.customers) }}</td><td>{{ pct(r.treated.rate) }}</td><td>{{ "{:,}".format(r.holdout.customers) }}</td><td>{{ pct(r.holdout.rate) }}</td>
<td data-metric="uplift" data-value="{{ r.uplift.absolute }}">{{ pp(r.uplift.absolute) }}</td>
<td>{% if r.uplift.ci_low is not none %}{{ pp(r.uplift.ci_low) }} .. {{ pp(r.uplift.ci_high) }}{% else %}-{% endif %}</td>
<td>{% if r.uplift.p_value is not none %}{{ "%.3f"|format(r.uplift.p_value) }}{% else %}-{% endif %}</td>
<td>{% if r.incremental_revenue %}{{ amount(r.incremental_revenue.estimate, r.cost.currency if r.cost else none) }}{% else %}-{% endif %}</td>
<td>{% if r.cost %}{{ spend(r.cost.spend, r.cost.currency) }}{% else %}-{% endif %}</td>
<td>{% if r.cost and r.cost.return_ratio is not none %}1:{{ "{:,.1f}".format(r.cost.return_ratio) }}{% else %}-{% endif %}</td></tr>
<tr><td colspan="12" class="{{ 'evidence' if r.evidence else 'none' }}">{{ r.verdict }}{{ still_open(r.open_window) }}</td></tr>
{% endfor %}</tbody></table>
{% if charts.uplift %}<figure data-chart="uplift">{{ charts.uplift }}</figure>{% endif %}
<figure data-chart="funnel">{{ charts.funnel }}</figure>
{% endif %}
{% for n in notes %}<p class="note">{{ n }}</p>{% endfor %}
{% if samples %}<h2>{{ L.sent }}</h2>
{% for s in samples %}<div class="sample"><div class="rule">{{ s.playbook }}/{{ s.rule }} ({{ s.channel }})</div>
{% if s.subject %}<div class="email"><div class="subject">{{ s.subject }}</div><div class="body">{{ s.body }}</div></div>
{% else %}<div class="sms">{{ s.body }}</div>{% endif %}</div>
{% endfor %}{% endif %}
</body></html>
"""

# The page's own words (in the chosen language) and the fonts that show them: a page in
# Chinese or Japanese names the CJK fonts of the common systems first (Noto Sans CJK on
# Linux, .ci/run installs it), so its text is not boxes where system-ui has no CJK glyphs.
LABELS = {
    "page": N_("huitou report"),
    "title": N_("Repeat purchase and what each rule changed"),
    "cycle": N_("median purchase cycle"),
    "over_time": N_("Repeat purchase over time"),
    "cohorts": N_("First-purchase cohorts"),
    "changed": N_("What each rule changed"),
    "all_rules": N_("(all rules)"),
    "sent": N_("What was sent"),
}
FONTS = {
    "en": "system-ui, sans-serif",
    "zh-CN": 'system-ui, "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif',
    "ja": 'system-ui, "Noto Sans CJK JP", "Source Han Sans JP", "Hiragino Sans", "Yu Gothic", Meiryo, sans-serif',
}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _pp(value: float | None) -> str:
    return "-" if value is None else _("{points:+.1f} pp", points=value * 100)


def _spend(value: float, currency: str | None) -> str:
    """The spend cell: `12.00 CNY` in English, `¥12.00` in Chinese and Japanese."""
    return money(value, currency) if language() != "en" else f"{value:,.2f} {currency or ''}"


def report_html(report: RepeatReport, effects: EffectReport, samples: list[dict[str, Any]], as_of: str, over_time: list[PeriodRates]) -> str:
    """The page; `over_time`: the periods the rate chart shows (the report's own, or months)."""
    rules = [effect_dict(e) for e in effects.effects if e.holdout.customers or not e.unmeasurable]
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
    c, t = report.total.by_customer, report.total.by_transaction
    every = (", " + _(PER[report.every])) if report.every in PER else (f", per {report.every}" if report.every else "")
    return template.render(
        lang=language(),
        fonts=Markup(FONTS[language()]),
        L={key: _(text) for key, text in LABELS.items()},
        columns=[_(name) for name in EFFECT_COLUMNS],
        start=said_date(report.start),
        end=said_date(report.end),
        range=_(
            "{start} .. {end}{every}; paid orders; outcomes counted up to {as_of}.",
            start=said_date(report.start),
            end=said_date(report.end),
            every=every,
            as_of=said_date(as_of),
        ),
        by_customer=c,
        by_transaction=t,
        by_customer_words=_("repeat purchase by customer: {n:,} of {of:,} buyers", n=c.numerator, of=c.denominator),
        by_transaction_words=_("repeat purchase by transaction: {n:,} of {of:,} purchases", n=t.numerator, of=t.denominator),
        median_cycle=report.median_cycle_days,
        cycle_days=_("{days:.0f} days", days=report.median_cycle_days) if report.median_cycle_days is not None else "",
        amount=amount,
        spend=_spend,
        still_open=still_open_words,
        warnings=report.warnings,
        charts=figures,
        rules=rules,
        notes=effects.notes,
        samples=masked,
        pct=_pct,
        pp=_pp,
    )
