"""The plan on the example project and on small hand-made shops: timings, reasons,
rendering, output formats, and the console script."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import pytest

from huitou.calendar import holiday_date
from huitou.contract import COLUMNS
from huitou.plan.run import run_plan
from huitou.plan.timing import Window, constant_dates, time_of_day
from huitou.quiet import QuietHours

from .conftest import ROOT, keep_plan_relations, update_golden
from .inprocess import huitou

GOLDEN = Path(__file__).parent / "golden" / "plan_messages.txt"
AS_OF = dt.date(2026, 11, 1)


def test_holidays_lunar_and_statutory_agree() -> None:
    """The statutory calendar (holidays) and the lunar one (lunardate) agree on Spring
    Festival for 20 years; fixed and computed days are right."""
    from lunardate import LunarDate

    for year in range(2020, 2040):
        assert holiday_date("spring_festival", year) == LunarDate(year, 1, 1).to_solar_date()
    assert holiday_date("mid_autumn", 2026) == dt.date(2026, 9, 25)
    assert holiday_date("qixi", 2026) == dt.date(2026, 8, 19)
    assert holiday_date("double_ninth", 2026) == dt.date(2026, 10, 18)
    assert holiday_date("qingming", 2027) == dt.date(2027, 4, 5)
    assert holiday_date("fathers_day", 2026) == dt.date(2026, 6, 21)


def test_other_countries_holidays_by_code() -> None:
    """`CC:name` anchors come from the country's calendar in the holidays library; moved
    (observed) days are not anchors; unknown names and countries are not holidays."""
    from huitou.calendar import anchor_kind

    assert holiday_date("JP:respect_for_the_aged_day", 2026) == dt.date(2026, 9, 21)  # third Monday of September
    assert holiday_date("JP:respect_for_the_aged_day", 2027) == dt.date(2027, 9, 20)
    assert holiday_date("US:thanksgiving_day", 2026) == dt.date(2026, 11, 26)
    assert holiday_date("TW:national_day", 2026) == dt.date(2026, 10, 10)
    assert holiday_date("KR:chuseok", 2026) == dt.date(2026, 9, 25)  # lunar 8/15 in Korea's calendar
    assert anchor_kind("US:independence_day_observed") is None
    assert anchor_kind("JP:christmas") is None and anchor_kind("XX:new_years_day") is None and anchor_kind("jp:culture_day") is None
    window = Window(dt.date(2026, 11, 1), 30)
    assert constant_dates({"before": "US:thanksgiving_day", "days": [3, 1]}, window) == [
        (3, dt.date(2026, 11, 23), "US:thanksgiving_day", dt.date(2026, 11, 26)),
        (1, dt.date(2026, 11, 25), "US:thanksgiving_day", dt.date(2026, 11, 26)),
    ]


def test_unknown_country_holiday_is_diagnosed(tmp_path: Path) -> None:
    root = make_shop(tmp_path, ["a,王芳,13800000001,true,"], ["o1,a,2026-11-04 10:00:00,10"])
    playbook = root / "rules" / "t.yaml"
    playbook.write_text(SHOP_PLAYBOOK.replace('{on: birthday, at: "09:30"}', "{on: JP:respect_for_aged_day}"), encoding="utf-8")
    out = huitou("validate", cwd=root)
    assert out.returncode == 1
    assert "rules/t.yaml:13:16: error HT305" in out.stdout and "HT305" in out.stdout and "did you mean 'JP:respect_for_the_aged_day'?" in out.stdout
    playbook.write_text(SHOP_PLAYBOOK.replace('{on: birthday, at: "09:30"}', "{on: JP:respect_for_the_aged_day}"), encoding="utf-8")
    assert huitou("validate", cwd=root).returncode == 0


def test_countdown_steps_recurrences_and_quiet_hours() -> None:
    window = Window(AS_OF, 14)
    steps = constant_dates({"before": "double11", "days": [7, 3, 1]}, window)
    assert steps == [
        (7, dt.date(2026, 11, 4), "double11", dt.date(2026, 11, 11)),
        (3, dt.date(2026, 11, 8), "double11", dt.date(2026, 11, 11)),
        (1, dt.date(2026, 11, 10), "double11", dt.date(2026, 11, 11)),
    ]
    assert constant_dates({"before": "double11", "days": [30]}, window) == []  # 12 October: before the window
    assert [d for _, d, *_ in constant_dates({"every": "fri"}, window)] == [dt.date(2026, 11, 6), dt.date(2026, 11, 13)]
    feb = Window(dt.date(2027, 2, 1), 60)
    assert [d for _, d, *_ in constant_dates({"every": "month", "day": 31}, feb)] == [dt.date(2027, 2, 28), dt.date(2027, 3, 31)]
    quiet = QuietHours(21 * 60, 9 * 60)
    assert quiet.contains(21 * 60) and quiet.contains(8 * 60 + 59) and not quiet.contains(9 * 60)
    late = time_of_day({"at": "22:30"}, quiet)
    assert (late.hhmm, late.day_shift, late.deferred) == ("09:00", 1, True)
    early = time_of_day({"at": "07:00"}, quiet)
    assert (early.hhmm, early.day_shift) == ("09:00", 0)
    assert time_of_day({"at": "22:30"}, QuietHours(21 * 60, 9 * 60, "drop")).dropped


SHOP_PLAYBOOK = """version: 1
name: t
timezone: Asia/Shanghai
locale: zh-CN
policies:
  quiet_hours: {start: "21:00", end: "09:00", outside: defer}
  frequency_caps:
    - {max: 1, per: 1d}
