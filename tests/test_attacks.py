"""The attack corpus (tests/attacks/*.yaml): one case a row - payload, surface, expected
outcome - run through the installed console script on a small project of its own.

Every command of a case runs with a time bound (CASE_SECONDS for the whole case): a
payload that hangs huitou fails its case instead of stalling CI. The surfaces: staff's
templates (SSTI, file escapes, exhaustion), the public's customer data (spreadsheet
formulas, markup, control characters, contacts that are not contacts), playbook YAML
(alias bombs, tags, nesting), segment predicates (SQL injection), huitou.yaml (names
reaching SQL, secrets in URLs), data files (broken rows, impossible dates and amounts)
and the send ledger (lost, replaced, damaged, read-only, unreachable).
"""

from __future__ import annotations

import csv
import faulthandler
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from markupsafe import escape

from tests.inprocess import Ran, huitou

CORPUS = Path(__file__).parent / "attacks"
CASE_SECONDS = 30.0
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTROLS = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"} | {"\x7f"}
AS_OF, NOW, UNTIL = "2026-11-02", "2026-11-02T12:00", "2026-11-02"

CONFIG = {
    "version": 1,
    "name": "attack",
    "default_locale": "zh-CN",
    "timezone": "Asia/Shanghai",
    "data": {"orders": {"path": "orders.csv"}, "customers": {"path": "customers.csv"}},
    "channels": {
        "sms": {"signature": "【店】", "opt_out": "回T退订", "max_segments": 10, "outbox": "out/sms"},
        "phone": {"outbox": "out/calls"},
        "email": {
            "from": "店 <care@shop.example.cn>",
            "unsubscribe_url": "https://shop.example.cn/u",
            "unsubscribe_secret_env": "T_ATTACK_UNSUB_SECRET",
            "outbox": "out/email",
        },  # signed links: send refuses unsigned ones
        "parcel_insert": {"outbox": "out/inserts"},
    },
}
RULES = {
    "call": {"intent": "service", "channel": "phone", "template": "phone/t.j2", "lawful_basis": "contract"},
    "text": {"intent": "care", "channel": "sms", "template": "sms/t.j2"},
    "mail": {"intent": "care", "channel": "email", "template": "email/t.j2"},
    "card": {"intent": "care", "channel": "parcel_insert", "template": "parcel/t.j2"},
}
TEMPLATES = {
    "phone/t.j2": "客户：{{ customer.name }}（{{ customer.city }}）\n话术：问候。",
    "sms/t.j2": "{{ customer.name }}，您好。",
    "email/t.j2": "{% block subject %}{{ customer.name }}，您好{% endblock %}{% block text %}{{ customer.name }}，您好。{% endblock %}"
    '{% block html %}<p>{{ customer.name }}，您好。<a href="{{ unsubscribe_url }}">退订</a></p>{% endblock %}',
    "parcel/t.j2": "{{ customer.name }}，谢谢您的订单。",
}
CUSTOMER_COLUMNS = ["customer_id", "name", "phone", "email", "city", "consent_sms", "consent_email", "consent_phone"]


def load(surface: str) -> list[Any]:
    cases = yaml.safe_load((CORPUS / f"{surface}.yaml").read_text(encoding="utf-8"))
    return [pytest.param(case, id=case["id"]) for case in cases]


