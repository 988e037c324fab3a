"""`huitou diff` on a real git repository made here: the example shop committed, then a
commit that changes a segment's threshold, a template and a frequency cap. The diff's
counts are checked against two plans made independently (each revision exported and
planned by `huitou plan`), through the installed console script."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from huitou.diff.plan import check, plan_both
from huitou.diff.versions import resolve
from huitou.evaluate import data_timezone, open_data
from huitou.plan.render_memo import RenderMemo
from huitou.plan.run import run_plan
from huitou.reporters.diff import as_markdown
from huitou.reporters.diff_html import as_html
from tests.inprocess import Ran
from tests.inprocess import huitou as in_process

from .conftest import ROOT, installed_script, update_golden

GOLDEN = Path(__file__).parent / "golden" / "diff.md"
AS_OF = "2026-11-01"
CHANGES = {  # file: (before, after)
    "rules/care_calendar.yaml": [('when: {on: birthday, at: "09:30"}', 'when: {on: birthday, at: "10:00"}')],
    "rules/lifecycle.yaml": [
        ("dormant_high: days_since_last_order BETWEEN 90 AND 180", "dormant_high: days_since_last_order BETWEEN 80 AND 180"),
        ("- {max: 2, per: 7d}", "- {max: 1, per: 7d}"),
    ],
    "templates/zh-CN/sms/birthday.j2": [("谢谢您一路相伴。", "谢谢您一路相伴！")],
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.cn", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


def huitou(repo: Path, *args: str) -> Ran:
    return in_process(*args, cwd=repo)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example shop in a git repository: commit 1 as shipped, commit 2 with CHANGES."""
    root = tmp_path_factory.mktemp("shop")
    config = (ROOT / "huitou.yaml").read_text(encoding="utf-8")
    assert "    max_segments: 1\n" in config
    (root / "huitou.yaml").write_text(
        config.replace("    max_segments: 1\n", "    max_segments: 1\n    cost: {per_segment: 0.05, currency: CNY}\n", 1), encoding="utf-8"
    )
    for folder in ("rules", "templates", "examples"):
        shutil.copytree(ROOT / folder, root / folder)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the shop as shipped")
    for name, edits in CHANGES.items():
        path = root / name
        text = path.read_text(encoding="utf-8")
        for before, after in edits:
            assert before in text, (name, before)
            text = text.replace(before, after)
        path.write_text(text, encoding="utf-8")
    git(root, "commit", "-qam", "a threshold, a template and a cap")
    return root


def sends_by_rule(plan: Path) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for line in plan.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["status"] == "send":
            found[(row["playbook"], row["rule_id"])].add(row["customer_id"])
    return found