rules:
  - id: bday
    intent: care
    segment: birthday IS NOT NULL
    when: {on: birthday, at: "09:30"}
    channel: sms
    template: sms/b.j2
    priority: 1
  - id: checkin
    intent: care
    segment: order_count >= 1
    when: {after: last_order, days: 3, at: "10:00", weekdays: [mon, tue, wed, thu, fri]}
    channel: sms
    template: sms/c.j2
"""


def make_shop(root: Path, customers: list[str], orders: list[str], templates: dict[str, str] | None = None) -> Path:
    (root / "rules").mkdir(parents=True)
    (root / "huitou.yaml").write_text("version: 1\nname: t\ndefault_locale: zh-CN\nchannels:\n  sms: {signature: 【店】}\n", encoding="utf-8")
    (root / "rules" / "t.yaml").write_text(SHOP_PLAYBOOK, encoding="utf-8")
    for name, text in (
        templates or {"sms/b.j2": "{{ customer.name }}生日快乐", "sms/c.j2": "{{ customer.name }}，东西收到了吗？{{ send.date }}"}
    ).items():
        path = root / "templates" / "zh-CN" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "customers.csv").write_text("customer_id,name,phone,consent_sms,birthday\n" + "\n".join(customers) + "\n", encoding="utf-8")
    (root / "orders.csv").write_text("order_id,customer_id,ordered_at,amount\n" + "\n".join(orders) + "\n", encoding="utf-8")
    return root


def rows_of(root: Path, as_of: dt.date = AS_OF, horizon: int = 14) -> list[dict]:
    plan = run_plan(root, as_of, horizon, orders=root / "orders.csv", customers=root / "customers.csv", quarantine_dir=root / "q")
    cursor = plan.con.execute("SELECT * FROM plan")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def test_leap_day_birthday_weekday_shift_and_the_loser_names_the_winner(tmp_path: Path) -> None:
    root = make_shop(
        tmp_path,
        [
            "a,王芳,13800000001,true,1992-02-29",
            "b,李雷,13800000002,true,1990-11-04",
            "c,张三,,true,1990-11-05",
            "d,赵四,13800000004,false,1990-11-06",
        ],
        ["o1,a,2026-10-20 10:00:00,10", "o2,b,2026-11-01 10:00:00,20", "o3,c,2026-10-30 10:00:00,5", "o4,d,2026-10-31 10:00:00,5"],
    )
    rows = rows_of(root)
    leap = rows_of(root, dt.date(2027, 2, 20))
    assert [(r["customer_id"], r["send_at"]) for r in leap if r["rule_id"] == "bday"] == [("a", "2027-02-28T09:30:00+08:00")]
    b = {r["rule_id"]: r for r in rows if r["customer_id"] == "b"}
    # b's check-in falls on Wednesday 4 November, the birthday too: one message a day.
    assert b["bday"]["status"] == "send" and b["bday"]["content"]["body"] == "【店】李雷生日快乐"
    assert b["checkin"]["status"] == "suppressed" and b["checkin"]["reason"] == "frequency_cap"
    assert "t/bday on 2026-11-04" in b["checkin"]["reason_detail"]
    c = {r["rule_id"]: r for r in rows if r["customer_id"] == "c"}
    assert c["bday"]["reason"] == "no_contact"
    # c ordered on Friday 30 October: +3 days is Monday 2 November (a weekday already).
    assert c["checkin"]["reason"] == "no_contact" and c["checkin"]["scheduled_date"] == dt.date(2026, 11, 2)
    d = {r["rule_id"]: r for r in rows if r["customer_id"] == "d"}
    assert d["bday"]["reason"] == "no_consent" and d["checkin"]["reason"] == "no_consent"
    # d ordered on Saturday 31 October: +3 is Tuesday 3 November.
    assert d["checkin"]["send_at"] == "2026-11-03T10:00:00+08:00"


def test_weekend_moves_to_monday_and_render_failure_is_one_row(tmp_path: Path) -> None:
    root = make_shop(
        tmp_path,
        ["a,王芳,13800000001,true,", "b,,13800000002,true,"],
        ["o1,a,2026-11-04 10:00:00,10", "o2,b,2026-11-04 10:00:00,10"],
        {"sms/b.j2": "x", "sms/c.j2": "{{ customer.name | upper }}{{ 1 / (0 if customer.name is none else 1) }}"},
    )
    rows = {r["customer_id"]: r for r in rows_of(root, dt.date(2026, 11, 5))}
    # 4 November + 3 = Saturday 7 November: moved to Monday 9 November.
    assert rows["a"]["scheduled_date"] == dt.date(2026, 11, 7) and rows["a"]["send_at"] == "2026-11-09T10:00:00+08:00"
    assert rows["a"]["status"] == "send"
    assert rows["b"]["status"] == "suppressed" and rows["b"]["reason"] == "render_error" and "sms/c.j2" in rows["b"]["reason_detail"]


def test_sms_over_budget_is_suppressed(tmp_path: Path) -> None:
    root = make_shop(
        tmp_path, ["a,王芳,13800000001,true,"], ["o1,a,2026-11-04 10:00:00,10"], {"sms/b.j2": "x", "sms/c.j2": "{{ '很长的短信' * 20 }}"}
    )
    (row,) = rows_of(root, dt.date(2026, 11, 5))
    assert row["reason"] == "sms_too_long" and "2 SMS segments (103 ucs2 units)" in row["reason_detail"]


def test_a_template_edited_between_two_plans_of_one_process_renders_as_edited(tmp_path: Path) -> None:
    """Compiled templates and what they read are kept for the process (templates.py): an
    edit between two plans - same name, same size, the same modification time - is seen."""
    import os

    root = make_shop(tmp_path, ["a,王芳,13800000001,true,"], ["o1,a,2026-11-04 10:00:00,10"], {"sms/b.j2": "x", "sms/c.j2": "{{ customer.name }}好"})
    template = root / "templates" / "zh-CN" / "sms" / "c.j2"
    stamp = template.stat()
    (before,) = rows_of(root, dt.date(2026, 11, 5))
    template.write_text("{{ customer.order_count }}次", encoding="utf-8")
    os.utime(template, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    (after,) = rows_of(root, dt.date(2026, 11, 5))
    assert before["content"]["body"] == "【店】王芳好"
    # The new text reads a feature the old one did not, and the plan fetched it.
    assert after["content"]["body"] == "【店】1次", after


def test_example_messages_golden() -> None:
    """The rendered messages of the example playbooks over examples/ (first of each rule)."""
    plan = run_plan(ROOT, AS_OF, 14, quarantine_dir=Path("/tmp") / "huitou-golden-q")
    lines = []
    query = """SELECT playbook, rule_id, step, customer_id, channel, send_at, content FROM (
                 SELECT *, row_number() OVER (PARTITION BY playbook, rule_id, step ORDER BY send_at, customer_id) AS k FROM plan WHERE status = 'send')
               WHERE k = 1 ORDER BY playbook, rule_id, step"""
    for playbook, rule, step, customer, channel, send_at, content in plan.con.execute(query).fetchall():
        lines.append(f"== {playbook}/{rule} step {step} -> {customer} via {channel} at {send_at}")
        for key in ("subject", "body", "html"):
            if content and content.get(key):
                lines.append(f"-- {key}\n{content[key]}")
    text = "\n".join(lines) + "\n"
    if update_golden():
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
    assert len([ln for ln in lines if ln.startswith("== ")]) >= 10


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_plan_command_writes_identical_files(tmp_path: Path, suffix: str) -> None:
    outs = []
    for n in (1, 2):
        out = tmp_path / f"plan{n}{suffix}"
        proc = huitou("plan", "--as-of", "2026-11-01", "--horizon", "14d", "--out", str(out), cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        assert "send" in proc.stderr and str(out) in proc.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    reader = {".jsonl": "read_json", ".csv": "read_csv", ".parquet": "read_parquet"}[suffix]
    con = duckdb.connect()
    cols = [c[0] for c in con.execute(f"DESCRIBE SELECT * FROM {reader}('{tmp_path / ('plan1' + suffix)}')").fetchall()]
    for needed in (
        "plan_id",
        "idempotency_key",
        "customer_id",
        "rule_id",
        "intent",
        "channel",
        "send_at",
        "status",
        "reason",
        "content",
        "consent_basis",
    ):
        assert needed in cols
    statuses = dict(con.execute(f"SELECT status, count(*) FROM {reader}('{tmp_path / ('plan1' + suffix)}') GROUP BY ALL").fetchall())
    assert statuses.get("send", 0) > 50 and statuses.get("suppressed", 0) > 50


def test_dry_run_masks_contacts_unless_asked() -> None:
    masked = huitou("plan", "--as-of", "2026-11-01", "--format", "json", "--samples", "20", cwd=ROOT)
    assert masked.returncode == 0, masked.stderr
    doc = json.loads(masked.stdout)
    assert doc["status"]["send"] > 50 and doc["suppressed"] and doc["sends"]
    assert all("****" in s["to"] or "***@" in s["to"] for s in doc["samples"] if s.get("to"))
    shown = json.loads(huitou("plan", "--as-of", "2026-11-01", "--format", "json", "--samples", "20", "--show-pii", cwd=ROOT).stdout)
    assert any(re.fullmatch(r"\+86\d{11}", s.get("to") or "") for s in shown["samples"])  # whole, in E.164
    text = huitou("plan", "--as-of", "2026-11-01", cwd=ROOT)
    assert text.returncode == 0 and "Not sent, by reason" in text.stdout and "care_first" in text.stdout


def test_bad_horizon_is_a_usage_error() -> None:
    proc = huitou("plan", "--as-of", "2026-11-01", "--horizon", "two weeks", cwd=ROOT)
    assert proc.returncode == 2 and "--horizon" in proc.stderr and "Traceback" not in proc.stderr


def test_preview_shows_each_countdown_step_or_says_why_not() -> None:
    """preview agrees with the full plan for that customer and rule."""
    plan = run_plan(ROOT, AS_OF, 14, quarantine_dir=Path("/tmp") / "huitou-golden-q")
    customer, body = plan.con.execute(
        "SELECT customer_id, content.body FROM plan WHERE rule_id = 'double11-countdown' AND status = 'send' AND step = 3 ORDER BY customer_id LIMIT 1"
    ).fetchone()
    proc = huitou("preview", "double11-countdown", "--customer", customer, "--as-of", "2026-11-01", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "step 3, scheduled 2026-11-08" in proc.stdout and body in proc.stdout
    typo = huitou("preview", "double11-countdow", "--customer", customer, "--as-of", "2026-11-01", cwd=ROOT)
    assert typo.returncode == 1 and "did you mean 'double11-countdown'" in typo.stderr
    unknown = huitou("preview", "birthday-wish", "--customer", "nobody", "--as-of", "2026-11-01", cwd=ROOT)
    assert unknown.returncode == 1 and "no customer 'nobody'" in unknown.stderr


def test_bad_plan_inputs_are_one_clear_line(tmp_path: Path) -> None:
    import shutil

    for name in ("huitou.yaml", "rules", "templates", "examples"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    history = tmp_path / "examples" / "history.csv"
    history.write_text("customer_id,channel,intent,sent_at\n0000001,sms,care,yesterday\n0000002,sms,care,2026-10-30 10:00:00\n", encoding="utf-8")
    ok = huitou("plan", "--as-of", "2026-11-01", cwd=tmp_path)
    assert ok.returncode == 0 and "history: 1 of 2 rows in history.csv have no customer_id or no readable sent_at" in ok.stderr
    history.write_text("customer_id,chan\nx,sms\n", encoding="utf-8")
    bad = huitou("plan", "--as-of", "2026-11-01", cwd=tmp_path)
    assert bad.returncode == 2 and "history.csv: no column 'channel'" in bad.stderr and "internal error" not in bad.stderr
    (tmp_path / "examples" / "optouts.csv").unlink()
    gone = huitou("plan", "--as-of", "2026-11-01", "--out", str(tmp_path / "p.jsonl"), cwd=tmp_path)
    assert gone.returncode == 2 and "optouts.csv does not exist" in gone.stderr and not (tmp_path / "p.jsonl").exists()
    ext = huitou("plan", "--as-of", "2026-11-01", "--out", "plan.txt", cwd=tmp_path)
    assert ext.returncode == 2 and "use a .jsonl, .csv or .parquet" in ext.stderr


def test_history_counts_in_each_customers_own_calendar_day(tmp_path: Path) -> None:
    """A message sent at 03:00 Shanghai time on 1 November was sent on 31 October in New
    York: a one-a-day cap blocks the Shanghai customer's 1 November send, not the New
    Yorker's."""
    root = make_shop(tmp_path, [], [])
    (root / "rules" / "t.yaml").write_text(
        SHOP_PLAYBOOK.replace('when: {on: birthday, at: "09:30"}', "when: {immediate: true}").replace(
            "segment: birthday IS NOT NULL", "segment: order_count >= 1"
        ),
        encoding="utf-8",
    )
    (root / "huitou.yaml").write_text(
        "version: 1\nname: t\ndefault_locale: zh-CN\ndata:\n  history: {path: history.csv}\nchannels:\n  sms: {signature: 【店】}\n",
        encoding="utf-8",
    )
    (root / "customers.csv").write_text(
        "customer_id,name,phone,consent_sms,timezone\nsh,王芳,13800000001,true,Asia/Shanghai\nny,Amy,13800000002,true,America/New_York\nnaive,李雷,13800000003,true,America/New_York\n",
        encoding="utf-8",
    )
    (root / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,amount\no1,sh,2026-10-01 10:00:00,10\no2,ny,2026-10-01 10:00:00,10\no3,naive,2026-10-01 10:00:00,10\n",
        encoding="utf-8",
    )
    # "naive" has no offset: local time in the data's zone (Shanghai), 31 October in New York.
    (root / "history.csv").write_text(
        "customer_id,channel,intent,sent_at\nsh,sms,care,2026-11-01T03:00:00+08:00\nny,sms,care,2026-11-01T03:00:00+08:00\nnaive,sms,care,2026-11-01 03:00:00\n",
        encoding="utf-8",
    )
    rows = {r["customer_id"]: r for r in rows_of(root) if r["rule_id"] == "bday"}
    assert rows["sh"]["status"] == "suppressed" and rows["sh"]["reason"] == "frequency_cap"
    assert "earlier messages (history)" in rows["sh"]["reason_detail"]
    assert rows["ny"]["status"] == "send" and rows["ny"]["send_at"] == "2026-11-01T10:00:00-05:00"
    assert rows["naive"]["status"] == "send"


