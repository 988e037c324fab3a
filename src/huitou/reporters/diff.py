"""`huitou diff` as text (a terminal), JSON (a program) and Markdown (a pull-request
comment: the summary first, the details folded). Contacts are masked before this point
(diff/compare.py); customer-written text in Markdown is escaped so that it cannot close
a table, a code block or a <details>, nor turn into a link or an image."""

from __future__ import annotations

import html
import json
from collections import Counter
from typing import Any

from ..i18n import N_, _, n_, said_date
from ..inert import markdown_inert, shown
from ..words import said

MARKER = "<!-- huitou-diff -->"  # lets the workflow update its comment instead of adding one


def _signed(n: float) -> str:
    return f"+{n:,}" if n > 0 else f"{n:,}"


def summary(diff: dict[str, Any]) -> list[str]:
    """The change in a few phrases, biggest first."""
    if diff["unchanged"]:
        return [_("no change: the same customers get the same messages at the same times")]
    rules = diff["rules"]
    out = []
    added, removed = sum(r["added"] for r in rules), sum(r["removed"] for r in rules)
    touched = sum(1 for r in rules if r["added"] or r["removed"])
    if added or removed:
        gain = n_("{n:,} customer gains a send", "{n:,} customers gain a send", added)
        lose = n_("{n:,} loses one", "{n:,} lose one", removed)
        out.append(_("{gain} and {lose}, across {rules}", gain=gain, lose=lose, rules=n_("{n} rule", "{n} rules", touched)))
    for key, what in (("reworded", N_("messages reworded")), ("moved", N_("sends moved in time"))):
        total = sum(r[key] for r in rules)
        if total:
            out.append(_("{n:,} {word}", n=total, word=_(what)))
    reasons: Counter[str] = Counter()
    for r in rules:
        for reason in r["reasons"]:
            reasons[reason["reason"]] += reason["change"]
    out += [
        (_("{n:,} more {reason}", n=n, reason=said(reason)) if n > 0 else _("{n:,} fewer {reason}", n=-n, reason=said(reason)))
        for reason, n in sorted(reasons.items(), key=lambda kv: -abs(kv[1]))
        if n
    ]
    for c in diff["channels"]:
        segments = (c["segments_head"] or 0) - (c["segments_base"] or 0)
        if c["messages_base"] != c["messages_head"] or segments:
            out.append(
                _("{channel}: {change} messages", channel=c["channel"], change=_signed(c["messages_head"] - c["messages_base"]))
                + (_(" ({change} SMS segments)", change=_signed(segments)) if segments else "")
            )
        if c["cost_base"] is not None and c["cost_head"] is not None and c["cost_base"] != c["cost_head"]:
            change = _signed(round(c["cost_head"] - c["cost_base"], 2))
            out.append(_("{channel}: cost {change} {currency}", channel=c["channel"], change=change, currency=c["currency"] or "").rstrip())
    for key, what in (("rules_added", N_("rules added: {rules}")), ("rules_removed", N_("rules removed: {rules}"))):
        if diff[key]:
            out.append(_(what, rules=", ".join(f"{r['playbook']}/{r['rule']}" for r in diff[key])))
    validation = diff["validation"]
    if validation["appeared"] or validation["went_away"]:
        out.append(_("validation: {new} new problem(s), {gone} gone", new=len(validation["appeared"]), gone=len(validation["went_away"])))
    return out or [_("no send changes; details below")]


def as_json(diff: dict[str, Any]) -> str:
    return json.dumps(diff, ensure_ascii=False, indent=2, default=str)


def as_text(diff: dict[str, Any]) -> str:
    head = "huitou diff " + _(
        "{base} .. {head} (as of {as_of}, {days} days)",
        base=diff["base"]["label"],
        head=diff["head"]["label"],
        as_of=said_date(diff["as_of"]),
        days=diff["horizon_days"],
    )
    lines = [head, *("  " + s for s in summary(diff))]
    for r in diff["rules"]:
        if not r["changed"]:
            continue
        lines.append(
            f"{r['playbook']}/{r['rule']}: "
            + _(
                "+{added:,} -{removed:,} customers; sends {base:,} -> {head:,}",
                added=r["added"],
                removed=r["removed"],
                base=r["sends_base"],
                head=r["sends_head"],
            )
            + (_("; {n:,} reworded", n=r["reworded"]) if r["reworded"] else "")
            + (_("; {n:,} moved", n=r["moved"]) if r["moved"] else "")
        )
        lines += [f"    {said(x['reason'])}: {x['base']:,} -> {x['head']:,}" for x in r["reasons"]]
        for kind, sign in (("added", "+"), ("removed", "-")):
            lines += [f"    {sign} {x['customer_id']} {x['to'] or ''} {x['send_at']}".rstrip() for x in r["examples"][kind]]
        lines += [f"    ~ {x['customer_id']}: {x['diff']}" for x in r["reworded_examples"]]
        lines += [f"    > {x['customer_id']}: {x['from']} -> {x['to']}" for x in r["moved_examples"]]
    for d in diff["days"]:
        lines.append(f"  {d['playbook']} {d['channel']} {d['day']}: " + _("{base:,} -> {head:,} sends", base=d["base"], head=d["head"]))
    for kind, what in (("appeared", N_("validation appeared")), ("went_away", N_("validation went away"))):
        lines += [f"  {_(what)}: {v['file']}:{v['line']}:{v['column']} {v['code']} {v['message']}" for v in diff["validation"][kind]]
    return shown("\n".join(lines) + "\n")


