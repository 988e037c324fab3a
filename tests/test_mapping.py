"""A real shop's one-table export set up by configuration alone, through the console
script: column and value mapping, profile columns taken from the latest order, a load
that rejects most rows stopping with exit 1, the stale-export hint, malformed CSV rows
set aside, and the data commands without playbooks."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from tests.electronics import MAPPED_CONFIG, write_export
from tests.inprocess import huitou

AS_OF = "2024-09-01"
LOYAL = """version: 1
name: loyal
timezone: America/New_York
locale: en
segments:
  loyal_repeat: loyalty_member AND order_count >= 2
rules:
  - id: thanks
    intent: care
    segment: loyal_repeat
    when: {immediate: true}
    channel: email
    template: email/thanks.j2
"""


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return huitou(*args, cwd=root)


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    root = tmp_path / "shop"
    root.mkdir()
    return root, write_export(root / "sales.csv", rows=600)


def test_statuses_not_mapped_stop_the_command_and_name_the_setting(shop: tuple[Path, list[dict[str, str]]]) -> None:
    root, rows = shop
    unmapped = MAPPED_CONFIG.split("    values:")[0].replace(", gender: Gender, age_years: Age, loyalty_member: Loyalty Member", "")
    (root / "huitou.yaml").write_text(
        unmapped.replace("    fields: {gender: string, age_years: integer, loyalty_member: boolean}\n", ""), encoding="utf-8"
    )
    done = run(root, "segments", "--as-of", AS_OF)
    completed = sum(r["Order Status"] == "Completed" for r in rows)
    assert done.returncode == 1, done.stderr
    # 'Cancelled' reads as cancelled (any case); 'Completed' is no status huitou knows
    assert f"rejected: {completed:,} unknown_status" in done.stderr and f"values not understood: 'Completed' ({completed:,});" in done.stderr
    assert "data.orders.values.status: {Completed: paid}" in done.stderr
    assert "max_rejected (50%)" in done.stderr and "customers as of" not in done.stdout


def latest(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Each customer's latest row not cancelled (by date, ties: the later row), or their
    latest when every one was cancelled, as the export says (docs/data.md: a profile
    comes from one order, and a cancelled one only when there is no other)."""
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        kept = out.get(row["Customer ID"])
        rank = (row["Order Status"] != "Cancelled", row["Purchase Date"])
        if kept is None or rank >= (kept["Order Status"] != "Cancelled", kept["Purchase Date"]):
            out[row["Customer ID"]] = row
    return out