def planned_at(repo: Path, revision: str, out: Path) -> dict[tuple[str, str], set[str]]:
    """The plan of one revision, made on its own: exported by git, planned by `huitou plan`."""
    tree = out.parent / revision.replace("~", "_")
    tree.mkdir()
    subprocess.run(f"git archive {revision} | tar -x -C {tree}", shell=True, cwd=repo, check=True)
    done = huitou(tree, "plan", "--as-of", AS_OF, "--horizon", "14d", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return sends_by_rule(out)


def test_the_diff_counts_equal_the_difference_of_two_plans(repo: Path, tmp_path: Path) -> None:
    before, after = planned_at(repo, "HEAD~1", tmp_path / "base.jsonl"), planned_at(repo, "HEAD", tmp_path / "head.jsonl")
    done = huitou(repo, "diff", "HEAD~1", "HEAD", "--as-of", AS_OF, "-f", "json")
    assert done.returncode == 0, done.stderr
    diff = json.loads(done.stdout)
    got = {(r["playbook"], r["rule"]): (r["added"], r["removed"]) for r in diff["rules"]}
    expected = {
        rule: (len(after.get(rule, set()) - before.get(rule, set())), len(before.get(rule, set()) - after.get(rule, set())))
        for rule in before.keys() | after.keys()
    }
    assert got == expected
    assert sum(a + r for a, r in got.values()) >= 10  # the change moves customers (else the equality proves little)
    rows = {(r["playbook"], r["rule"]): r for r in diff["rules"]}
    birthday = rows[("care-calendar", "birthday-wish")]  # the template and the hour changed, not who
    assert birthday["added"] == birthday["removed"] == 0 and birthday["reworded"] == birthday["moved"] == birthday["sends_head"] >= 1
    assert all(x["from"].endswith("T09:30:00+08:00") and x["to"].endswith("T10:00:00+08:00") for x in birthday["moved_examples"])
    sms = next(c for c in diff["channels"] if c["channel"] == "sms")  # 0.05 CNY a segment
    assert sms["cost_base"] == round(0.05 * sms["segments_base"], 4) and sms["cost_head"] == round(0.05 * sms["segments_head"], 4)
    assert sms["segments_head"] < sms["segments_base"] and sms["currency"] == "CNY"
    reasons = {x["reason"]: x["change"] for r in diff["rules"] for x in r["reasons"]}
    assert reasons["frequency_cap"] > 0  # the tighter cap suppresses more
    assert diff["base"]["label"] == "HEAD~1" and len(diff["base"]["commit"]) == 40 and not diff["unchanged"]
    # Contacts are masked in the examples.
    examples = [x for r in diff["rules"] for kind in ("added", "removed") for x in r["examples"][kind]]
    assert examples and all(x["to"] is None or "*" in x["to"] for x in examples)


def test_the_markdown_comment(repo: Path) -> None:
    done = huitou(repo, "diff", "HEAD~1", "HEAD", "--as-of", AS_OF, "-f", "markdown")
    assert done.returncode == 0, done.stderr
    if update_golden():
        GOLDEN.write_text(done.stdout, encoding="utf-8")
    assert done.stdout == GOLDEN.read_text(encoding="utf-8")
    assert done.stdout.startswith("<!-- huitou-diff -->\n### huitou diff: HEAD\\~1 → HEAD\n")
    assert "<details><summary>" in done.stdout and "<del>。</del><ins>！</ins>" in done.stdout


def test_the_html_page(repo: Path, tmp_path: Path) -> None:
    """`diff -f html --out`: a page whose rule table holds the JSON's counts, the reworded
    text marked, opened in Chromium without a complaint or a request."""
    from tests.browser import CHROMIUM, Browser

    page = tmp_path / "diff.html"
    done = huitou(repo, "diff", "HEAD~1", "HEAD", "--as-of", AS_OF, "-f", "html", "--out", str(page))
    assert done.returncode == 0, done.stderr
    diff = json.loads(huitou(repo, "diff", "HEAD~1", "HEAD", "--as-of", AS_OF, "-f", "json").stdout)
    text = page.read_text(encoding="utf-8")
    shown = {
        (rule, metric): int(value)
        for rule, cells in re.findall(r'<tr data-rule="([^"]+)">(.*?)</tr>', text, re.S)
        for metric, value in re.findall(r'data-metric="(\w+)" data-value="(\d+)"', cells)
    }
    changed = [r for r in diff["rules"] if r["changed"]]
    assert shown == {(f"{r['playbook']}/{r['rule']}", m): r[m] for r in changed for m in ("added", "removed")} and changed
    assert "<del>。</del><ins>！</ins>" in text and "<script" not in text
    if CHROMIUM is None:
        assert not os.environ.get("CI"), "chromium is missing: .ci/run should have installed it"
        return
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(page.as_uri())
        assert browser.problems(page.as_uri()) == []
        assert browser.evaluate("document.querySelectorAll('tr[data-rule]').length") == len(changed)
    finally:
        browser.close()


def _plan_rows(plan: Any) -> list[tuple[Any, ...]]:
    return plan.con.execute(f"SELECT * EXCLUDE (plan_id) FROM {plan.rows.sql()}").fetchall()


def test_messages_head_copies_from_base_are_what_it_renders_on_its_own(repo: Path, tmp_path: Path) -> None:
    """HEAD's plan copies BASE's messages of the rules that render alike (render_memo.py),
    and its rows equal those of HEAD planned on its own, although HEAD changes a template
    only through what it includes and the unsubscribe link every offer email carries."""
    base, head = tmp_path / "base", tmp_path / "head"
    shutil.copytree(repo, base, ignore=shutil.ignore_patterns(".git"))
    birthday = base / "templates" / "zh-CN" / "sms" / "birthday.j2"
    birthday.write_text(birthday.read_text(encoding="utf-8").replace("生日快乐！", "{% include 'sms/_wish.j2' %}"), encoding="utf-8")
    (birthday.parent / "_wish.j2").write_text("生日快乐！", encoding="utf-8")
    shutil.copytree(base, head)
    (head / "templates" / "zh-CN" / "sms" / "_wish.j2").write_text("生日快乐呀！", encoding="utf-8")
    config = head / "huitou.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("https://shop.example.cn/unsubscribe", "https://shop.example.cn/leave"), encoding="utf-8"
    )
    base_checked, head_checked = check(resolve(str(base), None, tmp_path)), check(resolve(str(head), None, tmp_path))
    project = head_checked.playbooks[0].project
    as_of = dt.date.fromisoformat(AS_OF)
    session = open_data(project, timezone=data_timezone(project, head_checked.playbooks, None), as_of=as_of)
    memo = RenderMemo(session.con)
    base_plan, head_plan = plan_both(session, base_checked, head_checked, 14, memo)
    alone = run_plan(head, as_of, 14)
    assert base_plan is not None and head_plan is not None
    assert _plan_rows(head_plan) == _plan_rows(alone)
    # What changed shows in HEAD's messages (a copy from BASE would not have it) ...
    bodies = dict(
        session.con.execute(
            f"SELECT rule_id, string_agg(content.body, ' ') FROM {head_plan.rows.sql()} WHERE status = 'send' GROUP BY ALL"
        ).fetchall()
    )
    old = dict(
        session.con.execute(
            f"SELECT rule_id, string_agg(content.body, ' ') FROM {base_plan.rows.sql()} WHERE status = 'send' GROUP BY ALL"
        ).fetchall()
    )
    assert "生日快乐呀！" in bodies["birthday-wish"] and "生日快乐呀！" not in old["birthday-wish"]
    emails = [rule for rule, text in bodies.items() if "/leave" in text]
    assert emails and all("/leave" not in old[rule] for rule in emails)
    # ... and every other message of HEAD was copied, not rendered again (every email's
    # rule changed: the link is a setting of the channel, used or not).
    sends = session.con.execute(
        f"SELECT count(*), count(*) FILTER (rule_id = 'birthday-wish' OR channel = 'email') FROM {head_plan.rows.sql()} WHERE status = 'send'"
    )
    total, changed = sends.fetchone()  # type: ignore[misc]
    assert memo.reused == total - changed > 0 and changed > 0