CLOCK_PLAYBOOK = """version: 1
name: t
timezone: Asia/Shanghai
locale: zh-CN
rules:
  - id: night
    intent: care
    segment: birthday IS NOT NULL
    when: {on: birthday, at: "01:30"}
    channel: sms
    template: sms/b.j2
  - id: later
    intent: care
    segment: birthday IS NOT NULL
    when: {on: birthday, at: "02:30"}
    channel: sms
    template: sms/b.j2
"""


@pytest.mark.parametrize(
    "as_of, expected",
    [
        # Autumn: 01:30 happens twice; the first (summer time) is meant.
        (
            dt.date(2026, 10, 20),
            {
                ("ny", "night"): "2026-11-01T01:30:00-04:00",
                ("ldn", "night"): "2026-10-25T01:30:00+01:00",
                ("ny", "later"): "2026-11-01T02:30:00-05:00",
                ("ldn", "later"): "2026-10-25T02:30:00+00:00",
            },
        ),
        # Spring: 02:30 in New York and 01:30 in London do not happen; read with the offset
        # before the change, they are the instants an hour later on the clock.
        (
            dt.date(2027, 3, 10),
            {
                ("ny", "night"): "2027-03-14T01:30:00-05:00",
                ("ldn", "night"): "2027-03-28T01:30:00+00:00",
                ("ny", "later"): "2027-03-14T02:30:00-05:00",
                ("ldn", "later"): "2027-03-28T02:30:00+01:00",
            },
        ),
    ],
)
def test_send_times_at_clock_changes_follow_one_rule(tmp_path: Path, as_of: dt.date, expected: dict) -> None:
    """Customers in New York and London with sends at 01:30 and 02:30 on the nights the
    clocks change (docs/plan.md#clock-changes): RFC 5545's reading, decided by huitou for
    every engine - DuckDB's own conversion took the second 01:30 in autumn."""
    root = make_shop(tmp_path, [], [])
    (root / "rules" / "t.yaml").write_text(CLOCK_PLAYBOOK, encoding="utf-8")
    ny, ldn = ("2026-11-01", "2026-10-25") if as_of.month == 10 else ("2027-03-14", "2027-03-28")
    (root / "customers.csv").write_text(
        f"customer_id,name,phone,consent_sms,birthday,timezone\nny,Amy,13800000002,true,1990-{ny[5:]},America/New_York\n"
        f"ldn,Ben,13800000003,true,1990-{ldn[5:]},Europe/London\nbad,Cy,13800000004,true,1990-{ny[5:]},Mars/Olympus\n",
        encoding="utf-8",
    )
    rows = rows_of(root, as_of, 30)
    got = {(r["customer_id"], r["rule_id"]): r["send_at"] for r in rows if r["status"] == "send"}
    assert {k: v for k, v in got.items() if k[0] != "bad"} == expected
    # Not a zone: the playbook's (Shanghai), as before.
    assert got[("bad", "night")] == f"{ny}T01:30:00+08:00"
    for r in rows:  # the instant the plan orders by is the one send_at names
        assert r["send_utc"] == dt.datetime.fromisoformat(r["send_at"]).timestamp()


