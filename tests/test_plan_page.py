"""`huitou plan --html`: the plan as a page, through the console script on the example
shop, opened in a real headless Chromium. Every number the page shows is checked against
the plan file written by the same run (--out), counted here by code of the test's own;
customer names carry markup and the email's HTML part a remote image from a real local
server, which the page must neither obey nor fetch."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import threading
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CHROMIUM, Browser

from .conftest import ROOT, installed_script

HOSTILE = "<img src=x onerror=alert(1)>"
CJK_FONT = {"zh-CN": "Noto Sans CJK SC", "ja": "Noto Sans CJK JP"}


class Watcher:
    """An HTTP server on 127.0.0.1 that records every request it gets: nothing should."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                seen.append(self.path)
                self.send_response(204)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Watcher:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def shop(root: Path, pixel: str) -> Path:
    """The example shop with markup in every customer's name and a remote image in the
    thank-you email's HTML part."""
    for part in ("rules", "templates", "examples"):
        shutil.copytree(ROOT / part, root / part)
    shutil.copy(ROOT / "huitou.yaml", root / "huitou.yaml")
    customers = root / "examples" / "customers.csv"
    with customers.open(encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle))
    for row in table:
        row["name"] = HOSTILE + row["name"]
    with customers.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    email = root / "templates" / "zh-CN" / "email" / "thank_you.j2"
    text = email.read_text(encoding="utf-8")
    email.write_text(text.replace("{% block html %}<p>", f'{{% block html %}}<img src="{pixel}"><p>', 1), encoding="utf-8")
    # birthday wishes at 23:30, inside the playbook's quiet hours (21:00-09:00, defer):
    # validate warns (HT502) and each goes out the next morning
    rules = root / "rules" / "care_calendar.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace('{on: birthday, at: "09:30"}', '{on: birthday, at: "23:30"}', 1), encoding="utf-8")
    return root


def page_of(root: Path, language: str, *extra: str, as_of: str | None = "2026-11-01") -> tuple[Path, list[dict[str, Any]]]:
    """`huitou plan --html` with the plan file beside it, in `language`; the page and the
    rows. `as_of` None: the data's today."""
    env = {k: v for k, v in os.environ.items() if k not in ("HUITOU_LANG", "LC_ALL", "LC_MESSAGES")}
    args = [installed_script("huitou"), "--lang", language, "plan", *(["--as-of", as_of] if as_of else []), "--horizon", "14d"]
    args += ["--out", "plan.jsonl", "--html", "page.html", *extra]
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (root / "plan.jsonl").read_text(encoding="utf-8").splitlines()]
    return root / "page.html", rows


