"""Loading and features on real files and a real DuckDB: CDNOW against independent pandas
code, every input format giving the same table, bad rows quarantined and counted."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from huitou.data.sources import DataError
from huitou.evaluate import DataSession, open_data
from huitou.project import Project

from .conftest import ROOT
from .inprocess import huitou

CDNOW = ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt"
EXAMPLES = ROOT / "examples"


def features(session: DataSession) -> dict[str, dict[str, object]]:
    cursor = session.con.execute(f"SELECT * FROM ({session.features().sql('duckdb')}) ORDER BY customer_id")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}


def open_files(
    tmp: Path,
    *,
    orders: Path,
    customers: Path | None = None,
    config: dict | None = None,
    as_of: dt.date = dt.date(2026, 11, 1),
    timezone: str = "Asia/Shanghai",
) -> DataSession:
    project = Project(tmp, config or {})
    return open_data(project, timezone=timezone, as_of=as_of, orders=orders, customers=customers, quarantine_dir=tmp / "quarantine")


def write_csv(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.mark.skipif(not CDNOW.exists(), reason="needs ../shared/data/cdnow beside the repository")
def test_cdnow_matches_independent_pandas_summary(tmp_path: Path) -> None:
    """lifetimes-style summary (freq='D', observation end 1998-06-30), computed by our own
    pandas code, equals huitou's features for every one of the 23,570 customers."""
    config = {
        "data": {
            "orders": {
                "path": str(CDNOW),
                "format": "csv",
                "columns": {"ordered_at": "date", "amount": "dollar_value", "items": "number_of_cds"},
                "csv": {"delimiter": "whitespace", "date_format": "%Y%m%d"},
            }
        }
    }
    project = Project(tmp_path, config)
    session = open_data(project, timezone="UTC", as_of=dt.date(1998, 6, 30), quarantine_dir=tmp_path / "q")
    assert session.reports[-1].rows == 69_659 and session.reports[-1].loaded == 69_659
    ours = pd.DataFrame(features(session).values()).set_index("customer_id")

    raw = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str, "date": str})
    raw["day"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    days = raw.groupby("customer_id")["day"].agg(["min", "max", "nunique"])
    end = pd.Timestamp("1998-06-30")
    peer = pd.DataFrame(
        {
            "frequency": days["nunique"] - 1,
            "recency": (days["max"] - days["min"]).dt.days,
            "T": (end - days["min"]).dt.days,
        }
    )
    assert len(peer) == 23_570 and len(ours) == 23_570
    assert peer.index.str.len().min() == 5  # zero-padded ids kept as text
    joined = peer.join(ours, how="inner")
    assert len(joined) == 23_570
    assert (joined["purchase_days"] - 1 == joined["frequency"]).all()
    assert (joined["days_since_first_order"] == joined["T"]).all()
    assert (joined["days_since_first_order"] - joined["days_since_last_order"] == joined["recency"]).all()
    assert (joined["frequency"] == 0).sum() == 12_054
    assert round(joined["frequency"].mean(), 4) == 1.8677


def _convert(tmp: Path, fmt: str) -> tuple[Path, Path]:
    con = duckdb.connect()
    out = []
    for name in ("orders", "customers"):
        src = str(EXAMPLES / f"{name}.csv")
        target = tmp / f"{name}.{fmt}"
        text_columns = ["customer_id", "order_id"] if name == "orders" else ["customer_id", "phone"]
        types = "types = {" + ", ".join(f"'{c}': 'VARCHAR'" for c in text_columns) + "}"
        if fmt == "parquet":
            con.execute(f"COPY (SELECT * FROM read_csv('{src}', {types})) TO '{target}' (FORMAT PARQUET)")
        elif fmt == "jsonl":
            con.execute(f"COPY (SELECT * FROM read_csv('{src}', {types})) TO '{target}' (FORMAT JSON)")
        out.append(target)
    return out[0], out[1]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "duckdb"])