def test_a_change_that_alters_nothing_says_so(repo: Path) -> None:
    done = huitou(repo, "diff", "HEAD", "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr
    assert "no change: the same customers get the same messages at the same times" in done.stdout


def test_the_working_tree_is_diffed_and_never_touched(repo: Path) -> None:
    """HEAD defaults to the working tree: its uncommitted change is in the diff and said on
    stderr, and the repository (files, index, branch) is exactly as it was."""
    playbook = repo / "rules" / "lifecycle.yaml"
    original = playbook.read_text(encoding="utf-8")
    playbook.write_text(original.replace("BETWEEN 80 AND 180", "BETWEEN 60 AND 180"), encoding="utf-8")
    try:
        status = git(repo, "status", "--porcelain")
        files = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
        head = git(repo, "rev-parse", "HEAD")
        done = huitou(repo, "diff", "HEAD", "--as-of", AS_OF, "-f", "json")
        assert done.returncode == 0, done.stderr
        assert "HEAD is the working tree, with uncommitted changes (rules/lifecycle.yaml)" in done.stderr
        rows = {(r["playbook"], r["rule"]): r for r in json.loads(done.stdout)["rules"]}
        assert rows[("lifecycle", "dormant-high-checkin")]["added"] > 0
        assert git(repo, "status", "--porcelain") == status and git(repo, "rev-parse", "HEAD") == head
        assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts} == files
    finally:
        playbook.write_text(original, encoding="utf-8")


