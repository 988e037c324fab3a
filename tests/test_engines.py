"""The engine layer on real engines: every rewrite of engines/portable.py executed on
DuckDB, PostgreSQL and Spark over the same rows, with the same answers; and the one-line
errors when an engine cannot be used."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import sys
from decimal import Decimal

import pytest
import sqlglot
from sqlglot import exp

from huitou.contract import key
from huitou.engines import EngineError, open_engine
from huitou.engines.duckdb_engine import DuckDBEngine
from huitou.engines.portable import hex_int
from huitou.engines.postgres_engine import PostgresEngine
from huitou.plan.candidates import EMAIL_PATTERN, PHONE_PATTERN

from .engines import postgres_url, spark_engine  # noqa: F401  (fixtures)

# Rows every query below reads: a week around a Sunday, 29 February, values with NULLs
# at the extreme key, non-ASCII text.
ROWS = {
    "g": ["a", "a", "a", "b", "b", "c", "c"],
    "d": [
        dt.date(2026, 11, 29),
        dt.date(2026, 11, 30),
        dt.date(2024, 2, 29),
        dt.date(2026, 12, 5),
        dt.date(2026, 12, 6),
        dt.date(2025, 12, 31),
        dt.date(2026, 1, 1),
    ],
    "k": [3, 1, 2, 5, None, 7, 8],
    "v": ["x", None, "y", "回头客", "z", None, "ü"],
    "n": [881 * 100, 7, 0, 10, 3, 1, 2],
}
TYPES = {"g": "VARCHAR", "d": "DATE", "k": "BIGINT", "v": "VARCHAR", "n": "BIGINT"}

PATTERNS = {"phone": PHONE_PATTERN, "email": EMAIL_PATTERN}
# Contacts as customers type them, and as attackers do: a header injection, a trailing
# line break (Java's `$` matches before it), a formula, quotes, IDN, a control character.
CONTACTS = [
    "+86 138-0013-8000",
    "13800138000",
    "(010) 1234-5678",
    "=1+2",
    "123",
    "138\n",
    "a@b.cn",
    "a@b.cn\r\nBcc: x@y.z",
    "x@y.z\n",
    "名字@例子.cn",
    "a b@c.de",
    "a@b",
    "ü@ü.de",
    "a@b.c\x01",
    '"a"@b.cn',
    "a\\b@c.de",
    "a@@b.cn",
    "a@b..cn",
]

QUERIES = {
    # ISO day of week: Sunday 29 November 2026 is 7 (sqlglot's Spark text made it 2).
    "isodow": (
        "SELECT d, isodow(d) AS w FROM t ORDER BY d",
        [
            (dt.date(2024, 2, 29), 4),
            (dt.date(2025, 12, 31), 3),
            (dt.date(2026, 1, 1), 4),
            (dt.date(2026, 11, 29), 7),
            (dt.date(2026, 11, 30), 1),
            (dt.date(2026, 12, 5), 6),
            (dt.date(2026, 12, 6), 7),
        ],
    ),
    # The value at the largest (smallest) key among rows where both are set: a's smallest
    # key, 1, has no value and y (key 2) is taken; b's row without a key does not count.
    "arg_max": (
        "SELECT g, arg_max(v, k) AS top, arg_min(v, k) AS low, arg_max(v, k) FILTER (WHERE k < 3) AS top_below FROM t GROUP BY g ORDER BY g",
        [("a", "x", "y", "y"), ("b", "回头客", "回头客", None), ("c", "ü", "ü", None)],
    ),
    "make_date": (
        "SELECT make_date(year(d), 2, 28) + 1 AS after, month(d) * 100 + day(d) AS md FROM t WHERE g = 'a' ORDER BY d",
        [(dt.date(2024, 2, 29), 229), (dt.date(2026, 3, 1), 1129), (dt.date(2026, 3, 1), 1130)],
    ),
    "sha256": ("SELECT v, sha256(v) AS h FROM t WHERE v IS NOT NULL ORDER BY k", None),
    "int_div": ("SELECT n, n // 40 AS q, n % 40 AS r FROM t ORDER BY n", [(n, n // 40, n % 40) for n in sorted(ROWS["n"])]),
    "day_diff": (
        "SELECT date_diff('day', DATE '2024-02-28', d) AS days FROM t ORDER BY d",
        [((d - dt.date(2024, 2, 28)).days,) for d in sorted(ROWS["d"])],
    ),
    # The idempotency key (contract.key) of non-ASCII ids: the same 32 hex digits as
    # Python's hashlib on every engine.
    "key": (f"SELECT g, v, {key(*map(exp.column, ('g', 'v', 'g', 'v'))).sql('duckdb')} AS k FROM t WHERE v IS NOT NULL ORDER BY k", None),
    # What the candidates stage needs (plan/candidates.py): contact formats matched whole,
    # the holdout's hex digits as an integer, minutes as an interval, text in byte order,
    # a key of several columns.
    "full_match": (
        exp.select(
            exp.column("x"),
            *(exp.RegexpFullMatch(this=exp.column("x"), expression=exp.Literal.string(p)).as_(n) for n, p in PATTERNS.items()),
        )
        .from_(exp.values([(c,) for c in CONTACTS], alias="s", columns=["x"]))
        .order_by(exp.column("x"))
        .sql("duckdb"),
        sorted((c, *(re.fullmatch(p, c) is not None for p in PATTERNS.values())) for c in CONTACTS),
    ),
    "hex_int": (
        exp.select(
            exp.column("v"),
            exp.Mod(
                this=hex_int(exp.func("left", exp.func("md5", exp.column("v")), exp.Literal.number(8))),
                expression=exp.Literal.number(10000),
            ).as_("d"),
            hex_int(exp.Literal.string("ffffffff")).as_("top"),
        )
        .from_("t")
        .where("v IS NOT NULL")
        .order_by("k NULLS LAST")
        .sql("duckdb"),
        [
            (v, int(hashlib.md5(v.encode()).hexdigest()[:8], 16) % 10000, 0xFFFFFFFF)
            for _, v in sorted(((k if k is not None else 99, v) for k, v in zip(ROWS["k"], ROWS["v"]) if v is not None))
        ],
    ),
    "to_minutes": (
        "SELECT CAST(d AS TIMESTAMP) + to_minutes(CAST(n AS BIGINT)) AS later FROM t ORDER BY later",
        sorted((dt.datetime.combine(d, dt.time()) + dt.timedelta(minutes=n),) for d, n in zip(ROWS["d"], ROWS["n"])),
    ),
    "binary_order": (
        'SELECT v FROM t WHERE v IS NOT NULL ORDER BY v COLLATE "C"',
        [(v,) for v in sorted(v for v in ROWS["v"] if v is not None)],
    ),
    "key_tuple": ("SELECT g, arg_max(v, (g, n)) AS top FROM t GROUP BY g ORDER BY g", [("a", "x"), ("b", "回头客"), ("c", "ü")]),
    "exact_cycle": (
        "SELECT CAST(CAST(n // 40 AS DECIMAL(18,0)) * CAST(0.01 AS DECIMAL(3,2)) AS DECIMAL(18,2)) AS c FROM t WHERE n = 88100",
        [(Decimal("22.02"),)],
    ),
}


def expected(name: str) -> list[tuple]:
    sql, rows = QUERIES[name]
    if rows is not None:
        return rows
    if name == "key":
        keys = [(g, v, hashlib.sha256("\x1f".join([g, v, g, v]).encode()).hexdigest()[:32]) for g, v in zip(ROWS["g"], ROWS["v"]) if v is not None]
        return sorted(keys, key=lambda row: row[2])
    keyed = sorted((k, v) for k, v in zip(ROWS["k"], ROWS["v"]) if v is not None and k is not None)
    nulls = [v for k, v in zip(ROWS["k"], ROWS["v"]) if v is not None and k is None]
    return [(v, hashlib.sha256(v.encode()).hexdigest()) for _, v in keyed] + [(v, hashlib.sha256(v.encode()).hexdigest()) for v in nulls]


def check(engine, name: str) -> None:
    table = engine.take("t", ROWS, TYPES)
    sql = QUERIES[name][0]
    got = engine.rows(sqlglot.parse_one(sql, dialect="duckdb"))
    engine.drop(table)
    assert [tuple(r) for r in got] == expected(name), engine.sql(sqlglot.parse_one(sql, dialect="duckdb"))


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_duckdb(name: str) -> None:
    with DuckDBEngine() as engine:
        check(engine, name)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_postgres(name: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    with PostgresEngine() as engine:
        check(engine, name)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_spark(name: str, spark_engine) -> None:  # noqa: F811
    check(spark_engine, name)


def brought_back(engine) -> list[tuple]:
    """ROWS through the engine and back into a local DuckDB (Engine.bring), with a column
    that is NULL in whole batches and a decimal computed on the engine."""
    import duckdb

    table = engine.take("t", ROWS, TYPES)
    query = sqlglot.parse_one("SELECT g, d, k, v, CASE WHEN k > 6 THEN v END AS rare, CAST(n AS DECIMAL(18,2)) / 100 AS m FROM t", dialect="duckdb")
    types = {"g": "VARCHAR", "d": "DATE", "k": "BIGINT", "v": "VARCHAR", "rare": "VARCHAR", "m": "DECIMAL(18,2)"}
    con = duckdb.connect()
    engine.bring(query, con, "back", types)
    engine.drop(table)
    assert [(r[0], r[1]) for r in con.execute("DESCRIBE back").fetchall()] == list(types.items())
    return con.execute("SELECT * FROM back ORDER BY d").fetchall()


def test_results_come_back_with_the_types_asked_for(postgres_url: str, spark_engine, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """PostgreSQL sends its rows in batches (here of 2, so that `rare` is NULL in a whole
    batch and typed there by no value); every engine's rows arrive equal and typed alike."""
    from huitou.engines import postgres_engine

    with DuckDBEngine() as engine:
        expected_rows = brought_back(engine)
    assert expected_rows[1] == ("c", dt.date(2025, 12, 31), 7, None, None, Decimal("0.01"))
    assert len(expected_rows) == 7 and expected_rows[2][4] == "ü"
    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    monkeypatch.setattr(postgres_engine, "BATCH_ROWS", 2)
    with PostgresEngine() as engine:
        assert brought_back(engine) == expected_rows
    assert brought_back(spark_engine) == expected_rows


