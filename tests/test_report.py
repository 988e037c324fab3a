"""`huitou report`: repeat purchase by customer and by transaction, per period, stage and
cohort - on CDNOW against independent pandas code, and on the seeds' worked examples
through the console script."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from huitou.evaluate import open_data
from huitou.project import Project
from huitou.report.repeat import periods, repeat_report
from tests.inprocess import huitou

ROOT = Path(__file__).resolve().parent.parent
CDNOW = ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt"
CDNOW_CONFIG = {
    "data": {
        "orders": {
            "path": str(CDNOW),
            "format": "csv",
            "columns": {"ordered_at": "date", "amount": "dollar_value", "items": "number_of_cds"},
            "csv": {"delimiter": "whitespace", "date_format": "%Y%m%d"},
        }
    }
}


def independent(raw: pd.DataFrame, lo: dt.date, hi: dt.date) -> dict[str, int]:
    """The two rates' counts, by pandas: rank in the whole history and within the period,
    ties on the day broken by the row of the file."""
    inside = raw[(raw["day"] >= pd.Timestamp(lo)) & (raw["day"] <= pd.Timestamp(hi))].copy()
    inside["nth_in_period"] = inside.groupby("customer_id").cumcount() + 1
    return {
        "buyers": inside["customer_id"].nunique(),
        "returning": inside.loc[inside["nth"] >= 2, "customer_id"].nunique(),
        "purchases": len(inside),
        "repeats": int((inside["nth_in_period"] >= 2).sum()),
    }


@pytest.mark.skipif(not CDNOW.exists(), reason="needs ../shared/data/cdnow beside the repository")
def test_cdnow_rates_match_independent_pandas(tmp_path: Path) -> None:
    session = open_data(Project(tmp_path, CDNOW_CONFIG), timezone="UTC", as_of=dt.date(1998, 6, 30), quarantine_dir=tmp_path / "q")
    raw = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str, "date": str})
    raw["day"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    raw = raw.sort_values(["customer_id", "day"], kind="stable")  # file order breaks ties, as huitou does
    raw["nth"] = raw.groupby("customer_id").cumcount() + 1
    raw = raw.sort_values(["day"], kind="stable")
    checked = 0
    for start, end, every in (
        (dt.date(1997, 1, 1), dt.date(1998, 6, 30), "month"),
        (dt.date(1997, 4, 1), dt.date(1998, 3, 31), "quarter"),
        (dt.date(1997, 3, 3), dt.date(1997, 4, 27), "week"),
        (dt.date(1997, 6, 15), dt.date(1997, 9, 14), None),
    ):
        report = repeat_report(session.data.orders, start, end, every)
        for p in [report.total, *report.periods]:
            want = independent(raw, p.start, p.end)
            got = {
                "buyers": p.by_customer.denominator,
                "returning": p.by_customer.numerator,
                "purchases": p.by_transaction.denominator,
                "repeats": p.by_transaction.numerator,
            }
            assert got == want, (p.period, got, want)
            checked += 1
    assert checked == 1 + 18 + 1 + 4 + 1 + 8 + 1
    # the first month: every buyer is new to the shop, and the cohort table starts there
    report = repeat_report(session.data.orders, dt.date(1997, 1, 1), dt.date(1998, 6, 30), "month")
    assert report.periods[0].by_customer.numerator == independent(raw, dt.date(1997, 1, 1), dt.date(1997, 1, 31))["returning"]
    firsts = raw.groupby("customer_id")["day"].min().dt.to_period("M")
    bought = raw.assign(month=raw["day"].dt.to_period("M")).merge(firsts.rename("cohort"), left_on="customer_id", right_index=True)
    bought["k"] = (bought["month"] - bought["cohort"]).apply(lambda d: d.n)
    january = firsts[firsts == pd.Period("1997-01")].index
    cohort = report.cohorts[0]
    assert cohort.month == "1997-01" and cohort.customers == len(january) == 7_846
    for k, rate in enumerate(cohort.again, 1):
        assert rate.numerator == bought[(bought["cohort"] == pd.Period("1997-01")) & (bought["k"] == k)]["customer_id"].nunique()
    assert len(cohort.again) == 17 and [c.month for c in report.cohorts] == [
        "1997-01",
        "1997-02",
        "1997-03",
    ]  # CDNOW's customers all joined in Q1 1997
    # the median purchase cycle, as the feature purchase_cycle_days defines it
    days = raw.groupby("customer_id")["day"].agg(["min", "max", "nunique"])
    repeaters = days[days["nunique"] >= 2]
    assert report.median_cycle_days == pytest.approx(((repeaters["max"] - repeaters["min"]).dt.days / (repeaters["nunique"] - 1)).median())


def shop(root: Path, orders: list[tuple[str, str, str]]) -> Path:
    root.mkdir(parents=True)
    (root / "huitou.yaml").write_text("version: 1\nname: t\ntimezone: Asia/Shanghai\ndata: {orders: {path: orders.csv}}\n", encoding="utf-8")
    with open(root / "orders.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "ordered_at", "amount", "status"])
        writer.writerows([(c, t, "10", s) for c, t, s in orders])
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    done = huitou("report", *args, cwd=root)
    assert "internal error" not in done.stderr, done.stderr
    return done


def test_the_seeds_examples_through_the_command(tmp_path: Path) -> None:
    """By transaction: 100 orders in November, 20 people bought a 2nd time and 10 of them a
    3rd -> 30%. By customer: of those 70 buyers, the 10 who had bought in October and the
    20 who bought twice in November had bought before -> 30 of 70. Cancelled and refunded
    orders are not purchases."""
    orders = []
    for i in range(70):
        times = 3 if i < 10 else 2 if i < 20 else 1
        orders += [(f"c{i:02d}", f"2026-11-{day + 1:02d} 10:00", "paid") for day in range(times)]
    orders += [(f"c{i:02d}", "2026-10-15 10:00", "paid") for i in range(60, 70)]  # ten of the one-time buyers had bought before
    orders += [("c00", "2026-11-20 10:00", "cancelled"), ("c99", "2026-11-21 10:00", "refunded")]
    root = shop(tmp_path / "shop", orders)
    done = run(root, "--from", "2026-11-01", "--to", "2026-11-30", "--format", "json")
    assert done.returncode == 0, done.stderr
    rates = json.loads(done.stdout)["repeat_purchase"]
    assert rates["by_transaction"] == {"rate": 0.3, "numerator": 30, "denominator": 100}
    assert rates["by_customer"] == {"rate": 30 / 70, "numerator": 30, "denominator": 70}
    stages = {s["stage"]: s for s in rates["stages"]}
    assert stages["first_purchase"]["by_customer"]["denominator"] == 60 and stages["new"]["by_customer"]["denominator"] == 10
    # first-time buyers who bought again within the month are returning; the stages add up to the month
    assert stages["first_purchase"]["by_customer"]["numerator"] == 20 and stages["new"]["by_customer"]["numerator"] == 10
    # per month, and as CSV
    done = run(root, "--from", "2026-10-01", "--to", "2026-11-30", "--every", "month", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["period"], r["buyers"], r["returning_buyers"], r["purchases"], r["repeat_purchases"]) for r in rows] == [
        ("all", "70", "30", "110", "40"),
        ("2026-10", "10", "0", "10", "0"),
        ("2026-11", "70", "30", "100", "30"),
    ]
    # the cohort of October: all ten bought again in November
    cohorts = json.loads(run(root, "--from", "2026-10-01", "--to", "2026-11-30", "--format", "json").stdout)["repeat_purchase"]["cohorts"]
    assert (
        cohorts[0]["cohort"] == "2026-10"
        and cohorts[0]["customers"] == 10
        and cohorts[0]["again"] == [{"month": 1, "rate": 1.0, "numerator": 10, "denominator": 10}]
    )
    text = run(root, "--from", "2026-11-01", "--to", "2026-11-30").stdout
    assert "30.0% (30 of 100 purchases" in text and "42.9% (30 of 70 buyers" in text


def test_a_short_period_and_an_empty_range_are_said(tmp_path: Path) -> None:
    orders = [(f"c{i}", f"2026-{m:02d}-10 10:00", "paid") for i in range(5) for m in (1, 4, 7)]  # a 90-day cycle
    root = shop(tmp_path / "shop", orders)
    report = json.loads(run(root, "--from", "2026-07-01", "--to", "2026-07-31", "--format", "json").stdout)
    assert report["repeat_purchase"]["median_purchase_cycle_days"] == 90.5
    assert any("shorter than the customers' median purchase cycle (90 days)" in w for w in report["warnings"])
    empty = run(root, "--from", "2025-01-01", "--to", "2025-03-31", "--format", "json")
    report = json.loads(empty.stdout)
    assert empty.returncode == 0 and report["repeat_purchase"]["by_transaction"] == {"rate": None, "numerator": 0, "denominator": 0}
    assert any("no purchases between 2025-01-01 and 2025-03-31" in w for w in report["warnings"])
    bad = run(root, "--from", "2026-07-31", "--to", "2026-07-01")
    assert bad.returncode == 2 and "is after --to" in bad.stderr


def test_periods_are_calendar_periods_clipped_to_the_range() -> None:
    assert periods(dt.date(2026, 2, 10), dt.date(2026, 8, 5), "quarter") == [
        ("2026-Q1", dt.date(2026, 2, 10), dt.date(2026, 3, 31)),
        ("2026-Q2", dt.date(2026, 4, 1), dt.date(2026, 6, 30)),
        ("2026-Q3", dt.date(2026, 7, 1), dt.date(2026, 8, 5)),
    ]
    weeks = periods(dt.date(2026, 12, 30), dt.date(2027, 1, 12), "week")
    assert [w[0] for w in weeks] == ["2026-W53", "2027-W01", "2027-W02"]  # ISO weeks: 2026 has 53
    assert weeks[0][1:] == (dt.date(2026, 12, 30), dt.date(2027, 1, 3))