def test_rules_added_and_removed(repo: Path, tmp_path: Path) -> None:
    head = tmp_path / "head"
    shutil.copytree(repo, head, ignore=shutil.ignore_patterns(".git"))
    path = head / "rules" / "care_calendar.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("id: birthday-wish", "id: birthday-greeting"), encoding="utf-8")
    done = huitou(repo, "diff", "HEAD", str(head), "--as-of", AS_OF, "-f", "json")
    assert done.returncode == 0, done.stderr
    diff = json.loads(done.stdout)
    assert diff["rules_added"] == [{"playbook": "care-calendar", "rule": "birthday-greeting"}]
    assert diff["rules_removed"] == [{"playbook": "care-calendar", "rule": "birthday-wish"}]
    rows = {(r["playbook"], r["rule"]): r for r in diff["rules"]}
    assert rows[("care-calendar", "birthday-greeting")]["added"] == rows[("care-calendar", "birthday-wish")]["removed"] >= 1


def test_a_base_that_does_not_validate_shows_its_problems_and_diffs_the_rest(repo: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(repo, broken, ignore=shutil.ignore_patterns(".git"))
    path = broken / "rules" / "lifecycle.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("days_since_last_order BETWEEN 80 AND 180", "days_since_lats_order BETWEEN 80 AND 180"),
        encoding="utf-8",
    )
    done = huitou(repo, "diff", str(broken), "HEAD", "--as-of", AS_OF, "-f", "json")
    assert done.returncode == 0, done.stderr
    assert f"{broken}: rules/lifecycle.yaml:" in done.stderr and "days_since_lats_order" in done.stderr
    assert "planned what validates" in done.stderr and "Traceback" not in done.stderr
    diff = json.loads(done.stdout)
    # lifecycle could not be planned in BASE: its rules' sends all appear as added.
    lifecycle = [r for r in diff["rules"] if r["playbook"] == "lifecycle"]
    assert lifecycle and all(r["removed"] == 0 and r["sends_base"] == 0 for r in lifecycle)
    assert any(v["file"] == "rules/lifecycle.yaml" and v["severity"] == "error" for v in diff["validation"]["went_away"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["no-such-branch"], "huitou diff: no revision 'no-such-branch' in the repository at "),
        (["HEAD~1", "HEAD~99"], "huitou diff: no revision 'HEAD~99' in the repository at "),
        (["examples"], "huitou diff: examples: not a huitou project (no huitou.yaml in it); give a project directory or a git revision"),
    ],
)
def test_bad_versions_are_one_line(repo: Path, args: list[str], message: str) -> None:
    done = huitou(repo, "diff", *args)
    assert done.returncode == 2 and done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr
    assert done.stdout == ""