class Bounded:
    """Runs a case's commands; all of them together get `seconds` (CASE_SECONDS)."""

    def __init__(self, huitou: str, root: Path, seconds: float = CASE_SECONDS, env: dict[str, str] | None = None) -> None:
        self.huitou, self.root, self.seconds = huitou, root, seconds
        self.deadline = time.monotonic() + seconds
        self.env = {**os.environ, "T_ATTACK_UNSUB_SECRET": "attack-unsubscribe-secret", **(env or {})}

    def __call__(self, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess | Ran:
        """In-process; with a `prefix` (a command the process runs under), the console
        script. Past the bound, a subprocess is stopped and the case fails; in-process, the
        test process dumps every thread's stack and exits (the run fails, and says where)."""
        left = max(self.deadline - time.monotonic(), 0.1)
        if prefix:
            try:
                done = subprocess.run(
                    [*prefix, self.huitou, *args],
                    cwd=self.root,
                    env=self.env,
                    capture_output=True,
                    text=True,
                    timeout=left,
                    errors="replace",
                )
            except subprocess.TimeoutExpired:
                pytest.fail(f"the case ran past its time bound of {self.seconds:g} s (huitou {' '.join(args)})")
        else:
            faulthandler.dump_traceback_later(left, exit=True)
            try:
                done = huitou(*args, cwd=self.root, env=self.env)
            finally:
                faulthandler.cancel_dump_traceback_later()
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
        return done


def project(
    root: Path,
    rules: tuple[str, ...] = ("call",),
    customers: list[dict[str, str]] | None = None,
    segment: str = "order_count >= 1",
    config: dict[str, Any] | None = None,
) -> Path:
    """The attack project: huitou.yaml, one playbook with `rules`, their templates, and
    customers (default: five ordinary ones) with one order each on 2026-11-01."""
    (root / "rules").mkdir(parents=True)
    (root / "huitou.yaml").write_text(yaml.safe_dump(config or CONFIG, allow_unicode=True, sort_keys=False), encoding="utf-8")
    playbook = {
        "version": 1,
        "name": "attack",
        "timezone": "Asia/Shanghai",
        "locale": "zh-CN",
        "rules": [{"id": rid, "segment": segment, "when": {"immediate": True}, **RULES[rid]} for rid in rules],
    }
    (root / "rules" / "attack.yaml").write_text(yaml.safe_dump(playbook, allow_unicode=True, sort_keys=False), encoding="utf-8")
    for name, text in TEMPLATES.items():
        path = root / "templates" / "zh-CN" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    people = customers or [ordinary(f"c{i}", name) for i, name in enumerate(["李雷", "韩梅梅", "王芳", "张伟", "刘洋"], 1)]
    write_rows(root / "customers.csv", CUSTOMER_COLUMNS, [[p[c] for c in CUSTOMER_COLUMNS] for p in people])
    write_rows(
        root / "orders.csv",
        ["order_id", "customer_id", "ordered_at", "amount"],
        [[f"o{i}", p["customer_id"], "2026-11-01 10:00:00", "10"] for i, p in enumerate(people)],
    )
    return root


def ordinary(customer_id: str, name: str) -> dict[str, str]:
    n = sum(map(ord, customer_id)) % 10_000
    return {
        "customer_id": customer_id,
        "name": name,
        "phone": f"1380000{n:04d}",
        "email": f"{customer_id}@mail.example.cn",
        "city": "杭州",
        "consent_sms": "true",
        "consent_email": "true",
        "consent_phone": "true",
    }


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def plan_rows(root: Path, name: str = "plan.jsonl") -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / name).read_text(encoding="utf-8").splitlines()]


