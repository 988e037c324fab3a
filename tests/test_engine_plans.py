"""The same project planned with --engine duckdb, spark and postgres: the plan files huitou
writes are byte for byte the same (docs/engines.md). The installed console script runs
each plan, on real PostgreSQL and Spark (tests/engines.py).

The edge project gathers what engines disagree on when nobody decides for them: 29
February, a latest purchase without category, two orders at the same instant, x.xx5
purchase cycles, customers in New York and London on the nights the clocks change, a
weekday-limited rule whose date is a Sunday, holdout shares, non-ASCII ids.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from pathlib import Path

import pytest
import sqlglot

from .conftest import ROOT, keep_plan_relations
from .engines import postgres_url, spark_engine  # noqa: F401  (fixtures: they start the servers or fail in CI)
from .inprocess import Ran, huitou
from .test_engines import EDGE_CUSTOMERS, EDGE_ORDERS
from .test_plan import CLOCK_PLAYBOOK, make_shop

# The clock-change rules of tests/test_plan.py (01:30 and 02:30 on the birthday), under a
# cap and a 50% holdout, with a weekday-limited rule and a purchase-cycle rule.
EDGE_PLAYBOOK = (
    CLOCK_PLAYBOOK.replace("name: t\n", "name: edges\n").replace(
        "rules:\n",
        """policies:
  frequency_caps:
    - {max: 2, per: 1d}
  holdout: 50%
rules:
""",
    )
    + """  - id: checkin
    intent: service
    segment: order_count >= 1
    when: {after: last_order, days: 10, at: "10:00", weekdays: [mon, tue, wed, thu, fri]}
    channel: sms
    template: sms/c.j2
  - id: due
    intent: care
    segment: purchase_days >= 2
    when: {on: purchase_due, at: "11:00"}
    channel: sms
    template: sms/d.j2
