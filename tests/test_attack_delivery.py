"""The attack corpus, second round (tests/attacks/): plans that lie, opt-outs that must not
miss, outbox files that must not be destroyed, providers that stall, and the ledger's loss.
Each case runs the installed console script on the attack project of test_attacks.py,
within its time bound."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from .servers import TrickleServer, WebhookServer
from .test_attacks import AS_OF, CASE_SECONDS, NOW, UNTIL, Bounded, csv_cells, load, ordinary, plan_rows, project


def _config(root: Path) -> dict[str, Any]:
    return yaml.safe_load((root / "huitou.yaml").read_text(encoding="utf-8"))


def _save(root: Path, config: dict[str, Any]) -> None:
    (root / "huitou.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")


def _planned(run: Bounded, out: str = "plan.jsonl") -> None:
    done = run("plan", "--as-of", AS_OF, "--horizon", "1d", "--out", out)
    assert done.returncode == 0, done.stderr


# --- plans that lie --------------------------------------------------------------------


@pytest.mark.parametrize("case", load("plans"))
def test_plan_that_lies(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    root = project(tmp_path / "shop")
    run = Bounded(huitou_bin, root)
    fmt = case.get("format", "jsonl")
    _planned(run, f"plan.{fmt}")
    import duckdb

    con = duckdb.connect()
    reader = {"jsonl": "read_json_auto", "csv": "read_csv_auto", "parquet": "read_parquet"}[fmt]
    con.execute(f"CREATE TABLE p AS SELECT * FROM {reader}('{root / f'plan.{fmt}'}')")
    for name, type_ in con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'p'").fetchall():
        if type_ in ('"NULL"', "NULL", "JSON"):  # a column empty in every row (DuckDB 1.3: JSON): text, as the plan has it
            con.execute(f'ALTER TABLE p ALTER "{name}" TYPE VARCHAR')
    con.execute("ALTER TABLE p ADD COLUMN n BIGINT; UPDATE p SET n = rowid")
    for field, value in (case.get("edit") or {}).items():
        con.execute(f'UPDATE p SET "{field}" = ? WHERE n = (SELECT min(n) FROM p)', [value])
    for field, value in (case.get("edit_all") or {}).items():
        con.execute(f'UPDATE p SET "{field}" = ?', [value])
    if "cut" in case:
        con.execute("DELETE FROM p WHERE n >= ?", [case["cut"]])
    options = {"jsonl": "FORMAT JSON", "csv": "FORMAT CSV, HEADER", "parquet": "FORMAT PARQUET"}[fmt]
    con.execute(f"COPY (SELECT * EXCLUDE (n) FROM p ORDER BY n) TO '{root / f'lie.{fmt}'}' ({options})")
    if "project_name" in case:
        config = _config(root)
        config["name"] = case["project_name"]
        _save(root, config)
    done = run("send", f"lie.{fmt}", "--live", "--now", NOW, "--until", UNTIL)
    assert done.returncode == 2 and case["says"] in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stdout + done.stderr
    assert not (root / "out").exists()  # nothing sent


# --- opt-outs --------------------------------------------------------------------------


@pytest.mark.parametrize("case", load("optouts"))
def test_opt_out(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    people = [ordinary(f"c{i}", name) for i, name in enumerate(["李雷", "韩梅梅", "王芳"], 1)]
    shared = case.get("shared_phone", 0)
    # One person under `shared` ids (a new id per order), the number written four ways.
    spellings = ["13812345678", "+86 138 1234 5678", "'13812345678", "138-1234-5678"]
    people += [ordinary(f"x{i}", "赵六") | {"phone": spellings[i % 4], "email": f"x{i}@mail.example.cn"} for i in range(shared)]
    root = project(tmp_path / "shop", rules=("text",), customers=people)
    run = Bounded(huitou_bin, root)
    if "file" in case:
        config = _config(root)
        config["data"]["suppression"] = {"path": "optouts.csv"}
        _save(root, config)
        with open(root / "optouts.csv", "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([["customer_id", "channel"], *case["file"]])
    if "cli" in case:
        done = run("optout", *case["cli"])
        if "error" in case:
            assert done.returncode == 2 and case["error"] in done.stderr, done.stderr
            return
        assert done.returncode == 0, done.stderr
    done = run("plan", "--as-of", AS_OF, "--horizon", "1d", "--out", "plan.jsonl")
    assert done.returncode == 0, done.stderr
    if "note" in case:
        assert case["note"] in done.stderr, done.stderr
    sends = {r["customer_id"] for r in plan_rows(root) if r["status"] == "send"}
    skipped = set(case.get("skipped", [])) | ({f"x{i}" for i in range(shared)} if shared else set())
    assert not sends & skipped and sends == {p["customer_id"] for p in people} - skipped, sorted(sends)


def test_an_opt_out_after_planning_reaches_every_id_of_the_number(huitou_bin: str, tmp_path: Path) -> None:
    """Planned first, opted out after (one of forty ids): the live send sends none of the
    forty their SMS, and the other customers theirs."""
    spellings = ["13812345678", "+86 138 1234 5678", "'13812345678", "138-1234-5678"]
    people = [ordinary("c1", "李雷")] + [ordinary(f"x{i}", "赵六") | {"phone": spellings[i % 4]} for i in range(40)]
    root = project(tmp_path / "shop", rules=("text",), customers=people)
    run = Bounded(huitou_bin, root)
    _planned(run)
    assert run("optout", "x7", "--channel", "短信").returncode == 0
    done = run("send", "plan.jsonl", "--live", "--now", NOW, "--until", UNTIL)
    assert done.returncode == 0, done.stdout
    cells = csv_cells(next((root / "out" / "sms").glob("*.csv")))
    assert "+8613812345678" not in cells and any("c1" == c for c in cells), cells


# --- outboxes --------------------------------------------------------------------------


def _change(path: Path, change: str, outside: Path) -> None:
    data = path.read_bytes()
    if change == "link":
        outside.write_bytes(b"the accounts' file\n")
        path.unlink()
        path.symlink_to(outside)
    elif change == "lf":
        path.write_bytes(data.replace(b"\r\n", b"\n"))
    elif change == "gbk":
        path.write_bytes(data.decode("utf-8-sig").encode("gbk", errors="replace"))
    elif change == "note":
        path.write_bytes(data + "已打电话，客户说下周再联系".encode())
    elif change == "garbage":
        path.write_bytes(data + b"\xff\xfe\x00garbage")


_OUTBOXES = {"phone": "calls", "sms": "sms", "email": "email", "parcel_insert": "inserts"}


def _outbox_shop(tmp_path: Path, huitou_bin: str) -> tuple[Path, Bounded]:
    """The attack project with three customers, sent once to its four outboxes."""
    people = [ordinary(f"c{i}", name) for i, name in enumerate(["李雷", "韩梅梅", "王芳"], 1)]
    root = project(tmp_path / "shop", rules=("call", "text", "mail", "card"), customers=people)
    run = Bounded(huitou_bin, root, seconds=CASE_SECONDS * 2)
    _planned(run)
    assert run("send", "plan.jsonl", "--live", "--now", NOW, "--until", UNTIL).returncode == 0
    return root, run


def _send_one_more(root: Path, run: Bounded) -> Any:
    """A new customer with an order, planned and sent: one more record for each outbox."""
    with open(root / "customers.csv", "a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerow(
            [ordinary("c4", "张伟")[c] for c in ("customer_id", "name", "phone", "email", "city", "consent_sms", "consent_email", "consent_phone")]
        )
    with open(root / "orders.csv", "a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerow(["o9", "c4", "2026-11-02 09:00:00", "10"])
    _planned(run)
    return run("send", "plan.jsonl", "--live", "--now", NOW, "--until", UNTIL)


def _day_file(root: Path, channel: str, suffix: str = "") -> Path:
    return root / "out" / _OUTBOXES[channel] / f"{channel}-2026-11-02{suffix}.csv"


def test_outbox_files_a_person_changed_are_left_as_they_are(huitou_bin: str, tmp_path: Path) -> None:
    cases = [p.values[0] for p in load("outboxes") if p.values[0]["expect"] == "new_file"]
    root, run = _outbox_shop(tmp_path, huitou_bin)
    changed = {}
    for case in cases:
        _change(_day_file(root, case["channel"]), case["change"], tmp_path / "unused")
        changed[case["id"]] = _day_file(root, case["channel"]).read_bytes()
    done = _send_one_more(root, run)
    assert done.returncode == 0, done.stdout + done.stderr
    for case in cases:
        channel = case["channel"]
        assert _day_file(root, channel).read_bytes() == changed[case["id"]], case["id"]  # left as the person saved it
        second = _day_file(root, channel, "-2")
        assert [r["customer_id"] for r in csv.DictReader(open(second, encoding="utf-8-sig", newline=""))] == ["c4"], case["id"]
        assert f"note: outbox {channel}-2026-11-02.csv was changed since huitou wrote it" in done.stdout, (case["id"], done.stdout)


@pytest.mark.parametrize("case", [p for p in load("outboxes") if p.values[0]["expect"] == "refused"])
def test_outbox_file_that_is_a_link(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    root, run = _outbox_shop(tmp_path, huitou_bin)
    first = _day_file(root, case["channel"])
    _change(first, case["change"], tmp_path / "accounts.csv")
    done = _send_one_more(root, run)
    assert done.returncode == 1 and case["says"] in done.stdout, done.stdout
    assert (tmp_path / "accounts.csv").read_bytes() == b"the accounts' file\n" and first.is_symlink()


# --- providers that stall --------------------------------------------------------------


@pytest.mark.parametrize("case", load("providers"))
def test_provider_that_stalls(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    root = project(tmp_path / "shop", rules=("text",) if "webhook" in case or case.get("trickle") == "http" else ("mail",))
    config = _config(root)
    run = Bounded(huitou_bin, root, env={"T_ATTACK_HOOK": "hook-secret", "T_ATTACK_USER": "shop", "T_ATTACK_PASSWORD": "pw"})
    if "webhook" in case:
        server: Any = WebhookServer("hook-secret")
        server.arrivals.faults = [case["webhook"]] * 20
    elif case["trickle"] == "http":
        server = TrickleServer(b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"id": "g1"}', interval=0.5)
    else:
        server = TrickleServer(b"220 smtp.shop.example ESMTP ready\r\n", interval=0.5)
    if "webhook" in case or case["trickle"] == "http":
        config["channels"]["sms"] = {
            "signature": "【店】",
            "opt_out": "回T退订",
            "webhook": {"url": server.url, "secret_env": "T_ATTACK_HOOK", "timeout": 1.5},
        }
    else:
        config["channels"]["email"] |= {
            "smtp": {
                "host": "127.0.0.1",
                "port": server.port,
                "security": "starttls",
                "timeout": 1.5,
                "username_env": "T_ATTACK_USER",
                "password_env": "T_ATTACK_PASSWORD",
            }
        }
        del config["channels"]["email"]["outbox"]
    # A byte every 0.5 s never trips a 1.5 s timeout of one read: only the whole-exchange
    # deadline ends the wait. One attempt: the first failure is the row's last.
    config["delivery"] = {"retry": {"attempts": 1, "initial": 0.5, "max": 1}}
    _save(root, config)
    with server:
        _planned(run)
        started = time.monotonic()
        done = run("send", "plan.jsonl", "--live", "--now", NOW, "--until", UNTIL)
    assert done.returncode == 1 and case["says"] in done.stdout, done.stdout + done.stderr
    assert time.monotonic() - started < 15  # a trickled answer alone takes 17 s or more


# --- the ledger's loss -----------------------------------------------------------------


def test_a_lost_ledger_with_any_trace_is_refused(huitou_bin: str, tmp_path: Path) -> None:
    """The ledger deleted and the state directory's witness absent (another HOME), one
    trace left at a time: the witness beside it emptied, or damaged; files in an outbox;
    a plan that found messages already sent. Each time the next live send refuses to start
    afresh, and --new-ledger starts one (the outbox still holds each message once)."""
    root = project(tmp_path / "shop")
    run = Bounded(huitou_bin, root, seconds=CASE_SECONDS * 3, env={"XDG_STATE_HOME": str(tmp_path / "state-0")})
    _planned(run, "before.jsonl")
    assert run("send", "before.jsonl", "--live", "--now", NOW, "--until", UNTIL).returncode == 0
    _planned(run, "after.jsonl")  # made while the ledger was there: every row already_sent
    witness = root / ".huitou" / "ledger.witness.json"
    for n, trace in enumerate(["witness-emptied", "witness-damaged", "outbox-files", "plan-found-sent"], 1):
        for path in (root / ".huitou").glob("ledger.sqlite*"):
            path.unlink()
        if trace == "witness-emptied":
            witness.write_text("", encoding="utf-8")
        elif trace == "witness-damaged":
            witness.write_text('{"ledger_id": ', encoding="utf-8")
        else:
            witness.unlink()
        if trace != "outbox-files":
            shutil.rmtree(root / "out")
        plan = "after.jsonl" if trace == "plan-found-sent" else "before.jsonl"
        run.env["XDG_STATE_HOME"] = str(tmp_path / f"state-{n}")
        done = run("send", plan, "--live", "--now", NOW, "--until", UNTIL)
        assert done.returncode == 2 and "has sent before" in done.stderr and "--new-ledger" in done.stderr, (
            trace,
            done.stdout + done.stderr,
        )
        assert run("send", "before.jsonl", "--live", "--new-ledger", "--now", NOW, "--until", UNTIL).returncode == 0, trace
        calls = list(csv.DictReader(open(root / "out" / "calls" / "phone-2026-11-02.csv", encoding="utf-8-sig", newline="")))
        assert sorted(r["customer_id"] for r in calls) == [f"c{i}" for i in range(1, 6)], trace  # each call once


def test_remaining_internal_errors_are_one_line(huitou_bin: str, tmp_path: Path) -> None:
    """A clock of year 1, a directory where the ledger's lock belongs, templates in /proc,
    and 1,500 rules over 5 customers: one line each (or a plan, in its time bound)."""
    root = project(tmp_path / "shop")
    run = Bounded(huitou_bin, root, seconds=CASE_SECONDS * 4)
    _planned(run)
    year_one = run("send", "plan.jsonl", "--live", "--now", "0001-01-01T00:00")
    assert year_one.returncode == 2 and "1970-2199" in year_one.stderr, year_one.stderr
    (root / ".huitou").mkdir(exist_ok=True)
    (root / ".huitou" / "ledger.sqlite.lock").mkdir()
    locked = run("send", "plan.jsonl", "--live", "--now", NOW, "--until", UNTIL)
    assert locked.returncode == 2 and "lock file" in locked.stderr and len(locked.stderr.strip().splitlines()) == 1, locked.stderr
    config = _config(root)
    config["templates"] = "/proc/1"
    _save(root, config)
    found = run("validate", "--format", "json")
    assert found.returncode == 1 and {d["code"] for d in json.loads(found.stdout)} == {"HT106"}, found.stdout
    config["templates"] = "templates"
    _save(root, config)
    book = root / "rules" / "attack.yaml"
    playbook = yaml.safe_load(book.read_text(encoding="utf-8"))
    playbook["rules"] = [playbook["rules"][0] | {"id": f"r{i}"} for i in range(1500)]
    book.write_text(yaml.safe_dump(playbook, allow_unicode=True), encoding="utf-8")
    many = run("plan", "--as-of", AS_OF, "--horizon", "1d", "--out", "many.jsonl")
    assert many.returncode == 0, many.stderr
    assert len(plan_rows(root, "many.jsonl")) == 1500 * 5


def test_a_login_in_clear_said_so_is_shown_by_the_dry_run(huitou_bin: str, tmp_path: Path) -> None:
    """security: none with credentials is HT509 (tests/attacks/config.yaml); with
    plaintext_auth: true the project validates and every send report says it."""
    root = project(tmp_path / "shop", rules=("mail",))
    config = _config(root)
    del config["channels"]["email"]["outbox"]
    config["channels"]["email"]["smtp"] = {
        "host": "127.0.0.1",
        "port": 1,
        "security": "none",
        "username_env": "T_U",
        "password_env": "T_P",
        "plaintext_auth": True,
    }
    _save(root, config)
    run = Bounded(huitou_bin, root, env={"T_U": "shop", "T_P": "pw"})
    _planned(run)
    dry = run("send", "plan.jsonl", "--now", NOW, "--until", UNTIL)
    assert "note: channel email logs in to its SMTP server without TLS (plaintext_auth: true)" in dry.stdout, dry.stdout