def counted(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the page must show, counted from the plan file."""
    funnel: dict[str, Counter[str]] = defaultdict(Counter)
    days: dict[str, Counter[str]] = defaultdict(Counter)
    deferred: dict[str, Counter[str]] = defaultdict(Counter)
    channels: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        rule = f"{r['playbook']}/{r['rule_id']}"
        funnel[rule]["candidates"] += 1
        funnel[rule][r["reason"] if r["status"] == "suppressed" else r["status"]] += 1
        if r["status"] == "send":
            days[rule][r["send_at"][:10]] += 1
            deferred[rule][r["send_at"][:10]] += r["send_at"][:10] != r["scheduled_date"]
            channels[r["channel"]][0] += 1
            channels[r["channel"]][1] += (r["content"] or {}).get("segments") or 1
    return {
        "customers": len({r["customer_id"] for r in rows}),
        "status": Counter(r["status"] for r in rows),
        "funnel": funnel,
        "days": days,
        "deferred": {rule: {d: n for d, n in per.items() if n} for rule, per in deferred.items() if any(per.values())},
        "channels": channels,
        "candidates_of": {rule: {r["customer_id"] for r in rows if f"{r['playbook']}/{r['rule_id']}" == rule} for rule in funnel},
    }


def needs_chromium() -> None:
    if CHROMIUM is None:  # .ci/run installs it: in CI a missing browser is a failure, not a skip
        assert not os.environ.get("CI"), "chromium is missing: .ci/run should have installed it (apt-get install chromium)"
        pytest.skip("needs chromium (apt-get install chromium)")


def test_the_plan_page_shows_the_plan_files_counts_in_chromium(tmp_path: Path) -> None:
    needs_chromium()
    with Watcher() as watcher:
        root = shop(tmp_path / "shop", f"{watcher.url}/pixel.png")
        page, rows = page_of(root, "en", "--customer", "0000019")
        want = counted(rows)
        browser = Browser(tmp_path / "profile")
        try:
            browser.open(page.as_uri())
            assert browser.problems(page.as_uri()) == []

            def values(selector: str, key: str) -> dict[str, int]:
                found = browser.evaluate(f"[...document.querySelectorAll('{selector}')].map(e => [e.dataset.{key}, e.dataset.value])")
                return {k: int(v) for k, v in found}

            # the headline
            headline = values(".headline [data-metric]", "metric")
            assert headline == {"customers": want["customers"], **{s: want["status"][s] for s in ("send", "holdout", "suppressed")}}
            # per channel: messages and SMS segments
            shown = browser.evaluate(
                "[...document.querySelectorAll('table.channels tr[data-channel]')].map(r => [r.dataset.channel, "
                "+r.querySelector('[data-metric=messages]').dataset.value, r.cells[2].textContent])"
            )
            assert {c: m for c, m, _s in shown} == {c: v[0] for c, v in want["channels"].items()}
            assert [s for c, _m, s in shown if c == "sms"] == [f"{want['channels']['sms'][1]:,}"]
            # each rule's funnel, step by step
            funnels = browser.evaluate(
                "[...document.querySelectorAll('.funnel')].map(f => [f.dataset.rule, "
                "Object.fromEntries([...f.querySelectorAll('[data-step]')].map(s => [s.dataset.step, +s.dataset.value]))])"
            )
            assert {rule: steps.pop("in_segment") >= len(want["candidates_of"][rule]) for rule, steps in funnels} == dict.fromkeys(
                want["funnel"], True
            )
            assert {rule: {k: v for k, v in steps.items() if v} for rule, steps in funnels} == {
                rule: {"send" if k == "send" else k: v for k, v in c.items()} for rule, c in want["funnel"].items()
            }
            # the calendar: each rule's sends per day, each day's total, the whole
            cells = browser.evaluate(
                "[...document.querySelectorAll('.calendar tr[data-rule]')]"
                ".map(r => [r.dataset.rule, Object.fromEntries([...r.querySelectorAll('td[data-day]')].map(c => [c.dataset.day, +c.dataset.value]))])"
            )
            assert {rule: {d: n for d, n in per.items() if n} for rule, per in cells if any(per.values())} == {
                rule: dict(per) for rule, per in want["days"].items()
            }
            moved = browser.evaluate(
                "[...document.querySelectorAll('.calendar td[data-deferred]')].filter(c => +c.dataset.deferred)"
                ".map(c => [c.parentElement.dataset.rule, c.dataset.day, +c.dataset.deferred])"
            )
            assert want["deferred"]["care-calendar/birthday-wish"]  # the quiet hour moved them
            assert {(rule, day): n for rule, day, n in moved} == {(rule, d): n for rule, per in want["deferred"].items() for d, n in per.items()}
            # problems first: validation's warning, with its place
            problems = browser.evaluate("[...document.querySelectorAll('.problems li')].map(e => e.textContent)")
            assert any(re.match(r"rules/care_calendar\.yaml:\d+:\d+ HT502 ", p) for p in problems), problems
            totals = values(".calendar tr.totals td[data-day]", "day")
            assert {d: n for d, n in totals.items() if n} == dict(sum(want["days"].values(), Counter()))
            assert int(browser.evaluate("document.querySelector('.calendar tr.totals [data-metric=sends]').dataset.value")) == want["status"]["send"]
            # the customer asked for: every candidate message of theirs, in time order
            theirs = sorted((r["send_at"], r["status"]) for r in rows if r["customer_id"] == "0000019")
            week = browser.evaluate(
                "[...document.querySelector('h3[data-customer=\"0000019\"]').nextElementSibling.querySelectorAll('tr[data-status]')]"
                ".map(r => r.dataset.status)"
            )
            assert week == [status for _t, status in theirs] and len(week) >= 5
            # the names are text: shown with their markup, no element made of them
            bubbles = browser.evaluate("[...document.querySelectorAll('.sms')].map(e => e.textContent)")
            assert bubbles and any(HOSTILE in b for b in bubbles)
            assert browser.evaluate("document.images.length") == 0 and "<script" not in page.read_text(encoding="utf-8").lower()
            # the email's HTML part is drawn in its sandboxed frame, its remote image not fetched
            frames = browser.evaluate(
                "[...document.querySelectorAll('.email iframe')].map(f => [f.getAttribute('sandbox'), f.srcdoc.includes('pixel.png')])"
            )
            assert ["", True] in frames
            browser.screenshot(tmp_path / "plan.png")
            assert (tmp_path / "plan.png").stat().st_size > 50_000
        finally:
            browser.close()
        assert watcher.requests == []


def test_the_plan_page_speaks_chinese_with_a_cjk_font(tmp_path: Path) -> None:
    needs_chromium()
    from .test_i18n import _no_english_sentence

    root = shop(tmp_path / "shop", "data:,")
    page, rows = page_of(root, "zh-CN")
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(page.as_uri())
        assert browser.problems(page.as_uri()) == []
        assert browser.evaluate("document.documentElement.lang") == "zh-CN"
        sends = int(browser.evaluate("document.querySelector('.headline [data-metric=send]').dataset.value"))
        assert sends == sum(r["status"] == "send" for r in rows)
        # no English label or sentence outside the shop's own messages, names and codes
        text = browser.evaluate(
            "(() => { const b = document.body.cloneNode(true); b.querySelectorAll('.samples').forEach(e => e.remove()); return b.innerText; })()"
        )
        for label in ("At a glance", "Sends per day", "candidate messages", "held out", "send time", "not sent"):
            assert label not in text
        assert _no_english_sentence(text) == []
        assert re.search(r"[\u4e00-\u9fff]{4}", browser.evaluate("document.querySelector('h1').textContent"))
        browser.call("DOM.enable", session=True)
        browser.call("CSS.enable", session=True)
        document = browser.call("DOM.getDocument", {"depth": 0}, session=True)["root"]["nodeId"]
        node = browser.call("DOM.querySelector", {"nodeId": document, "selector": "h1"}, session=True)["nodeId"]
        fonts = browser.call("CSS.getPlatformFontsForNode", {"nodeId": node}, session=True)["fonts"]
        assert fonts and all(f["familyName"].startswith("Noto Sans CJK") for f in fonts), fonts
        assert CJK_FONT["zh-CN"] in browser.evaluate("getComputedStyle(document.body).fontFamily")
        browser.screenshot(tmp_path / "plan.zh-CN.png")
    finally:
        browser.close()


def test_customer_without_the_page_is_refused(tmp_path: Path) -> None:
    from tests.inprocess import huitou

    done = huitou("plan", "--as-of", "2026-11-01", "--customer", "0000019", cwd=ROOT)
    assert done.returncode == 2 and "--customer" in done.stderr and "--html" in done.stderr and "Traceback" not in done.stderr


def test_an_english_starter_shops_page(tmp_path: Path) -> None:
    """`huitou init --locale en`'s starter shop (English templates, its own data), its
    page beside its plan file: the same counts, nothing a browser complains of."""
    needs_chromium()
    env = {k: v for k, v in os.environ.items() if k not in ("HUITOU_LANG", "LC_ALL", "LC_MESSAGES")}
    script = installed_script("huitou")
    assert subprocess.run([script, "init", "shop", "--locale", "en"], cwd=tmp_path, env=env, capture_output=True).returncode == 0
    root = tmp_path / "shop"
    page, rows = page_of(root, "en", as_of=None)
    want = counted(rows)
    assert want["status"]["send"] > 0
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(page.as_uri())
        assert browser.problems(page.as_uri()) == []
        found = browser.evaluate("[...document.querySelectorAll('.headline [data-metric]')].map(e => [e.dataset.metric, +e.dataset.value])")
        assert dict(found) == {"customers": want["customers"], **{s: want["status"][s] for s in ("send", "holdout", "suppressed")}}
        assert browser.evaluate("document.documentElement.lang") == "en"
        assert browser.evaluate("document.querySelectorAll('.samples .sample').length") >= 1
    finally:
        browser.close()


def test_a_page_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    from tests.inprocess import huitou

    (tmp_path / "file").write_text("", encoding="utf-8")
    done = huitou("plan", "--as-of", "2026-11-01", "--html", tmp_path / "file" / "page.html", cwd=ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.rstrip().splitlines()[-1] == f"huitou plan: --html {tmp_path / 'file' / 'page.html'}: cannot write it (Not a directory)"
