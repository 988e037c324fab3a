"""The sender keeps the clock: nothing goes out before its send_at, nothing inside the
customer's quiet hours, whatever delays a message (a 429, a rate limit, a crash).

The replayed day runs the installed console script with `--now`: its clock starts at that
time and moves through every wait with nothing in flight (docs/delivery.md#the-senders-
clock), so a day takes seconds. The receiver reads when each message was handed over
from the webhook's `handed_at` (the run's clock), and what it was planned for from
`send_at`; the counts of deferred messages are worked out here from the rate alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import huitou.starter
from huitou.delivery.channels import open_adapters
from huitou.delivery.clock import Clock
from huitou.delivery.dispatch import Channel, deliver_channel
from huitou.delivery.ledger import Ledger
from huitou.delivery.pacing import Pacer, RetryPolicy
from huitou.delivery.run import ChannelReport
from huitou.quiet import PRESETS, QuietHours, QuietHoursError, minutes, resolve
from tests.servers import WebhookServer
from tests.test_ledger import row

SECRET = "gateway-secret"
DAY = dt.date(2026, 10, 30)  # a Friday; New York leaves daylight saving time on 1 November
ZONES = {"cn": "Asia/Shanghai", "us": "America/New_York"}
PER_ZONE = 4  # customers in each timezone
TIMES = ("09:30", "10:00", "19:00", "20:59")
GAP = 30  # seconds between messages: the channel's rate, 2 a minute


def test_presets_hold_at_their_edges_and_across_a_clock_change() -> None:
    us = resolve({"preset": "US"})
    assert us is not None and (PRESETS["US"].start, PRESETS["US"].end) == ("21:00", "08:00")
    assert [us.contains(minutes(t)) for t in ("20:59", "21:00", "07:59", "08:00")] == [False, True, True, False]
    assert resolve({"preset": "JP"}).text == "21:00-08:00 defer"
    assert resolve({"preset": "US", "start": "20:00", "end": "09:00", "outside": "drop"}).text == "20:00-09:00 drop"  # narrower: kept
    for wider in ({"start": "22:00"}, {"end": "07:30"}, {"start": "21:30", "end": "08:00"}):
        with pytest.raises(QuietHoursError):
            resolve({"preset": "US", **wider})
    ny = ZoneInfo("America/New_York")

    def reopens(local: dt.datetime) -> str | None:
        opens = QuietHours(21 * 60, 8 * 60).reopens(local.replace(tzinfo=ny).timestamp(), ny)
        return None if opens is None else dt.datetime.fromtimestamp(opens, ny).isoformat()

    assert reopens(dt.datetime(2026, 10, 30, 20, 59, 59)) is None
    assert reopens(dt.datetime(2026, 10, 30, 21, 0)) == "2026-10-31T08:00:00-04:00"
    assert reopens(dt.datetime(2026, 10, 31, 7, 59)) == "2026-10-31T08:00:00-04:00"
    assert reopens(dt.datetime(2026, 10, 31, 8, 0)) is None
    # Overnight into 1 November the clocks go back: the window is 12 hours, not 11.
    evening = dt.datetime(2026, 10, 31, 21, 0, tzinfo=ny).timestamp()
    assert reopens(dt.datetime(2026, 10, 31, 21, 0)) == "2026-11-01T08:00:00-05:00"
    assert QuietHours(21 * 60, 8 * 60).reopens(evening, ny) - evening == 12 * 3600
    # Into 8 March they go forward: 10 hours.
    spring = dt.datetime(2026, 3, 7, 22, 0, tzinfo=ny).timestamp()
    assert QuietHours(21 * 60, 8 * 60).reopens(spring, ny) - spring == 9 * 3600


def test_on_the_real_clock_a_row_goes_out_at_its_time_not_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows due now, in 1.5 s and in 3 s, sent by one channel on the real clock: each
    arrives at or after its time, within half a second of it."""
    path, now = tmp_path / "ledger.sqlite", time.time()
    ledger = Ledger(path)
    at = {"now": now - 1, "soon": now + 1.5, "later": now + 3}
    ledger.enqueue([row(key, customer=key, at=t) for key, t in at.items()], now)
    ledger.close()
    monkeypatch.setenv("T_SECRET", SECRET)
    with WebhookServer(SECRET) as hook:
        channel = Channel("sms", open_adapters("sms", {"webhook": {"url": hook.url, "secret_env": "T_SECRET"}}, tmp_path), Pacer(0), RetryPolicy())
        report = ChannelReport("sms")
        offset = time.time() - time.monotonic()  # the receiver stamps arrivals with the monotonic clock
        deliver_channel(path, list(at), channel, now + 10, threading.Event(), report, Clock())
        arrived = {key: stamp + offset for key, stamp in hook.arrivals.raw}
    assert report.sent == 3 and set(arrived) == set(at)
    for key, planned in at.items():
        assert arrived[key] >= planned - 0.05, f"{key} went out {planned - arrived[key]:.2f} s early"
        assert arrived[key] <= max(planned, now) + 0.5, f"{key} went out {arrived[key] - planned:.2f} s late"