def test_every_format_gives_the_same_features(tmp_path: Path, fmt: str) -> None:
    reference = features(open_files(tmp_path, orders=EXAMPLES / "orders.csv", customers=EXAMPLES / "customers.csv"))
    if fmt == "duckdb":
        db = tmp_path / "shop.duckdb"
        con = duckdb.connect(str(db))
        for name in ("orders", "customers"):
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{EXAMPLES / (name + '.csv')}', all_varchar = true)")
        con.close()
        config = {"data": {"orders": {"path": str(db), "table": "orders"}, "customers": {"path": str(db), "table": "customers"}}}
        session = open_data(Project(tmp_path, config), timezone="Asia/Shanghai", as_of=dt.date(2026, 11, 1), quarantine_dir=tmp_path / "q")
    else:
        orders, customers = _convert(tmp_path, fmt)
        session = open_files(tmp_path, orders=orders, customers=customers)
    assert features(session) == reference
    assert len(reference) == 300


def test_runs_are_identical(tmp_path: Path) -> None:
    outs = []
    for _ in range(2):
        session = open_files(tmp_path, orders=EXAMPLES / "orders.csv", customers=EXAMPLES / "customers.csv")
        outs.append(session.con.execute(f"SELECT * FROM ({session.features().sql('duckdb')}) ORDER BY customer_id").fetchall())
    assert outs[0] == outs[1]


ORDER_HEADER = ["order_id", "customer_id", "ordered_at", "amount", "status", "delivered_at", "rating"]


def test_bad_rows_are_quarantined_with_reasons(tmp_path: Path) -> None:
    orders = write_csv(
        tmp_path / "orders.csv",
        [
            ORDER_HEADER,
            ["o1", "007", "2026-10-01 10:00:00", "10.00", "paid", "2026-10-03", "5"],
            ["o2", "007", "2026-13-45", "10.00", "paid", "", ""],  # bad_date
            ["o3", "007", "", "10.00", "paid", "", ""],  # missing_date
            ["o4", "007", "2026-10-02", "-5", "paid", "", ""],  # negative_amount
            ["o5", "007", "2026-10-02", "", "paid", "", ""],  # missing_amount
            ["o6", "007", "2026-10-02", "ten", "paid", "", ""],  # bad_amount
            ["o7", "", "2026-10-02", "1", "paid", "", ""],  # missing_customer_id
            ["o8", "999", "2026-10-02", "1", "paid", "", ""],  # unknown_customer
            ["o1", "007", "2026-10-05", "1", "paid", "", ""],  # duplicate_order_id
            ["o9", "007", "2031-01-01", "1", "paid", "", ""],  # future_date
            ["o10", "007", "2026-10-06", "1", "shipped", "", ""],  # unknown_status
            ["o11", "007", "2026-10-07", "20.50", "PAID", "soon", "9"],  # kept: bad_delivered_at, bad_rating
            ["o12", "007", "2026-11-20", "3", "paid", "", ""],  # after the as-of date: ignored, kept
        ],
    )
    customers = write_csv(
        tmp_path / "customers.csv",
        [
            ["customer_id", "name", "birthday", "points", "consent_sms"],
            ["007", "王伟", "1990-02-29", "12", "yes"],  # no such date: kept, birthday NULL
            ["007", "dup", "1990-01-01", "1", "no"],  # duplicate_customer_id
            ["008", "李娜", "1988-05-01", "lots", "maybe"],  # kept: bad_points, bad_consent_sms
        ],
    )
    session = open_files(tmp_path, orders=orders, customers=customers, as_of=dt.date(2026, 11, 1))
    cust_report, order_report = session.reports
    assert order_report.rejected == {
        "bad_date": 1,
        "missing_date": 1,
        "negative_amount": 1,
        "missing_amount": 1,
        "bad_amount": 1,
        "missing_customer_id": 1,
        "unknown_customer": 1,
        "duplicate_order_id": 1,
        "future_date": 1,
        "unknown_status": 1,
    }
    assert order_report.kept_with_issues == {"bad_delivered_at": 1, "bad_rating": 1}
    assert (order_report.rows, order_report.loaded, order_report.after_as_of) == (13, 3, 1)
    assert cust_report.rejected == {"duplicate_customer_id": 1}
    assert (cust_report.rows, cust_report.loaded) == (3, 2)

    with (tmp_path / "quarantine" / "orders.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["row"], r["action"], r["order_id"]) for r in rows][:3] == [
        ("2", "rejected", "o2"),
        ("3", "rejected", "o3"),
        ("4", "rejected", "o4"),
    ]
    assert {r["reason"] for r in rows if r["action"] == "rejected"} == set(order_report.rejected)
    assert [r["order_id"] for r in rows if r["action"] == "kept"] == ["o11"]
    assert len(rows) == 11  # ten rejected, one kept with issues: nothing lost

    f = features(session)
    assert f["007"]["order_count"] == 2 and f["007"]["total_spent"] == Decimal("30.50")  # o1 + o11 ("PAID")
    assert f["007"]["birthday"] is None and f["007"]["consent_sms"] is True
    assert f["008"]["order_count"] == 0 and f["008"]["points"] is None and f["008"]["consent_sms"] is None


