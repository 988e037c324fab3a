"""Association (关联推荐) through the console script: what goes with the last purchase,
best first, leaving out what the customer already bought - from a mapping in huitou.yaml
and from a catalog file (data.products, its columns mapped and ranked) - as the features
`recommendations` and `has_recommendation`, in a predicate and in a template."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from tests.inprocess import huitou

CONFIG = """version: 1
name: assoc
default_locale: en
timezone: UTC
shop: {{name: Test Shop, url: "https://shop.example.com"}}
channels:
  sms: {{signature: "Test Shop:", opt_out: Reply STOP, max_segments: 2, outbox: out/sms}}
data:
  orders: {{path: orders.csv}}
  customers: {{path: customers.csv}}
{extra}"""
MAPPING = "associations:\n  down_jacket: [sweater, scarf, gloves]\n  coffee: [mug, filter]\n"
CATALOG = "  products: {path: products.csv, columns: {category: item_category, goes_with: matches, rank: position}}\n"
PLAYBOOK = """version: 1
name: assoc
timezone: UTC
locale: en
policies: {frequency_caps: [{max: 1, per: 7d}], care_first: {within: 30d}}
rules:
  - id: thanks
    intent: care
    segment: order_count >= 1
    when: {immediate: true, at: "09:30"}
    channel: sms
    template: sms/thanks.j2
  - id: goes-with
    intent: promotion
    segment: has_recommendation AND days_since_last_order <= 30
    when: {after: last_order, days: 30, at: "10:00"}
    channel: sms
    template: sms/goes_with.j2
"""
# c1 bought a down jacket (a sweater before it); c2 coffee and a mug; c3 tea (nothing goes
# with it); c4 a jacket long ago (outside the 30 days).
ORDERS = [
    ("o1", "c1", "2026-09-10 10:00", "sweater"),
    ("o2", "c1", "2026-10-20 10:00", "down_jacket"),
    ("o3", "c2", "2026-10-01 10:00", "mug"),
    ("o4", "c2", "2026-10-15 10:00", "coffee"),
    ("o5", "c3", "2026-10-18 10:00", "tea"),
    ("o6", "c4", "2026-05-01 10:00", "down_jacket"),
]
EXPECTED = {"c1": ["scarf", "gloves"], "c2": ["filter"], "c3": [], "c4": ["sweater", "scarf", "gloves"]}


def project(root: Path, extra: str) -> Path:
    (root / "rules").mkdir(parents=True)
    (root / "templates" / "en" / "sms").mkdir(parents=True)
    (root / "huitou.yaml").write_text(CONFIG.format(extra=extra), encoding="utf-8")
    (root / "rules" / "assoc.yaml").write_text(PLAYBOOK, encoding="utf-8")
    (root / "templates" / "en" / "sms" / "thanks.j2").write_text("Thank you, {{ customer.name }}.", encoding="utf-8")
    (root / "templates" / "en" / "sms" / "goes_with.j2").write_text(
        "{{ customer.name }}, a {{ customer.recommendations[0] }} goes well with your {{ customer.last_category }}.", encoding="utf-8"
    )
    (root / "customers.csv").write_text(
        "customer_id,name,phone,consent_sms\n" + "".join(f"c{i},N{i},+861380000000{i},true\n" for i in range(1, 5)), encoding="utf-8"
    )
    with open(root / "orders.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "ordered_at", "amount", "category"])
        writer.writerows([*row[:3], "20.00", row[3]] for row in ORDERS)
    # the catalog: its own column names, ranks out of file order
    (root / "products.csv").write_text(
        "item_category,matches,position\ndown_jacket,gloves,3\ndown_jacket,sweater,1\ndown_jacket,scarf,2\ncoffee,filter,2\ncoffee,mug,1\n",
        encoding="utf-8",
    )
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    done = huitou(*args, cwd=root)
    assert done.returncode == 0, f"{args} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.parametrize("extra", [MAPPING, "data:\n" + CATALOG], ids=["mapping", "catalog"])
def test_what_goes_with_the_last_purchase(tmp_path: Path, extra: str) -> None:
    config = CONFIG.format(extra="")
    if extra.startswith("data:"):  # the catalog goes under the existing data key
        config = config.replace("  customers: {path: customers.csv}\n", "  customers: {path: customers.csv}\n" + CATALOG)
        extra = ""
    root = project(tmp_path / "shop", extra)
    (root / "huitou.yaml").write_text(config + extra, encoding="utf-8")
    run(root, "validate")
    features = {r["customer_id"]: r for r in csv.DictReader(io.StringIO(run(root, "features", "--as-of", "2026-10-25").stdout))}
    got = {c: json.loads(r["recommendations"].replace("'", '"')) for c, r in features.items()}
    assert got == EXPECTED
    assert {c: r["has_recommendation"] for c, r in features.items()} == {"c1": "True", "c2": "True", "c3": "False", "c4": "True"}
    # in a predicate and a template: c1 and c2 (c4's purchase is too old), the first suggestion named
    run(root, "plan", "--as-of", "2026-10-25", "--horizon", "30d", "--out", "plan.jsonl")
    rows = [json.loads(line) for line in (root / "plan.jsonl").read_text(encoding="utf-8").splitlines()]
    offers = {r["customer_id"]: r["content"]["body"] for r in rows if r["rule_id"] == "goes-with" and r["status"] == "send"}
    assert offers == {
        "c1": "Test Shop: N1, a scarf goes well with your down_jacket. Reply STOP",
        "c2": "Test Shop: N2, a filter goes well with your coffee. Reply STOP",
    }
