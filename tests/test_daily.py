"""A shop's days, through the installed console script: plan and send every day, with the
ledger as the memory between days. The example project with every channel sent to an
outbox, a week of daily `huitou plan` + `huitou send --live --now`, with the data
unchanged and with new orders arriving, a send killed mid-run, an older plan sent after a
newer one, and a cap that must hold across the days."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.inprocess import huitou as in_process

WEEK = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(7)]


def outbox_project(root: Path) -> Path:
    """The example project, every channel delivering to an outbox file."""
    for part in ("rules", "templates", "examples"):
        shutil.copytree(ROOT / part, root / part)
    config = (ROOT / "huitou.yaml").read_text(encoding="utf-8")
    config = re.sub(r"    webhook: \{url: \"https://sms[^\n]*\n", "    outbox: out/sms\n", config)
    config = re.sub(r"    smtp: \{[^\n]*\n", "    outbox: out/email\n", config)
    config = re.sub(r"    webhook: \{url: \"https://im[^\n]*\n", "    outbox: out/wechat\n", config)
    (root / "huitou.yaml").write_text(config, encoding="utf-8")
    assert config.count("outbox:") == 5
    return root


def huitou(root: Path, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    # Emails carry signed unsubscribe links: send --live refuses a plan whose links are unsigned.
    env = {**os.environ, "HUITOU_UNSUBSCRIBE_SECRET": "test-unsubscribe-secret"}
    done = in_process(*args, cwd=root, env=env)
    assert done.returncode in ok, f"huitou {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def plan_day(root: Path, day: dt.date, horizon: str = "14d") -> Path:
    out = root / f"plan-{day}.jsonl"
    huitou(root, "plan", "--as-of", day.isoformat(), "--horizon", horizon, "--out", str(out))
    return out


def send_day(root: Path, plan: Path, day: dt.date, *args: str) -> subprocess.CompletedProcess:
    """Send what is due on `day`, as a cron job at 00:00 that day would, through its end."""
    return huitou(root, "send", str(plan), "--live", "--now", f"{day}T00:00", "--until", day.isoformat(), *args)


def rows(plan: Path) -> list[dict]:
    return [json.loads(line) for line in plan.read_text(encoding="utf-8").splitlines()]


def delivered(root: Path) -> list[str]:
    """Every idempotency key found in the outbox files, as often as it was written."""
    keys = []
    for path in sorted((root / "out").rglob("*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            keys += [row["idempotency_key"] for row in csv.DictReader(handle)]
    return keys


def ledger(root: Path) -> dict[str, tuple]:
    """key -> (state, plan_as_of, send_at, channel, recovered, rule_id, customer_id, trigger)"""
    db = sqlite3.connect(root / ".huitou" / "ledger.sqlite")
    try:
        return {
            r[0]: r[1:]
            for r in db.execute(
                'SELECT idempotency_key, state, plan_as_of, send_at, channel, recovered, rule_id, customer_id, "trigger" FROM messages'
            )
        }
    finally:
        db.close()


def add_orders(root: Path, lines: list[str]) -> None:
    with open(root / "examples" / "orders.csv", "a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def run_week(root: Path, arrivals: dict[dt.date, list[str]] | None = None) -> dict[dt.date, Path]:
    plans = {}
    for day in WEEK:
        add_orders(root, (arrivals or {}).get(day, []))
        plans[day] = plan_day(root, day)
        send_day(root, plans[day], day)
    return plans


def due_on(plan: Path, day: dt.date) -> list[dict]:
    return [r for r in rows(plan) if r["status"] == "send" and r["send_at"][:10] == day.isoformat()]


def test_a_week_of_daily_runs_with_orders_arriving_delivers_every_trigger_once(tmp_path: Path) -> None:
    root = outbox_project(tmp_path / "shop")
    customers = list(csv.DictReader(open(ROOT / "examples" / "customers.csv", encoding="utf-8")))
    regular = customers[0]["customer_id"]
    arrivals = {
        # a regular's new unpaid order: a reminder of its own, once
        WEEK[2]: [f"NEW-1,{regular},2026-11-03 08:00:00,88.00,unpaid,,,"],
        # a first-time buyer: one parcel card, whatever the days after say
        WEEK[3]: ["NEW-2,9990001,2026-11-04 07:00:00,30.00,paid,,,"],
    }
    header = (ROOT / "examples" / "orders.csv").read_text(encoding="utf-8").splitlines()[0].replace('"', "")
    assert header == "order_id,customer_id,ordered_at,amount,status,delivered_at,category,rating", header
    columns = len(customers[0])  # as many fields as the file has: a short row would be quarantined
    with open(root / "examples" / "customers.csv", "a", encoding="utf-8") as handle:
        handle.write(",".join(["9990001", "新客", "13900000001", *[""] * 8, "true", "false", "false", "false"] + [""] * (columns - 15)) + "\n")
    plans = run_week(root, arrivals)
    keys = delivered(root)
    book = ledger(root)
    # exactly once: no key twice in the outboxes, and every delivery is a `sent` ledger row
    assert keys and not [k for k, n in Counter(keys).items() if n > 1]
    assert set(keys) == {k for k, v in book.items() if v[0] == "sent"}
    # one message per trigger: (rule, customer, trigger) never repeats among deliveries
    triggers = Counter((book[k][5], book[k][6], book[k][7]) for k in keys)
    assert max(triggers.values()) == 1
    # the unpaid reminder goes once to each customer whose latest order waits for payment,
    # not once a day; the bad-review call once per review
    unpaid = {r["customer_id"] for r in rows(plans[WEEK[0]]) if r["rule_id"] == "unpaid-order-reminder" and r["status"] == "send"}
    reminded = [book[k][6] for k in keys if book[k][5] == "unpaid-order-reminder" and book[k][7] != "order:NEW-1"]
    assert len(unpaid) >= 10 and sorted(reminded) == sorted(unpaid)
    calls = Counter(book[k][6] for k in keys if book[k][5] == "bad-review-call")
    assert calls and max(calls.values()) == 1
    # the orders that arrived fired their own triggers, once, on the day they came
    reminders = [book[k] for k in keys if book[k][5] == "unpaid-order-reminder" and book[k][7] == "order:NEW-1"]
    assert [r[6] for r in reminders] == [regular] and reminders[0][2].startswith("2026-11-03")
    cards = [book[k] for k in keys if book[k][5] == "first-order-parcel-card" and book[k][6] == "9990001"]
    assert [r[7] for r in cards] == ["purchase:NEW-2"]
    # every message each day's plan had due that day went out that day (or was already out)
    for day, plan in plans.items():
        for row in due_on(plan, day):
            assert book[row["idempotency_key"]][0] == "sent", (day, row["rule_id"], row["customer_id"])
    # a later day's plan shows what the ledger delivered as already_sent, not as a send
    later = rows(plans[WEEK[-1]])
    before_last = {k for k in keys if book[k][2][:10] < WEEK[-1].isoformat()}
    sent_earlier = [r for r in later if r["idempotency_key"] in before_last]
    assert sent_earlier and all(r["status"] == "suppressed" and r["reason"] == "already_sent" for r in sent_earlier)
    # sending the first day's plan again sends nothing and says why
    again = send_day(root, plans[WEEK[0]], WEEK[0])
    assert "0 sent" in again.stdout and "already sent" in again.stdout and len(delivered(root)) == len(keys), again.stdout


def test_a_send_killed_mid_run_loses_and_repeats_nothing(huitou_bin: str, tmp_path: Path) -> None:
    """Day 1 is sent slowly and killed; day 1 is sent again, then day 2 is planned and sent."""
    root = outbox_project(tmp_path / "shop")
    config = (
        (root / "huitou.yaml")
        .read_text(encoding="utf-8")
        .replace("    outbox: out/sms\n    rate: {per_second: 50}", "    outbox: out/sms\n    rate: {per_second: 8}")
    )
    (root / "huitou.yaml").write_text(config, encoding="utf-8")
    first = plan_day(root, WEEK[0])
    due = len(due_on(first, WEEK[0]))
    assert due >= 10
    cmd = [huitou_bin, "send", str(first), "--live", "--now", f"{WEEK[0]}T00:00", "--until", WEEK[0].isoformat()]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Killed once the first messages are out (8 a second), however slowly it started.
    deadline = time.monotonic() + 60
    while len(delivered(root)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    part = len(delivered(root))
    assert 0 < part < due
    send_day(root, first, WEEK[0])
    send_day(root, plan_day(root, WEEK[1]), WEEK[1])
    keys = delivered(root)
    assert len(keys) == len(set(keys)) and set(r["idempotency_key"] for r in due_on(first, WEEK[0])) <= set(keys)


def test_an_older_plan_never_undoes_a_newer_one(tmp_path: Path) -> None:
    root = outbox_project(tmp_path / "shop")
    old, new = plan_day(root, WEEK[0]), plan_day(root, WEEK[1])
    send_day(root, new, WEEK[1])
    before = ledger(root)
    decided_by_new = {k: v for k, v in before.items() if v[1] == WEEK[1].isoformat()}
    assert decided_by_new
    out = huitou(root, "send", str(old), "--live", "--channel", "sms", "--now", f"{WEEK[0]}T00:00", "--until", WEEK[0].isoformat())
    after = ledger(root)
    assert {k: after[k] for k in decided_by_new} == decided_by_new, "an older plan changed rows a newer plan decided"
    assert all(after[k] == v for k, v in before.items() if v[3] != "sms"), "--channel sms changed another channel's rows"
    assert {v[3] for k, v in after.items() if k not in before} <= {"sms"}
    assert "withdrawn" not in out.stdout


CAP_PLAYBOOK = """version: 1
name: daily
timezone: Asia/Shanghai
locale: zh-CN
policies:
  frequency_caps: [{max: 2, per: 7d}]