def test_a_send_that_fails_to_render_gives_its_cap_slot_to_the_next(tmp_path: Path) -> None:
    """b's birthday message (priority 1) and check-in fall on the same day under a cap of
    one a day: when the birthday template fails for b, the check-in goes instead."""
    customers = ["b,李雷,13800000002,true,1990-11-04"]
    orders = ["o2,b,2026-11-01 10:00:00,20"]
    ok = {r["rule_id"]: r for r in rows_of(make_shop(tmp_path / "ok", customers, orders))}
    assert ok["bday"]["status"] == "send" and ok["checkin"]["reason"] == "frequency_cap"
    failing = {"sms/b.j2": "{{ customer.name }}{{ 1 // 0 }}", "sms/c.j2": "{{ customer.name }}，东西收到了吗？"}
    rows = {r["rule_id"]: r for r in rows_of(make_shop(tmp_path / "failing", customers, orders, failing))}
    assert rows["bday"]["status"] == "suppressed" and rows["bday"]["reason"] == "render_error"
    assert "ZeroDivisionError" in rows["bday"]["reason_detail"] and rows["bday"]["content"] is None
    assert rows["checkin"]["status"] == "send" and rows["checkin"]["content"]["body"] == "【店】李雷，东西收到了吗？"


def test_customers_are_judged_alike_in_any_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arbitration judges whole customers a partition at a time: one customer at a time,
    or two, the example plan is the same, caps and care-first included."""
    from huitou.plan import arbitrate

    def plan_rows() -> list[tuple]:
        return run_plan(ROOT, AS_OF, 14).con.execute("SELECT * EXCLUDE (send_utc, intent_rank) FROM plan").fetchall()

    whole = plan_rows()
    for customers in (1, 2):
        monkeypatch.setattr(arbitrate, "PARTITION_CUSTOMERS", customers)
        assert plan_rows() == whole
    reasons = [r[COLUMNS.index("reason")] for r in whole]
    assert reasons.count("frequency_cap") > 20 and reasons.count("care_first") > 5


def test_rendering_in_worker_processes_gives_the_same_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example plan rendered by two worker processes (python -m
    huitou.plan.render_worker) equals the plan rendered in-process, row for row."""
    from huitou.plan import render_jobs

    def plan_rows(jobs: int) -> list[tuple]:
        plan = run_plan(ROOT, AS_OF, 14, jobs=jobs)
        return plan.con.execute("SELECT * EXCLUDE (send_utc, intent_rank) FROM plan").fetchall()

    serial = plan_rows(1)
    monkeypatch.setattr(render_jobs, "SERIAL_BELOW", 1)
    calls = []
    real_popen = render_jobs.subprocess.Popen
    monkeypatch.setattr(render_jobs.subprocess, "Popen", lambda cmd, **kw: calls.append(cmd) or real_popen(cmd, **kw))
    parallel = plan_rows(2)
    assert len(calls) == 2 and all(c[1:3] == ["-m", "huitou.plan.render_worker"] for c in calls)
    status = COLUMNS.index("status")
    assert parallel == serial and sum(1 for r in serial if r[status] == "send") > 100