def test_order_semantics(tmp_path: Path) -> None:
    orders = write_csv(
        tmp_path / "orders.csv",
        [
            ORDER_HEADER,
            ["a1", "0001", "2026-11-10T23:30:00Z", "100.00", "paid", "", "4"],  # 11 Nov in Shanghai
            ["a2", "0001", "2026-11-11 09:00:00", "0.01", "cancelled", "", ""],  # not a purchase
            ["a3", "0001", "2026-11-12", "0.02", "refunded", "", ""],
            ["a4", "0001", "2026-11-13", "50.00", "unpaid", "", "1"],
            ["b1", "0002", "2026-11-01", "0.01", "paid", "2026-11-03", ""],
            ["b2", "0002", "2026-11-01", "0.02", "paid", "2026-11-04", "2"],
            ["c1", "0003", "2026-10-01", "0.02", "paid", "", ""],
            ["c2", "0003", "2026-10-31", "0.03", "paid", "", ""],
            ["c3", "0003", "2026-11-10", "0.00", "paid", "", ""],
        ],
    )
    customers = write_csv(
        tmp_path / "customers.csv",
        [
            ["customer_id", "birthday", "tags"],
            ["0001", "2000-02-29", "vip|coffee"],
            ["0002", "1990-11-14", ""],
            ["0003", "", "new_arrivals"],
            ["0004", "1985-11-13", ""],
        ],
    )
    s = open_files(tmp_path, orders=orders, customers=customers, as_of=dt.date(2027, 2, 1))
    f = features(s)
    a, b, c, d = f["0001"], f["0002"], f["0003"], f["0004"]
    assert a["first_order_date"] == dt.date(2026, 11, 11) and a["order_count"] == 1
    assert a["has_unpaid_order"] is True and a["last_order_status"] == "unpaid" and a["last_rating"] == 1
    assert a["days_to_birthday"] == 27  # 29 Feb falls on 28 Feb in 2027
    assert a["tags"] == ["vip", "coffee"]
    assert b["purchase_days"] == 1 and b["order_count"] == 2 and b["purchase_cycle_days"] is None
    assert b["avg_order_value"] == Decimal("0.02")  # 0.03 / 2 = 0.015, half-even -> 0.02
    assert c["avg_order_value"] == Decimal("0.02")  # 0.05 / 3 = 0.0166...
    assert c["purchase_cycle_days"] == 20.0 and c["days_until_due"] == 20.0 - 83
    assert b["days_since_last_delivery"] == (dt.date(2027, 2, 1) - dt.date(2026, 11, 4)).days
    assert d["order_count"] == 0 and d["total_spent"] == Decimal("0.00") and d["lifecycle"] is None
    assert d["days_since_last_order"] is None and d["avg_order_value"] is None
    assert d["age"] == 41


