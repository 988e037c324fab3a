"""The attack corpus, second round (tests/attacks/): data sources that are code or secrets,
secrets through configuration, and text that reaches a terminal or a pull request. Each
case runs the installed console script on the attack project of test_attacks.py, within
its time bound, with a secret in the environment that must appear nowhere."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .servers import SmtpServer, WebhookServer
from .test_attacks import AS_OF, CONFIG, NOW, UNTIL, Bounded, load, ordinary, plan_rows, project

SECRET = "s3cr3t-attack-value"


def _files(root: Path) -> dict[Path, int]:
    """The project's regular files and when each was last written."""
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def _without_secret(done: subprocess.CompletedProcess, root: Path, *secrets: str, before: dict[Path, int] | None = None) -> None:
    """No secret in the command's output or in a file it wrote (the files of `before`,
    the case's own, as they were, do not count)."""
    written = [p for p, stamp in _files(root).items() if (before or {}).get(p) != stamp]
    text = "".join(p.read_bytes().decode("utf-8", errors="replace") for p in written)
    for secret in secrets:
        assert secret not in done.stdout and secret not in done.stderr, (secret, done.stdout, done.stderr)
        assert secret not in text, (secret, written)


def _customers_source(root: Path, spec: dict[str, Any]) -> None:
    config = yaml.safe_load((root / "huitou.yaml").read_text(encoding="utf-8"))
    config["data"]["customers"] = spec
    (root / "huitou.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")


def _set_up_source(root: Path, case: dict[str, Any]) -> None:
    """Point the customers source where the case says (see tests/attacks/sources.yaml)."""
    if "duckdb" in case:
        import duckdb

        con = duckdb.connect(str(root / "customers.duckdb"))
        for statement in case["duckdb"].split(";"):
            con.execute(statement)
        con.close()
        _customers_source(root, {"path": "customers.duckdb", **({"table": case["table"]} if "table" in case else {})})
    elif "path" in case:
        _customers_source(root, {"path": case["path"], "format": "csv"})
    elif "link" in case:
        (root / "people.csv").symlink_to(case["link"])
        _customers_source(root, {"path": "people.csv"})
    elif "fifo" in case:
        os.mkfifo(root / "people.csv")
        _customers_source(root, {"path": "people.csv"})
    elif "text" in case:
        name = "people" + case.get("suffix", ".env")
        (root / name).write_text(case["text"], encoding="utf-8")
        _customers_source(root, {"path": name, "format": "csv"})
    elif "gzip_zeros" in case:
        with gzip.open(root / "people.csv.gz", "wb", compresslevel=9) as handle:
            for _ in range(case["gzip_zeros"]):
                handle.write(b"0" * 1_000_000)
        _customers_source(root, {"path": "people.csv.gz", "format": "csv"})
    elif "wide" in case:
        names = ["customer_id", "name", "phone"] + [f"c{i}" for i in range(case["wide"])]
        (root / "people.csv").write_text(
            ",".join(names) + "\n" + ",".join(["c1", "李雷", "13800000001"] + ["x"] * case["wide"]) + "\n", encoding="utf-8"
        )
        _customers_source(root, {"path": "people.csv"})
    elif "parquet_bad_utf8" in case:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(
            pa.table({"customer_id": ["c1", "c2"], "name": ["ZZ李雷", "韩"]}),
            root / "people.parquet",
            compression="NONE",
            use_dictionary=False,
        )
        data = (root / "people.parquet").read_bytes()
        (root / "people.parquet").write_bytes(data.replace(b"ZZ", b"\xff\xfe"))  # the same length (statistics too): readable, the value not UTF-8
        _customers_source(root, {"path": "people.parquet"})