def test_a_failed_render_worker_stops_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that dies (here: an interpreter that cannot start) is an error naming the
    worker, never a plan with rows missing."""
    from huitou.plan import render_jobs

    monkeypatch.setattr(render_jobs, "SERIAL_BELOW", 1)
    monkeypatch.setattr(render_jobs.sys, "executable", str(ROOT / "no-such-python"))
    with pytest.raises(render_jobs.RenderWorkerError, match="cannot start a rendering worker"):
        run_plan(ROOT, AS_OF, 14, jobs=2)
    monkeypatch.setattr(render_jobs.sys, "executable", "false")
    with pytest.raises(render_jobs.RenderWorkerError, match="a rendering worker failed"):
        run_plan(ROOT, AS_OF, 14, jobs=2)


def test_messages_delivered_per_the_ledger_count_as_history(tmp_path: Path) -> None:
    """The send ledger's delivered messages count for caps like the history file's;
    planned-but-unsent ledger rows do not."""
    from huitou.delivery.ledger import Ledger

    root = make_shop(
        tmp_path,
        ["b,李雷,13800000002,true,1990-11-04", "c,张三,13800000003,true,1990-11-04"],
        ["o2,b,2026-10-01 10:00:00,20", "o3,c,2026-10-01 10:00:00,20"],
    )
    ledger = Ledger(root / ".huitou" / "ledger.sqlite")
    sent_at = dt.datetime(2026, 11, 4, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    base = {
        "plan_id": "p0",
        "playbook": "t",
        "rule_id": "old",
        "step": 0,
        "channel": "sms",
        "intent": "care",
        "recipient": "x",
        "send_at": "2026-11-04T08:00:00+08:00",
        "send_at_utc": sent_at,
        "content": "{}",
    }
    ledger.enqueue([{**base, "idempotency_key": "kb", "customer_id": "b"}, {**base, "idempotency_key": "kc", "customer_id": "c"}], sent_at)
    assert ledger.start("kb", sent_at) == 1  # b's is delivered; c's stays pending
    ledger.sent("kb", sent_at)
    ledger.close()
    rows = {r["customer_id"]: r for r in rows_of(root) if r["rule_id"] == "bday"}
    assert rows["b"]["reason"] == "frequency_cap" and "earlier messages (history)" in rows["b"]["reason_detail"]
    assert rows["c"]["status"] == "send"


def test_opt_outs_recorded_in_the_ledger_suppress_later_plans(tmp_path: Path) -> None:
    from huitou.delivery.ledger import Ledger

    root = make_shop(
        tmp_path,
        ["b,李雷,13800000002,true,1990-11-04", "c,张三,13800000003,true,1990-11-04"],
        ["o2,b,2026-10-01 10:00:00,20", "o3,c,2026-10-01 10:00:00,20"],
    )
    ledger = Ledger(root / ".huitou" / "ledger.sqlite")
    ledger.record_optout("b", "sms", 0.0, "huitou optout")
    ledger.close()
    rows = {r["customer_id"]: r for r in rows_of(root) if r["rule_id"] == "bday"}
    assert rows["b"]["reason"] == "opted_out"
    assert rows["c"]["status"] == "send"


SEND_DAY_PLAYBOOK = """version: 1
name: t
timezone: Asia/Shanghai
locale: zh-CN
rules:
  - id: winback
    intent: care
    segment: order_count >= 1
    when: {every: month, day: 10, at: "10:00"}
    channel: sms
    template: sms/w.j2
