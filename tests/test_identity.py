"""One person, one customer, the right contact: real-shaped exports (tests/exports.py)
through the installed console script, checked against what the tests know of the people
behind them, normalised here by code of their own (not phonenumbers, not huitou's)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.exports import Person, write_shopify, write_taobao
from tests.inprocess import huitou

SHOPIFY_CONFIG = """version: 1
name: shopify-shop
default_locale: en-US
timezone: America/New_York
shop: {name: Corner Shop, country: US}
data:
  orders:
    path: orders.csv
    columns: {customer_id: [Email, Phone], order_id: Name, ordered_at: Created at, amount: Total, status: Financial Status,
              name: Billing Name, phone: Phone, email: Email}
    fields: {name: string, phone: string, email: string}
"""
TAOBAO_CONFIG = """version: 1
name: taobao-shop
default_locale: zh-CN
timezone: Asia/Shanghai
data:
  orders:
    path: orders.csv
    columns: {order_id: 订单编号, customer_id: 买家会员名, amount: 买家实际支付金额, status: 订单状态, ordered_at: 订单创建时间,
              name: 收货人姓名, phone: 联系手机}
    values: {status: {交易成功: paid, 交易关闭: cancelled}}
    fields: {name: string, phone: string}
"""
AS_OF = "2026-12-01"


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    done = huitou(*args, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _features(root: Path) -> tuple[dict[str, dict[str, str]], str]:
    done = _run(root, "features", "--as-of", AS_OF)
    return {row["customer_id"]: row for row in csv.DictReader(io.StringIO(done.stdout))}, done.stderr


def _us_phone(written: str) -> str:
    """A US number as the test reads it: its ten digits after the country code."""
    digits = "".join(ch for ch in written if ch.isdigit())
    return "+1" + digits[-10:]


def _cn_phone(written: str) -> str | None:
    digits = "".join(ch for ch in written if ch.isdigit())
    digits = digits[4:] if digits.startswith("0086") else digits[2:] if written.strip(" '\t").startswith("+86") else digits
    return "+86" + digits if len(digits) == 11 else None


def _shop(tmp_path: Path, config: str, write) -> tuple[Path, dict[str, Person]]:
    root = tmp_path / "shop"
    root.mkdir()
    people = write(root / "orders.csv")
    (root / "huitou.yaml").write_text(config, encoding="utf-8")
    return root, people


def test_a_shopify_export_has_one_customer_per_person_with_their_contacts(tmp_path: Path) -> None:
    """Emails typed in two letter cases are one customer; guests without an email are
    customers by their phone (E.164, whatever form they typed); the phone and email are
    those of the latest order that has them, normalised."""
    root, people = _shop(tmp_path, SHOPIFY_CONFIG, write_shopify)
    found, report = _features(root)
    assert set(found) == set(people)  # one customer a person, by the id the test expects
    with open(root / "orders.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))

    def local_day(row: dict[str, str]) -> dt.date:
        return dt.datetime.fromisoformat(row["Created at"]).astimezone(ZoneInfo("America/New_York")).date()

    for key in people:
        mine = [r for r in rows if (r["Email"].lower() or _us_phone(r["Phone"])) == key and local_day(r) <= dt.date.fromisoformat(AS_OF)]
        assert int(found[key]["order_count"]) == sum(r["Financial Status"] == "paid" for r in mine), key
        latest = max(mine, key=lambda r: dt.datetime.fromisoformat(r["Created at"]))
        assert found[key]["phone"] == _us_phone(latest["Phone"]) == people[key].phone, key
        assert found[key]["email"] == latest["Email"].lower(), key
    # Spellings beyond a person's first: an email in another case, a guest's phone typed
    # another way.
    merged = sum(len(p.spellings) - 1 for p in people.values())
    assert any(len({s for s in p.spellings if "@" in s}) > 1 for p in people.values())
    assert f"ids: {merged} written otherwise are one customer" in report, report


def test_a_taobao_export_unguards_phones_and_order_ids_and_takes_a_profile_from_one_row(tmp_path: Path) -> None:
    """Phones guarded for Excel ('138..., a tab, +86, 0086) are one number in E.164; order
    numbers lose their ="..." guard; each buyer's name and phone come from one order, the
    latest not cancelled that has a phone."""
    root, people = _shop(tmp_path, TAOBAO_CONFIG, write_taobao)
    found, report = _features(root)
    assert set(found) == set(people)
    with open(root / "orders.csv", encoding="utf-8", newline="") as f:
        rows = list(enumerate(csv.DictReader(f)))
    for key in people:
        every = [(r["订单创建时间"], n, r) for n, r in rows if r["买家会员名"] == key and r["订单创建时间"][:10] <= AS_OF]
        mine = [m for m in every if m[2]["订单状态"] != "交易关闭"]
        with_phone = [m for m in mine if m[2]["联系手机"].strip(" '\t")]
        _, _, source = max(with_phone or mine or every)
        assert found[key]["name"] == source["收货人姓名"], key
        assert found[key]["phone"] == (_cn_phone(source["联系手机"]) or ""), key
    with open(root / "orders.csv", encoding="utf-8", newline="") as f:
        guarded = sum(1 for r in csv.DictReader(f) if r["订单编号"].startswith('="'))
    phones = sum(1 for key in people if found[key]["phone"])
    assert f"order ids: {guarded} read without their spreadsheet guard" in report, report
    assert phones and "values rewritten to the form huitou sends to (E.164" in report, report


PLAYBOOK = """version: 1
name: hello
timezone: {zone}
rules:
  - id: hello
    intent: care
    lawful_basis: contract
    segment: order_count >= 1
    when: {{every: day, at: "10:00"}}
    channel: sms
    template: sms/hi.j2
"""
SMS = """channels:
  sms: {{signature: "{signature}", outbox: out/sms}}
"""


def _messaging(root: Path, zone: str, locale: str, signature: str) -> None:
    (root / "huitou.yaml").write_text((root / "huitou.yaml").read_text(encoding="utf-8") + SMS.format(signature=signature), encoding="utf-8")
    (root / "rules").mkdir()
    (root / "rules" / "hello.yaml").write_text(PLAYBOOK.format(zone=zone), encoding="utf-8")
    (root / "templates" / locale / "sms").mkdir(parents=True)
    (root / "templates" / locale / "sms" / "hi.j2").write_text("{{ customer.name }}, hello", encoding="utf-8")


def _plan(root: Path) -> dict[str, dict]:
    _run(root, "plan", "--as-of", AS_OF, "--horizon", "1d", "--out", "plan.jsonl")
    rows = [json.loads(line) for line in (root / "plan.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["customer_id"]: r for r in rows if r["rule_id"] == "hello"}


def test_an_opt_out_in_any_spelling_reaches_the_person(tmp_path: Path) -> None:
    """Opt-outs typed as a person types them - full-width digits, 0086, spaces, a
    spreadsheet's apostrophe, +86 - through `huitou optout` and the opt-out file, stop
    every message to the customer whose phone it is; one recorded after the plan stops
    the send."""
    root, people = _shop(tmp_path, TAOBAO_CONFIG, write_taobao)
    _messaging(root, "Asia/Shanghai", "zh-CN", "【回头小店】")
    found, _ = _features(root)
    reachable = sorted(k for k in people if found[k]["phone"] and int(found[k]["order_count"]) >= 1)
    national = {k: found[k]["phone"][3:] for k in reachable}  # the test's own reading agreed above
    wide = str.maketrans("0123456789+ ", "０１２３４５６７８９＋　")
    typed = {
        reachable[0]: ("+86 " + national[reachable[0]]).translate(wide),
        reachable[1]: "0086" + national[reachable[1]],
        reachable[2]: f"{national[reachable[2]][:3]} {national[reachable[2]][3:7]} {national[reachable[2]][7:]}",
        reachable[3]: "'" + national[reachable[3]],
    }
    for spelled in typed.values():
        _run(root, "optout", spelled)
    (root / "optouts.csv").write_text(f"customer_id\n+86-{national[reachable[4]]}\n", encoding="utf-8")
    config = (root / "huitou.yaml").read_text(encoding="utf-8").replace("data:\n", "data:\n  suppression: {path: optouts.csv}\n", 1)
    (root / "huitou.yaml").write_text(config, encoding="utf-8")
    rows = _plan(root)
    opted = {k for k, r in rows.items() if r["reason"] == "opted_out"}
    assert opted == set(typed) | {reachable[4]}, {k: rows[k]["reason"] for k in set(typed) | {reachable[4]}}
    late = reachable[5]  # opts out after the plan was made, by the phone as a spreadsheet wrote it
    assert rows[late]["status"] == "send"
    _run(root, "optout", "\t" + national[late])
    _run(root, "send", "plan.jsonl", "--live", "--now", f"{AS_OF}T10:00", "--until", AS_OF)
    with open(next((root / "out" / "sms").glob("*.csv")), encoding="utf-8-sig", newline="") as f:
        sent = {r["customer_id"]: r for r in csv.DictReader(f)}
    expected = {k for k, r in rows.items() if r["status"] == "send"} - {late}
    assert set(sent) == expected and expected
    assert all(sent[k]["mobile"] == found[k]["phone"] for k in sent)  # whole, in E.164, no guard before it


def test_an_email_opt_out_in_another_letter_case_and_a_guests_phone_reach_them(tmp_path: Path) -> None:
    root, people = _shop(tmp_path, SHOPIFY_CONFIG, write_shopify)
    _messaging(root, "America/New_York", "en-US", "Corner Shop:")
    found, _ = _features(root)
    member = next(k for k in people if "@" in k and found[k]["phone"])
    guest = next(k for k in people if "@" not in k)
    _run(root, "optout", member.upper())
    _run(root, "optout", f"({guest[2:5]}) {guest[5:8]}-{guest[8:]}")  # the guest's number as typed in the US
    rows = _plan(root)
    assert {k for k, r in rows.items() if r["reason"] == "opted_out"} == {member, guest}


def test_a_message_sent_under_a_guarded_order_id_is_not_sent_again_once_the_export_is_clean(tmp_path: Path) -> None:
    """A ledger written while the export guarded its order numbers (="4012...") and
    before ids were unguarded keeps matching: today's plan, on a clean export, keys the
    same thank-you by the bare order number and finds it sent."""
    from huitou.contract import key_of
    from huitou.delivery.ledger import Ledger

    root, people = _shop(tmp_path, TAOBAO_CONFIG, write_taobao)
    _messaging(root, "Asia/Shanghai", "zh-CN", "【回头小店】")
    (root / "rules" / "hello.yaml").write_text(
        PLAYBOOK.format(zone="Asia/Shanghai").replace('{every: day, at: "10:00"}', "{immediate: true, per: order}"), encoding="utf-8"
    )
    with_orders = [k for k in people if any(o[1].date().isoformat() <= AS_OF and o[3] == "paid" for o in people[k].orders)]
    planned = _plan(root)
    assert set(planned) >= set(with_orders) and all(planned[k]["trigger"].startswith("order:4") for k in planned)
    # What an earlier huitou recorded for the first of them: the trigger as the file wrote it.
    first = with_orders[0]
    guarded = 'order:="' + planned[first]["trigger"].removeprefix("order:") + '"'
    ledger = Ledger(root / ".huitou" / "ledger.sqlite")
    row = {
        **{k: planned[first][k] for k in ("plan_id", "customer_id", "playbook", "rule_id", "step", "channel", "intent", "send_at")},
        "idempotency_key": key_of("hello", "hello", first, guarded),
        "plan_as_of": AS_OF,
        "trigger": guarded,
        "recipient": planned[first]["to"],
        "send_at_utc": 0.0,
        "content": "{}",
        "timezone": "Asia/Shanghai",
        "quiet_hours": None,
    }
    ledger.enqueue([row], 0.0)
    with ledger.batch():
        ledger.db.execute("UPDATE messages SET state = 'sent'")  # delivered, that day
    ledger.close()
    again = _plan(root)
    assert again[first]["reason"] == "already_sent"
    assert all(again[k]["status"] == "send" for k in with_orders[1:])


def test_a_week_of_runs_across_an_export_that_stops_guarding_its_ids_sends_nothing_twice(tmp_path: Path) -> None:
    """Seven mornings, orders arriving: the first three exports guard order numbers and
    phones for Excel, the last four do not. Each morning plans and sends a thank-you for
    each customer's latest order; no order is thanked twice."""
    root = tmp_path / "shop"
    root.mkdir()
    people = write_taobao(root / "orders.csv", people=150)
    (root / "huitou.yaml").write_text(TAOBAO_CONFIG, encoding="utf-8")
    _messaging(root, "Asia/Shanghai", "zh-CN", "【回头小店】")
    (root / "rules" / "hello.yaml").write_text(
        PLAYBOOK.format(zone="Asia/Shanghai").replace('{every: day, at: "10:00"}', "{immediate: true, per: order}"), encoding="utf-8"
    )
    with open(root / "orders.csv", encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    days = [dt.date(2026, 10, 20) + dt.timedelta(days=n) for n in range(7)]
    for n, day in enumerate(days):
        current = [r for r in rows if r[4][:10] <= day.isoformat()]
        if n >= 3:  # the clean export: no guards
            current = [[r[0].removeprefix('="').removesuffix('"'), *r[1:6], r[6].lstrip("'\t")] for r in current]
        with open(root / "orders.csv", "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([header, *current])
        _run(root, "plan", "--as-of", day.isoformat(), "--horizon", "1d", "--out", f"plan-{n}.jsonl")
        _run(root, "send", f"plan-{n}.jsonl", "--live", "--now", f"{day}T09:00", "--until", day.isoformat())
    with sqlite3.connect(root / ".huitou" / "ledger.sqlite") as db:
        sent = db.execute("SELECT customer_id, \"trigger\" FROM messages WHERE state = 'sent'").fetchall()
    thanked = [(c, t.replace('="', "").replace('"', "")) for c, t in sent]
    assert len(thanked) == len(set(thanked)) and all(c in people for c, _ in thanked)
    # Every customer's latest order up to each morning, thanked once: counted from the rows.
    latest, buyers = {}, set()
    for day in days:
        for _n, r in sorted(((n, r) for n, r in enumerate(rows) if r[4][:10] <= day.isoformat()), key=lambda i: (i[1][4], i[0])):
            latest[(r[1], day)] = r[0].removeprefix('="').removesuffix('"')
            buyers |= {(r[1], day)} if r[3] == "交易成功" else set()
    assert {(c, f"order:{o}") for (c, day), o in latest.items() if (c, day) in buyers} == set(thanked)


@pytest.mark.parametrize("region", ["CN", "US", "JP", "GB", "DE"])
def test_the_sql_fast_path_gives_what_phonenumbers_gives(region: str) -> None:
    """contacts.fast_phone claims a value only when phonenumbers reads it so: over random
    national numbers of each country (valid, invalid, with prefixes and separators), a
    value the SQL gives equals phonenumbers' E.164, and the common mobile forms are
    claimed (so a million of them stay fast)."""
    import random

    import duckdb
    import phonenumbers
    from sqlglot import exp

    from huitou.data.contacts import email_text, fast_email, fast_phone, phone, phone_digits

    rng = random.Random(region)
    mobiles = {"CN": "13", "US": "212", "JP": "90", "GB": "7", "DE": "15"}
    values = []
    for _ in range(3000):
        code = f"+{phonenumbers.country_code_for_region(region)}"
        digits = rng.choice(["", "0", "00", "1", mobiles[region], "9", "12", code, code + mobiles[region], "+1", "+44"]) + "".join(
            rng.choice("0123456789") for _ in range(rng.randrange(4, 12))
        )
        values.append(rng.choice(["{}", "'{}", "\t{} ", "{}-", "({})"]).format(digits) if rng.random() < 0.3 else digits)
    values += [
        str(phonenumbers.example_number_for_type(region, t).national_number)
        for t in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    claimed = con.execute(f"SELECT v, {fast_phone(phone_digits(exp.column('v'), region), region).sql('duckdb')} FROM t").fetchall()
    wrong = [(v, fast, phone(v, region).value) for v, fast in claimed if fast is not None and fast != phone(v, region).value]
    assert not wrong, wrong[:5]
    valid = [v for v, _ in claimed if phone(v, region).value]
    assert sum(fast is not None for _, fast in claimed) >= 0.5 * len(valid), region  # most valid numbers take the fast path
    addresses = [
        "a@example.com",
        "Sandra.Jones@GMAIL.com",
        "x@b.test",
        "a..b@x.co",
        "-a@x.co",
        "a@x-.co",
        "a@ab--cd.com",
        "a@1.2.3.4",
        "王芳@例子.中国",
        "a b@x.co",
        "a@x.local",
        "'c1@mail.example.cn",
        "a@localhost",
        "a@x.c0m",
        "a+tag@sub.example.org",
        "a@" + "x" * 64 + ".com",
    ]
    con.execute("CREATE TABLE e (v VARCHAR)")
    con.executemany("INSERT INTO e VALUES (?)", [[a] for a in addresses])
    from huitou.data.contacts import email

    for address, fast in con.execute(f"SELECT v, {fast_email(email_text(exp.column('v'))).sql('duckdb')} FROM e").fetchall():
        assert fast is None or fast == email(address).value, address
    assert con.execute(f"SELECT count({fast_email(email_text(exp.column('v'))).sql('duckdb')}) FROM e").fetchone()[0] >= 4


def test_a_zero_padded_numeric_id_stays_an_id(tmp_path: Path) -> None:
    """0012125550123 reads as a call to New York from China; as a customer id it is an id.
    Only an id written +<country code>... is read as a phone number."""
    root = tmp_path / "shop"
    root.mkdir()
    (root / "orders.csv").write_text(
        "customer_id,ordered_at,amount\n0012125550123,2026-11-01 10:00:00,5\n+86 138 1234 5678,2026-11-01 10:00:00,5\n", encoding="utf-8"
    )
    (root / "huitou.yaml").write_text("version: 1\ndata:\n  orders: {path: orders.csv}\n", encoding="utf-8")
    found, _ = _features(root)
    assert set(found) == {"0012125550123", "+8613812345678"}


def test_a_history_row_that_names_the_customer_by_phone_counts_for_the_cap(tmp_path: Path) -> None:
    """The shop's message history names people as its SMS tool did, by phone number: the
    message sent yesterday to 138... counts for that customer's frequency cap."""
    root, people = _shop(tmp_path, TAOBAO_CONFIG, write_taobao)
    _messaging(root, "Asia/Shanghai", "zh-CN", "【回头小店】")
    playbook = (
        (root / "rules" / "hello.yaml")
        .read_text(encoding="utf-8")
        .replace("rules:\n", "policies:\n  frequency_caps:\n    - {max: 1, per: 7d}\nrules:\n", 1)
    )
    (root / "rules" / "hello.yaml").write_text(playbook, encoding="utf-8")
    found, _ = _features(root)
    texted, mailed = sorted(k for k in people if found[k]["phone"] and int(found[k]["order_count"]) >= 1)[:2]
    (root / "history.csv").write_text(
        "customer_id,channel,intent,sent_at\n"
        f"{found[texted]['phone'][3:]},sms,care,2026-11-30 10:00:00\n"  # the national number, as the SMS tool wrote it
        f"{texted}x,sms,care,2026-11-30 10:00:00\n",
        encoding="utf-8",
    )  # nobody: counts for no one
    config = (root / "huitou.yaml").read_text(encoding="utf-8").replace("data:\n", "data:\n  history: {path: history.csv}\n", 1)
    (root / "huitou.yaml").write_text(config, encoding="utf-8")
    rows = _plan(root)
    assert rows[texted]["reason"] == "frequency_cap", rows[texted]
    assert rows[mailed]["status"] == "send"
    assert {k for k, r in rows.items() if r["reason"] == "frequency_cap"} == {texted}
