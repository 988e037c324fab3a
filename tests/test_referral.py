"""Referral (转介绍) through the console script: each customer's code and link, signed with
the shop's secret; orders placed with a code credit its customer (`referred_orders`, and
`huitou referral CODE` names them); a missing secret is a sentence, not a traceback."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

from huitou.referral import code
from tests.inprocess import huitou

SECRET = "a-long-shop-secret"
CONFIG = """version: 1
name: refer
default_locale: en
timezone: UTC
shop: {name: Test Shop, url: "https://shop.example.com"}
referral: {url: "https://shop.example.com/r", secret_env: TEST_REFERRAL_SECRET}
channels:
  sms: {signature: "Test Shop:", opt_out: Reply STOP, max_segments: 2, outbox: out/sms}
data:
  orders: {path: orders.csv, columns: {referral_code: ref}}
  customers: {path: customers.csv}
"""
PLAYBOOK = """version: 1
name: refer
timezone: UTC
locale: en
rules:
  - id: ask-for-an-introduction
    intent: care
    segment: order_count >= 2 AND referred_orders = 0
    when: {immediate: true, at: "10:00"}
    channel: sms
    template: sms/refer.j2
"""


def project(root: Path) -> Path:
    (root / "rules").mkdir(parents=True)
    (root / "templates" / "en" / "sms").mkdir(parents=True)
    (root / "huitou.yaml").write_text(CONFIG, encoding="utf-8")
    (root / "rules" / "refer.yaml").write_text(PLAYBOOK, encoding="utf-8")
    (root / "templates" / "en" / "sms").joinpath("refer.j2").write_text(
        "Glad you like us. Friends get 10% off: {{ customer.referral_url }}", encoding="utf-8"
    )
    (root / "customers.csv").write_text(
        "customer_id,name,phone,consent_sms\n" + "".join(f"c{i},N{i},+861380000000{i},true\n" for i in range(1, 5)), encoding="utf-8"
    )
    c1 = code(SECRET, "c1")
    rows = [
        ("o1", "c1", "2026-10-01 10:00", "paid", ""),
        ("o2", "c1", "2026-10-10 10:00", "paid", c1.lower()),  # c1's own code: no credit
        ("o3", "c2", "2026-10-12 10:00", "paid", c1),
        ("o4", "c3", "2026-10-13 10:00", "paid", f" {c1} "),
        ("o5", "c4", "2026-10-14 10:00", "cancelled", c1),  # not a purchase
        ("o6", "c2", "2026-10-20 10:00", "paid", "R0000000000"),
    ]  # nobody's code
    with open(root / "orders.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "ordered_at", "amount", "status", "ref"])
        writer.writerows([*r[:3], "20.00", *r[3:]] for r in rows)
    return root


def run(root: Path, *args: str, code_: int = 0, secret: str | None = SECRET) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TEST_REFERRAL_SECRET"} | ({"TEST_REFERRAL_SECRET": secret} if secret else {})
    done = huitou(*args, cwd=root, env=env)
    assert done.returncode == code_, f"{args} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def test_codes_links_and_the_orders_they_bring(tmp_path: Path) -> None:
    root = project(tmp_path / "shop")
    run(root, "validate")
    features = {r["customer_id"]: r for r in csv.DictReader(io.StringIO(run(root, "features", "--as-of", "2026-10-31").stdout))}
    for customer, row in features.items():  # the SQL codes are the Python ones
        assert row["referral_code"] == code(SECRET, customer)
        assert row["referral_url"] == f"https://shop.example.com/r?code={code(SECRET, customer)}"
    assert {c: r["referred_orders"] for c, r in features.items()} == {"c1": "2", "c2": "0", "c3": "0", "c4": "0"}
    # in a predicate and a template: the repeat buyer who has not referred anyone yet
    run(root, "plan", "--as-of", "2026-10-31", "--horizon", "1d", "--out", "plan.jsonl")
    sends = [json.loads(line) for line in (root / "plan.jsonl").read_text(encoding="utf-8").splitlines()]
    bodies = {r["customer_id"]: r["content"]["body"] for r in sends if r["status"] == "send"}
    assert bodies == {
        "c2": f"Test Shop: Glad you like us. Friends get 10% off: https://shop.example.com/r?code={code(SECRET, 'c2')}"
    }  # care: no opt-out line
    # crediting the referrer: whose code is this
    assert run(root, "referral", code(SECRET, "c3").lower(), "--as-of", "2026-10-31").stdout.strip() == "c3"
    unknown = run(root, "referral", "R0000000000", "--as-of", "2026-10-31", code_=1)
    assert "is no customer's referral code in this shop" in unknown.stderr


def test_a_missing_secret_is_a_sentence(tmp_path: Path) -> None:
    root = project(tmp_path / "shop")
    done = run(root, "features", "--as-of", "2026-10-31", code_=2, secret=None)
    assert "referral.secret_env: the environment variable TEST_REFERRAL_SECRET is not set" in done.stderr
    assert "Traceback" not in done.stderr
    other = run(root, "referral", "R0000000000", "--as-of", "2026-10-31", code_=2, secret=None)
    assert "TEST_REFERRAL_SECRET is not set" in other.stderr