@pytest.mark.parametrize("case", load("sources"))
def test_source(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    root = project(tmp_path / "shop", customers=[ordinary("c1", "李雷")])
    _set_up_source(root, case)
    before = _files(root)
    command = case.get("command", "segments").split()  # features: every column is read
    done = Bounded(huitou_bin, root, env={"T_ATTACK_SECRET": SECRET})(*command, "--as-of", AS_OF)
    if case.get("clean"):
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode in (1, 2) and case["error"] in done.stdout + done.stderr, (done.stdout, done.stderr)
        if done.returncode == 2:
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    _without_secret(done, root, SECRET, "HUITOU_", "T_ATTACK_SECRET=", before=before)


# --- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", load("secrets"))
def test_secret(case: dict[str, Any], huitou_bin: str, tmp_path: Path) -> None:
    config = json.loads(json.dumps(CONFIG))
    if "engine" in case:
        config["engine"] = case["engine"]
    rules = ("text", "mail") if case.get("unsub") else ("mail",) if "smtp_echo" in case else ("text",) if "hook_echo" in case else ("call",)
    root = project(tmp_path / "shop", rules=rules, config=config)
    run = Bounded(
        huitou_bin,
        root,
        env={
            "T_ATTACK_SECRET": case["value"],
            "T_ATTACK_UNSUB_SECRET": case["value"] if case.get("unsub") else "attack-unsubscribe-secret",
        },
    )
    outputs: list[subprocess.CompletedProcess] = []
    if "smtp_echo" in case or "hook_echo" in case:
        outputs += _send_with_echoing_receiver(root, run, case, tmp_path)
    else:
        for command in case["run"]:
            args = {
                "segments": ["segments", "--as-of", AS_OF],
                "plan": ["plan", "--as-of", AS_OF, "--out", "plan.jsonl"],
                "ledger": ["ledger"],
            }[command]
            outputs.append(run(*args))
    last = outputs[-1]
    assert last.returncode == case["expect"], last.stdout + last.stderr
    if "says" in case:
        assert case["says"] in last.stdout + last.stderr, last.stdout + last.stderr
    parts = {
        case["value"],
        *case["value"].replace("'", " ").replace("=", " ").replace("@", " ").replace(":", " ").replace("/", " ").split(),
    }
    secrets = [p for p in parts if p.startswith("s3cr3t")]
    for done in outputs:
        _without_secret(done, root, *secrets)


def _send_with_echoing_receiver(root: Path, run: Bounded, case: dict[str, Any], tmp_path: Path) -> list[subprocess.CompletedProcess]:
    """A send to a receiver whose refusal quotes the secret it was given."""
    from .servers import LocalCA

    config = yaml.safe_load((root / "huitou.yaml").read_text(encoding="utf-8"))
    if "hook_echo" in case:
        server: Any = WebhookServer(case["value"])
        server.arrivals.faults = [f"body:400:invalid signature for key {case['value']}"] * 10
        config["channels"]["sms"] |= {"webhook": {"url": server.url, "secret_env": "T_ATTACK_SECRET"}}
        del config["channels"]["sms"]["outbox"]
    else:
        (tmp_path / "ca").mkdir()
        ca = LocalCA(tmp_path / "ca")
        server = SmtpServer(ca)  # its login is not the case's: refused
        config["channels"]["email"] |= {
            "smtp": {
                "host": "127.0.0.1",
                "port": server.port,
                "security": "starttls",
                "username_env": "T_ATTACK_USER",
                "password_env": "T_ATTACK_SECRET",
            }
        }
        del config["channels"]["email"]["outbox"]
        run.env |= {"T_ATTACK_USER": "shop", "SSL_CERT_FILE": str(ca.ca_file)}
    (root / "huitou.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with server:
        planned = run("plan", "--as-of", AS_OF, "--horizon", "1d", "--out", "plan.jsonl")
        sent = run("send", "plan.jsonl", "--live", "--now", NOW, "--until", UNTIL)
        listed = run("ledger")
    return [planned, listed, sent]


# --- terminals and pull requests -------------------------------------------------------


def test_text_that_reaches_a_terminal_or_a_pull_request_is_inert(huitou_bin: str, tmp_path: Path) -> None:
    """Every case of tests/attacks/terminal.yaml is a customer's name in one shop: explain
    and the plan's samples show it escaped, the messages and the call list carry none of
    its controls, and the pull-request comment of `huitou diff` mentions and links no one."""
    from huitou.inert import shown

    cases = [p.values[0] for p in load("terminal")]
    people = [ordinary(f"x{i}", case["name"]) for i, case in enumerate(cases, 1)] + [
        ordinary("m1", "@octocat see https://evil.example #12 @org/team")
    ]
    root = project(tmp_path / "shop", rules=("call", "text", "mail"), customers=people)
    run = Bounded(huitou_bin, root, seconds=90)
    controls = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n\r"} | set(
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    )
    for i, case in enumerate(cases, 1):
        shown_name = run("explain", f"x{i}", "--as-of", AS_OF)
        assert shown_name.returncode == 0, shown_name.stderr
        assert not controls & set(shown_name.stdout), (case["id"], shown_name.stdout)
        assert shown(case["name"]) in shown_name.stdout.replace("\n", "") or case.get("markup"), (case["id"], shown_name.stdout)
        if case.get("markup"):
            assert case["name"] in shown_name.stdout and "\x1b]8;" not in shown_name.stdout  # the markup is text, not a terminal link
    # The pull-request comment: the base commit's call rule reached no one, the change
    # reaches everyone, so the comment shows customers' ids, numbers and call scripts.
    book = root / "rules" / "attack.yaml"
    reaching = book.read_text(encoding="utf-8")
    book.write_text(reaching.replace("order_count >= 1", "order_count >= 99"), encoding="utf-8")
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "base"]):
        subprocess.run(["git", *command], cwd=root, check=True)
    book.write_text(reaching, encoding="utf-8")
    diff = run("diff", "HEAD", "--as-of", AS_OF, "--format", "markdown")
    assert diff.returncode in (0, 1), diff.stderr
    body = diff.stdout
    assert "octocat" in body and "@octocat" not in body and "@org/team" not in body and "https://evil" not in body and "#12" not in body, body
    assert not controls & set(body), body
    assert run("plan", "--as-of", AS_OF, "--horizon", "1d", "--out", "plan.jsonl").returncode == 0
    for row in plan_rows(root):
        content = row["content"] or {}
        assert not controls & set((content.get("body") or "") + (content.get("subject") or "")), row
    assert run("send", "plan.jsonl", "--live", "--now", NOW, "--until", UNTIL).returncode == 0
    cells = "".join(p.read_text(encoding="utf-8") for p in (root / "out").rglob("*.csv"))
    assert cells and not controls & set(cells)
