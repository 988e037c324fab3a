"""`huitou diff --format html`: a playbook change as one self-contained page, a pull
request's artifact - the summary, each changed rule's customers, reasons and reworded or
moved messages, the channels and days, and validation. Inline CSS, no script, nothing
fetched; every text from the data or the playbooks is escaped by Jinja's autoescape
(contacts are masked before this point, diff/compare.py)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from ..i18n import N_, _, language, said_date
from ..inert import shown
from ..words import said
from .diff import summary
from .html_report import FONTS

LABELS = {
    "rules": N_("Rules that changed"),
    "rule": N_("Rule"),
    "gain": N_("Customers +"),
    "lose": N_("Customers −"),
    "sends": N_("Sends"),
    "reworded": N_("Reworded"),
    "moved": N_("Moved"),
    "channels": N_("Channels and days"),
    "validation": N_("Validation"),
    "new": N_("new"),
    "gone": N_("gone"),
}

_PAGE = """<!DOCTYPE html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>huitou diff {{ base }} → {{ head }}</title>
<style>
body { font-family: {{ fonts }}; margin: 2rem auto; max-width: 64rem; color: #1e293b; padding: 0 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; border-bottom: 1px solid #e2e8f0; } h3 { font-size: 1rem; }
table { border-collapse: collapse; font-size: .85rem; } th, td { padding: .25rem .5rem; border-bottom: 1px solid #f1f5f9; text-align: right; }
th:first-child, td:first-child { text-align: left; } .meta { color: #64748b; } ul.examples li { margin: .2rem 0; }
del { background: #fee2e2; } ins { background: #dcfce7; text-decoration: none; } .add { color: #15803d; } .remove { color: #b91c1c; }
</style></head><body>
<h1>huitou diff: {{ base }} → {{ head }}</h1>
<p class="meta">{{ intro }}</p>
<ul class="summary">{% for s in lines %}<li>{{ s }}</li>{% endfor %}</ul>
{% if changed %}<h2>{{ L.rules }}</h2>
<table><thead><tr><th>{{ L.rule }}</th><th>{{ L.gain }}</th><th>{{ L.lose }}</th><th>{{ L.sends }}</th><th>{{ L.reworded }}</th><th>{{ L.moved }}</th></tr></thead><tbody>
{% for r in changed %}<tr data-rule="{{ r.playbook }}/{{ r.rule }}"><td>{{ r.playbook }}/{{ r.rule }}</td><td data-metric="added" data-value="{{ r.added }}">{{ n(r.added) }}</td>
<td data-metric="removed" data-value="{{ r.removed }}">{{ n(r.removed) }}</td><td>{{ n(r.sends_base) }} → {{ n(r.sends_head) }}</td><td>{{ n(r.reworded) }}</td><td>{{ n(r.moved) }}</td></tr>{% endfor %}
</tbody></table>
{% for r in changed %}<h3>{{ r.playbook }}/{{ r.rule }}</h3><ul class="examples">
{% for x in r.reasons %}<li>{{ said(x.reason) }}: {{ n(x.base) }} → {{ n(x.head) }}</li>{% endfor %}
{% for x in r.examples.added %}<li class="add">+ {{ x.customer_id|shown }} {{ x.to or "" }} {{ x.send_at }}: {{ (x.body or "")|shown }}</li>{% endfor %}
{% for x in r.examples.removed %}<li class="remove">− {{ x.customer_id|shown }} {{ x.to or "" }} {{ x.send_at }}: {{ (x.body or "")|shown }}</li>{% endfor %}
{% for x in r.reworded_examples %}<li>{{ x.customer_id }}: {% for op, text in x.parts %}{% if op == "-" %}<del>{{ text }}</del>{% elif op == "+" %}<ins>{{ text }}</ins>{% else %}{{ text }}{% endif %}{% endfor %}</li>{% endfor %}
{% for x in r.moved_examples %}<li>{{ x.customer_id }}: {{ x.from }} → {{ x.to }}</li>{% endfor %}
</ul>{% endfor %}{% endif %}
{% if channels or days %}<h2>{{ L.channels }}</h2><ul>
{% for c in channels %}<li>{{ c }}</li>{% endfor %}
{% for d in days %}<li>{{ d.playbook }} {{ d.channel }} {{ d.day }}: {{ sends(d) }}</li>{% endfor %}</ul>{% endif %}
{% if validation.appeared or validation.went_away %}<h2>{{ L.validation }}</h2><ul>
{% for v in validation.appeared %}<li>{{ L.new }}: {{ v.file }}:{{ v.line }}:{{ v.column }} {{ v.code }} {{ v.message }}</li>{% endfor %}
{% for v in validation.went_away %}<li>{{ L.gone }}: {{ v.file }}:{{ v.line }}:{{ v.column }} {{ v.code }} {{ v.message }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"""


def as_html(diff: dict[str, Any]) -> str:
    channels = [
        f"{c['channel']}: " + _("{base:,} → {head:,} messages", base=c["messages_base"], head=c["messages_head"])
        for c in diff["channels"]
        if c["messages_base"] != c["messages_head"] or c["cost_base"] != c["cost_head"]
    ]
    env = Environment(autoescape=True)
    env.filters["shown"] = shown  # control characters (a bidi override in a name) shown, not obeyed
    return env.from_string(_PAGE).render(
        lang=language(),
        fonts=Markup(FONTS[language()]),
        L={key: _(text) for key, text in LABELS.items()},
        base=diff["base"]["label"],
        head=diff["head"]["label"],
        intro=_("As of {as_of}, {days} days, the same data for both.", as_of=said_date(diff["as_of"]), days=diff["horizon_days"]),
        lines=summary(diff),
        changed=[r for r in diff["rules"] if r["changed"]],
        channels=channels,
        days=diff["days"],
        validation=diff["validation"],
        said=said,
        n=lambda value: f"{value:,}",
        sends=lambda d: _("{base:,} → {head:,} sends", base=d["base"], head=d["head"]),
    )
