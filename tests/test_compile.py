"""Predicate -> SQL, as golden text per dialect, and run on a real DuckDB."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from huitou.features import CATALOG
from huitou.predicates import parse, to_sql

from .conftest import update_golden

GOLDEN = Path(__file__).parent / "golden" / "predicates.sql"
DIALECTS = ("duckdb", "postgres", "bigquery", "snowflake")
SEGMENTS = {"dormant_high": to_sql(parse("days_since_last_order BETWEEN 90 AND 180"))}


def _blocks() -> list[tuple[str, dict[str, str]]]:
    blocks: list[tuple[str, dict[str, str]]] = []
    for line in GOLDEN.read_text(encoding="utf-8").splitlines():
        if line.startswith("-- predicate: "):
            blocks.append((line[len("-- predicate: ") :], {}))
        elif (m := re.match(r"-- (\w+): (.*)", line)) and blocks and m.group(1) in DIALECTS:
            blocks[-1][1][m.group(1)] = m.group(2)
    return blocks


def _compile(text: str, dialect: str) -> str:
    tree = parse(text)
    return to_sql(tree, SEGMENTS).sql(dialect)  # type: ignore[arg-type]


def test_golden_sql() -> None:
    blocks = _blocks()
    assert len(blocks) >= 10
    if update_golden():
        header = [line for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.startswith("-- ") and not line.startswith("-- predicate")][
            :2
        ]
        out = [*header, ""]
        for text, _ in blocks:
            out.append(f"-- predicate: {text}")
            out += [f"-- {d}: {_compile(text, d)}" for d in DIALECTS]
            out.append("")
        GOLDEN.write_text("\n".join(out), encoding="utf-8")
        blocks = _blocks()
    for text, expected in blocks:
        assert {d: _compile(text, d) for d in DIALECTS} == expected, text


_DUCK_TYPES = {
    "integer": "INTEGER",
    "money": "DECIMAL(18,2)",
    "number": "DOUBLE",
    "date": "DATE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "list": "VARCHAR[]",
}


@pytest.fixture()
def features() -> duckdb.DuckDBPyConnection:
    """Three customers in a real DuckDB feature table, as of 2026-11-22."""
    con = duckdb.connect()
    columns = ", ".join(f"{f.name} {_DUCK_TYPES[f.type]}" for f in CATALOG.values())
    con.execute(f"CREATE TABLE f ({columns}, as_of DATE)")
    rows = [
        dict(
            customer_id="001",
            order_count=1,
            days_since_last_order=10,
            last_order_date=dt.date(2026, 11, 12),
            tier="gold",
            tags=["vip"],
            points=50,
            city="杭州",
            consent_sms=True,
            lifecycle="new",
            has_unpaid_order=False,
            days_to_birthday=2,
            avg_order_value=150,
        ),
        dict(
            customer_id="002",
            order_count=3,
            days_since_last_order=120,
            last_order_date=dt.date(2026, 7, 25),
            tier="silver",
            tags=[],
            points=500,
            city=None,
            consent_sms=False,
            lifecycle="dormant_high",
            has_unpaid_order=False,
            days_to_birthday=None,
            avg_order_value=80,
        ),
        dict(customer_id="003", order_count=None, days_since_last_order=None, tier=None, tags=None, lifecycle=None, has_unpaid_order=True),
    ]
    for row in rows:
        names = ", ".join([*row, "as_of"])
        marks = ", ".join(["?"] * (len(row) + 1))
        con.execute(f"INSERT INTO f ({names}) VALUES ({marks})", [*row.values(), dt.date(2026, 11, 22)])
    return con


@pytest.mark.parametrize(
    "predicate, members",
    [
        ("order_count = 1 AND days_since_last_order <= 45", ["001"]),
        ("days_since_last_order BETWEEN 90 AND 180", ["002"]),
        ("tags CONTAINS 'vip' OR tier IN ('gold', 'platinum')", ["001"]),
        ("dormant_high AND NOT has_unpaid_order", ["002"]),
        ("last_order_date >= -30d", ["001"]),
        ("last_order_date < '2026-08-01'", ["002"]),
        ("city IS NULL", ["002", "003"]),
        ("NOT (tier = 'gold')", ["002"]),  # NULL tier: unknown, so not in the segment
        ("days_to_birthday <= 3", ["001"]),
        ("consent_sms = true AND lifecycle != 'lost'", ["001"]),
        ("avg_order_value >= 140", ["001"]),
        ("has_unpaid_order", ["003"]),
    ],
)
def test_compiled_sql_runs_on_duckdb(features: duckdb.DuckDBPyConnection, predicate: str, members: list[str]) -> None:
    where = _compile(predicate, "duckdb")
    found = [r[0] for r in features.execute(f"SELECT customer_id FROM f WHERE {where} ORDER BY customer_id").fetchall()]
    assert found == members
