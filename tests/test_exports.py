"""Exports as platforms write them (issue 33): `huitou init --from` on the file as it comes,
then the counts against the truth the generators wrote (tests/platform_exports.py).

The first command of each platform is the console script, as a shop runs it; the
features are read in this process (the same command, without a process per test).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.inprocess import huitou as run_in_process
from tests.platform_exports import Buyer, write_jd, write_repeated, write_shopify, write_taobao

AS_OF = dt.date(2024, 11, 30)
# The default lifecycle thresholds (docs/features.md), restated: days since the last purchase.
STAGES = ((45, "active"), (89, "cooling"), (180, "dormant_high"), (360, "dormant_low"))


def huitou(huitou_bin: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run([huitou_bin, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def in_process(cwd: Path, *args: str) -> tuple[int, str]:
    """A command run in this process from `cwd`: exit code, stdout and stderr."""
    ran = run_in_process(*args, cwd=cwd)
    return ran.returncode, ran.stdout + ran.stderr


def features(root: Path, *args: str) -> dict[str, dict[str, str]]:
    code, output = in_process(root, "features", "--as-of", AS_OF.isoformat(), "--out", "features.csv", *args)
    assert code == 0, output
    with open(root / "features.csv", encoding="utf-8") as handle:
        return {row["customer_id"]: row for row in csv.DictReader(handle)}


def expected(truth: dict[str, Buyer]) -> dict[str, dict[str, object]]:
    """Each buyer's features, computed here from what the generator wrote."""
    out = {}
    for key, buyer in truth.items():
        if not buyer.orders:
            continue
        paid = [o for o in buyer.orders if o.status == "paid"]
        last = max((o.day for o in paid), default=None)
        out[key] = {
            "order_count": len(paid),
            "total_spent": f"{sum(o.net for o in paid):.2f}",
            "last_order_date": last.isoformat() if last else "",
            "purchase_days": len({o.day for o in paid}),
        }
    return out