def test_an_engine_that_cannot_be_used_is_one_line(monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> None:  # noqa: F811
    monkeypatch.delenv("HUITOU_PG_URL", raising=False)
    with pytest.raises(EngineError, match=r"^engine postgres: the environment variable HUITOU_PG_URL is not set"):
        open_engine({"kind": "postgres"})
    monkeypatch.setenv("SHOP_DB", "postgresql://huitou:s3cret@127.0.0.1:1/shop?connect_timeout=5")
    with pytest.raises(EngineError) as refused:
        open_engine({"kind": "postgres", "url_env": "SHOP_DB"})
    text = str(refused.value)
    assert (
        text.startswith("engine postgres: cannot connect to the database of SHOP_DB (host 127.0.0.1, port 1, dbname shop, user huitou)")
        and "s3cret" not in text
    )
    assert "\n" not in text and "check SHOP_DB" in text
    for value in ("host=127.0.0.1 port=1 password=s3cret-kw connect_timeout=5", "s3cret-bare-value", "host=x password='s3 cret' port"):
        monkeypatch.setenv("SHOP_DB", value)  # keyword form, a value that is not a connection string, one psycopg cannot parse
        with pytest.raises(EngineError) as refused:
            open_engine({"kind": "postgres", "url_env": "SHOP_DB"})
        assert "s3cret" not in str(refused.value) and "s3 cret" not in str(refused.value), refused.value
    monkeypatch.setenv("HUITOU_PG_URL", postgres_url.replace("user=huitou", "user=nobody"))
    with pytest.raises(EngineError, match='role "nobody" does not exist'):
        open_engine({"kind": "postgres"})
    with pytest.raises(EngineError, match="unknown engine 'oracle': use one of duckdb, spark, postgres"):
        open_engine(None, "oracle")


def test_spark_without_java_or_pyspark_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EngineError, match=r"^engine spark needs Java, and there is none .* apt-get install openjdk-17-jre-headless$"):
        open_engine({"kind": "spark"})
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if pyspark were not installed
    with pytest.raises(EngineError, match=r"^engine spark needs pyspark, which is not installed: pip install 'huitou\[spark\]'$"):
        open_engine({"kind": "spark"})
    assert os.environ["PATH"] == "/nonexistent"