rules:
  - id: tip
    intent: care
    segment: order_count >= 1
    when: {every: day, at: "10:00"}
    channel: sms
    template: sms/tip.j2
"""


def tiny_shop(root: Path, playbook: str, customers: str = "customer_id,name,phone,consent_sms\na,王芳,13800000001,true\n") -> Path:
    """One playbook, SMS templates that say their own name, SMS to an outbox."""
    (root / "rules").mkdir(parents=True)
    (root / "templates" / "zh-CN" / "sms").mkdir(parents=True)
    (root / "rules" / "daily.yaml").write_text(playbook, encoding="utf-8")
    for name in re.findall(r"template: sms/(\w+)\.j2", playbook):
        (root / "templates" / "zh-CN" / "sms" / f"{name}.j2").write_text(f"{{{{ customer.name }}}}，{name}。", encoding="utf-8")
    (root / "huitou.yaml").write_text(
        "version: 1\nname: t\ndefault_locale: zh-CN\ntimezone: Asia/Shanghai\n"
        "data: {orders: {path: orders.csv}, customers: {path: customers.csv}}\n"
        "channels: {sms: {signature: 【店】, opt_out: 回T退订, outbox: out/sms}}\n",
        encoding="utf-8",
    )
    (root / "customers.csv").write_text(customers, encoding="utf-8")
    ids = [line.split(",")[0] for line in customers.splitlines()[1:]]
    (root / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,amount\n" + "".join(f"o{c},{c},2026-10-01 10:00:00,10\n" for c in ids), encoding="utf-8"
    )
    return root


CARE_FIRST_PLAYBOOK = """version: 1
name: daily
timezone: Asia/Shanghai
locale: zh-CN
policies:
  frequency_caps: [{max: 3, per: 7d}]
  care_first: {within: 7d}