PLAYBOOK_HEAD = """version: 1
name: day
timezone: Asia/Shanghai
locale: zh-CN
policies:
  quiet_hours: {preset: US}
rules:
"""
RULE = """  - id: at-{name}
    intent: care
    segment: order_count >= 1
    when: {{every: day, at: "{at}"}}
    channel: sms
    template: sms/hello.j2
"""
CONFIG = """version: 1
name: day
default_locale: zh-CN
timezone: Asia/Shanghai
data:
  orders: {{path: orders.csv}}
  customers: {{path: customers.csv}}
delivery:
  retry: {{attempts: 5, initial: 5, max: 60}}
channels:
  sms:
    signature: 【回头小店】
    webhook: {{url: "{url}", secret_env: T_SMS_SECRET}}
    rate: {{per_minute: 2}}
    concurrency: 1
"""
RULE_TEST = """version: 1
tests:
  - name: a customer with an order hears from the shop at 09:30
    as_of: "2026-10-30"
    given:
      customers: [{customer_id: c1, name: 王芳, phone: "13800000001", timezone: Asia/Shanghai, consent_sms: true}]
      orders: [{order_id: o1, customer_id: c1, ordered_at: "2026-10-01 10:00:00", amount: 99}]
    expect:
      - {customer: c1, rule: at-0930, status: send, contains: "王芳，您好"}
"""