def test_purchase_cycles_are_exact_and_the_last_category_skips_purchases_without_one(tmp_path: Path) -> None:
    # 881 days over 40 gaps is 22.025 exactly; a double holds 22.02499... and rounded it to
    # 22.02 on DuckDB, 22.03 elsewhere. Exact and half to even: 22.02.
    start = dt.date(2020, 1, 1)
    gaps = [22] * 39 + [23]  # 39 * 22 + 23 = 881 days over 40 gaps
    days = [start + dt.timedelta(days=sum(gaps[:i])) for i in range(41)]
    rows = [["order_id", "customer_id", "ordered_at", "amount", "status", "category"]]
    rows += [[f"a{i}", "cyc", d.isoformat(), "1.00", "paid", "tea"] for i, d in enumerate(days)]
    rows += [["b1", "half", "2026-01-01", "1", "paid", "tea"], ["b2", "half", "2026-01-08", "1", "paid", ""]]
    rows += [
        ["b3", "half", "2026-01-08T10:00:00+08:00", "1", "paid", "coffee"],
        ["b4", "half", "2026-01-08T11:00:00+08:00", "1", "paid", ""],
    ]
    rows += [["c1", "odd", "2026-01-01", "1", "paid", ""], ["c2", "odd", "2026-01-04", "1", "paid", ""]]
    # Nine purchase days over 9 days: 9 / 8 = 1.125 exactly, 1.12 half to even (1.13 rounded
    # half up, as DuckDB rounds the double).
    rows += [[f"d{i}", "even", f"2026-01-{i + 1:02d}", "1", "paid", ""] for i in (0, 1, 2, 3, 4, 5, 6, 7, 9)]
    orders = write_csv(tmp_path / "orders.csv", rows)
    f = features(open_files(tmp_path, orders=orders, as_of=dt.date(2026, 2, 1)))
    assert f["cyc"]["purchase_cycle_days"] == Decimal("22.02") and f["cyc"]["purchase_days"] == 41
    assert f["cyc"]["days_until_due"] == Decimal("22.02") - (dt.date(2026, 2, 1) - days[-1]).days
    assert f["half"]["purchase_cycle_days"] == Decimal("7.00")
    # The latest purchase (b4, 11:00) has no category: the latest one that has is b3's.
    assert f["half"]["last_category"] == "coffee"
    assert f["odd"]["purchase_cycle_days"] == Decimal("3.00") and f["odd"]["last_category"] is None
    assert f["even"]["purchase_cycle_days"] == Decimal("1.12")