def lifecycle(truth: dict[str, Buyer]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for row in expected(truth).values():
        if not row["last_order_date"]:
            counts["no purchase"] += 1
            continue
        days = (AS_OF - dt.date.fromisoformat(str(row["last_order_date"]))).days
        stage = next((name for bound, name in STAGES if days <= bound), "lost")
        counts["new" if stage == "active" and row["order_count"] == 1 else stage] += 1
    return counts


def segment_counts(output: str) -> Counter[str]:
    """The lifecycle table of `huitou segments` (a pipe: full width, one row per line)."""
    counts: Counter[str] = Counter()
    for line in output.splitlines():
        cells = [c.strip() for c in line.replace("│", "|").split("|")]
        if len(cells) >= 3 and cells[0] == "lifecycle":
            counts[cells[1]] = int(cells[2].replace(",", ""))
    return counts


def assert_features_match(got: dict[str, dict[str, str]], truth: dict[str, Buyer]) -> None:
    want = expected(truth)
    assert set(got) == set(want)
    for key, row in want.items():
        assert {k: got[key][k] for k in row} == {k: str(v) for k, v in row.items()}, key


def test_taobao_export_from_init_to_segments(huitou_bin: str, tmp_path: Path) -> None:
    """GBK, ="..." order numbers and phones, full-width commas in statuses, refunds, no
    consent column: the file exactly as the platform writes it."""
    export = tmp_path / "ExportOrderList202411.csv"
    truth = write_taobao(export)
    assert export.read_bytes()[:8].decode("gbk") == "订单编号"
    made = huitou(huitou_bin, tmp_path, "init", "shop", "--from", export.name, "--locale", "zh-CN", "--timezone", "Asia/Shanghai")
    assert made.returncode == 0, made.stderr
    assert "recognised as the Taobao / Tmall order report" in made.stdout and "encoding gb18030" in made.stdout
    assert "'卖家已发货，等待买家确认': " in made.stdout and "NOT UNDERSTOOD" not in made.stdout
    shop = tmp_path / "shop"
    assert huitou(huitou_bin, shop, "validate").returncode == 0
    segments = huitou(huitou_bin, shop, "segments", "--as-of", AS_OF.isoformat())
    assert segments.returncode == 0, segments.stderr
    orders = sum(len(b.orders) for b in truth.values())
    assert f"orders: {orders:,} rows read from {export.name}, {orders:,} loaded" in segments.stderr
    assert "rejected:" not in segments.stderr
    assert "no consent column for sms" in segments.stderr
    assert segment_counts(segments.stdout) == lifecycle(truth)
    got = features(shop)
    assert_features_match(got, truth)
    # The phones lost their guard and are what the platform's buyers typed.
    assert all(row["phone"].startswith("+86") for row in got.values())
    code, output = in_process(shop, "plan", "--as-of", AS_OF.isoformat())
    assert code == 0 and "channel sms: the data has no consent_sms column, so under lawful_basis: consent its candidates are no_consent" in output


def test_jd_line_items_are_one_order_each(huitou_bin: str, tmp_path: Path) -> None:
    """One row per SKU with the order's fields repeated: each order counted once, its
    amount once, none of its rows rejected; times as Excel writes them back."""
    export = tmp_path / "jd_orders.csv"
    truth = write_jd(export)
    made = huitou(huitou_bin, tmp_path, "init", "shop", "--from", export.name)
    assert made.returncode == 0, made.stderr
    output = made.stdout + made.stderr
    assert "recognised as the JD merchant order export" in output
    orders = sum(len(b.orders) for b in truth.values())
    items = sum(len(o.items) for b in truth.values() for o in b.orders)
    assert f"{items:,} rows read from {export.name}, {orders:,} loaded" in output
    assert f"{items - orders:,} rows are further line items of orders" in output and "rejected:" not in output
    assert_features_match(features(tmp_path / "shop"), truth)
    code, output = in_process(tmp_path / "shop", "segments", "--as-of", AS_OF.isoformat())
    assert segment_counts(output) == lifecycle(truth)


def test_shopify_offsets_line_items_refunds_and_guests(huitou_bin: str, tmp_path: Path) -> None:
    """Times with the store's offset across both DST changes land on New York's day;
    line items; refunds net; a guest without an email is known by the phone."""
    export = tmp_path / "orders_export_1.csv"
    truth = write_shopify(export)
    made = huitou(huitou_bin, tmp_path, "init", "shop", "--from", export.name, "--timezone", "America/New_York")
    assert made.returncode == 0, made.stderr
    output = made.stdout + made.stderr
    assert "recognised as the Shopify orders export" in output and "rejected:" not in output
    got = features(tmp_path / "shop")
    assert_features_match(got, truth)
    code, output = in_process(tmp_path / "shop", "segments", "--as-of", AS_OF.isoformat())
    assert segment_counts(output) == lifecycle(truth)
    evening = [o for b in truth.values() for o in b.orders if o.status == "paid"]
    assert len({o.day for o in evening}) > 10  # the test has days to get wrong
    assert any(key.startswith("+1") for key in got), "guests without an email are customers by their phone"
    assert {row["consent_email"] for row in got.values() if "@" in row["customer_id"]} == {"true", "false"}
    assert "consent_email values (orders):\n    'yes': " in made.stdout and "orders -> true" in made.stdout


@pytest.mark.parametrize(("platform", "title"), [("woocommerce", "WooCommerce order export"), ("youzan", "Youzan order export")])
def test_exports_of_one_row_per_product(tmp_path: Path, platform: str, title: str) -> None:
    """WooCommerce (UTF-8 with a byte order mark, as Excel-friendly plugins write it) and
    Youzan: the order's total and refund repeat on each of its rows, counted once."""
    export = tmp_path / f"{platform}.csv"
    truth = write_repeated(platform, export)
    code, output = in_process(tmp_path, "init", "shop", "--from", export.name)
    assert code == 0, output
    assert f"recognised as the {title}" in output and "rejected:" not in output and "NOT UNDERSTOOD" not in output
    orders = sum(len(b.orders) for b in truth.values())
    assert f", {orders:,} loaded" in output
    assert_features_match(features(tmp_path / "shop"), truth)
    code, output = in_process(tmp_path / "shop", "segments", "--as-of", AS_OF.isoformat())
    assert segment_counts(output) == lifecycle(truth)


def test_gbk_features_equal_utf8_features_byte_for_byte(tmp_path: Path) -> None:
    export = tmp_path / "gbk" / "ExportOrderList.csv"
    export.parent.mkdir()
    write_taobao(export)
    utf8 = tmp_path / "utf8" / "ExportOrderList.csv"
    utf8.parent.mkdir()
    utf8.write_text(export.read_bytes().decode("gbk"), encoding="utf-8", newline="")
    for root in (export.parent, utf8.parent):
        code, output = in_process(root, "init", "shop", "--from", export.name)
        assert code == 0, output
    assert "encoding: gb18030" in (export.parent / "shop" / "huitou.yaml").read_text(encoding="utf-8")
    assert "encoding" not in (utf8.parent / "shop" / "huitou.yaml").read_text(encoding="utf-8")
    features(export.parent / "shop")
    features(utf8.parent / "shop")
    assert (export.parent / "shop" / "features.csv").read_bytes() == (utf8.parent / "shop" / "features.csv").read_bytes()


TEXT = "customer_id,ordered_at,amount,name\nc1,2024-05-01 10:00:00,10.50,{name}\nc2,2024-05-02 11:00:00,20.00,{name}\n"
NAMES = {
    "gbk": "王芳",
    "gb18030": "王芳😀",
    "big5": "陳小明",
    "shift_jis": "山田太郎",
    "cp932": "髙橋①",
    "euc_kr": "김철수",
    "cp1252": "Renée – €5",
    "latin-1": "Renée Müller",
    "utf-16": "王芳 Renée",
    "utf-8-sig": "王芳",
}


def project(root: Path, data: bytes, encoding: str | None = None, csv_options: str = "", zone: str = "Asia/Shanghai") -> Path:
    """A project over `data` as orders.csv (profile field `name` when the file has one)."""
    root.mkdir(parents=True)
    (root / "orders.csv").write_bytes(data)
    options = ", ".join(o for o in (f"encoding: {encoding}" if encoding else "", csv_options) if o)
    lines = ["version: 1", f"timezone: {zone}", "data:", "  orders:", "    path: orders.csv"]
    lines += ["    fields: {name: string}"] * (b"name" in data.split(b"\n")[0] or b"n\x00a\x00m\x00e" in data[:200])
    lines += [f"    csv: {{{options}}}"] * bool(options)
    (root / "huitou.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("encoding", sorted(NAMES))
def test_every_encoding_reads_as_its_utf8_twin(tmp_path: Path, encoding: str) -> None:
    text = TEXT.format(name=NAMES[encoding])
    declared = None if encoding in ("utf-16", "utf-8-sig") else encoding  # a byte order mark says these
    data = text.encode(encoding) if encoding != "utf-16" else codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    got = features(project(tmp_path / "encoded", data, declared))
    twin = features(project(tmp_path / "utf8", text.encode("utf-8")))
    assert got == twin and got["c1"]["name"] == NAMES[encoding]


@pytest.mark.parametrize(("encoding", "locale", "said"), [("gbk", "zh-CN", "gb18030"), ("cp932", "ja-JP", "cp932"), ("cp1252", "en", "cp1252")])
def test_an_undeclared_encoding_is_refused_with_the_line_to_add(tmp_path: Path, encoding: str, locale: str, said: str) -> None:
    rows = "".join(f"c{i},2024-05-01 10:00:00,10.00,{NAMES.get(encoding, '')}{'注文' if encoding == 'cp932' else ''}{i}\n" for i in range(200))
    root = project(tmp_path / "shop", ("customer_id,ordered_at,amount,name\n" + rows).encode(encoding))
    config = (root / "huitou.yaml").read_text(encoding="utf-8").replace("version: 1", f"version: 1\ndefault_locale: {locale}")
    (root / "huitou.yaml").write_text(config, encoding="utf-8")
    code, output = in_process(root, "segments", "--as-of", "2024-06-01")
    assert code == 2
    assert "line 2 is not UTF-8 text; the file reads as " + said in output
    assert f"add `encoding: {said}` under data.orders.csv in huitou.yaml" in output and "Traceback" not in output


def test_a_declared_encoding_that_does_not_fit_names_the_line(tmp_path: Path) -> None:
    data = ("customer_id,ordered_at,amount,name\n" + "c1,2024-05-01,1,a\n" * 5 + "c2,2024-05-01,1,王芳\n").encode("utf-8")
    root = project(tmp_path / "a", data, "big5")
    code, output = in_process(root, "segments", "--as-of", "2024-06-01")
    assert code == 2 and "is UTF-8 text (saved again as UTF-8?): remove data.orders.csv.encoding" in output
    root = project(
        tmp_path / "b",
        ("customer_id,ordered_at,amount,name\n" + "c1,2024-05-01,1,a\n" * 5 + "c2,2024-05-01,1,café\n").encode("cp1252"),
        "big5",
    )
    code, output = in_process(root, "segments", "--as-of", "2024-06-01")
    assert code == 2 and "line 7 is not big5 text; the file reads as cp1252" in output


# (text as written, the shop's local time it means in Asia/Shanghai, or None: rejected)
TIMES = [
    ("2024-06-30 20:40:05 -0400", dt.datetime(2024, 7, 1, 8, 40, 5)),
    ("2024-06-30T20:40:05Z", dt.datetime(2024, 7, 1, 4, 40, 5)),
    ("2024-06-30T20:40:05+08:00", dt.datetime(2024, 6, 30, 20, 40, 5)),
    ("2024-06-30 20:40:05+0800", dt.datetime(2024, 6, 30, 20, 40, 5)),
    ("2024-06-30", dt.datetime(2024, 6, 30)),
    ("2024/5/1 12:03", dt.datetime(2024, 5, 1, 12, 3)),
    ("2024/05/01 12:03:09", dt.datetime(2024, 5, 1, 12, 3, 9)),
    ("2024-06-30 20:40:05 +2400", None),
    ("30/06/2024", None),
]


def test_times_as_exports_write_them(tmp_path: Path) -> None:
    rows = "".join(f"o{i},c{i},{text},1.00\n" for i, (text, _) in enumerate(TIMES))
    root = project(tmp_path / "shop", ("order_id,customer_id,ordered_at,amount\n" + rows).encode())
    got = features(root)
    for i, (_, local) in enumerate(TIMES):
        assert got.get(f"c{i}", {}).get("last_order_date") == (local.date().isoformat() if local else None), TIMES[i]
    code, output = in_process(root, "segments", "--as-of", AS_OF.isoformat())
    assert "2 bad_date" in output and "'30/06/2024'" in output and "date_format: '%d/%m/%Y'" in output


def test_date_format_with_an_offset_keeps_the_instant_across_dst(tmp_path: Path) -> None:
    """New York's evenings, written with %z, in summer and in winter and on both change
    days: each order on New York's day (the UTC date is the next one)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    instants = [
        dt.datetime(2024, 3, 10, 6, 59, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 10, 7, 1, tzinfo=dt.UTC),
        dt.datetime(2024, 11, 3, 5, 30, tzinfo=dt.UTC),
        dt.datetime(2024, 11, 3, 6, 30, tzinfo=dt.UTC),
        dt.datetime(2024, 7, 1, 1, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 16, 2, 0, tzinfo=dt.UTC),
    ]
    rows = "".join(f"o{i},c{i},{t.astimezone(zone):%d.%m.%Y %H:%M %z},5.00\n" for i, t in enumerate(instants))
    root = project(
        tmp_path / "shop",
        ("order_id,customer_id,ordered_at,amount\n" + rows).encode(),
        csv_options="date_format: '%d.%m.%Y %H:%M %z'",
        zone="America/New_York",
    )
    got = features(root)
    assert [got[f"c{i}"]["last_order_date"] for i in range(len(instants))] == [t.astimezone(zone).date().isoformat() for t in instants]
    assert [t.date() for t in instants] != [t.astimezone(zone).date() for t in instants]


def test_excel_serial_dates(tmp_path: Path) -> None:
    root = project(tmp_path / "shop", b"customer_id,ordered_at,amount\nc1,45383.5,1\nc2,45626.99,1\n", csv_options="date_format: excel")
    got = features(root)
    assert (got["c1"]["last_order_date"], got["c2"]["last_order_date"]) == ("2024-04-01", "2024-11-30")


def test_the_first_status_hint_lists_every_value(tmp_path: Path) -> None:
    words = ["交易成功", "交易关闭", "卖家已发货，等待买家确认", "买家已付款，等待卖家发货", "等待买家付款"]
    rows = "".join(f"o{i},c{i},2024-05-01,1.00,{words[i % 5]}\n" for i in range(50))
    root = project(tmp_path / "shop", ("order_id,customer_id,ordered_at,amount,status\n" + rows).encode(), csv_options="")
    (root / "huitou.yaml").write_text((root / "huitou.yaml").read_text(encoding="utf-8") + "    max_rejected: 100%\n", encoding="utf-8")
    code, output = in_process(root, "segments", "--as-of", AS_OF.isoformat())
    hint = next(line for line in output.splitlines() if "data.orders.values.status:" in line)
    assert all(f"{word}: " in hint.split("values.status:")[1] for word in words), hint


def test_refunds_make_spend_net(tmp_path: Path) -> None:
    data = (
        b"order_id,customer_id,ordered_at,amount,refunded_amount\no1,c1,2024-05-01,100.00,30.00\no2,c1,2024-06-01,50.00,\n"
        b"o3,c2,2024-05-01,40.00,60.00\no4,c3,2024-05-01,40.00,abc\n"
    )
    root = project(tmp_path / "shop", data)
    got = features(root)
    assert [got[c]["total_spent"] for c in ("c1", "c2", "c3")] == ["120.00", "0.00", "40.00"]
    code, output = in_process(root, "segments", "--as-of", AS_OF.isoformat())
    assert "2 bad_refunded_amount" in output


def test_products_recommended_from_line_items(tmp_path: Path) -> None:
    export = tmp_path / "jd_orders.csv"
    truth = write_jd(export)
    code, output = in_process(tmp_path, "init", "shop", "--from", export.name)
    assert code == 0, output
    shop = tmp_path / "shop"
    (shop / "products.csv").write_text("product,goes_with\n100012043978,咖啡豆 1kg\n100008348542,手冲壶\n100008348542,滤纸 100张\n", encoding="utf-8")
    config = (shop / "huitou.yaml").read_text(encoding="utf-8") + "  products: {path: products.csv}\n"
    (shop / "huitou.yaml").write_text(config, encoding="utf-8")
    got = features(shop)
    pairs = {"100012043978": ["咖啡豆 1kg"], "100008348542": ["手冲壶", "滤纸 100张"]}
    for key, buyer in truth.items():
        paid = [o for o in buyer.orders if o.status == "paid"]
        if not paid:
            continue
        last = max(o.day for o in paid)
        bought = {name for o in paid for _, name, _, _ in o.items} | {sku for o in paid for sku, _, _, _ in o.items}
        want = sorted({g for o in paid if o.day == last for sku, _, _, _ in o.items for g in pairs.get(sku, []) if g not in bought})
        listed = got[key]["recommendations"].strip("[]")  # a list as the CSV writes it: [a, b]
        assert sorted(listed.split(", ") if listed else []) == want, key