# Features: the example shop, and a shop of edge cases, on each engine equal to DuckDB.
EDGE_ORDERS = [
    ["order_id", "customer_id", "ordered_at", "amount", "status", "category", "rating", "delivered_at"],
    # two orders at the same instant: the later row of the file is the latest
    ["s1", "同时", "2026-10-01T10:00:00+08:00", "10.00", "paid", "tea", "5", "2026-10-03"],
    ["s2", "同时", "2026-10-01T10:00:00+08:00", "20.005", "paid", "coffee", "2", ""],
    # the latest purchase has no category
    ["n1", "ü-1", "2026-09-01", "1.00", "paid", "snacks", "", ""],
    ["n2", "ü-1", "2026-09-20", "2.00", "paid", "", "", ""],
    ["n3", "ü-1", "2026-09-25", "3.00", "unpaid", "toys", "", ""],
    # 9 purchase days over 9 days: a cycle of 1.125 days, 1.12 half to even
    *[[f"c{i}", "cycle", f"2026-10-{i + 1:02d}", "0.01", "paid", "", "", ""] for i in (0, 1, 2, 3, 4, 5, 6, 7, 9)],
    # New York and London customers' orders on the nights the clocks change
    ["y1", "ny", "2026-11-01T01:30:00-04:00", "5.00", "paid", "tea", "", ""],
    ["y2", "ny", "2026-11-01T01:30:00-05:00", "5.00", "refunded", "tea", "", ""],
    ["l1", "ldn", "2026-03-29T00:30:00+00:00", "7.00", "paid", "coffee", "4", ""],
]
EDGE_CUSTOMERS = [
    ["customer_id", "name", "birthday", "timezone", "tags"],
    ["同时", "张三", "2000-02-29", "Asia/Shanghai", "vip|回头"],
    ["ü-1", "Jürgen", "1990-11-30", "Europe/Berlin", ""],
    ["cycle", "C", "1985-12-01", "", "a"],
    ["ny", "Amy", "1999-03-01", "America/New_York", ""],
    ["ldn", "Ben", "", "Europe/London", ""],
    ["none", "无单", "2004-02-29", "", ""],
]


