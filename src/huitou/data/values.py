"""A raw value in the type huitou reads it as: NULL where it does not convert, never an
error, so that the checks (data/load.py) can tell a missing value from a bad one.

Every function takes and returns a sqlglot tree over the source's columns.
"""

from __future__ import annotations

import datetime as dt

from sqlglot import exp

from ..db import date_literal, tree
from .dates import text_time
from .sources import Source

# Dates of people (birthdays) and other profile dates are plausible in this range.
PROFILE_DATES_FROM, PROFILE_DATES_TO = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
_TEXT_TYPES = ("VARCHAR", "JSON")
_INTEGER_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")


def is_text(type_: str) -> bool:
    return type_.upper() in _TEXT_TYPES


def try_cast(value: exp.Expr, target: str) -> exp.Expr:
    """TRY_CAST(value AS target): NULL where it does not convert."""
    return exp.TryCast(this=value.copy(), to=exp.DataType.build(target, dialect="duckdb"))


def null_of(target: str) -> exp.Expr:
    """A NULL of a type (for a column the source does not have)."""
    return exp.cast(exp.null(), exp.DataType.build(target, dialect="duckdb"))


def trimmed(value: exp.Expr) -> exp.Expr:
    return tree("trim(CAST(:value AS VARCHAR))", value=value)


def local_timestamp(value: exp.Expr, type_: str, source: Source, timezone: str) -> exp.Expr:
    """A local (naive) timestamp in the given timezone; NULL when it does not parse."""
    type_ = type_.upper()
    if type_ == "DATE" or type_.startswith("TIMESTAMP") and "TIME ZONE" not in type_:
        return exp.cast(value, "TIMESTAMP")
    if "TIME ZONE" in type_:
        return tree("timezone(:zone, :value)", zone=timezone, value=value)
    return text_time(trimmed(value), str(source.csv.get("date_format") or ""), timezone)


def blank(value: exp.Expr, type_: str = "VARCHAR") -> exp.Expr:
    """Missing: NULL, or (for text columns only) empty after trimming."""
    if not is_text(type_):
        return tree("(:value IS NULL)", value=value)
    return tree("(:value IS NULL OR trim(:value) = '')", value=value)


def more_than_cents(value: exp.Expr, type_: str) -> exp.Expr:
    """True where an amount has more decimals than money has (12.345, 1e-5): it is kept,
    rounded to cents, and listed. Float noise (29.990000000000002) is not more decimals."""
    type_ = type_.upper()
    if type_.startswith(_INTEGER_TYPES):
        return exp.false()
    if type_.startswith("DECIMAL") and type_.replace(" ", "").endswith((",0)", ",1)", ",2)")):
        return exp.false()
    number = try_cast(trimmed(value) if is_text(type_) else value, "DOUBLE")
    return tree("coalesce(abs(:number * 100 - round(:number * 100)) > 1e-6, false)", number=number)


def boolean(value: exp.Expr, type_: str) -> exp.Expr:
    if type_.upper() == "BOOLEAN":
        return value
    words = "CASE WHEN :text IN ('true', 't', '1', 'yes', 'y') THEN true WHEN :text IN ('false', 'f', '0', 'no', 'n') THEN false END"
    return tree(words, text=tree("lower(trim(CAST(:value AS VARCHAR)))", value=value))


def typed(value: exp.Expr, type_: str, target: str, source: Source) -> exp.Expr:
    """A profile value in its DuckDB type `target` (profile_types)."""
    if target == "BOOLEAN":
        return boolean(value, type_)
    if target == "VARCHAR[]":
        return value if type_.upper().endswith("[]") else tree("regexp_extract_all(CAST(:value AS VARCHAR), '[^|]+')", value=value)
    if target == "DATE" and is_text(type_) and source.csv.get("date_format"):
        # The source's date_format is its orders' times' form; a birthday is often a plain
        # date beside them, read as such. (One written with an offset falls on its UTC day.)
        text = trimmed(value)
        parsed: exp.Expr = exp.cast(exp.func("coalesce", text_time(text, str(source.csv["date_format"]), "UTC"), text_time(text, "", "UTC")), "DATE")
    elif is_text(type_) and target != "VARCHAR":
        parsed = try_cast(trimmed(value), target)
    else:
        parsed = try_cast(value, target)
    if target == "DATE":  # a birthday in year 1 or -2026 is as bad as one that does not parse
        plausible = "CASE WHEN :parsed BETWEEN :earliest AND :latest THEN :parsed END"
        return tree(plausible, parsed=parsed, earliest=date_literal(PROFILE_DATES_FROM), latest=date_literal(PROFILE_DATES_TO))
    return parsed