"""
)
TEMPLATES = {
    "sms/b.j2": "{{ customer.name }}生日快乐",
    "sms/c.j2": "{{ customer.name }}: {{ customer.last_category or '-' }} {{ customer.avg_order_value }} {{ send.date }}",
    "sms/d.j2": "{{ customer.purchase_cycle_days }} / {{ customer.days_until_due }}",
}
# Birthdays on the nights the clocks change (2026 autumn, 2027 spring), in both zones.
CLOCK_CUSTOMERS = [
    ["ny-a", "Amy", "1990-11-01", "America/New_York", ""],
    ["ldn-a", "Ben", "1990-10-25", "Europe/London", ""],
    ["ny-s", "Cy", "1990-03-14", "America/New_York", ""],
    ["ldn-s", "Di", "1990-03-28", "Europe/London", ""],
]
# Thursday 15 October 2026: ten days on is Sunday 25 October, which the weekdays move to Monday.
CLOCK_ORDERS = [["t1", "周四", "2026-10-15T12:00:00+08:00", "9.99", "paid", "tea", "", ""]]
# Text written by the public: NUL bytes (which PostgreSQL's text cannot hold; huitou
# removes them on every engine), a spreadsheet formula, a header injection, an id with a
# NUL (rejected with its orders, never turned into another customer's id).
HOSTILE_CUSTOMERS = [
    ["evil", "E\x00ve\"=cmd|' /C calc'!A0\r\nBcc: x", "1990-10-30", "", 'x"y|z\x00\\'],
    ["bad\x00id", "B", "1990-10-30", "", ""],
]
HOSTILE_ORDERS = [
    ["o\x00x", "evil", "2026-10-10T10:00:00+08:00", "3.00", "paid", "t\x00ea", "", ""],
    ["o-u", "bad\x00id", "2026-10-10T10:00:00+08:00", "3.00", "paid", "tea", "", ""],
]
# Enough non-ASCII ids for the holdout draw to split them.
MANY = [[f"客户-{i:02d}", f"名{i}", f"1990-10-{i % 28 + 1:02d}", "", ""] for i in range(40)]


def edge_project(root: Path) -> Path:
    (root / "rules").mkdir(parents=True)
    (root / "huitou.yaml").write_text(
        "version: 1\nname: edges\ndefault_locale: zh-CN\ndata:\n  orders: {path: orders.csv}\n  customers: {path: customers.csv}\n"
        "channels:\n  sms: {signature: 【店】}\n",
        encoding="utf-8",
    )
    (root / "rules" / "edges.yaml").write_text(EDGE_PLAYBOOK, encoding="utf-8")
    for name, text in TEMPLATES.items():
        path = root / "templates" / "zh-CN" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    customers = [
        [*row, "phone", "consent_sms"] if i == 0 else [*row, f"1380000{i:04d}", "true"]
        for i, row in enumerate([*EDGE_CUSTOMERS, *CLOCK_CUSTOMERS, *MANY, ["周四", "Thu", "", "", ""], *HOSTILE_CUSTOMERS])
    ]
    orders = [
        *EDGE_ORDERS,
        *CLOCK_ORDERS,
        *HOSTILE_ORDERS,
        *[[f"m{i}", f"客户-{i:02d}", f"2026-0{i % 9 + 1}-1{i % 10}T09:00:00+08:00", f"{i}.{i:02d}", "paid", "", "", ""] for i in range(40)],
    ]
    for name, rows in (("customers.csv", customers), ("orders.csv", orders)):
        with (root / name).open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows(rows)
    return root


def plan_files(
    root: Path,
    as_of: str,
    horizon: str,
    env: dict[str, str],
    out_dir: Path,
    kinds: tuple[str, ...] = ("duckdb", "postgres", "spark"),
    spark: object = None,
) -> dict[str, bytes]:
    """The plan file of each engine, written by the command in this process; Spark's by
    the same code on the session's Spark (a command of its own starts a JVM: 10-20 s each,
    the suite's largest cost; the console script on Spark: test_engine_sources.py)."""
    files = {}
    for kind in kinds:
        out = out_dir / f"plan-{as_of}-{kind}.jsonl"
        if kind == "spark":
            files[kind] = _planned_on_session_spark(spark, root, as_of, horizon, env, out)
            continue
        done = huitou("plan", "--engine", kind, "--as-of", as_of, "--horizon", horizon, "--out", str(out), cwd=root, env=env)
        assert done.returncode == 0, f"{kind}: {done.stderr}"
        # stderr is huitou's lines only: the JVM's notices and log go to a file of their own.
        assert not any(noise in done.stderr for noise in ("log4j", "WARN", "SparkContext")), done.stderr
        files[kind] = out.read_bytes()
    return files


def _planned_on_session_spark(engine: object, root: Path, as_of: str, horizon: str, env: dict[str, str], out: Path) -> bytes:
    """`huitou plan --engine spark --out OUT` as the command runs it, in this process, on
    `engine` (the session's SparkEngine)."""
    from huitou.commands import horizon as _horizon
    from huitou.plan.build import build_plan
    from huitou.plan.output import write_plan
    from huitou.workspace import DataOptions, Workspace

    assert engine is not None, "a Spark plan in this process needs the spark_engine fixture"
    previous, saved = Path.cwd(), {k: os.environ.get(k) for k in env}
    os.chdir(root)
    os.environ.update(env)
    try:
        with Workspace.open() as ws:
            session = ws.load(DataOptions(as_of=as_of, engine="spark"), engine=engine)
            write_plan(build_plan(session, ws.playbooks, _horizon(horizon)), out)
    finally:
        os.chdir(previous)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return out.read_bytes()