def _session(root, orders=None, customers=None, as_of=dt.date(2026, 11, 30)):
    from huitou.evaluate import open_data
    from huitou.validate import load_config, open_project

    project = open_project([root])
    load_config(project)
    return open_data(project, timezone="Asia/Shanghai", as_of=as_of, orders=orders, customers=customers, quarantine_dir=root / ".q")


def _write(path, rows):
    import csv

    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _same_features(engine, session) -> int:
    """The engine's features against DuckDB's; the number of customers compared."""
    from huitou.evaluate import features_on
    from huitou.feature_sql import feature_query

    ordered = f"SELECT * FROM ({feature_query(session.as_of, session.extra_fields).sql('duckdb')}) ORDER BY customer_id"
    cursor = session.con.execute(ordered)
    names, reference = [d[0] for d in cursor.description], cursor.fetchall()
    table = features_on(engine, session)
    got = engine.rows(sqlglot.select("*").from_(table).order_by("customer_id"))
    assert len(got) == len(reference)
    for want, have in zip(reference, got):
        row = {n: (list(v) if isinstance(v, (list, tuple)) else v) for n, v in zip(names, have)}
        expected_row = {n: (list(v) if isinstance(v, (list, tuple)) else v) for n, v in zip(names, want)}
        assert row == expected_row
    return len(reference)


def _same_segments(engine, root) -> int:
    """Every lifecycle stage, segment and rule segment of the project's playbooks counted
    on the engine, against DuckDB; the number of counts compared."""
    from huitou.evaluate import features_on, segment_counts, segment_counts_on
    from huitou.plan.run import open_playbooks

    playbooks = open_playbooks(root)[0]
    session = _session(root)
    session.project = None  # the engine path has no recommendations or referral codes yet
    expected = segment_counts(session, playbooks)
    got = segment_counts_on(engine, features_on(engine, session), playbooks)
    assert got == expected
    return len(got[1])


