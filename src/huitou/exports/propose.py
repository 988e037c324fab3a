"""The `data:` section for an export: its preset's mapping checked against the whole file.

Every status the file holds is counted (per order) and mapped: by the preset, by huitou's
own words, by a guess from common export words, or listed as not understood. The dates
are tried in the forms huitou reads, then in the usual others (csv.date_format).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from ..data.dates import CANDIDATES, parses, text_time
from ..data.encoding import is_utf8
from ..data.load import likely_word
from ..data.profile import ORDER_COLUMNS
from ..data.raw import mapped, open_raw, raw_table
from ..data.sources import DataError, source_from_config
from ..db import connect, quoted, run, tree
from ..features import ORDER_STATUSES
from ..i18n import _, lookup
from . import PROFILE_COLUMNS, Preset, generic, header_of, recognise

_DATE_SAMPLE = 2000  # distinct order times tried
CONSENT_COLUMNS = ("consent_sms", "consent_email", "consent_wechat", "consent_phone")
# The words huitou reads as a boolean (data/values.py boolean), for the counts shown.
BOOLEAN_WORDS = {w: "true" for w in ("true", "t", "1", "yes", "y")} | {w: "false" for w in ("false", "f", "0", "no", "n")}


@dataclass
class Proposal:
    """What `huitou init --from` proposes for an export, and what it saw."""

    preset: Preset
    encoding: str
    spec: dict[str, Any]  # data.orders of huitou.yaml
    # Per canonical column (status, consent_*): (value, orders, read as: paid, true ... or "" when not understood).
    values: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  # what to tell the user

    @property
    def locale(self) -> str:
        return self.preset.locale


def propose(export: Path, project_dir: Path, locale: str = "") -> Proposal:
    """The orders source for `export`, as data.orders of a project in `project_dir`."""
    encoding, delimiter, header = header_of(export, locale)
    preset = recognise(header) or generic(header)
    present = set(header)
    columns: dict[str, Any] = {}
    for canonical, named in preset.columns.items():
        if canonical == "customer_id" and isinstance(named, list):
            found = [c for c in named if c in present]
            if found:
                columns[canonical] = found if len(found) > 1 else found[0]
        elif named in present:
            columns[canonical] = named
    missing = [c for c in ("customer_id", "ordered_at", "amount") if c not in columns]
    if missing:
        raise DataError(
            _(
                "{file}: no column for {columns} ({preset}); the file has {header}; write data.orders.columns in huitou.yaml yourself (docs/exports.md)",
                file=export,
                columns=", ".join(missing),
                preset=_("the {preset}", preset=lookup(preset.title)) if preset.platform != "generic" else _("no preset fits"),
                header=", ".join(header[:30]),
            )
        )
    fields = {name: type_ for name, type_ in preset.fields.items() if name in columns}
    spec: dict[str, Any] = {"path": os.path.relpath(export.resolve(), project_dir.resolve())}
    csv_options: dict[str, Any] = {}
    if not is_utf8(encoding):
        csv_options["encoding"] = encoding
    if delimiter != ",":
        csv_options["delimiter"] = delimiter
    spec["columns"] = {k: v for k, v in columns.items() if k in ORDER_COLUMNS or k in PROFILE_COLUMNS}
    if fields:
        spec["fields"] = fields
    if csv_options:
        spec["csv"] = csv_options
    proposal = Proposal(preset, encoding, spec)
    _check_whole_file(proposal, export, project_dir)
    return proposal


def _check_whole_file(proposal: Proposal, export: Path, project_dir: Path) -> None:
    """Count the values of status and consent per order and settle the date form, over
    the whole file."""
    spec = proposal.spec
    source = source_from_config("orders", {**spec, "path": str(export.resolve())}, project_dir, proposal.locale)
    con = connect([source.path])
    try:
        cols = open_raw(con, source)
        values: dict[str, dict[str, str]] = {}
        for canonical in ("status", *CONSENT_COLUMNS):
            if canonical in spec["columns"]:
                seen = _values(con, source, cols, canonical, proposal.preset)
                proposal.values[canonical] = seen
                known = {value: read for value, _, read in seen if read and value != read}
                if known:
                    values[canonical] = known
        if values:
            spec["values"] = values
        date_format = _date_format(con, source)
        if date_format:
            spec.setdefault("csv", {})["date_format"] = date_format
    finally:
        con.close()


def _values(con: Any, source: Any, cols: dict[str, str], canonical: str, preset: Preset) -> list[tuple[str, int, str]]:
    """Each value of a column with the orders holding it and what huitou reads it as
    ("" when nothing places it)."""
    value = tree("trim(CAST(:s AS VARCHAR))", s=quoted(source.column(canonical)))
    order = quoted(source.column("order_id")) if source.column("order_id") in cols else None
    counted = exp.func("count", exp.Distinct(expressions=[order.copy()])) if order is not None else exp.func("count", exp.Star())
    query = (
        exp.select(value.as_("v"), counted.as_("n")).from_(raw_table(source)).where(tree(":s <> ''", s=value)).group_by("v").order_by("n DESC", "v")
    )
    words = preset.values.get(canonical, {})
    allowed = ORDER_STATUSES if canonical == "status" else ("true", "false")
    out = []
    for seen, n in run(con, query).fetchall():
        seen = str(seen)
        read = words.get(seen) or (seen.lower() if seen.lower() in allowed else BOOLEAN_WORDS.get(seen.lower(), "") if canonical != "status" else "")
        if not read:
            guess = likely_word(seen, allowed)
            read = guess if guess in allowed else ""
        out.append((seen, int(n), read))
    return out


def _date_format(con: Any, source: Any) -> str | None:
    """None when huitou reads every order time as written; else the csv.date_format
    reading most of them (the sample's distinct values)."""
    raw = tree("trim(CAST(:at AS VARCHAR))", at=mapped(source, "ordered_at", quoted(source.column("ordered_at"))))
    sample = exp.select(raw.as_("t")).from_(raw_table(source)).where(tree(":t <> ''", t=raw)).distinct().limit(_DATE_SAMPLE)
    unread = (
        exp.select("t")
        .from_(sample.subquery("s"))
        .where(exp.column("t").is_(exp.null()).not_().and_(text_time(exp.column("t"), "", "UTC").is_(exp.null())))
    )
    bad = [str(v) for (v,) in run(con, unread).fetchall()]
    if not bad:
        return None
    if all(v.replace(".", "", 1).isdigit() and len(v.split(".")[0]) == 5 for v in bad):
        return "excel"
    fits = max(CANDIDATES, key=lambda f: sum(parses(v, f) for v in bad))
    return fits if any(parses(v, fits) for v in bad) else None


def value_lines(proposal: Proposal) -> list[str]:
    """The values seen of each mapped column, each with what huitou reads it as."""
    out = []
    for canonical, seen in proposal.values.items():
        out.append("  " + _("{column} values (orders):", column=canonical))
        unread = _("NOT UNDERSTOOD: map it in data.orders.values.{column}", column=canonical)
        out += ["    " + _("{value}: {n:,} orders -> {read}", value=repr(value), n=n, read=read or unread) for value, n, read in seen]
    return out


def data_section(proposal: Proposal, export: Path) -> str:
    """huitou.yaml's `data:` section for the proposal, with a comment saying where it
    came from."""
    import yaml

    said = proposal.preset.title if proposal.preset.platform != "generic" else "no platform preset fits: columns matched by name"
    head = (
        f"# Proposed by `huitou init --from {export.name}` ({said}).\n# Check the status words and the mapping against your shop: docs/exports.md.\n"
    )
    return head + yaml.safe_dump({"data": {"orders": proposal.spec}}, allow_unicode=True, sort_keys=False, width=200)


def summary(proposal: Proposal, export: Path) -> list[str]:
    """What init tells the user about the export."""
    preset = proposal.preset
    said = (
        _("recognised as the {preset}", preset=lookup(preset.title))
        if preset.platform != "generic"
        else _("no platform preset fits; columns matched by name")
    )
    out = [_("{file}: {said}; encoding {encoding}", file=export.name, said=said, encoding=proposal.encoding.replace("_", "-"))]
    otherwise = _(" else ")
    out += [
        f"  {canonical}: {otherwise.join(column) if isinstance(column, list) else column}" for canonical, column in proposal.spec["columns"].items()
    ]
    out += value_lines(proposal)
    date_format = (proposal.spec.get("csv") or {}).get("date_format")
    out.append(
        "  " + (_("dates: {form}", form=repr(date_format)) if date_format else _("dates: read as written (offsets converted to the shop's timezone)"))
    )
    consent = [c for c in CONSENT_COLUMNS if c in proposal.spec["columns"]]
    if not consent:
        out.append("  " + _("consent: the export has no consent column (see the line at load below)"))
    out += ["  " + _("note: {note}", note=lookup(quirk)) for quirk in preset.quirks]
    return out
