"""Messages in any language, through the console script: the SMS length check (HT404)
follows the locale and the fields' declared limits, the opt-out joins the text as its
script wants, and `huitou init --locale en --timezone ...` writes a project that
validates and plans at once."""

from __future__ import annotations

import json
from pathlib import Path

from tests.inprocess import huitou

PLAYBOOK = """version: 1
name: offers
timezone: America/New_York
locale: {locale}
rules:
  - id: offer
    intent: promotion
    segment: order_count >= 1
    when: {{every: month, day: 18}}
    channel: sms
    template: sms/offer.j2
  - id: care
    intent: care
    segment: order_count >= 1
    when: {{every: month, day: 8}}
    channel: sms
    template: sms/care.j2
"""
CONFIG = """version: 1
name: t
default_locale: {locale}
shop: {{name: My Shop}}
channels:
  sms: {{signature: "My Shop:", opt_out: Reply STOP to opt out, max_segments: 1}}
{extra}"""
OFFER = "Hi {{ customer.name }}, 20% off your next order at {{ shop.name }} with code THANKS20, until Sunday."
TOO_LONG = "x" * 194


def project(root: Path, locale: str, offer: str = OFFER, extra: str = "") -> Path:
    (root / "rules").mkdir(parents=True)
    (root / "templates" / locale / "sms").mkdir(parents=True)
    (root / "huitou.yaml").write_text(CONFIG.format(locale=locale, extra=extra), encoding="utf-8")
    (root / "rules" / "offers.yaml").write_text(PLAYBOOK.format(locale=locale), encoding="utf-8")
    (root / "templates" / locale / "sms" / "offer.j2").write_text(offer, encoding="utf-8")
    (root / "templates" / locale / "sms" / "care.j2").write_text("Hi {{ customer.name }}, how is your order?", encoding="utf-8")
    return root


def validate(root: Path) -> tuple[int, list[dict]]:
    done = huitou("validate", "--format", "json", cwd=root)
    return done.returncode, json.loads(done.stdout)


def test_an_english_sms_with_a_name_is_gsm7_and_fits(tmp_path: Path) -> None:
    code, found = validate(project(tmp_path / "en", "en"))
    assert code == 0 and not [d for d in found if d["code"] == "HT404"], found


def test_a_really_long_sms_stays_an_error(tmp_path: Path) -> None:
    code, found = validate(project(tmp_path / "en", "en", TOO_LONG))
    (long,) = [d for d in found if d["code"] == "HT404"]
    assert code == 1 and "2 segments" in long["message"] and "GSM7" in long["message"]


def test_a_field_that_may_be_chinese_is_named_and_a_declared_charset_settles_it(tmp_path: Path) -> None:
    # zh-CN shop, English text: the name may be written in Chinese, which makes the SMS UCS-2
    code, found = validate(project(tmp_path / "zh", "zh-CN"))
    (forced,) = [d for d in found if d["code"] == "HT404"]
    assert code == 1 and "UCS2" in forced["message"] and "customer.name may hold characters outside GSM-7" in forced["message"]
    declared = "data:\n  customers:\n    path: customers.csv\n    fields: {name: {type: string, max_length: 20, charset: gsm7}}\n"
    code, found = validate(project(tmp_path / "zh2", "zh-CN", extra=declared))
    assert code == 0 and not [d for d in found if d["code"] == "HT404"], found
    # a declared length is used: 60 Latin letters do not fit with this text
    longer = declared.replace("max_length: 20", "max_length: 60")
    code, found = validate(project(tmp_path / "zh3", "zh-CN", extra=longer))
    assert [d["code"] for d in found if d["code"] == "HT404"] == ["HT404"]


def test_init_writes_an_english_project_in_the_shops_timezone_that_plans_at_once(tmp_path: Path) -> None:
    target = tmp_path / "shop"
    made = huitou("init", str(target), "--locale", "en", "--timezone", "America/New_York")
    assert made.returncode == 0, made.stderr
    config = (target / "huitou.yaml").read_text(encoding="utf-8")
    assert "timezone: America/New_York" in config and "default_locale: en" in config and "My Shop" in config
    assert "timezone: America/New_York" in (target / "rules" / "retention.yaml").read_text(encoding="utf-8")
    assert (target / "templates" / "en" / "sms" / "delivery_checkin.j2").read_text(encoding="utf-8").startswith("Hi ")
    assert huitou("validate", cwd=target).returncode == 0
    planned = huitou("plan", "--format", "json", cwd=target)
    assert planned.returncode == 0, planned.stderr
    summary = json.loads(planned.stdout)
    assert summary["status"].get("send", 0) > 0
    sample = summary["samples"][0]
    assert sample["send_at"].endswith(("-05:00", "-04:00")) and sample["body"].startswith("My Shop: Hi ")


def test_init_refuses_an_unknown_language_or_zone(tmp_path: Path) -> None:
    bad_zone = huitou("init", str(tmp_path / "a"), "--timezone", "Mars/Olympus")
    assert bad_zone.returncode == 2 and "not a known IANA timezone" in bad_zone.stderr and not (tmp_path / "a").exists()
    bad_locale = huitou("init", str(tmp_path / "b"), "--locale", "fr")
    assert bad_locale.returncode == 2 and "comes in en, ja, zh" in bad_locale.stderr