@pytest.fixture()
def engines_env(postgres_url: str, spark_engine, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    # Each console-script plan on Spark starts a JVM for a few seconds' work on small data:
    # without the optimising compiler it starts 4-5 s sooner (the results are the same).
    quick_jvm = "--conf spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1 pyspark-shell"
    return {
        **os.environ,
        "HUITOU_PG_URL": postgres_url,
        "HUITOU_REFERRAL_SECRET": "engine-test-secret",
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PYSPARK_SUBMIT_ARGS": quick_jvm,
    }


@pytest.mark.parametrize("as_of, horizon", [("2026-10-20", "30d"), ("2027-02-20", "40d")], ids=["autumn", "spring"])
def test_the_edge_project_plans_byte_for_byte_alike_on_every_engine(
    tmp_path: Path,
    engines_env: dict[str, str],
    spark_engine,  # noqa: F811
    as_of: str,
    horizon: str,
) -> None:
    files = plan_files(edge_project(tmp_path / "edges"), as_of, horizon, engines_env, tmp_path, spark=spark_engine)
    assert files["postgres"] == files["duckdb"] and files["spark"] == files["duckdb"]
    rows = [json.loads(line) for line in files["duckdb"].splitlines()]
    sends = {(r["customer_id"], r["rule_id"]): r for r in rows if r["status"] in ("send", "holdout")}
    # The plan holds the edges it is meant to test (else the equality above proves little).
    if as_of == "2026-10-20":
        assert sends[("ny-a", "night")]["send_at"] == "2026-11-01T01:30:00-04:00"
        assert sends[("ldn-a", "later")]["send_at"] == "2026-10-25T02:30:00+00:00"
        assert sends[("周四", "checkin")]["send_at"] == "2026-10-26T10:00:00+08:00"  # Sunday the 25th, moved to Monday
    else:
        assert sends[("ny-s", "later")]["send_at"] == "2027-03-14T02:30:00-05:00"
        assert sends[("同时", "night")]["send_at"] == "2027-02-28T01:30:00+08:00"  # born 29 February
    assert {r["status"] for r in rows} >= {"send", "holdout"}
    assert any(not r["customer_id"].isascii() for r in rows)
    assert b"\\u0000" not in files["duckdb"] and not any(r["customer_id"].startswith("bad") for r in rows)
    if as_of == "2026-10-20":  # evil's birthday message, its name without the NUL byte
        assert any(r["customer_id"] == "evil" and 'Eve"=cmd' in ((r["content"] or {}).get("body") or "") for r in rows)


def test_the_example_project_plans_byte_for_byte_alike_on_every_engine(tmp_path: Path, engines_env: dict[str, str], spark_engine) -> None:  # noqa: F811
    """The example shop (recommendations, referral codes and purchase models included)."""
    files = plan_files(ROOT, "2026-11-30", "14d", engines_env, tmp_path, spark=spark_engine)
    assert files["postgres"] == files["duckdb"] and files["spark"] == files["duckdb"]
    assert len(files["duckdb"].splitlines()) > 500
    assert dt.date.fromisoformat(json.loads(files["duckdb"].splitlines()[0])["as_of"]) == dt.date(2026, 11, 30)


def test_a_database_that_sorts_text_by_language_plans_as_duckdb_does(tmp_path: Path, engines_env: dict[str, str]) -> None:
    """Shops' databases often sort text by a language's rules: ICU's en-US puts 'amy' before
    'Bob', where byte order (DuckDB's, Spark's) puts 'B' first. huitou orders text by its
    bytes (COLLATE "C") whatever the database's collation, so a PostgreSQL database created
    with an en-US collation gives DuckDB's plan byte for byte, rows of one instant in byte
    order of their customer ids."""
    import psycopg

    with psycopg.connect(engines_env["HUITOU_PG_URL"], autocommit=True) as con:
        con.execute("DROP DATABASE IF EXISTS huitou_en")
        con.execute("CREATE DATABASE huitou_en TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
    url = engines_env["HUITOU_PG_URL"].replace("dbname=postgres", "dbname=huitou_en")
    with psycopg.connect(url) as con:  # the database's own order is not byte order
        assert con.execute("SELECT 'amy' < 'Bob', 'amy' COLLATE \"C\" < 'Bob'").fetchone() == (True, False)
    root = edge_project(tmp_path / "edges")
    with (root / "customers.csv").open("a", encoding="utf-8", newline="") as handle:  # evil's birthday, in the project's zone
        csv.writer(handle).writerows([[cid, cid, "1990-10-30", "", "", "13800009999", "true"] for cid in ("amy-1", "Bob-1", "émile", "Zoë")])
    files = plan_files(root, "2026-10-20", "30d", {**engines_env, "HUITOU_PG_URL": url}, tmp_path, kinds=("duckdb", "postgres"))
    assert files["postgres"] == files["duckdb"]
    rows = [json.loads(line) for line in files["duckdb"].splitlines()]
    birthdays = [r["customer_id"] for r in rows if r["rule_id"] == "night" and r["send_at"].startswith("2026-10-30")]
    assert {"amy-1", "Bob-1", "Zoë", "émile"} <= set(birthdays)
    assert birthdays == sorted(birthdays, key=lambda cid: cid.encode())  # Bob-1 and Zoë before amy-1, émile last


def test_a_send_that_fails_to_render_gives_its_slot_to_the_next_on_every_engine(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
    spark_engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Birthday messages (priority 1) and check-ins fall on one day under a cap of one a
    day. b's birthday template fails: huitou copies the failure to the engine (the
    `failed` relation) and arbitration runs there again, so b's check-in goes instead,
    while a keeps the birthday message; every engine's plan rows are the same."""
    from huitou.engines.postgres_engine import PostgresEngine
    from huitou.evaluate import data_timezone, open_data
    from huitou.plan.build import build_plan
    from huitou.plan.run import open_playbooks

    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    customers = ["a,王芳,13800000001,true,1990-11-04", "b,李雷,13800000002,true,1990-11-04"]
    orders = ["o1,a,2026-11-01 10:00:00,20", "o2,b,2026-11-01 10:00:00,20"]
    templates = {
        "sms/b.j2": "{{ customer.name }}{{ 1 // (0 if customer.name == '李雷' else 1) }}",
        "sms/c.j2": "{{ customer.name }}，东西收到了吗？",
    }
    root = make_shop(tmp_path / "shop", customers, orders, templates)
    playbooks = open_playbooks(root)[0]
    project = playbooks[0].project

    def plan(engine) -> list[tuple]:
        session = open_data(
            project,
            timezone=data_timezone(project, playbooks, None),
            as_of=dt.date(2026, 11, 1),
            engine=engine,
            orders=root / "orders.csv",
            customers=root / "customers.csv",
        )
        result = build_plan(session, playbooks, 14)
        return session.con.execute(
            f"SELECT customer_id, rule_id, status, reason, reason_detail, send_at, content.body, checksum FROM {result.rows.sql()}"
        ).fetchall()

    on_duckdb = plan(None)
    with PostgresEngine() as on_postgres:
        assert plan(on_postgres) == on_duckdb
    assert plan(spark_engine) == on_duckdb
    rows = {(r[0], r[1]): r for r in on_duckdb}
    assert rows[("b", "bday")][3] == "render_error" and "ZeroDivisionError" in rows[("b", "bday")][4]
    assert rows[("b", "checkin")][2] == "send" and rows[("b", "checkin")][6] == "【店】李雷，东西收到了吗？"
    assert rows[("a", "bday")][2] == "send" and rows[("a", "checkin")][3] == "frequency_cap"


def test_compile_shows_the_sql_the_engine_runs(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """`huitou compile --dialect postgres` prints the order aggregates and the feature query
    as PostgreSQL runs them: executed over the example shop's checked data, they give the
    features huitou computes there itself."""
    from huitou.engines.postgres_engine import PostgresEngine
    from huitou.evaluate import features_on

    from .test_engines import _session

    out = huitou("compile", "--dialect", "postgres", "--as-of", "2026-11-30", cwd=ROOT, env={**os.environ, "HUITOU_REFERRAL_SECRET": "x"})
    assert out.returncode == 0, out.stderr
    statements = [part.split("\n", 1)[1].rstrip().rstrip(";") for part in out.stdout.split("-- ")[1:3]]
    assert out.stdout.startswith("-- order_summary: ") and "arg_max" not in out.stdout.lower()
    assert "-- rule dormant-high-comeback\n(days_since_last_order BETWEEN 90 AND 180) AND NOT has_unpaid_order;" in out.stdout
    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    session = _session(ROOT)
    with PostgresEngine() as engine:
        features = features_on(engine, session)  # also leaves the checked orders and customers in the engine
        expected = engine.rows(sqlglot.select("*").from_(features).order_by("customer_id"))
        engine.execute(f"CREATE TEMPORARY TABLE order_summary AS {statements[0]}")
        got = engine.fetch(f"SELECT * FROM ({statements[1]}) AS f ORDER BY customer_id")[1]
    assert got == expected and len(got) == 300


# The plan's stages `huitou compile` prints, in order.
PLAN_STAGES = [
    "plan_matched",
    "plan_events",
    "plan_candidates_local",
    "plan_candidates",
    "plan_candidates_ranked",
    "plan_decided",
    "plan_winners",
    "plan_ordered",
]


def compiled(dialect: str, as_of: str, horizon: str) -> dict[str, str]:
    """The plan's statements `huitou compile --dialect` prints for the example project, by
    the relation each makes; none of DuckDB's own words left in them."""
    out = huitou("compile", "--dialect", dialect, "--as-of", as_of, "--horizon", horizon, cwd=ROOT, env={**os.environ, "HUITOU_REFERRAL_SECRET": "x"})
    assert out.returncode == 0, out.stderr
    printed = {
        part.split(":", 1)[0]: part.split("\n", 1)[1].rstrip().rstrip(";") for part in out.stdout.split("\n-- ")[1:] if part.startswith("plan_")
    }
    assert list(printed) == PLAN_STAGES
    duckdb_only = ("regexp_full_match", "to_minutes", "ubigint", "replace (", "exclude", "printf", "strftime", "arg_min")
    assert not [word for word in duckdb_only if word in out.stdout.lower()]
    return printed


def test_compile_shows_the_candidates_stage_the_engine_runs(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The matched customers, events and candidates `huitou compile --dialect postgres`
    prints, executed on PostgreSQL over the example shop's features (with huitou's zones
    and clock, an opt-out and an empty ledger between them), give the candidates huitou
    computes in its own DuckDB."""

    from huitou.engines.duckdb_engine import DuckDBEngine
    from huitou.engines.postgres_engine import PostgresEngine
    from huitou.evaluate import features_on
    from huitou.plan.build import _rule_predicates
    from huitou.plan.candidates import CandidateInputs, build_candidates, matched_query
    from huitou.plan.clock import create_clock, valid_zones
    from huitou.plan.rules import planned_rules
    from huitou.plan.run import open_playbooks
    from huitou.plan.timing import Window
    from huitou.relation import Scratch

    from .test_engines import _session

    printed = compiled("postgres", "2026-11-30", "10d")
    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    session = _session(ROOT)
    session.project = None  # as compile: the features without recommendations or referral codes
    playbooks, r = open_playbooks(ROOT)[0], Scratch(None, "plan")  # the plan's names, as a plan gives them
    ids = [f"{i:07d}" for i in range(1, 21)]  # the first twenty customers: on SMS, or on every channel
    optouts = (
        {"customer_id": ids, "channel": [None if i % 2 else "sms" for i in range(20)]},
        {"customer_id": "VARCHAR", "channel": "VARCHAR"},
    )
    done = (
        {c: [] for c in ("idempotency_key", "playbook", "rule_id", "customer_id", "legacy")},
        {c: "VARCHAR" for c in ("idempotency_key", "playbook", "rule_id", "customer_id")} | {"legacy": "BOOLEAN"},
    )
    columns = "SELECT customer_id, rule_index, step, scheduled_date, send_date, event_id, tz, contact, early_reason, held_out, send_local, cand_id, send_utc FROM plan_candidates ORDER BY cand_id"
    with PostgresEngine() as engine:
        features_on(engine, session)
        engine.take(r.new("optouts").name, *optouts)
        engine.take(r.new("ledger_done").name, *done)
        for name in ("plan_matched", "plan_events", "plan_candidates_local"):
            engine.execute(f"CREATE TEMPORARY TABLE {name} AS {printed[name]}")
            if name == "plan_matched":
                valid_zones(engine, sqlglot.parse_one("(SELECT timezone AS name FROM plan_matched) AS z"), r.new("zones").name)
        create_clock(engine, sqlglot.exp.to_table("plan_candidates_local"), r.new("clock").name)
        engine.execute(f"CREATE TEMPORARY TABLE plan_candidates AS {printed['plan_candidates']}")
        got = engine.fetch(columns)[1]
    local = DuckDBEngine(session.con, owned=False)
    local.take(r.new("optouts").name, *optouts)
    local.take(r.new("ledger_done").name, *done)
    rules = planned_rules(playbooks)
    matched = local.temp(r.new("matched").name, matched_query(session.plan_features()[1], _rule_predicates(playbooks, rules)))
    given = CandidateInputs(session.data.orders.table, r.new("optouts"), r.new("ledger_done"))
    build_candidates(local, rules, Window(dt.date(2026, 11, 30), 10), matched, given, r)
    expected = local.fetch(columns)[1]
    assert got == expected and len(got) > 300
    assert sum(row[8] == "opted_out" for row in got) >= 5


def test_compile_shows_the_decisions_the_engines_run(postgres_url: str, spark_engine, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The ranked candidates, the decisions, the caps' winners and the rows `huitou compile`
    prints for PostgreSQL and for Spark, executed there over the relations huitou's own
    plan of the example shop made (its candidates, rules, verdicts, render failures and
    clock), equal that plan's own row for row: every status and reason, the time a
    promotion moved to after a care touch, each cap's winner, the rows' order."""
    from huitou.db import create_temp
    from huitou.engines.duckdb_engine import DuckDBEngine
    from huitou.engines.postgres_engine import PostgresEngine
    from huitou.plan import assemble, build
    from huitou.plan.arbitrate import plan_caps, ranked_statement
    from huitou.plan.decide import DecisionInputs, decide
    from huitou.plan.rules import planned_rules
    from huitou.plan.run import open_playbooks
    from huitou.relation import Scratch

    from .test_engines import _session

    keep_plan_relations(monkeypatch)  # every stage's relation stays for the test to read
    monkeypatch.setattr(DuckDBEngine, "drop", lambda self, relation: None)
    session, playbooks, r = _session(ROOT), open_playbooks(ROOT)[0], Scratch(None, "plan")  # the plan's names
    build.build_plan(session, playbooks, 10)
    con = session.con
    # The example shop never sends a promotion on the day of a care touch: one accepted
    # promotion is moved to an hour before a care touch, and huitou's own stages redo
    # the ranking, the decisions and the rows over that.
    con.execute("""UPDATE plan_candidates AS p SET customer_id = c.customer_id, send_date = c.send_date, tz = c.tz, send_local = c.send_local - INTERVAL 1 HOUR
                   FROM (SELECT k.* FROM plan_candidates AS k JOIN plan_decided AS d USING (cand_id)
                         WHERE d.status = 'send' AND d.intent_rank = 0 ORDER BY cand_id LIMIT 1) AS c
                   WHERE p.cand_id = (SELECT min(cand_id) FROM plan_decided WHERE status = 'send' AND intent_rank = 2)""")
    rules = planned_rules(playbooks)
    candidates, failed, rules_table = r.new("candidates"), r.new("failed"), r.new("rules")
    create_temp(con, *ranked_statement(rules, dt.date(2026, 11, 30), 10, candidates, failed, r))
    given = DecisionInputs(candidates, rules_table, r.new("verdicts"), failed, r.new("clock"))
    decided = decide(DuckDBEngine(con, owned=False), plan_caps(rules), given, r)
    create_temp(con, *assemble.ordered_statement(decided, rules_table, r))
    reasons = dict(con.execute("SELECT coalesce(reason, status), count(*) FROM plan_decided GROUP BY ALL").fetchall())
    assert reasons["frequency_cap"] >= 20 and reasons["care_first"] >= 20 and reasons["send"] >= 100, reasons
    assert con.execute("SELECT count(*) FROM plan_decided WHERE send_local > planned_local").fetchone()[0] == 1  # after the care touch
    inputs = {"plan_candidates": "*", "plan_rules": "*", "plan_verdicts": "*", "plan_clock": "*", "plan_failed": "*"}
    made = {"plan_candidates_ranked": "position", "plan_decided": "cand_id", "plan_winners": "cand_id", "plan_ordered": "plan_row"}
    text = {name: {c: t for c, t, *_ in con.execute(f"DESCRIBE {name}").fetchall()} for name in made}
    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    for dialect, engine in (("postgres", PostgresEngine()), ("spark", spark_engine)):
        printed = compiled(dialect, "2026-11-30", "10d")
        for name, columns in inputs.items():
            engine.take_local(name, con, sqlglot.select(columns).from_(name))
        for name in made:  # what huitou compile printed, as the engine reads it
            engine.create_temp(name, sqlglot.parse_one(printed[name], read=dialect))
        for name, order in made.items():
            columns = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in text[name].items())
            engine.bring(sqlglot.parse_one(f"SELECT * FROM {name}"), con, f"{name}_{dialect}", text[name])
            expected = con.execute(f"SELECT {columns} FROM {name} ORDER BY {order}").fetchall()
            assert con.execute(f"SELECT * FROM {name}_{dialect} ORDER BY {order}").fetchall() == expected, (dialect, name)
            assert len(expected) >= 20
        for name in [*inputs, *made]:
            engine.drop(sqlglot.exp.to_table(name))
        if dialect == "postgres":
            engine.close()


def test_arbitration_in_many_partitions_on_every_engine(postgres_url: str, spark_engine, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The example shop (caps, care-first, a message history) arbitrated 40 customers at a
    time (142 customers have candidates to judge on this date): on Spark four groups of
    its grouped map, on PostgreSQL four partitions streamed out; each plan equals
    DuckDB's, judged all at once."""
    from huitou.engines.postgres_engine import PostgresEngine
    from huitou.evaluate import data_timezone, open_data
    from huitou.plan import arbitrate
    from huitou.plan.build import build_plan
    from huitou.plan.run import open_playbooks

    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    playbooks = open_playbooks(ROOT)[0]
    project = playbooks[0].project

    def plan(engine) -> list[tuple]:
        session = open_data(project, timezone=data_timezone(project, playbooks, None), as_of=dt.date(2026, 11, 30), engine=engine)
        result = build_plan(session, playbooks, 14)
        return session.con.execute(
            f"SELECT idempotency_key, status, reason, reason_detail, send_at, checksum, customer_id FROM {result.rows.sql()}"
        ).fetchall()

    whole = plan(None)
    assert {row[2] for row in whole} >= {"frequency_cap", "care_first"} and len(whole) > 500
    judged = {row[6] for row in whole if row[2] in (None, "frequency_cap", "care_first")}
    assert len(judged) > 120  # more than three partitions of 40
    monkeypatch.setattr(arbitrate, "PARTITION_CUSTOMERS", 40)
    with PostgresEngine() as on_postgres:
        assert plan(on_postgres) == whole
    assert plan(spark_engine) == whole


def test_the_next_day_on_every_engine_knows_the_ledger_and_the_opt_outs(tmp_path: Path, engines_env: dict[str, str], spark_engine) -> None:  # noqa: F811
    """A shop's day on each engine: plan and send on DuckDB, record an opt-out, then the
    next day's plan (whose candidates are computed on the engine, beside its features,
    with the ledger's messages and the opt-outs taken in) is the same file everywhere,
    and shows both."""
    root = edge_project(tmp_path / "edges")
    config = root / "huitou.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("sms: {signature: 【店】}", "sms: {signature: 【店】, outbox: out/sms}"),
        encoding="utf-8",
    )

    def run(*args: str) -> Ran:
        done = huitou(*args, cwd=root, env=engines_env)
        assert done.returncode == 0, done.stderr
        return done

    run("plan", "--as-of", "2026-10-19", "--horizon", "4d", "--out", "day1.jsonl")
    run("send", "day1.jsonl", "--live", "--now", "2026-10-19T00:00", "--until", "2026-10-22")  # the window's every send
    day1 = [json.loads(line) for line in (root / "day1.jsonl").read_text(encoding="utf-8").splitlines()]
    leaving = next(r["customer_id"] for r in day1 if r["status"] == "send" and r["send_at"].startswith("2026-10-21"))
    run("optout", leaving, "--channel", "sms")
    files = plan_files(root, "2026-10-20", "4d", engines_env, tmp_path, spark=spark_engine)
    assert files["postgres"] == files["duckdb"] and files["spark"] == files["duckdb"]
    day2 = [json.loads(line) for line in files["duckdb"].splitlines()]
    reasons = [r["reason"] for r in day2]
    assert ("opted_out" in reasons) and [r["reason"] for r in day2 if r["customer_id"] == leaving] == ["opted_out"] * reasons.count("opted_out")
    assert reasons.count("already_sent") >= 3


def test_the_plan_is_computed_on_the_engine(tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """On PostgreSQL the plan's stages run beside the features: the candidates, their
    ranking, arbitration's verdicts (copied in), the decisions and the numbered rows are
    made there. Into huitou's DuckDB come only the matched customers' rows, the zones, the
    sends to render and the numbered rows; never the features or the candidates. The
    plan is DuckDB's row for row."""
    from huitou.engines.postgres_engine import PostgresEngine
    from huitou.evaluate import ENGINE_FEATURES, open_data
    from huitou.plan import build
    from huitou.plan.run import open_playbooks

    monkeypatch.setenv("HUITOU_PG_URL", postgres_url)
    keep_plan_relations(monkeypatch)  # what came into huitou's DuckDB stays to be seen
    root = edge_project(tmp_path / "edges")
    playbooks = open_playbooks(root)[0]
    project = playbooks[0].project
    made: list[str] = []

    class Recording(PostgresEngine):
        def create_temp(self, name: str, query: sqlglot.exp.Expr) -> None:
            made.append(name)
            super().create_temp(name, query)

        def take_columns(self, name, columns, types) -> None:  # type: ignore[no-untyped-def]
            made.append(name)
            super().take_columns(name, columns, types)

    def plan(engine) -> tuple[object, list[tuple]]:
        session = open_data(project, timezone="Asia/Shanghai", as_of=dt.date(2026, 10, 20), quarantine_dir=tmp_path / "q", engine=engine)
        result = build.build_plan(session, playbooks, 30)
        return session, session.con.execute(f"SELECT idempotency_key, status, reason, send_at FROM {result.rows.sql()}").fetchall()

    with Recording() as engine:
        session, on_postgres = plan(engine)
        local = {name for (name,) in session.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        statuses = {status for (status,) in session.con.execute("SELECT DISTINCT status FROM plan_decided").fetchall()}
    assert {"plan_candidates", "plan_candidates_ranked", "plan_verdicts", "plan_decided", "plan_winners", "plan_ordered"} <= set(made)
    assert ENGINE_FEATURES not in local and "plan_candidates" not in local and "plan_verdicts" not in local
    assert {"plan_matched", "plan_decided", "plan_ordered"} <= local and statuses == {"send"}
    assert on_postgres == plan(None)[1] and len(on_postgres) > 20