def _cell(text: Any) -> str:
    """Text from the data or the playbooks as a Markdown table cell or line: HTML-escaped
    (no tag, no comment, no entity survives), with the characters Markdown reads as
    structure made literal, controls shown escaped, and no mention or autolink
    (inert.markdown_inert): a customer's `@org/team` notifies nobody."""
    escaped = html.escape(markdown_inert(shown(str(text))), quote=True).replace("|", "&#124;").replace("\n", " ").replace("\r", " ")
    for ch in "\\`*_[]()!#~":
        escaped = escaped.replace(ch, "\\" + ch)
    return escaped


def _marked(parts: list[tuple[str, str]]) -> str:
    """A word diff for GitHub: removed text struck through, added text underlined."""
    return "".join({"=": "{}", "-": "<del>{}</del>", "+": "<ins>{}</ins>"}[op].format(_cell(text)) for op, text in parts)


def as_markdown(diff: dict[str, Any]) -> str:
    base, head = diff["base"], diff["head"]
    out = [
        MARKER,
        f"### huitou diff: {_cell(base['label'])} → {_cell(head['label'])}",
        "",
        _("As of {as_of}, {days} days, the same data for both.", as_of=said_date(diff["as_of"]), days=diff["horizon_days"]),
        "",
    ]
    out += [f"- {_cell(s)}" for s in summary(diff)]
    changed = [r for r in diff["rules"] if r["changed"]]
    if changed:
        columns = (N_("Rule"), N_("Customers +"), N_("Customers −"), N_("Sends"), N_("Reworded"), N_("Moved"))
        out += ["", "| " + " | ".join(_(c) for c in columns) + " |", "|---|---:|---:|---|---:|---:|"]
        out += [
            f"| {_cell(r['playbook'])}/{_cell(r['rule'])} | {r['added']:,} | {r['removed']:,} | {r['sends_base']:,} → {r['sends_head']:,} | {r['reworded']:,} | {r['moved']:,} |"
            for r in changed
        ]
    for r in changed:
        body = []
        body += [f"- {_cell(said(x['reason']))}: {x['base']:,} → {x['head']:,}" for x in r["reasons"]]
        for kind, sign in (("added", "+"), ("removed", "−")):
            body += [
                f"- {sign} {_cell(x['customer_id'])} {_cell(x['to'] or '')} {_cell(x['send_at'])}: {_cell(x['body'] or '')}"
                for x in r["examples"][kind]
            ]
        body += [
            "- " + _("reworded {customer}: {change}", customer=_cell(x["customer_id"]), change=_marked(x["parts"])) for x in r["reworded_examples"]
        ]
        body += [
            "- " + _("moved {customer}: {before} → {after}", customer=_cell(x["customer_id"]), before=_cell(x["from"]), after=_cell(x["to"]))
            for x in r["moved_examples"]
        ]
        if body:
            out += ["", f"<details><summary>{_cell(r['playbook'])}/{_cell(r['rule'])}</summary>", "", *body, "", "</details>"]
    if diff["days"] or any(c["messages_base"] != c["messages_head"] or c["cost_base"] != c["cost_head"] for c in diff["channels"]):
        out += ["", "<details><summary>" + _("Channels and days") + "</summary>", ""]
        out += [
            f"- {_cell(c['channel'])}: "
            + _("{base:,} → {head:,} messages", base=c["messages_base"], head=c["messages_head"])
            + (
                _(", {base:,} → {head:,} SMS segments", base=c["segments_base"] or 0, head=c["segments_head"] or 0)
                if c["segments_base"] is not None or c["segments_head"] is not None
                else ""
            )
            + (
                _(", cost {base} → {head} {currency}", base=c["cost_base"], head=c["cost_head"], currency=_cell(c["currency"] or "")).rstrip()
                if c["cost_head"] is not None or c["cost_base"] is not None
                else ""
            )
            for c in diff["channels"]
        ]
        out += [
            f"- {_cell(d['playbook'])} {_cell(d['channel'])} {d['day']}: " + _("{base:,} → {head:,} sends", base=d["base"], head=d["head"])
            for d in diff["days"]
        ]
        out += ["", "</details>"]
    validation = diff["validation"]
    if validation["appeared"] or validation["went_away"]:
        out += ["", "<details><summary>" + _("Validation") + "</summary>", ""]
        for kind, sign in (("appeared", N_("new")), ("went_away", N_("gone"))):
            out += [f"- {_(sign)}: {_cell(v['file'])}:{v['line']}:{v['column']} {v['code']} {_cell(v['message'])}" for v in validation[kind]]
        out += ["", "</details>"]
    return "\n".join(out) + "\n"