"""


def test_messages_carry_the_values_of_the_day_they_go_out_and_the_latest_purchase(tmp_path: Path) -> None:
    """Planned on 1 November for the 10th: the days since the last order, to the birthday
    and the age are the 10th's; last_order is the latest purchase (not the cancelled
    order after it), latest_order the latest order of any status."""
    root = make_shop(
        tmp_path,
        ["a,王芳,13800000001,true,1990-11-05"],
        [],
        {
            "sms/w.j2": "{{ customer.days_since_last_order }}天;生日{{ customer.days_to_birthday }};{{ customer.age }}岁;"
            "{{ last_order.category }} {{ last_order.amount }};{{ latest_order.status }} {{ latest_order.category }}"
        },
    )
    (root / "rules" / "t.yaml").write_text(SEND_DAY_PLAYBOOK, encoding="utf-8")
    (root / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,amount,status,category\n"
        "o1,a,2026-07-04 10:00:00,100.00,paid,tablet\n"
        "o2,a,2026-07-18 10:00:00,3676.00,cancelled,smartwatch\n",
        encoding="utf-8",
    )
    (row,) = [r for r in rows_of(root) if r["status"] == "send"]
    # as of 1 November: 120 days since 4 July, birthday in 4 days, 35 years old;
    # on 10 November: 129 days, the birthday 360 days away, 36 years old
    assert row["content"]["body"] == "【店】129天;生日360;36岁;tablet 100.00;cancelled smartwatch"


def test_two_plans_share_one_connection_and_leave_only_their_rows() -> None:
    """Each stage reads what build_plan hands it and makes its relations in the plan's
    relation.Scratch, named under the plan's prefix: two plans of different horizons over one loaded session, under two prefixes, equal the
    plans made alone; afterwards each has only its rows and its view."""
    from huitou.evaluate import data_timezone, open_data
    from huitou.plan.build import build_plan
    from huitou.plan.run import open_playbooks

    playbooks = open_playbooks(ROOT)[0]
    project = playbooks[0].project
    session = open_data(project, timezone=data_timezone(project, playbooks, None), as_of=AS_OF)
    session.features()  # the session's own tables (recommendations, referral codes) made first
    before = {row[0] for row in session.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    week = build_plan(session, playbooks, 7, prefix="week")
    month = build_plan(session, playbooks, 30, prefix="month")
    assert (week.rows.sql(), month.rows.sql()) == ("week", "month")
    left = {row[0] for row in session.con.execute("SELECT table_name FROM information_schema.tables").fetchall()} - before
    assert left == {"week", "week_rows", "month", "month_rows"}

    def rows(plan) -> list[tuple]:
        return plan.con.execute(f"SELECT * EXCLUDE (send_utc, intent_rank) FROM {plan.rows.sql()}").fetchall()

    alone_week, alone_month = run_plan(ROOT, AS_OF, 7), run_plan(ROOT, AS_OF, 30)
    assert rows(week) == rows(alone_week) and rows(month) == rows(alone_month)
    assert len(rows(month)) > len(rows(week)) > 100


def test_a_plan_that_fails_half_way_leaves_nothing_in_its_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan stopped in rendering (its worker cannot start) drops every relation its
    stages made (relation.Scratch): the session holds what it held before, and the next
    plan on it is the plan made alone."""
    from huitou.evaluate import data_timezone, open_data
    from huitou.plan import render_jobs
    from huitou.plan.build import build_plan
    from huitou.plan.run import open_playbooks

    playbooks = open_playbooks(ROOT)[0]
    project = playbooks[0].project
    session = open_data(project, timezone=data_timezone(project, playbooks, None), as_of=AS_OF)
    session.features()

    def relations() -> set[str]:
        return {row[0] for row in session.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}

    before = relations()
    with monkeypatch.context() as patched:
        patched.setattr(render_jobs, "SERIAL_BELOW", 1)
        patched.setattr(render_jobs.sys, "executable", str(ROOT / "no-such-python"))
        with pytest.raises(render_jobs.RenderWorkerError):
            build_plan(session, playbooks, 14, jobs=2)
    assert relations() == before
    plan = build_plan(session, playbooks, 14)
    assert relations() - before == {"plan", "plan_rows"}
    alone = run_plan(ROOT, AS_OF, 14)
    query = "SELECT * EXCLUDE (send_utc, intent_rank) FROM plan"
    assert plan.con.execute(query).fetchall() == alone.con.execute(query).fetchall()