def test_the_engine_memory_is_bounded_by_default_and_by_the_flag(tmp_path: Path) -> None:
    """DuckDB alone would take 80% of the machine; huitou gives it a tenth, at least 2 GiB
    (docs/cli.md), and --memory-limit what it says."""
    from huitou.evaluate import default_memory_limit, machine_memory

    orders = write_csv(tmp_path / "orders.csv", [["order_id", "customer_id", "ordered_at", "amount"], ["o1", "c1", "2026-10-01", "10"]])
    session = open_files(tmp_path, orders=orders)
    total = machine_memory()
    assert total is not None
    share = min(max(int(total * 0.1), 2 * 1024**3), int(total * 0.8))
    assert default_memory_limit() == f"{share // 1024**2}MiB"
    held = session.con.execute("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchall()[0][0]
    number, unit = held.split()
    assert unit == "GiB" and abs(float(number) - share / 1024**3) < 0.1
    ok = huitou("features", "--orders", str(orders), "--as-of", "2026-11-01", "--memory-limit", "3GB", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("customer_id,")
    bad = huitou("features", "--orders", str(orders), "--memory-limit", "lots", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--memory-limit 'lots'" in bad.stderr and "2GB" in bad.stderr
    negative = huitou("features", "--orders", str(orders), "--memory-limit", "-5GB", cwd=tmp_path)
    assert negative.returncode == 2 and "--memory-limit '-5GB': not a size" in negative.stderr and negative.stdout == ""


def test_missing_column_names_the_file_and_column(tmp_path: Path) -> None:
    orders = write_csv(tmp_path / "orders.csv", [["customer_id", "order_date", "amount"], ["1", "2026-01-01", "1"]])
    with pytest.raises(DataError) as err:
        open_files(tmp_path, orders=orders)
    text = str(err.value)
    assert str(orders) in text and "no column 'ordered_at'" in text and "order_date" in text


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "orders.parquet"
    broken.write_bytes(b"this is not parquet")
    with pytest.raises(DataError) as err:
        open_files(tmp_path, orders=broken)
    assert str(broken) in str(err.value) and "cannot read it as parquet" in str(err.value)


def test_column_mapping_and_csv_options(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text("C01;20261001;12,50\nC02;20261005;3\n", encoding="utf-8")
    source = {
        "path": str(path),
        "format": "csv",
        "columns": {"customer_id": "who", "ordered_at": "day", "amount": "paid"},
        "csv": {"delimiter": ";", "header": False, "names": ["who", "day", "paid"], "date_format": "%Y%m%d"},
    }
    session = open_data(
        Project(tmp_path, {"data": {"orders": source}}), timezone="Asia/Shanghai", as_of=dt.date(2026, 11, 1), quarantine_dir=tmp_path / "q"
    )
    report = session.reports[-1]
    assert report.rejected == {"bad_amount": 1}  # "12,50" is not an amount: reported, not guessed
    assert list(features(session)) == ["C02"]


def test_duplicates_keep_the_first_row_and_move_the_rest(tmp_path: Path) -> None:
    orders = write_csv(
        tmp_path / "orders.csv",
        [
            ORDER_HEADER,
            ["x1", "1", "2026-10-01", "10.00", "paid", "", ""],
            ["x1", "1", "2026-10-01", "10.00", "paid", "", "9"],  # duplicate, with a bad rating too
            ["x1", "2", "2026-10-02", "5.00", "paid", "", ""],  # same id, other customer: duplicate
            ["x2", "2", "2026-13-01", "5.00", "paid", "", ""],  # bad date: that reason wins
            ["x2", "2", "2026-10-03", "5.00", "paid", "", ""],  # repeats a rejected row's id
        ],
    )
    session = open_files(tmp_path, orders=orders)
    rep = session.reports[-1]
    assert rep.rejected == {"duplicate_order_id": 3, "bad_date": 1}
    assert (rep.rows, rep.loaded, rep.kept_with_issues) == (5, 1, {})
    f = features(session)
    assert f["1"]["order_count"] == 1 and f["1"]["total_spent"] == Decimal("10.00")
    assert "2" not in f  # every order of customer 2 was rejected, and there is no customers file


def test_customers_without_a_file_are_the_buyers_up_to_as_of(tmp_path: Path) -> None:
    orders = write_csv(
        tmp_path / "orders.csv",
        [
            ORDER_HEADER,
            ["a", "1", "2026-10-01", "1", "paid", "", ""],
            ["b", "2", "2026-12-01", "1", "paid", "", ""],  # only after the as-of date
        ],
    )
    f = features(open_files(tmp_path, orders=orders, as_of=dt.date(2026, 11, 1)))
    assert list(f) == ["1"] and f["1"]["name"] is None and f["1"]["tags"] is None


def test_empty_and_non_utf8_files_say_so(tmp_path: Path) -> None:
    empty = tmp_path / "orders.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="the file is empty"):
        open_files(tmp_path, orders=empty)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("customer_id,ordered_at,amount\n1,2026-01-01,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 2 is not UTF-8 text; the file reads as cp1252.*add `encoding: cp1252` under data.orders.csv"):
        open_files(tmp_path, orders=latin)


def test_latest_order_ties_go_to_the_later_row(tmp_path: Path) -> None:
    orders = write_csv(
        tmp_path / "orders.csv",
        [
            ["order_id", "customer_id", "ordered_at", "amount", "category"],
            ["z9", "1", "2026-10-01 10:00:00", "1", "tea"],
            ["a1", "1", "2026-10-01 10:00:00", "1", "coffee"],  # same time, later row: the latest
            ["m5", "1", "2026-09-01 10:00:00", "1", "books"],
        ],
    )
    assert features(open_files(tmp_path, orders=orders))["1"]["last_category"] == "coffee"


def test_declared_fields_flow_from_file_to_predicate(tmp_path: Path) -> None:
    from huitou.evaluate import segment_counts
    from huitou.validate import validate_paths

    write_csv(
        tmp_path / "orders.csv",
        [ORDER_HEADER, ["o1", "1", "2026-10-01", "5", "paid", "", ""], ["o2", "2", "2026-10-02", "5", "paid", "", ""]],
    )
    write_csv(tmp_path / "customers.csv", [["customer_id", "vip_level", "colours"], ["1", "4", "red|blue"], ["2", "x", ""]])
    (tmp_path / "huitou.yaml").write_text(
        "version: 1\ndata:\n  orders: {path: orders.csv}\n  customers: {path: customers.csv, fields: {vip_level: integer, colours: list}}\n",
        encoding="utf-8",
    )
    (tmp_path / "templates" / "zh-CN").mkdir(parents=True)
    (tmp_path / "templates" / "zh-CN" / "t.j2").write_text("{{ customer.vip_level }}\n", encoding="utf-8")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "p.yaml").write_text(
        "version: 1\nname: p\nrules:\n  - {id: r, intent: care, segment: \"vip_level >= 3 AND colours CONTAINS 'blue'\", when: {immediate: true}, channel: wechat, template: t.j2}\n",
        encoding="utf-8",
    )
    result = validate_paths([tmp_path])
    assert result.diagnostics == []
    session = open_data(result.playbooks[0].project, timezone="Asia/Shanghai", as_of=dt.date(2026, 11, 1), quarantine_dir=tmp_path / "q")
    assert session.reports[0].kept_with_issues == {"bad_vip_level": 1}
    f = features(session)
    assert f["1"]["vip_level"] == 4 and f["1"]["colours"] == ["red", "blue"] and f["2"]["vip_level"] is None
    _, counts = segment_counts(session, result.playbooks)
    assert [c.customers for c in counts if c.kind == "rule"] == [1]


def test_timezone_aware_parquet_times_become_local_dates(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    duckdb.connect().execute(
        f"""COPY (SELECT '1' AS customer_id, TIMESTAMPTZ '2026-10-31 16:30:00+00' AS ordered_at, 9.5 AS amount) TO '{path}' (FORMAT PARQUET)"""
    )
    shanghai = features(open_files(tmp_path, orders=path, timezone="Asia/Shanghai"))
    london = features(open_files(tmp_path, orders=path, timezone="Europe/London"))
    assert shanghai["1"]["last_order_date"] == dt.date(2026, 11, 1)  # 00:30 next day in Shanghai
    assert london["1"]["last_order_date"] == dt.date(2026, 10, 31)


def test_status_is_read_leniently(tmp_path: Path) -> None:
    orders = write_csv(
        tmp_path / "orders.csv",
        [
            ORDER_HEADER,
            ["a", "1", "2026-10-01", "1", "", "", ""],  # empty: paid
            ["b", "1", "2026-10-02", "1", "   ", "", ""],  # blank: paid
            ["c", "1", "2026-10-03", "1", " Refunded ", "", ""],  # case and spaces: refunded
        ],
    )
    session = open_files(tmp_path, orders=orders)
    assert session.reports[-1].rejected == {}
    assert features(session)["1"]["order_count"] == 2


def test_purchase_days_bitmap_and_distinct_count_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huitou import feature_sql

    bitmap = features(open_files(tmp_path, orders=EXAMPLES / "orders.csv", customers=EXAMPLES / "customers.csv"))
    monkeypatch.setattr(feature_sql, "BITMAP_BUDGET_BYTES", 0)  # force count(DISTINCT)
    distinct = features(open_files(tmp_path, orders=EXAMPLES / "orders.csv", customers=EXAMPLES / "customers.csv"))
    assert bitmap == distinct
    assert sum(f["purchase_days"] for f in bitmap.values()) > 300


def test_numpy_columns_longer_than_duckdbs_type_sample_register() -> None:
    """DuckDB 1.1 sent object columns past its 1,000-row sample through pandas and failed;
    the plan's rendered batches and the ledger's rows are such columns (db.register_columns,
    on a connection of db.connect, which samples every row)."""
    import numpy

    from huitou.db import connect, register_columns

    con = connect()
    n = 5_000
    register_columns(con, "t", {"text": numpy.array(["x"] * (n - 1) + [None], dtype=object), "none": numpy.array([None] * n, dtype=object)})
    assert con.execute("SELECT count(*), count(text), count(none) FROM t").fetchall() == [(n, n - 1, 0)]