def _examples(tmp_path):
    from .conftest import ROOT

    return _session(ROOT / "examples")


def _edges(tmp_path):
    orders = _write(tmp_path / "orders.csv", EDGE_ORDERS)
    customers = _write(tmp_path / "customers.csv", EDGE_CUSTOMERS)
    (tmp_path / "huitou.yaml").write_text("version: 1\nname: edges\n", encoding="utf-8")
    return _session(tmp_path, orders, customers)


@pytest.mark.parametrize("shop", [_examples, _edges], ids=["examples", "edges"])
def test_features_on_postgres_equal_duckdb(shop, tmp_path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    with PostgresEngine() as engine:
        assert _same_features(engine, shop(tmp_path)) >= 6


@pytest.mark.parametrize("shop", [_examples, _edges], ids=["examples", "edges"])
def test_features_on_spark_equal_duckdb(shop, tmp_path, spark_engine) -> None:  # noqa: F811
    assert _same_features(spark_engine, shop(tmp_path)) >= 6


def test_the_edge_shop_has_its_edges() -> None:
    """What the edge shop above is for, said once on DuckDB: if these fail, the fixtures no
    longer test what they claim."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        session = _edges(Path(tmp))
        from huitou.feature_sql import feature_query

        cursor = session.con.execute(f"SELECT * FROM ({feature_query(session.as_of, session.extra_fields).sql('duckdb')})")
        names = [d[0] for d in cursor.description]
        f = {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}
    assert f["同时"]["last_category"] == "coffee" and f["同时"]["last_rating"] == 2  # the later of two rows at one instant
    assert f["ü-1"]["last_category"] == "snacks" and f["ü-1"]["last_order_status"] == "unpaid"
    assert f["cycle"]["purchase_cycle_days"] == Decimal("1.12")
    assert f["同时"]["days_to_birthday"] == 90  # 29 February 2027 does not exist: 28 February
    assert f["none"]["order_count"] == 0 and f["none"]["lifecycle"] is None


def test_segments_on_postgres_and_spark_equal_duckdb(postgres_url: str, spark_engine, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The example playbooks' every count (lifecycle stages, segments, rule segments)."""
    from .conftest import ROOT

    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    with PostgresEngine() as engine:
        assert _same_segments(engine, ROOT / "examples") > 40
    assert _same_segments(spark_engine, ROOT / "examples") > 40


def test_a_connection_lost_while_computing_is_one_line(postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: F811
    """The server ends huitou's connection after the data is loaded: the features say so in
    one EngineError line (the CLI prints it, exit 2), not a driver's traceback."""
    import psycopg

    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    session = _edges(tmp_path)
    session.engine = PostgresEngine()
    pid = session.engine.con.info.backend_pid
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(EngineError, match=r"^engine postgres: computing the features failed: .*\(check the server, then run again\)$") as lost:
        session.features()
    assert "\n" not in str(lost.value)


TRICKY_TEXT = [None, "", '"', "a,b", "x\ry", "l1\nl2", " lead", "\\N", "\\.", "a\n\\.\nb", "回头 ü", "\\", '""', "=1+2"]


@pytest.mark.parametrize("extra", ["", ", CAST(0.1 AS DOUBLE) + i AS f"], ids=["as-csv", "as-rows"])
def test_rows_copied_into_postgres_are_the_same_values(postgres_url: str, monkeypatch: pytest.MonkeyPatch, extra: str) -> None:  # noqa: F811
    """What huitou copies into PostgreSQL (as CSV when every type allows, else as rows)
    reads back value for value: NULL apart from '', quotes, line breaks, PostgreSQL's
    own markers (\\N, \\.), non-ASCII text, dates, times, exact decimals, booleans."""
    import duckdb

    con = duckdb.connect()
    values = ", ".join(f"({i}, {'NULL' if t is None else exp_literal(t)})" for i, t in enumerate(TRICKY_TEXT))
    query = (
        f"SELECT i, s, DATE '2024-02-29' + i AS d, TIMESTAMP '2026-11-01 01:30:00.123456' + INTERVAL (i) HOUR AS ts, CAST(i / 100 AS DECIMAL(18,2)) AS m, "
        f"i % 2 = 0 AS b{extra} FROM (VALUES {values}) v(i, s) ORDER BY i"
    )
    expected = con.execute(query).fetchall()
    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    loads = []  # which way the rows went in: the two parametrisations test one each
    load = PostgresEngine._load
    monkeypatch.setattr(PostgresEngine, "_load", lambda self, *a, **k: loads.append(k.get("csv") is not None) or load(self, *a, **k))
    with PostgresEngine() as engine:
        table = engine.take_local("tricky", con, sqlglot.parse_one(query, read="duckdb"))
        got = engine.rows(sqlglot.select("*").from_(table).order_by("i"))
    assert [tuple(r) for r in got] == expected and len(got) == len(TRICKY_TEXT)
    assert loads == [extra == ""]


@pytest.mark.parametrize("way", ["csv", "batches"])
def test_rows_brought_back_from_postgres_are_the_same_values(postgres_url: str, monkeypatch: pytest.MonkeyPatch, way: str) -> None:  # noqa: F811
    """Engine.bring from PostgreSQL, as CSV (lists as JSON) or in batches of Python rows
    (the way for types CSV cannot carry alike): the tricky text, NULL apart from '',
    lists with NULLs and quotes, exact floats, dates, times and decimals."""
    import duckdb

    from huitou.engines import postgres_engine

    con = duckdb.connect()
    values = ", ".join(f"({i}, {'NULL' if t is None else exp_literal(t)})" for i, t in enumerate(TRICKY_TEXT))
    query = (
        f"SELECT i, s, DATE '2024-02-29' + i AS d, TIMESTAMP '2026-11-01 01:30:00.123456' + INTERVAL (i) HOUR AS ts, CAST(i / 100 AS DECIMAL(18,2)) AS m, "
        f"CAST(1 AS DOUBLE) / (i + 3) AS f, CASE WHEN i % 3 = 0 THEN NULL WHEN i % 3 = 1 THEN [s, 'x' || chr(34) || 'y'] ELSE CAST([] AS VARCHAR[]) END AS l "
        f"FROM (VALUES {values}) v(i, s) ORDER BY i"
    )
    expected = con.execute(query).fetchall()
    types = {str(r[0]): str(r[1]) for r in con.execute(f"DESCRIBE {query}").fetchall()}
    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    if way == "batches":
        monkeypatch.setattr(postgres_engine, "_CSV_SAFE", re.compile("(?!)"))
        monkeypatch.setattr(postgres_engine, "BATCH_ROWS", 4)
    with PostgresEngine() as engine:
        table = engine.take_local("tricky", con, sqlglot.parse_one(query, read="duckdb"))
        engine.bring(sqlglot.select("*").from_(table), con, "back", types)
    assert con.execute("SELECT * FROM back ORDER BY i").fetchall() == expected


def exp_literal(text: str) -> str:
    return sqlglot.exp.Literal.string(text).sql("duckdb")


def test_an_engine_out_of_memory_says_how_to_give_it_more(tmp_path) -> None:
    """A JVM's OutOfMemoryError while the features come back (a driver too small for the
    data): the line says to give the driver memory, not to check the server."""
    import duckdb

    class Cramped(DuckDBEngine):  # a DuckDB that takes everything in and fails on the way out
        kind = "spark"

        def copy_local(self, name: str, con, query: sqlglot.exp.Query) -> None:
            pass

        def create_temp(self, name: str, query: sqlglot.exp.Expr) -> None:
            pass

        def fetch_batches(self, text: str):
            raise duckdb.Error("An error occurred while calling o1.readArrow. : java.lang.OutOfMemoryError: Java heap space")
            yield

    session = _edges(tmp_path)
    session.engine = Cramped()
    with pytest.raises(
        EngineError,
        match=r"^engine spark: ran out of memory computing the features \(.*OutOfMemoryError.*\): give the driver more, "
        r"e\.g\. huitou\.yaml engine: \{conf: \{spark\.driver\.memory: 8g\}\}$",
    ):
        session.features()