def test_what_other_engines_bring_back_has_duckdbs_own_types(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Spark and PostgreSQL the decided sends come back cast to DECIDED_TYPES and the
    numbered rows to ORDERED_TYPES: they must be the types DuckDB's own statements give,
    or the plans would differ."""
    from huitou.evaluate import data_timezone, open_data
    from huitou.plan import assemble, build
    from huitou.plan.decide import DECIDED_TYPES, Decided
    from huitou.plan.run import open_playbooks
    from huitou.relation import Scratch

    keep_plan_relations(monkeypatch)  # the stages' relations stay
    playbooks = open_playbooks(ROOT)[0]
    project = playbooks[0].project
    session = open_data(project, timezone=data_timezone(project, playbooks, None), as_of=dt.date(2026, 11, 30))
    assert build.build_plan(session, playbooks, 14).size > 500

    def types(relation: str) -> dict[str, str]:
        return {name: kind for name, kind, *_ in session.con.execute(f"DESCRIBE {relation}").fetchall()}

    assert types("plan_decided") == DECIDED_TYPES
    scratch = Scratch(None, "plan")
    decided = Decided(scratch.new("decided"), scratch.new("winners"))
    assert types(assemble.ordered_statement(decided, scratch.new("rules"), scratch)[1].sql("duckdb")) == assemble.ORDERED_TYPES


def test_call_lists_carry_each_customers_last_paid_orders(tmp_path: Path) -> None:
    """A call list row's last three purchases and a template's last_order and latest_order,
    against the orders file read here: by time, a tie going to the later row of the
    file; unpaid orders and orders after the as-of date left out of the purchases."""
    root = tmp_path / "shop"
    (root / "rules").mkdir(parents=True)
    (root / "templates" / "zh-CN" / "phone").mkdir(parents=True)
    (root / "huitou.yaml").write_text("version: 1\nname: t\ndefault_locale: zh-CN\nchannels: {phone: {}}\n", encoding="utf-8")
    (root / "rules" / "t.yaml").write_text(
        "version: 1\nname: t\nrules:\n  - {id: call, intent: care, segment: order_count >= 1, when: {immediate: true}, channel: phone, "
        "template: phone/call.j2}\n",
        encoding="utf-8",
    )
    (root / "templates" / "zh-CN" / "phone" / "call.j2").write_text("{{ last_order.order_id }}|{{ latest_order.order_id }}", encoding="utf-8")
    (root / "customers.csv").write_text("customer_id,name,phone,consent_phone\na,甲,13800000001,true\nb,乙,13800000002,true\n", encoding="utf-8")
    orders = [  # order_id, customer, time, status
        ("a1", "a", "2026-10-01 10:00", "paid"),
        ("a2", "a", "2026-10-05 10:00", "paid"),
        ("a3", "a", "2026-10-09 10:00", "paid"),
        ("a4", "a", "2026-10-09 10:00", "paid"),  # the same time as a3, a later row: the later purchase
        ("a5", "a", "2026-10-20 10:00", "cancelled"),  # the latest order, not a purchase
        ("a6", "a", "2026-11-05 10:00", "paid"),  # after the as-of date
        ("b1", "b", "2026-09-01 10:00", "paid"),
    ]
    (root / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,amount,status\n" + "".join(f"{o},{c},{t},10.00,{s}\n" for o, c, t, s in orders), encoding="utf-8"
    )
    rows = [r for r in rows_of(root) if r["status"] == "send"]
    seen = {r["customer_id"]: (json.loads(r["content"]) if isinstance(r["content"], str) else r["content"]) for r in rows}

    def expected(customer: str) -> tuple[list[str], str]:
        theirs = [(t, i, o, s) for i, (o, c, t, s) in enumerate(orders) if c == customer and t[:10] <= AS_OF.isoformat()]
        paid = sorted(((t, i, o) for t, i, o, s in theirs if s == "paid"), reverse=True)
        return [o for _t, _i, o in paid[:3]], max(theirs)[2]

    assert set(seen) == {"a", "b"}
    for customer, content in seen.items():
        last_three, latest = expected(customer)
        extra = json.loads(content["extra"]) if isinstance(content["extra"], str) else content["extra"]
        assert [o["order_id"] for o in extra["last_orders"]] == last_three
        assert content["body"] == f"{last_three[0]}|{latest}"
    assert expected("a") == (["a4", "a3", "a2"], "a5")
