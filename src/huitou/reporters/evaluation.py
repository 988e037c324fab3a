"""Output of `huitou segments` and `huitou explain`: rich tables for people, JSON for machines."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..evaluate import Count, Explained, Node
from ..i18n import N_, _, said_date
from ..inert import shown

MARK = {True: "✓", False: "✗", None: "?"}
# The kinds of count and clause, as a sentence says them (the JSON keeps the words).
KINDS = {"segment": N_("segment"), "rule": N_("rule"), "stage": N_("stage"), "lifecycle": N_("lifecycle")}


def segments_json(as_of: str, total: int, counts: list[Count]) -> str:
    doc = {
        "as_of": as_of,
        "customers": total,
        "counts": [{"playbook": c.playbook or None, "kind": c.kind, "name": c.name, "customers": c.customers} for c in counts],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def segments_text(console: Console, as_of: str, total: int, counts: list[Count]) -> None:
    console.print(f"[bold]{total:,}[/bold] " + _("customers as of {as_of}", as_of=said_date(as_of)))
    owners = list(dict.fromkeys(c.playbook for c in counts))
    for owner in owners:
        title = _("playbook {name}", name=owner) if owner else _("lifecycle stages (default thresholds)")
        table = Table(title=title, title_justify="left", show_edge=False)
        table.add_column(_("kind"))
        table.add_column(_("name"))
        table.add_column(_("customers"), justify="right")
        table.add_column(_("share"), justify="right")
        for c in counts:
            if c.playbook == owner:
                share = f"{100 * c.customers / total:.1f}%" if total else "-"
                table.add_row(_(KINDS[c.kind]) if c.kind in KINDS else c.kind, c.name, f"{c.customers:,}", share)
        console.print()
        console.print(table)


def _tree_lines(node: Node, depth: int = 0) -> list[str]:
    value = {True: "true", False: "false", None: _("unknown (NULL)")}[node.value]
    lines = [f"{'    ' * depth}{MARK[node.value]} {node.text}  -> {value}"]
    for child in node.children:
        lines += _tree_lines(child, depth + 1)
    return lines


def _inert(text: str) -> str:
    """Data in a line of markup: nothing of it is markup or a control (inert.py)."""
    return escape(shown(str(text)))


def explain_text(console: Console, customer: str, as_of: str, features: dict[str, Any], items: list[Explained]) -> None:
    console.print("[bold]" + _("customer {id}", id=_inert(customer)) + "[/bold] " + _("as of {as_of}", as_of=said_date(as_of)))
    table = Table(show_header=False, show_edge=False, box=None)
    table.add_column("feature", style="dim")
    table.add_column("value")
    for name, value in features.items():
        table.add_row(name, Text("NULL" if value is None else shown(str(value))))  # Text: a value's brackets are not markup
    console.print(table)
    playbook = None
    for item in items:
        if item.playbook != playbook:
            playbook = item.playbook
            console.print("\n[bold]" + _("playbook {name}", name=playbook) + "[/bold]")
        assert item.tree is not None
        verdict = {True: _("matched"), False: _("not matched"), None: _("not matched (unknown)")}[item.tree.value]
        kind = _(KINDS[item.kind]) if item.kind in KINDS else item.kind
        console.print(f"\n{kind} [bold]{item.name}[/bold]: {verdict}", highlight=False)
        for line in _tree_lines(item.tree, 1):
            console.print(shown(line), highlight=False, markup=False, soft_wrap=True)


def explain_json(customer: str, as_of: str, features: dict[str, Any], items: list[Explained]) -> str:
    doc = {
        "customer_id": customer,
        "as_of": as_of,
        "features": features,
        "results": [
            {
                "playbook": i.playbook,
                "kind": i.kind,
                "name": i.name,
                "matched": bool(i.tree and i.tree.value),
                "tree": i.tree.as_dict() if i.tree else None,
            }
            for i in items
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
