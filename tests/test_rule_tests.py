"""`huitou test`: the playbooks' YAML tests, run through the installed console script."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .conftest import ROOT
from .inprocess import huitou


def project_copy(tmp_path: Path, tests: str | None = None) -> Path:
    """The example project (config, playbooks, templates, no data) with one test file."""
    root = tmp_path / "shop"
    root.mkdir(parents=True)
    shutil.copy(ROOT / "huitou.yaml", root)
    shutil.copytree(ROOT / "rules", root / "rules", ignore=shutil.ignore_patterns("*.test.yaml"))
    shutil.copytree(ROOT / "templates", root / "templates")
    if tests is not None:
        (root / "rules" / "mine.test.yaml").write_text(tests, encoding="utf-8")
    return root


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return huitou("test", *args, cwd=cwd)


def test_the_example_tests_pass() -> None:
    out = run(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "21 tests, 21 passed, 0 failed" in out.stdout
    assert "PASS rules/care_calendar.test.yaml:5: a 29 February birthday" in out.stdout


CHECKIN = """version: 1
tests:
  - name: check-in
    as_of: "2026-11-01"
    given:
      customers:
        - {customer_id: c1, name: 王芳, phone: "13800000001", consent_sms: true}
      orders:
        - {order_id: o1, customer_id: c1, ordered_at: "2026-10-28 10:00:00", amount: 99, delivered_at: "2026-10-30 15:00:00"}
    expect:
      - {customer: c1, rule: new-delivery-checkin, status: send, contains: 王芳}
      - {customer: c1, rule: new-delivery-checkin, status: suppressed}
      - {customer: c1, rule: lifecycle/new-delivery-checkin, status: send, send_at: "2026-11-02T09:00:00+08:00"}
      - {customer: c1, rule: new-delivery-checkin, status: send, contains: 张三, not_contains: 王芳}
      - {customer: c1, rule: birthday-wish, status: send}
      - {customer: c1, rule: new-delivery-chekin, status: none}
"""


def test_each_unmet_expectation_is_one_line_at_its_place(tmp_path: Path) -> None:
    root = project_copy(tmp_path, CHECKIN)
    out = run(root)
    assert out.returncode == 1
    lines = [line for line in out.stdout.splitlines() if line.startswith("FAIL")]
    assert lines == [
        "FAIL rules/mine.test.yaml:12:9: check-in: c1 / new-delivery-checkin: expected status suppressed, got send at 2026-11-02T10:30:00+08:00 step 3",
        "FAIL rules/mine.test.yaml:13:9: check-in: c1 / lifecycle/new-delivery-checkin: expected send_at 2026-11-02T09:00:00+08:00, got send at 2026-11-02T10:30:00+08:00 step 3",
        "FAIL rules/mine.test.yaml:14:9: check-in: c1 / new-delivery-checkin: the message does not contain '张三': '【回头小店】王芳，包裹已签收，用得还顺手吗？有任何问题直接回复，我们一直在。'",
        "FAIL rules/mine.test.yaml:15:9: check-in: c1 / birthday-wish: expected send, but the plan has no row (not in the segment, or no date in the window)",
        "FAIL rules/mine.test.yaml:16:9: check-in: no rule 'new-delivery-chekin' in the playbooks; did you mean 'new-delivery-checkin'?",
    ]
    assert out.stdout.rstrip().endswith("1 tests, 0 passed, 1 failed")


def test_a_given_row_the_loader_rejects_is_an_error_of_the_test(tmp_path: Path) -> None:
    bad = CHECKIN.replace("amount: 99, delivered_at", "amount: lots, delivered_at")
    out = run(project_copy(tmp_path, bad))
    assert out.returncode == 1
    assert "ERROR rules/mine.test.yaml:3:11: check-in: given orders: 1 " in out.stdout and "(rejected)" in out.stdout
    nameless = CHECKIN.replace("{customer_id: c1, name: 王芳,", "{name: 王芳,")
    out = run(project_copy(tmp_path / "2", nameless))
    assert out.returncode == 1 and "check-in: given customers: no column 'customer_id'" in out.stdout and "huitou-test-" not in out.stdout


def test_a_malformed_test_file_is_diagnosed_like_a_playbook(tmp_path: Path) -> None:
    root = project_copy(tmp_path, CHECKIN.replace("status: suppressed}", "status: skipped}"))
    out = run(root)
    assert out.returncode == 1 and "rules/mine.test.yaml:12:" in out.stderr and "HT10" in out.stderr
    validate = huitou("validate", cwd=root)
    assert validate.returncode == 1 and "rules/mine.test.yaml:12:" in validate.stdout


def test_select_by_name_and_no_tests(tmp_path: Path) -> None:
    out = run(ROOT, "-k", "29 February")
    assert out.returncode == 0 and "1 tests, 1 passed, 0 failed" in out.stdout
    out = run(ROOT, "rules/lifecycle.test.yaml")
    assert out.returncode == 0 and "7 tests, 7 passed" in out.stdout
    empty = run(project_copy(tmp_path))
    assert empty.returncode == 1 and "no tests" in empty.stderr
