"""Dates of the shop and the customer's own dates as timing anchors, through the console
script: a declared date field (points that expire) anchors `before` with a countdown, one
message per step and per date; `shop_anniversary` repeats huitou.yaml's shop.founded every
year from the first anniversary; validate names what is missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.inprocess import huitou as in_process

CONFIG = """version: 1
name: dates
default_locale: en
timezone: UTC
shop: {{name: Test Shop, url: "https://shop.example.com"{founded}}}
channels:
  sms: {{signature: "Test Shop:", opt_out: Reply STOP, max_segments: 2, outbox: out/sms}}
data:
  orders: {{path: orders.csv}}
  customers: {{path: customers.csv, fields: {{points_expire_on: date}}}}
"""
PLAYBOOK = """version: 1
name: dates
timezone: UTC
locale: en
rules:
  - id: points-expiring
    intent: service
    segment: order_count >= 1
    when: {before: points_expire_on, days: [7, 1], at: "10:00"}
    channel: sms
    template: sms/points.j2
  - id: shop-birthday
    intent: care
    segment: order_count >= 1
    when: {on: shop_anniversary, at: "11:00"}
    channel: sms
    template: sms/birthday.j2
"""


def project(root: Path, founded: str | None = ', founded: "2019-11-20"') -> Path:
    (root / "rules").mkdir(parents=True)
    (root / "templates" / "en" / "sms").mkdir(parents=True)
    (root / "huitou.yaml").write_text(CONFIG.format(founded=founded or ""), encoding="utf-8")
    (root / "rules" / "dates.yaml").write_text(PLAYBOOK, encoding="utf-8")
    (root / "templates" / "en" / "sms" / "points.j2").write_text("Your points expire on {{ customer.points_expire_on }}.", encoding="utf-8")
    (root / "templates" / "en" / "sms" / "birthday.j2").write_text("{{ shop.name }} turns a year older: thank you.", encoding="utf-8")
    (root / "customers.csv").write_text(
        "customer_id,name,phone,consent_sms,points_expire_on\n"
        "c1,Ann,+8613800000001,true,2026-11-15\n"  # two countdown steps in the window
        "c2,Bob,+8613800000002,true,2026-11-05\n"  # the 7-day step is before the window: only the 1-day one
        "c3,Cy,+8613800000003,true,\n",  # no date: no countdown
        encoding="utf-8",
    )
    (root / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,amount\no1,c1,2026-09-01 10:00,10\no2,c2,2026-09-02 10:00,10\no3,c3,2026-09-03 10:00,10\n",
        encoding="utf-8",
    )
    return root


def huitou(root: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess:
    done = in_process(*args, cwd=root)
    assert done.returncode == code, f"{args} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def test_a_declared_date_and_the_shop_anniversary_anchor_timings(tmp_path: Path) -> None:
    root = project(tmp_path / "shop")
    huitou(root, "validate")
    huitou(root, "plan", "--as-of", "2026-11-01", "--horizon", "30d", "--out", "plan.jsonl")
    rows = [json.loads(line) for line in (root / "plan.jsonl").read_text(encoding="utf-8").splitlines()]
    sent = sorted((r["rule_id"], r["customer_id"], r["scheduled_date"], r["step"], r["trigger"]) for r in rows if r["status"] == "send")
    assert sent == [
        ("points-expiring", "c1", "2026-11-08", 7, "points_expire_on:2026-11-15-7d"),
        ("points-expiring", "c1", "2026-11-14", 1, "points_expire_on:2026-11-15-1d"),
        ("points-expiring", "c2", "2026-11-04", 1, "points_expire_on:2026-11-05-1d"),
        ("shop-birthday", "c1", "2026-11-20", 0, "shop_anniversary:2026-11-20"),
        ("shop-birthday", "c2", "2026-11-20", 0, "shop_anniversary:2026-11-20"),
        ("shop-birthday", "c3", "2026-11-20", 0, "shop_anniversary:2026-11-20"),
    ]
    points = next(r for r in rows if r["customer_id"] == "c1" and r["step"] == 7)
    assert points["content"]["body"] == "Test Shop: Your points expire on 2026-11-15."  # service: no opt-out line


def test_no_anniversary_in_the_founding_year(tmp_path: Path) -> None:
    root = project(tmp_path / "shop", ', founded: "2026-11-20"')
    huitou(root, "plan", "--as-of", "2026-11-01", "--horizon", "30d", "--out", "plan.jsonl")
    rows = [json.loads(line) for line in (root / "plan.jsonl").read_text(encoding="utf-8").splitlines()]
    assert not [r for r in rows if r["rule_id"] == "shop-birthday"]


def test_validate_names_the_missing_founding_date_and_an_undeclared_field(tmp_path: Path) -> None:
    root = project(tmp_path / "shop", founded=None)
    playbook = root / "rules" / "dates.yaml"
    playbook.write_text(playbook.read_text(encoding="utf-8").replace("before: points_expire_on", "before: points_expire"), encoding="utf-8")
    out = huitou(root, "validate", code=1).stdout
    assert "rules/dates.yaml:9:20: error HT305 unknown date anchor 'points_expire' in rule 'points-expiring'" in out
    assert "did you mean 'points_expire_on'?" in out
    assert "rules/dates.yaml:15:16: error HT305 'shop_anniversary' in rule 'shop-birthday' needs the shop's founding date" in out
    assert "set shop.founded: YYYY-MM-DD in huitou.yaml" in out


def test_the_countries_with_holiday_anchors_are_every_country_holidays_knows() -> None:
    """`CC:holiday` anchors take any country the holidays package has a calendar for, its
    aliases too (UK for GB), read from its registry without loading every calendar."""
    import holidays

    from huitou.calendar import supported_countries

    assert supported_countries() == frozenset(holidays.list_supported_countries())
    assert {"CN", "JP", "US", "GB", "UK"} <= supported_countries()