def test_outside_a_repository_revisions_are_refused_and_directories_work(repo: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(repo, plain, ignore=shutil.ignore_patterns(".git"))
    done = huitou(plain, "diff", "HEAD~1")
    assert done.returncode == 2 and "'HEAD~1' is neither a directory nor a revision" in done.stderr and done.stderr.count("\n") == 1
    same = huitou(plain, "diff", str(plain), "--as-of", AS_OF, "-f", "json")
    assert same.returncode == 0 and json.loads(same.stdout)["unchanged"] is True


def test_customer_text_cannot_break_the_markdown() -> None:
    """Names and messages are written by the public: in the comment they stay text."""
    hostile = "</details><img src=x onerror=alert(1)> | [click](http://evil.example) `x` <!--"
    example = {"customer_id": hostile, "to": "138****0000", "send_at": "2026-11-02T10:00:00+08:00", "body": hostile}
    rule = {
        "playbook": "p",
        "rule": "r",
        "added": 1,
        "removed": 0,
        "sends_base": 0,
        "sends_head": 1,
        "reworded": 1,
        "moved": 0,
        "changed": True,
        "reasons": [],
        "examples": {"added": [example], "removed": []},
        "moved_examples": [],
        "reworded_examples": [{"customer_id": "c", "diff": "", "parts": [("-", hostile), ("+", hostile)]}],
    }
    diff = {
        "base": {"label": "main", "commit": None},
        "head": {"label": "the working tree", "commit": None},
        "as_of": AS_OF,
        "horizon_days": 14,
        "unchanged": False,
        "rules": [rule],
        "rules_added": [],
        "rules_removed": [],
        "channels": [],
        "days": [],
        "validation": {"appeared": [], "went_away": []},
    }
    page = as_html(diff)
    assert "<img" not in page and "<!--" not in page and page.count("</li>") == page.count("<li")
    text = as_markdown(diff)
    assert "<img" not in text and "</details><img" not in text and "<!--" not in text.split("\n", 1)[1]
    assert "](http" not in text and text.count("</details>") == 1
    table = [line for line in text.splitlines() if line.startswith("| p/r")]
    assert len(table) == 1 and table[0].count("|") == 7


def test_init_writes_a_ci_workflow_whose_commands_work(tmp_path: Path) -> None:
    """`huitou init` writes .github/workflows/huitou.yml: valid against GitHub's workflow
    schema, and each huitou command in it runs clean in a pull request's clone of the
    starter project (the diff against the base branch included)."""
    import yaml

    origin = tmp_path / "shop"
    assert huitou(tmp_path, "init", str(origin), "--locale", "en").returncode == 0
    workflow = origin / ".github" / "workflows" / "huitou.yml"
    checked = subprocess.run(
        [installed_script("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (origin / ".pre-commit-config.yaml").is_file()
    git(origin, "init", "-q", "-b", "main")
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "starter")
    clone = tmp_path / "pull-request"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(clone, "checkout", "-qb", "monthly-to-weekly")
    template = clone / "templates" / "en" / "sms" / "delivery_checkin.j2"
    template.write_text(template.read_text(encoding="utf-8").replace("Is everything as it should be?", "Is everything all right?"), encoding="utf-8")
    git(clone, "commit", "-qam", "a shorter question")
    steps = [s for job in yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"].values() for s in job["steps"]]
    commands = [s["run"] for s in steps if s.get("run", "").startswith("huitou ")]
    assert len(commands) == 4 and any(c.startswith("huitou diff") for c in commands)
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=clone,
            env={**os.environ, "BASE": "main", "PATH": f"{Path(installed_script('huitou')).parent}:{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    comment = (clone / "huitou-diff.md").read_text(encoding="utf-8")
    assert comment.startswith("<!-- huitou-diff -->\n### huitou diff: origin/main → HEAD")
    assert "<del>as</del>" in comment and "<ins>all</ins>" in comment and "messages reworded" in comment


def test_the_gitlab_pipeline_in_the_docs_is_valid(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    block = text.split("```yaml\n# .gitlab-ci.yml\n", 1)[1].split("```", 1)[0]
    pipeline = tmp_path / ".gitlab-ci.yml"
    pipeline.write_text(block, encoding="utf-8")
    checked = subprocess.run(
        [installed_script("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(pipeline)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "huitou diff" in block and "<!-- huitou-diff -->" in text
