"""Times as exports write them, read as the shop's local time.

A time with a UTC offset (`Z`, `+08:00`, `+0800`, Shopify's ` -0400`) names an instant:
it is converted to the shop's timezone, so an order placed at 20:40 in New York falls on
New York's day, not UTC's next one. A time without one is already local (the data's
timezone). Forms DuckDB does not cast (`2024/5/1 12:03`) are tried next;
`csv.date_format` names any other (strftime, with `%z` for an offset), or `excel` for
spreadsheet serial numbers (days since 1899-12-30).
"""

from __future__ import annotations

import datetime as dt
import re

from sqlglot import exp

from ..db import tree
from ..i18n import _

EXCEL = "excel"  # csv.date_format for spreadsheet serial numbers
_EXCEL_EPOCH = "1899-12-30"  # day 0 of spreadsheets' serial dates (after the 1900 leap-year bug)
_OFFSET = r"(Z|\s?[+-]\d\d:?\d\d)$"  # text that names a UTC offset
# An offset that exists: within -14:00 and +14:00 (UTC-12 to UTC+14 are in use); DuckDB
# would read +24:00 or +99:99 as a shift of days, and its TIMESTAMP drops any offset.
_REAL_OFFSET = r"(Z|\s?[+-](0\d|1[0-3]):?[0-5]\d|\s?[+-]14:?00)$"
# Forms shops' tools write that DuckDB's cast does not read (it reads ISO 8601: 2024-5-1,
# 2024-05-01 12:03, 2024-05-01T12:03:00.5).
SLASHED = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")


def has_offset(date_format: str) -> bool:
    return "%z" in date_format or "%Z" in date_format


def text_time(text: exp.Expr, date_format: str, timezone: str) -> exp.Expr:
    """Trimmed text as a local (naive) TIMESTAMP in `timezone`; NULL when it does not parse."""
    if date_format == EXCEL:
        serial = tree("TRY_CAST(:text AS DOUBLE)", text=text)
        micros = tree("CAST(round(:serial * 86400000) AS BIGINT) * 1000", serial=serial)  # to the millisecond, as spreadsheets keep it
        return tree(
            "CASE WHEN :serial BETWEEN 1 AND 2958465 THEN CAST(:epoch AS TIMESTAMP) + to_microseconds(:micros) END",
            serial=serial,
            epoch=_EXCEL_EPOCH,
            micros=micros,
        )
    if date_format:
        parsed = tree("TRY_STRPTIME(:text, :format)", text=text, format=date_format)
        return tree("timezone(:zone, :parsed)", zone=timezone, parsed=parsed) if has_offset(date_format) else parsed
    slashed = exp.Array(expressions=[exp.Literal.string(f) for f in SLASHED])
    instant = tree("TRY_CAST(regexp_replace(:text, '\\s+([+-]\\d\\d:?\\d\\d)$', '\\1') AS TIMESTAMPTZ)", text=text)
    with_offset = """CASE WHEN regexp_matches(:text, :real) THEN timezone(:zone, :instant)
                          WHEN regexp_matches(:text, :offset) THEN NULL
                          ELSE coalesce(TRY_CAST(:text AS TIMESTAMP), TRY_STRPTIME(:text, :slashed)) END"""
    return tree(with_offset, text=text, offset=_OFFSET, real=_REAL_OFFSET, zone=timezone, instant=instant, slashed=slashed)


# Formats a date that did not parse is tried in, to propose csv.date_format.
CANDIDATES = (
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y%m%d",
    "%Y%m%d%H%M%S",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%a, %d %b %Y %H:%M:%S %z",
)


def date_hint(source: str, column: str, examples: list[str]) -> str:
    """What the dates that did not parse look like, and the csv.date_format that reads
    them (tried on the examples), or the forms huitou reads."""
    shown = ", ".join(repr(e) for e in examples[:3])
    forms = ", ".join(sorted({_form(e) for e in examples[:8]}))
    setting = f"data.{source}.csv.date_format"
    if all(re.fullmatch(r"[1-9]\d{4}(\.\d+)?", e.strip()) for e in examples):
        return _(
            "{column}: dates not understood: {shown} (form {forms}); spreadsheet serial numbers: set {setting}: excel",
            column=column,
            shown=shown,
            forms=forms,
            setting=setting,
        )
    fits = [(f, sum(parses(e, f) for e in examples)) for f in CANDIDATES]
    best = max(n for _f, n in fits)
    if not best:
        return _(
            "{column}: dates not understood: {shown} (form {forms}); huitou reads ISO 8601 (2024-05-01 12:03, with Z, +08:00 or ' -0400'), "
            "2024/5/1 12:03 and date only: give the form as {setting} (strftime, %z for an offset, or excel)",
            column=column,
            shown=shown,
            forms=forms,
            setting=setting,
        )
    proposed = [f for f, n in fits if n == best]
    also = _(" ({forms} reads them too: check which the export means)", forms=" or ".join(repr(f) for f in proposed[1:3])) if proposed[1:] else ""
    said = _(
        "{column}: dates not understood: {shown} (form {forms}); set {setting}: {proposed}, which reads {best} of {count} of them",
        column=column,
        shown=shown,
        forms=forms,
        setting=setting,
        proposed=repr(proposed[0]),
        best=best,
        count=len(examples),
    )
    return said + also


def _form(value: str) -> str:
    return re.sub(r"[A-Za-z]", "a", re.sub(r"\d", "9", value))


def parses(value: str, date_format: str) -> bool:
    try:
        dt.datetime.strptime(value.strip(), date_format)
    except ValueError:
        return False
    return True