rules:
  - id: hello
    intent: care
    segment: order_count >= 1 AND customer_id = 'a'
    when: {on: "2026-11-01", at: "10:00"}
    channel: sms
    template: sms/hello.j2
  - id: offer
    intent: promotion
    segment: order_count >= 1
    when: {on: "2026-11-03", at: "12:00"}
    channel: sms
    template: sms/offer.j2
"""


def test_care_sent_on_an_earlier_day_lets_the_promotion_through(tmp_path: Path) -> None:
    """Care first counts the care message the ledger delivered two days before: a gets the
    offer, b (no care message ever) does not."""
    root = tiny_shop(tmp_path / "shop", CARE_FIRST_PLAYBOOK, "customer_id,name,phone,consent_sms\na,王芳,13800000001,true\nb,李雷,13800000002,true\n")
    for day in (dt.date(2026, 11, 1), dt.date(2026, 11, 3)):
        plan = plan_day(root, day, "1d")
        send_day(root, plan, day)
    offers = {r["customer_id"]: (r["status"], r["reason"]) for r in rows(plan) if r["rule_id"] == "offer"}
    assert offers == {"a": ("send", None), "b": ("suppressed", "care_first")}
    assert sorted((v[5], v[6]) for v in ledger(root).values() if v[0] == "sent") == [("hello", "a"), ("offer", "a")]


def test_a_cap_holds_across_daily_plans(tmp_path: Path) -> None:
    """max 2 per 7 days: each day's plan counts what the ledger delivered on earlier days."""
    root = tiny_shop(tmp_path / "shop", CAP_PLAYBOOK)
    days = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(9)]
    for day in days:
        send_day(root, plan_day(root, day, "3d"), day)
    sent_days = sorted(v[2][:10] for v in ledger(root).values() if v[0] == "sent")
    # 11-01 and 11-02; then the window 11-02..11-08 holds 11-02's: one more on 11-08;
    # 11-09's window 11-03..11-09 holds only 11-08's: one more
    assert sent_days == ["2026-11-01", "2026-11-02", "2026-11-08", "2026-11-09"]


def test_send_now_judges_due_and_expiry_at_that_time(tmp_path: Path) -> None:
    root = outbox_project(tmp_path / "shop")
    plan = plan_day(root, WEEK[0])
    # today (the real clock) the plan of 2026-11-01 is weeks old: everything due has expired
    dry = huitou(root, "send", str(plan), "--until", WEEK[0].isoformat())
    assert "expired" in dry.stdout and "would send" not in dry.stdout
    dry_then = huitou(root, "send", str(plan), "--now", f"{WEEK[0]}T20:30", "--until", WEEK[0].isoformat())  # before quiet hours
    assert "would send" in dry_then.stdout and "expired" not in dry_then.stdout
    live = send_day(root, plan, WEEK[0])
    sent = sorted(v[2] for v in ledger(root).values() if v[0] == "sent")
    assert sent and all(s.startswith("2026-11-01") for s in sent) and "sent" in live.stdout