def test_a_mapped_export_loads_every_row_with_the_profile_of_the_latest_order(shop: tuple[Path, list[dict[str, str]]]) -> None:
    root, rows = shop
    (root / "huitou.yaml").write_text(MAPPED_CONFIG, encoding="utf-8")
    done = run(root, "features", "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr
    assert f"orders: {len(rows):,} rows read from sales.csv, {len(rows):,} loaded" in done.stderr
    table = {r["customer_id"]: r for r in csv.DictReader(io.StringIO(done.stdout))}
    expected = latest(rows)
    assert set(table) == set(expected)
    for cid, row in expected.items():
        got = table[cid]
        assert (got["gender"], got["age_years"], got["loyalty_member"]) == (
            row["Gender"],
            row["Age"],
            str(row["Loyalty Member"] == "Yes"),
        ), cid
    purchases: dict[str, int] = defaultdict(int)
    for row in rows:
        purchases[row["Customer ID"]] += row["Order Status"] == "Completed"
    assert all(int(table[c]["order_count"]) == n for c, n in purchases.items())
    # the segments add up: customers with only cancelled orders are the "no purchase" row
    (root / "rules").mkdir()
    (root / "rules" / "loyal.yaml").write_text(LOYAL, encoding="utf-8")
    (root / "templates" / "en" / "email").mkdir(parents=True)
    (root / "templates" / "en" / "email" / "thanks.j2").write_text(
        "{% block subject %}Thank you{% endblock %}{% block text %}Thanks, {{ customer.gender }}.{% endblock %}", encoding="utf-8"
    )
    counted = run(root, "segments", "--as-of", AS_OF, "--format", "json")
    assert counted.returncode == 0, counted.stderr
    counts = {(c["playbook"], c["kind"], c["name"]): c["customers"] for c in json.loads(counted.stdout)["counts"]}
    assert counts[(None, "lifecycle", "no purchase")] == sum(1 for n in purchases.values() if n == 0) > 0
    assert sum(v for (p, k, _), v in counts.items() if p is None and k == "lifecycle") == len(expected)
    loyal = sum(1 for c, n in purchases.items() if n >= 2 and expected[c]["Loyalty Member"] == "Yes")
    assert counts[("loyal", "segment", "loyal_repeat")] == counts[("loyal", "rule", "thanks")] == loyal > 0


def test_a_stale_export_says_which_as_of_to_use(shop: tuple[Path, list[dict[str, str]]]) -> None:
    root, rows = shop
    (root / "huitou.yaml").write_text(MAPPED_CONFIG, encoding="utf-8")
    done = run(root, "segments")  # as of today: the export is two years old
    newest = max(r["Purchase Date"] for r in rows if r["Order Status"] == "Completed")
    assert done.returncode == 0 and f"pass --as-of {newest}" in done.stderr, done.stderr
    fresh = run(root, "segments", "--as-of", newest)
    assert "pass --as-of" not in fresh.stderr


def test_segments_and_explain_work_without_playbooks(shop: tuple[Path, list[dict[str, str]]]) -> None:
    root, rows = shop
    (root / "huitou.yaml").write_text(MAPPED_CONFIG, encoding="utf-8")
    seg = run(root, "segments", "--as-of", AS_OF)
    assert seg.returncode == 0 and "lifecycle stages" in seg.stdout and "no purchase" in seg.stdout, seg.stderr
    customer = rows[0]["Customer ID"]
    why = run(root, "explain", customer, "--as-of", AS_OF, "--format", "json")
    assert why.returncode == 0, why.stderr
    assert json.loads(why.stdout)["features"]["customer_id"] == customer


def test_a_malformed_csv_row_is_set_aside_and_the_rest_is_read(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "huitou.yaml").write_text("version: 1\nname: t\ndata:\n  orders: {path: orders.csv}\n", encoding="utf-8")
    (root / "orders.csv").write_text(
        "customer_id,ordered_at,amount\nc1,2026-10-01,10.00\nc2,2026-10-02,20.00,extra\nc3,2026-10-03,30.00\nc4,2026-10-04\nc5,2026-10-05,50.00\n",
        encoding="utf-8",
    )
    done = run(root, "features", "--as-of", "2026-10-10")
    assert done.returncode == 0, done.stderr
    assert "5 rows read from orders.csv, 3 loaded" in done.stderr and "2 malformed_row" in done.stderr
    assert "line 3: TOO MANY COLUMNS" in done.stderr.replace("\n", " ")
    assert sorted(r["customer_id"] for r in csv.DictReader(io.StringIO(done.stdout))) == ["c1", "c3", "c5"]
    kept = list(csv.DictReader(open(root / ".huitou" / "quarantine" / "orders.malformed.csv", encoding="utf-8")))
    assert [(r["line"], r["text"]) for r in kept] == [("3", "c2,2026-10-02,20.00,extra"), ("5", "c4,2026-10-04")]
    # the rest of the file keeps its row numbers: c5 is data row 5 in the load report's terms
    (root / "orders.csv").write_text(
        "customer_id,ordered_at,amount\nc1,2026-10-01,10.00\nc2,2026-10-02,20.00,extra\nc3,2026-10-03,-1\n", encoding="utf-8"
    )
    again = run(root, "features", "--as-of", "2026-10-10")
    rejected = list(csv.DictReader(open(root / ".huitou" / "quarantine" / "orders.csv", encoding="utf-8")))
    assert again.returncode == 1 and [(r["row"], r["reason"]) for r in rejected] == [("3", "negative_amount")], again.stderr


def test_a_file_that_mixes_line_endings_is_read_or_named(tmp_path: Path) -> None:
    """DuckDB 1.x reads a file whose lines end in both CRLF and LF; DuckDB 2 refuses it.
    Either the rows load, or the message says so and where."""
    root = tmp_path / "shop"
    root.mkdir()
    (root / "huitou.yaml").write_text("version: 1\nname: t\ndata:\n  orders: {path: orders.csv}\n", encoding="utf-8")
    (root / "orders.csv").write_bytes(b"customer_id,ordered_at,amount\r\nc1,2026-10-01,10.00\r\nc2,2026-10-02,20.00\nc3,2026-10-03,30.00\n")
    done = run(root, "features", "--as-of", "2026-10-10")
    if done.returncode == 0:
        assert "3 rows read from orders.csv, 3 loaded" in done.stderr
    else:
        assert done.returncode == 2 and "line 3 ends with LF where line 1 ends with CRLF" in done.stderr, done.stderr
        assert "internal error" not in done.stderr


def test_consent_values_of_the_file_are_mapped_or_listed(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "orders.csv").write_text("customer_id,ordered_at,amount\na,2026-10-01,10.00\nb,2026-10-01,10.00\nc,2026-10-01,10.00\n", encoding="utf-8")
    (root / "customers.csv").write_text("customer_id,Marketing SMS\na,Opted In\nb,Opted Out\nc,Opted In\n", encoding="utf-8")
    base = (
        "version: 1\nname: t\ndata:\n  orders: {path: orders.csv}\n  customers:\n    path: customers.csv\n    columns: {consent_sms: Marketing SMS}\n"
    )
    (root / "huitou.yaml").write_text(base, encoding="utf-8")
    unmapped = run(root, "features", "--as-of", "2026-10-10")
    assert unmapped.returncode == 0 and "kept, field set to NULL: 3 bad_consent_sms" in unmapped.stderr, unmapped.stderr
    assert "consent_sms values not understood: 'Opted In' (2), 'Opted Out' (1)" in unmapped.stderr
    assert "data.customers.values.consent_sms: {Opted In: true, Opted Out: false}" in unmapped.stderr
    (root / "huitou.yaml").write_text(base + "    values: {consent_sms: {Opted In: true, Opted Out: false}}\n", encoding="utf-8")
    mapped = run(root, "features", "--as-of", "2026-10-10")
    consent = {r["customer_id"]: r["consent_sms"] for r in csv.DictReader(io.StringIO(mapped.stdout))}
    assert mapped.returncode == 0 and consent == {"a": "True", "b": "False", "c": "True"} and "bad_consent_sms" not in mapped.stderr