def csv_cells(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


# --- templates ------------------------------------------------------------------------


def _batched(case: dict[str, Any]) -> bool:
    """A case that fails to render for the ordinary customers: one rule of the batch."""
    return case["expect"] == "render_error" and not {"customers", "link"} & set(case)


@pytest.mark.parametrize("case", [p for p in load("templates") if not _batched(p.values[0])])
def test_template(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    names = [("长" * 300 if n == "long" else n) for n in case.get("customers", [])]
    people = [ordinary(f"c{i}", name) for i, name in enumerate(names, 1)] or None
    root = project(tmp_path / "shop", customers=people)
    template = root / "templates" / "zh-CN" / "phone" / "t.j2"
    template.unlink()
    if "link" in case:
        template.symlink_to(case["link"])
    else:
        template.write_text(case["template"], encoding="utf-8")
    run = Bounded(huitou_bin, root)
    done = run("plan", "--as-of", AS_OF, "--out", "plan.jsonl")
    if case["expect"].startswith("HT"):
        assert done.returncode == 1 and f" {case['expect']} " in done.stderr, done.stderr
        return
    assert done.returncode == 0, done.stderr
    _failed_to_render([r for r in plan_rows(root) if r["rule_id"] == "call"], case)


def test_templates_that_cannot_render_fail_alone_in_one_playbook(huitou_bin: str, tmp_path: Path) -> None:
    """Every render_error case for the ordinary customers, each a rule of its own in one
    playbook beside a rule that renders, in one plan: each case's rows are suppressed
    render_error with its detail, and the ordinary rule sends to every customer - a
    hostile template spoils nothing but its own rule."""
    cases = [p.values[0] for p in load("templates") if _batched(p.values[0])]
    root = project(tmp_path / "shop")
    book = root / "rules" / "attack.yaml"
    playbook = yaml.safe_load(book.read_text(encoding="utf-8"))
    for case in cases:
        name = f"phone/{case['id']}.j2"
        (root / "templates" / "zh-CN" / name).write_text(case["template"], encoding="utf-8")
        playbook["rules"].append(playbook["rules"][0] | {"id": case["id"], "template": name})
    book.write_text(yaml.safe_dump(playbook, allow_unicode=True, sort_keys=False), encoding="utf-8")
    done = Bounded(huitou_bin, root, seconds=CASE_SECONDS * 4)("plan", "--as-of", AS_OF, "--out", "plan.jsonl")
    assert done.returncode == 0, done.stderr
    rows = plan_rows(root)
    assert sorted(r["customer_id"] for r in rows if r["rule_id"] == "call" and r["status"] == "send") == [f"c{i}" for i in range(1, 6)]
    for case in cases:
        _failed_to_render([r for r in rows if r["rule_id"] == case["id"]], case)


def _failed_to_render(rows: list[dict[str, Any]], case: dict[str, Any]) -> None:
    assert rows and all((r["status"], r["reason"]) == ("suppressed", "render_error") for r in rows), (case["id"], rows)
    details = " | ".join(r["reason_detail"] for r in rows)
    assert re.search(case["detail"], details), (case["id"], details)
    assert "root:" not in details and "HUITOU" not in details  # nothing of a file or the environment


# --- customer data ---------------------------------------------------------------------


@pytest.mark.parametrize("case", [p for p in load("customers") if p.values[0]["expect"] == "rejected"])
def test_customer_data_that_is_rejected(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    hostile = ordinary("x", "赵六") | {case.get("field", "name"): case["value"]}
    root = project(tmp_path / "shop", rules=("call", "text", "mail", "card"), customers=[ordinary("a", "李雷"), hostile, ordinary("b", "韩梅梅")])
    assert Bounded(huitou_bin, root)("plan", "--as-of", AS_OF, "--horizon", "1d", "--out", "plan.jsonl").returncode == 0
    quarantined = list(csv.DictReader(open(root / ".huitou" / "quarantine" / "customers.csv", encoding="utf-8", newline="")))
    assert [r["reason"] for r in quarantined] == [case["reason"]]
    assert {r["customer_id"] for r in plan_rows(root)} == {"a", "b"}


def test_customer_data_reaches_every_output_harmless(huitou_bin: str, tmp_path: Path) -> None:
    """Every other case of the corpus is a customer of one shop (x1, x2, ...) beside two
    ordinary ones, planned and sent to the outboxes once: each case's rows and cells are
    what the case expects, and no cell of any outbox starts a spreadsheet formula."""
    cases = [p.values[0] for p in load("customers") if p.values[0]["expect"] != "rejected"]
    hostile = {f"x{i}": ordinary(f"x{i}", "赵六") | {case.get("field", "name"): case["value"]} for i, case in enumerate(cases, 1)}
    root = project(
        tmp_path / "shop",
        rules=("call", "text", "mail", "card"),
        customers=[ordinary("a", "李雷"), *hostile.values(), ordinary("b", "韩梅梅")],
    )
    run = Bounded(huitou_bin, root, seconds=CASE_SECONDS * 2)
    assert run("plan", "--as-of", AS_OF, "--horizon", "1d", "--out", "plan.jsonl").returncode == 0
    rows = {(r["customer_id"], r["rule_id"]): r for r in plan_rows(root)}
    assert all(rows[(c, rid)]["status"] == "send" for c in "ab" for rid in ("call", "text", "mail"))
    sent = run("send", "plan.jsonl", "--live", "--now", NOW, "--until", UNTIL)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    files = sorted((root / "out").rglob("*.csv"))
    cells = [cell for path in files for cell in csv_cells(path)]
    # A cell a spreadsheet would evaluate: none. A phone huitou normalised (+86...) is
    # written whole: digits cannot be a formula, and the vendor's import reads it.
    formulas = [c for c in cells if c.startswith(FORMULA_STARTS) and not re.fullmatch(r"\+[1-9]\d{6,14}", c)]
    assert cells and not formulas, formulas
    outputs = [path.read_text(encoding="utf-8") for path in files] + [(root / "plan.jsonl").read_text(encoding="utf-8")]
    for cid, case in zip(hostile, cases):
        _harmless(case, cid, rows, cells, outputs)


def _harmless(case: dict[str, Any], cid: str, rows: dict[tuple[str, str], dict[str, Any]], cells: list[str], outputs: list[str]) -> None:
    """One case's customer `cid` in the plan's rows and the outboxes' cells."""
    value, expect = case["value"], case["expect"]
    if expect == "set_aside":
        for rid in ("call", "text") if case["field"] == "phone" else ("mail",):
            assert (rows[(cid, rid)]["status"], rows[(cid, rid)]["reason"]) == ("suppressed", "no_contact"), case["id"]
            assert not rows[(cid, rid)].get("to"), case["id"]  # nothing to send to
    elif expect == "neutralised":  # it reached the outboxes (every cell of which passed the formula check)
        assert [c for c in cells if value.strip() in c], case["id"]
    elif expect == "escaped":
        html = rows[(cid, "mail")]["content"]["html"]
        assert str(escape(value)) in html and (value not in html or "<" not in value and "&" not in value), (case["id"], html)
        assert value in rows[(cid, "mail")]["content"]["body"]  # the text part keeps it as written
    elif expect == "literal":
        assert value in rows[(cid, "call")]["content"]["body"] and value in rows[(cid, "text")]["content"]["body"], case["id"]
    elif expect == "stripped":
        visible = "".join(ch for ch in value if ch not in CONTROLS)
        assert not [ch for text in outputs for ch in text if ch in CONTROLS & set(value)], case["id"]
        assert rows[(cid, "mail")]["content"]["subject"].startswith(visible), case["id"]
    else:
        raise AssertionError(f"{case['id']}: unknown expectation {expect!r}")


# --- playbook YAML ---------------------------------------------------------------------


@pytest.mark.parametrize("case", load("yaml"))
def test_yaml(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    root = project(tmp_path / "shop")
    if "repeat" in case:
        r = case["repeat"]
        text = r["head"] + r["body"] * r["times"] + r.get("close", "") * r["times"] + r["tail"]
    else:
        text = case["text"].replace("{zeros}", "0" * case.get("zeros", 0))
    (root / "rules" / "attack.yaml").write_text(text, encoding="utf-8")
    done = Bounded(huitou_bin, root)("validate", "rules/attack.yaml", "--format", "json")
    found = json.loads(done.stdout)
    assert done.returncode == 1 and case["expect"] in {d["code"] for d in found}, found[:3]
    if "line" in case:
        assert any(d["code"] == case["expect"] and d["line"] == case["line"] for d in found), found[:3]
    assert not Path("/tmp/huitou-pwned").exists()


# --- segment predicates ----------------------------------------------------------------


def _expand(segment: str) -> str:
    return (
        segment.replace("{NOT400}", "NOT " * 400)
        .replace("{NOT10000}", "NOT " * 10_000)
        .replace("{LPAREN400}", "(" * 400)
        .replace("{RPAREN400}", ")" * 400)
        .replace("{AND3000}", " AND ".join(["order_count >= 1"] * 3000))
    )


@pytest.mark.parametrize("case", load("predicates"))
def test_predicate(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    root = project(tmp_path / "shop", segment=_expand(case["segment"]))
    run = Bounded(huitou_bin, root)
    if "expect" in case:
        done = run("validate", "--format", "json")
        codes = {d["code"] for d in json.loads(done.stdout)}
        assert done.returncode == 1 and case["expect"] in codes, codes
        return
    done = run("segments", "--as-of", AS_OF, "--format", "json")
    assert done.returncode == 0, done.stderr
    counts = {c["name"]: c["customers"] for c in json.loads(done.stdout)["counts"] if c["kind"] == "rule"}
    assert counts["call"] == case["count"]


# --- data files ------------------------------------------------------------------------


@pytest.mark.parametrize("case", load("data"))
def test_data_file(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    root = project(tmp_path / "shop", customers=[ordinary("c1", "李雷")])
    target = root / f"{case['file']}.csv"
    if "bytes" in case:
        target.write_bytes(case["bytes"].encode("latin-1"))
    else:
        target.write_text(case["csv"].replace("{big}", "9" * 3_000_000).replace("{long_id}", "c" * 10_000), encoding="utf-8")
    done = Bounded(huitou_bin, root)("segments", "--as-of", AS_OF)
    if "error" in case:
        assert done.returncode == 2 and case["error"] in done.stderr and len(done.stderr.strip().splitlines()) <= 3, done.stderr
        return
    assert done.returncode in (0, 1), done.stderr
    quarantine = root / ".huitou" / "quarantine" / f"{case['file']}.csv"
    listed = list(csv.DictReader(open(quarantine, encoding="utf-8", newline=""))) if quarantine.exists() else []
    malformed = root / ".huitou" / "quarantine" / f"{case['file']}.malformed.csv"
    if case.get("clean"):
        assert done.returncode == 0 and not listed and not malformed.exists(), done.stderr
    if "rejected" in case:
        assert case["rejected"] in done.stderr, done.stderr
        if case["rejected"] != "malformed_row":
            assert any(r["action"] == "rejected" and r["reason"] == case["rejected"] for r in listed), listed
    if "kept" in case:
        assert any(r["action"] == "kept" and case["kept"] in r["reason"] for r in listed), listed
    if "detail" in case:
        assert case["detail"] in done.stderr, done.stderr
    if case.get("neutralised"):
        cells = [v for r in listed for v in r.values()]
        assert cells and not [c for c in cells if c.startswith(FORMULA_STARTS)], cells


# --- the send ledger -------------------------------------------------------------------


def _fault(root: Path, fault: str) -> tuple[str, ...]:
    """Apply the fault; returns a command prefix to run huitou under (read-only mount)."""
    ledger = root / ".huitou" / "ledger.sqlite"
    if fault == "delete-ledger":
        for path in root.joinpath(".huitou").glob("ledger.sqlite*"):
            path.unlink()
    elif fault == "delete-directory":
        shutil.rmtree(root / ".huitou")
    elif fault == "replace-empty":
        for path in root.joinpath(".huitou").glob("ledger.sqlite*"):
            path.unlink()  # the test records an opt-out next: a new, empty ledger
    elif fault in ("garbage", "truncate", "zero-bytes"):
        for path in root.joinpath(".huitou").glob("ledger.sqlite-*"):
            path.unlink()
        data = ledger.read_bytes()
        ledger.write_bytes({"garbage": os.urandom(len(data)), "truncate": data[: len(data) // 2], "zero-bytes": b""}[fault])
    elif fault == "read-only":
        directory = str(root / ".huitou")
        return (
            "unshare",
            "-m",
            "sh",
            "-c",
            f'mount --bind "{directory}" "{directory}" && mount -o remount,ro,bind "{directory}" "{directory}" && exec "$@"',
            "sh",
        )
    elif fault == "unreachable":
        config = yaml.safe_load((root / "huitou.yaml").read_text(encoding="utf-8"))
        config["ledger"] = {"path": "orders.csv/ledger.sqlite"}
        (root / "huitou.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    elif fault == "directory":
        for path in root.joinpath(".huitou").glob("ledger.sqlite*"):
            path.unlink()
        ledger.mkdir()
    return ()


@pytest.mark.parametrize("case", load("ledger"))
def test_ledger_fault(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    root = project(tmp_path / "shop")
    run = Bounded(huitou_bin, root)
    assert run("plan", "--as-of", AS_OF, "--horizon", "1d", "--out", "plan.jsonl").returncode == 0
    first = run("send", "plan.jsonl", "--live", "--now", NOW, "--until", UNTIL)
    assert first.returncode == 0 and "5 sent" in first.stdout, first.stdout
    prefix = _fault(root, case["fault"])
    if case["fault"] == "replace-empty":
        assert run("optout", "nobody").returncode == 0  # a new, empty ledger takes the old one's place
    again = run("send", "plan.jsonl", "--live", "--now", NOW, "--until", UNTIL, prefix=prefix)
    assert again.returncode == 2 and case["refuse"] in again.stderr and len(again.stderr.strip().splitlines()) == 1, again.stdout + again.stderr
    dry = run("send", "plan.jsonl", "--now", NOW, "--until", UNTIL, prefix=prefix)
    assert (
        dry.returncode == 1
        and "a live send would stop" in dry.stdout
        and case["refuse"] in dry.stdout
        and "would send" not in dry.stdout.replace("a live send would stop", "")
    ), dry.stdout
    calls = sum(len(csv_cells(p)) for p in (root / "out").rglob("*.csv"))
    if case.get("new_ledger"):
        fresh = run("send", "plan.jsonl", "--live", "--new-ledger", "--now", NOW, "--until", UNTIL)
        assert fresh.returncode == 0, fresh.stdout + fresh.stderr
        assert sum(len(csv_cells(p)) for p in (root / "out").rglob("*.csv")) == calls  # the outbox still has each message once
        assert run("send", "plan.jsonl", "--live", "--now", NOW, "--until", UNTIL).returncode == 0  # the new ledger is the witnessed one


# --- huitou.yaml -----------------------------------------------------------------------


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return {k: v for k, v in out.items() if v is not None}


@pytest.mark.parametrize("case", load("config"))
def test_config(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    config = _merge(CONFIG, case.get("yaml", {}))
    if "channel" in case:
        config["channels"] = dict(config["channels"]) | {"phone": _merge(config["channels"]["phone"], case["channel"])}
    root = project(tmp_path / "shop", config=config)
    done = Bounded(huitou_bin, root)("validate", "huitou.yaml", "--format", "json")
    found = json.loads(done.stdout)
    assert done.returncode == 1 and case["expect"] in {d["code"] for d in found}, found
    assert "s3cr3t" not in done.stdout and "pa55" not in done.stdout