@pytest.fixture(scope="module")
def week_plans(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = outbox_project(tmp_path_factory.mktemp("keys") / "shop")
    return plan_day(root, WEEK[0]), plan_day(root, WEEK[1])


def test_the_same_trigger_has_the_same_key_in_every_days_plan(week_plans: tuple[Path, Path]) -> None:
    first, second = ({(r["rule_id"], r["customer_id"], r["trigger"]): r["idempotency_key"] for r in rows(p)} for p in week_plans)
    shared = set(first) & set(second)
    immediate = [t for t in shared if t[0] in ("unpaid-order-reminder", "bad-review-call", "first-order-parcel-card")]
    assert len(immediate) >= 10
    assert all(first[t] == second[t] for t in shared)
    kinds = {t[2].split(":")[0] for t in first}
    assert {"order", "review", "purchase", "month", "birthday", "double11", "last_delivery"} <= kinds, kinds


def test_a_ledger_from_before_trigger_keys_still_counts_as_sent(tmp_path: Path) -> None:
    """A ledger written by a version whose keys hashed the scheduled date: after the
    upgrade, nothing it sent goes out again."""
    import hashlib

    root = outbox_project(tmp_path / "shop")
    first = plan_day(root, WEEK[0])
    send_day(root, first, WEEK[0])
    sent_before = [r for r in rows(first) if r["status"] == "send" and r["send_at"][:10] == WEEK[0].isoformat()]
    assert sent_before
    db = sqlite3.connect(root / ".huitou" / "ledger.sqlite")
    with db:  # rewrite the rows as the old version wrote them
        for r in sent_before:
            old = hashlib.sha256("\x1f".join([r["playbook"], r["rule_id"], r["customer_id"], r["scheduled_date"]]).encode()).hexdigest()[:32]
            db.execute(
                'UPDATE messages SET idempotency_key = ?, "trigger" = NULL, plan_as_of = NULL WHERE idempotency_key = ?',
                (old, r["idempotency_key"]),
            )
    db.close()
    second = plan_day(root, WEEK[1])
    again = {
        (r["rule_id"], r["customer_id"]): r
        for r in rows(second)
        if (r["rule_id"], r["customer_id"]) in {(s["rule_id"], s["customer_id"]) for s in sent_before}
    }
    assert again and all(r["status"] != "send" for r in again.values()), [r for r in again.values() if r["status"] == "send"][:3]
    assert {r["reason"] for r in again.values() if r["rule_id"] == "unpaid-order-reminder"} == {"already_sent"}
    before = len(delivered(root))
    send_day(root, second, WEEK[1])
    pairs = Counter((ledger(root).get(k, (None,) * 8)[5], ledger(root).get(k, (None,) * 8)[6]) for k in delivered(root)[before:])
    assert not set(pairs) & set(again)


def test_a_week_records_the_control_group_once_as_each_day_comes(tmp_path: Path) -> None:
    """Holdout rows go to the ledger on the day their message would have gone out, from
    that day's plan, once; the rows of later days wait for their day."""
    root = outbox_project(tmp_path / "shop")
    lifecycle = root / "rules" / "lifecycle.yaml"
    lifecycle.write_text(lifecycle.read_text(encoding="utf-8").replace("holdout: 10%", "holdout: 40%"), encoding="utf-8")
    days = [dt.date(2026, 11, 7) + dt.timedelta(days=n) for n in range(4)]  # the example's lifecycle holds rows out on the 8th and the 10th
    plans = {}
    for day in days:
        plans[day] = plan_day(root, day)
        send_day(root, plans[day], day)
    db = sqlite3.connect(root / ".huitou" / "ledger.sqlite")
    try:
        recorded = dict(db.execute("SELECT idempotency_key, substr(send_at, 1, 10) FROM holdouts").fetchall())
    finally:
        db.close()
    due = {
        r["idempotency_key"]: day.isoformat()
        for day, plan in plans.items()
        for r in rows(plan)
        if r["status"] == "holdout" and r["send_at"][:10] == day.isoformat()
    }
    assert due and recorded == due
    assert len(set(recorded.values())) >= 2  # two days, each recorded on its own day
    later = {r["idempotency_key"] for r in rows(plans[days[0]]) if r["status"] == "holdout" and r["send_at"][:10] > days[-1].isoformat()}
    assert not later & set(recorded)