def _project(root: Path, url: str) -> None:
    (root / "rules").mkdir(parents=True)
    (root / "rules" / "day.yaml").write_text(PLAYBOOK_HEAD + "".join(RULE.format(name=t.replace(":", ""), at=t) for t in TIMES), encoding="utf-8")
    (root / "templates" / "zh-CN" / "sms").mkdir(parents=True)
    (root / "templates" / "zh-CN" / "sms" / "hello.j2").write_text("{{ customer.name }}，您好", encoding="utf-8")
    (root / "huitou.yaml").write_text(CONFIG.format(url=url), encoding="utf-8")
    with open(root / "customers.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "name", "phone", "timezone", "consent_sms"])
        for place, zone in ZONES.items():
            for i in range(PER_ZONE):
                w.writerow([f"{place}{i}", f"顾客{i}", f"1380000{len(place)}{i:03d}", zone, "true"])
    with open(root / "orders.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "customer_id", "ordered_at", "amount"])
        for place in ZONES:
            for i in range(PER_ZONE):
                w.writerow([f"o-{place}{i}", f"{place}{i}", "2026-10-01 10:00:00", "99.00"])


def _run(root: Path, env: dict[str, str], huitou_bin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([huitou_bin, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _received(hook: WebhookServer) -> tuple[dict[str, dict], list[str]]:
    """The payloads the gateway received, by key, and the keys it received twice."""
    return {key: payload for key, (_, payload) in hook.arrivals.delivered.items()}, hook.arrivals.duplicates()


def _ledger(root: Path) -> tuple[dict[str, str], set[str], set[str]]:
    """The ledger's state of each key, the keys resent after a crash, the keys deferred."""
    with sqlite3.connect(root / ".huitou" / "ledger.sqlite") as db:
        states = dict(db.execute("SELECT idempotency_key, state FROM messages"))
        recovered = {k for (k,) in db.execute("SELECT idempotency_key FROM messages WHERE recovered = 1")}
        deferred = {k for (k,) in db.execute("SELECT idempotency_key FROM messages WHERE not_before IS NOT NULL")}
    return states, recovered, deferred


def _lateness(seen: dict[str, dict]) -> dict[tuple[str, str, dt.date], list[float]]:
    """Seconds from send_at to the hand-over, by zone, local time and day planned; asserts
    that none went out early or inside the customer's quiet hours (21:00-08:00)."""
    by_time: dict[tuple[str, str, dt.date], list[float]] = {}
    for payload in seen.values():
        zone = ZoneInfo(ZONES[payload["customer_id"][:2]])
        planned_at = dt.datetime.fromisoformat(payload["send_at"])
        handed = dt.datetime.fromisoformat(payload["handed_at"])
        local = handed.astimezone(zone)
        assert handed >= planned_at, f"{payload['customer_id']} got its {payload['send_at']} message at {handed}: early"
        assert not (local.hour >= 21 or local.hour < 8), f"{payload['customer_id']} got a message at {local}: inside quiet hours"
        key = (payload["customer_id"][:2], planned_at.astimezone(zone).strftime("%H:%M"), planned_at.astimezone(zone).date())
        by_time.setdefault(key, []).append((handed - planned_at).total_seconds())
    return by_time


def test_a_replayed_day_delivers_each_message_at_its_time_and_never_in_quiet_hours(tmp_path: Path, huitou_bin: str) -> None:
    """Sends at 09:30, 10:00, 19:00 and 20:59 in Shanghai and New York, the US preset's
    quiet hours (21:00-08:00 at the customer's), a gateway answering 429 Retry-After: 120
    at first, a rate of 2 a minute that cannot get the 20:59 messages out before 21:00, and
    a SIGKILL in the middle of the day."""
    root = tmp_path / "shop"
    env = {**os.environ, "T_SMS_SECRET": SECRET}
    with WebhookServer(SECRET) as hook:
        _project(root, hook.url)
        planned = _run(root, env, huitou_bin, "plan", "--as-of", DAY.isoformat(), "--horizon", "2d", "--out", "plan.jsonl")
        assert planned.returncode == 0, planned.stdout + planned.stderr
        hook.arrivals.faults = ["429:120"] * 2
        send = [huitou_bin, "send", "plan.jsonl", "--live", "--now", f"{DAY}T00:00", "--until", (DAY + dt.timedelta(days=2)).isoformat()]
        killer = subprocess.Popen(send, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def kill(count: int) -> None:
            if count == 2 * PER_ZONE + 1:  # the first of Shanghai's 19:00 messages is arriving
                os.kill(killer.pid, signal.SIGKILL)

        hook.arrivals.on_arrival = kill
        killer.communicate(timeout=120)
        hook.arrivals.on_arrival = None
        assert killer.returncode == -signal.SIGKILL
        done = subprocess.run(send, cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        seen, duplicates = _received(hook)
    states, recovered, deferred = _ledger(root)
    # Every message of the two days' plan sent once; a message that arrived twice was in
    # flight when the sender died (resent under its key).
    assert set(states.values()) == {"sent"} and set(seen) == set(states)
    assert set(duplicates) <= recovered
    by_time = _lateness(seen)
    # Per zone, time and day: the messages go out one every GAP seconds from their time
    # (the rate), the first two after the 429s' 120 s; the 20:59 ones past the first two
    # would land at 21:00 or later, so they wait for 08:00 next morning.
    expected_deferred = 0
    for (place, at, day), delays in sorted(by_time.items()):
        assert len(delays) == PER_ZONE, (place, at, day)
        late = sorted(delays)
        if at == "20:59":
            on_time = [d for d in late if d < 60]
            assert len(on_time) == 2, (place, day, late)  # 20:59:00 and 20:59:30
            assert all(11 * 3600 - 60 <= d <= 11 * 3600 + 3 * 3600 for d in late[2:]), (place, day, late)  # next morning, 08:00 on
            expected_deferred += PER_ZONE - 2
        else:
            assert late[-1] <= 2 * 120 + PER_ZONE * GAP + 30, (place, at, day, late)  # within the rate (and the 429s' waits)
    assert len(deferred) == expected_deferred == 4 * (PER_ZONE - 2)
    assert all(seen[k]["send_at"][11:16] == "20:59" for k in deferred)
    assert f"{expected_deferred - 0} held to the end of quiet hours" in done.stdout or "held to the end of quiet hours" in done.stdout, done.stdout


def test_the_daily_recipe_rehearses_a_day_a_crash_the_day_again_and_the_next(tmp_path: Path, huitou_bin: str) -> None:
    """docs/daily.md's daily.sh, run as written with the day to rehearse (its replayed
    clock starts at 07:30): the 30th killed as a Shanghai 19:00 message arrives, the 30th
    again, then the 31st. Each run plans 14 days and sends for 24 hours; what a quiet hour
    held past midnight goes out the next morning, on time for New York too."""
    script = (Path(huitou.starter.__file__).parent / "files" / "common" / "daily.sh").read_text(encoding="utf-8")
    assert f"```sh\n{script}```" in (Path(__file__).parents[1] / "docs" / "daily.md").read_text(encoding="utf-8")  # the recipe is the script
    root = tmp_path / "shop"
    env = {**os.environ, "T_SMS_SECRET": SECRET, "PATH": f"{Path(huitou_bin).parent}{os.pathsep}{os.environ['PATH']}"}
    day1, day2 = DAY.isoformat(), (DAY + dt.timedelta(days=1)).isoformat()
    with WebhookServer(SECRET) as hook:
        _project(root, hook.url)
        (root / "daily.sh").write_text(script, encoding="utf-8")
        (root / "rules" / "day.test.yaml").write_text(RULE_TEST, encoding="utf-8")  # the script's `huitou test` wants one
        hook.arrivals.faults = ["429:120"] * 2
        job = subprocess.Popen(
            ["sh", "daily.sh", day1], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )

        def crash(count: int) -> None:  # the machine goes down: the script and its huitou
            if count == 2 * PER_ZONE + 1:
                os.killpg(job.pid, signal.SIGKILL)

        hook.arrivals.on_arrival = crash
        output, _ = job.communicate(timeout=120)
        hook.arrivals.on_arrival = None
        assert job.returncode == -signal.SIGKILL and len(hook.arrivals.raw) == 2 * PER_ZONE + 1, output
        runs = {day: subprocess.run(["sh", "daily.sh", day], cwd=root, env=env, capture_output=True, text=True, timeout=120) for day in (day1, day2)}
        seen, duplicates = _received(hook)
    for day, run in runs.items():
        assert run.returncode == 0, f"{day}:\n{run.stdout}{run.stderr}"
        assert (root / "plans" / f"{day}.jsonl").is_file()
    states, recovered, deferred = _ledger(root)
    with sqlite3.connect(root / ".huitou" / "ledger.sqlite") as db:
        send_at = {k: dt.datetime.fromisoformat(at) for k, at in db.execute("SELECT idempotency_key, send_at FROM messages")}
    # Sent: every row planned before 07:30 on 1 November in Shanghai (the last run's
    # --until +24h), once, New York's evenings after Shanghai's midnight included; nothing
    # after it. Counted from the playbook: 4 times a day in each zone, from the 30th there.
    end = dt.datetime.combine(DAY + dt.timedelta(days=2), dt.time(7, 30), ZoneInfo("Asia/Shanghai"))
    due = {k for k, at in send_at.items() if at < end}
    expected = (
        sum(
            dt.datetime.combine(d, dt.time.fromisoformat(t), ZoneInfo(zone)) < end
            for zone in ZONES.values()
            for d in (DAY, DAY + dt.timedelta(days=1))
            for t in TIMES
        )
        * PER_ZONE
    )  # days from the 30th where each lives
    assert len(due) == expected and set(seen) == due and {states[k] for k in due} == {"sent"}
    assert {states[k] for k in set(states) - due} <= {"pending"}
    assert set(duplicates) <= recovered
    by_time = _lateness(seen)
    assert deferred and all(seen[k]["send_at"][11:16] == "20:59" for k in deferred)
    for (place, at, day), delays in by_time.items():  # within the rate and the 429s' waits, or held to the next morning
        held = [d for d in delays if d > 2 * 120 + PER_ZONE * GAP + 30]
        assert len(held) == (PER_ZONE - 2 if at == "20:59" else 0), (place, at, day, sorted(delays))
        assert all(11 * 3600 - 60 <= d <= 14 * 3600 for d in held), (place, at, day, sorted(delays))
    assert "held to the end of quiet hours" in runs[day1].stdout, runs[day1].stdout


def test_an_outbox_that_schedules_is_handed_rows_ahead_and_one_that_does_not_is_not(tmp_path: Path) -> None:
    """`outbox: {path, ahead: true}`: rows planned for later are written at once, each with
    its send_at (a parcel insert gains the column); a plain outbox writes only what is due."""
    now = time.time()
    for ahead in (True, False):
        path = tmp_path / f"ledger-{ahead}.sqlite"
        ledger = Ledger(path)
        ledger.enqueue([{**row(key, customer=key, channel="parcel_insert", at=t)} for key, t in (("due", now - 60), ("tomorrow", now + 86400))], now)
        ledger.close()
        config = {"outbox": {"path": f"out-{ahead}", "ahead": ahead}}
        channel = Channel("parcel_insert", open_adapters("parcel_insert", config, tmp_path), Pacer(0), RetryPolicy(), ahead=ahead)
        report = ChannelReport("parcel_insert")
        stop = threading.Event()
        threading.Timer(1.5, stop.set).start()  # the plain outbox would wait a day for `tomorrow`: stop it
        deliver_channel(path, ["due", "tomorrow"], channel, now + 2 * 86400, stop, report, Clock())
        (written,) = (tmp_path / f"out-{ahead}").glob("*.csv")
        with open(written, encoding="utf-8-sig", newline="") as f:
            records = list(csv.DictReader(f))
        assert [r["customer_id"] for r in records] == (["due", "tomorrow"] if ahead else ["due"])
        assert ("send_at" in records[0]) == ahead and report.sent == len(records)
