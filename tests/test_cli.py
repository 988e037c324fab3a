"""The installed `huitou` console script: formats, exit codes, --strict, init, schema, compile."""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES, ROOT
from .inprocess import Ran, huitou

INVALID = EXAMPLES / "invalid"


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Ran:
    full_env = {
        k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "HUITOU_DEBUG", "COLUMNS")
    }  # a width another test left is not the pipe's
    full_env.update(env or {})
    return huitou(*args, cwd=cwd, env=full_env)


def test_validate_repository_is_clean() -> None:
    out = run("validate")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ok: ") and "no problems" in out.stdout


def test_text_format_and_exit_code() -> None:
    out = run("validate", "cases/unknown-key.yaml", "cases/unknown-feature.yaml", cwd=INVALID)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert "cases/unknown-feature.yaml:8:14: error HT201 unknown feature 'ordr_count' [unknown-feature]" in lines
    assert "    hint: did you mean 'order_count'?" in lines
    assert "cases/unknown-key.yaml:10:5: error HT101 unknown key 'chanel' in rules[0] [unknown-key]" in lines
    assert lines[-1] == "2 errors, 0 warnings in 2 files"
    assert "Traceback" not in out.stderr


def test_json_format() -> None:
    out = run("validate", "--format", "json", "cases/bad-intent.yaml", cwd=INVALID)
    assert out.returncode == 1
    problems = json.loads(out.stdout)
    assert problems == [
        {
            "file": "cases/bad-intent.yaml",
            "line": 7,
            "column": 13,
            "code": "HT104",
            "name": "invalid-value",
            "severity": "error",
            "message": "rules[0].intent: 'promo' is not one of the allowed values",
            "hint": "did you mean 'promotion'?",
        }
    ]


def test_json_clean_is_empty_list() -> None:
    out = run("validate", "-f", "json")
    assert (out.returncode, json.loads(out.stdout)) == (0, [])


def test_github_format_chosen_under_actions() -> None:
    out = run("validate", "cases/quiet-hours-defer.yaml", cwd=INVALID, env={"GITHUB_ACTIONS": "true"})
    first = out.stdout.splitlines()[0]
    assert first.startswith("::warning file=cases/quiet-hours-defer.yaml,line=11,col=44,title=HT502 quiet-hours::")
    assert "%0A" in first  # the hint travels on a second line of the annotation
    assert out.returncode == 0  # a warning alone passes ...


def test_strict_fails_on_warnings() -> None:
    out = run("validate", "--strict", "cases/quiet-hours-defer.yaml", cwd=INVALID)
    assert out.returncode == 1  # ... unless --strict


def test_sarif_format() -> None:
    out = run("validate", "--format", "sarif", "cases/template-unknown-field.yaml", cwd=INVALID)
    log = json.loads(out.stdout)
    assert log["version"] == "2.1.0"
    run_ = log["runs"][0]
    assert [r["id"] for r in run_["tool"]["driver"]["rules"]] == ["HT403"]
    result = run_["results"][0]
    assert result["ruleId"] == "HT403" and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "templates/zh-CN/bad/unknown_field.j2"},
        "region": {"startLine": 1, "startColumn": 17},
    }


def test_missing_path_is_usage_error() -> None:
    out = run("validate", "no/such/file.yaml")
    assert out.returncode == 2
    assert "no such file or directory: no/such/file.yaml" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_option_is_usage_error() -> None:
    out = run("validate", "--formt", "json")
    assert out.returncode == 2
    assert "No such option" in out.stderr


def test_bad_format_value_is_usage_error() -> None:
    assert run("validate", "--format", "xml").returncode == 2


def test_schema_prints_draft7() -> None:
    out = run("schema")
    schema = json.loads(out.stdout)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema == json.loads((ROOT / "schemas" / "playbook.v1.schema.json").read_text(encoding="utf-8"))
    project = json.loads(run("schema", "project").stdout)
    assert project["title"].startswith("huitou project")


def test_schema_out_writes_files(tmp_path: Path) -> None:
    out = run("schema", "--out", str(tmp_path / "s"))
    assert out.returncode == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "playbook.v1.schema.json",
        "project.v1.schema.json",
        "test.v1.schema.json",
    ]


def test_init_writes_a_project_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "shop"
    out = run("init", str(target))
    assert out.returncode == 0, out.stderr
    assert (target / ".vscode" / "settings.json").is_file()
    assert (target / ".pre-commit-config.yaml").is_file()
    # The default starter is Chinese: its editor schemas are the Chinese ones (docs/languages.md).
    assert (target / "schemas" / "zh-CN" / "playbook.v1.schema.json").is_file()
    first_line = (target / "rules" / "retention.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=../schemas/zh-CN/playbook.v1.schema.json"
    checked = run("validate", "--strict", cwd=target)
    assert checked.returncode == 0, checked.stdout
    assert "no problems" in checked.stdout


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    assert run("init", str(tmp_path)).returncode == 0
    (tmp_path / "huitou.yaml").write_text("version: 1\n# mine\n", encoding="utf-8")
    again = run("init", str(tmp_path))
    assert again.returncode == 2 and "--force" in again.stderr
    assert (tmp_path / "huitou.yaml").read_text(encoding="utf-8") == "version: 1\n# mine\n"
    assert run("init", "--force", str(tmp_path)).returncode == 0
    assert "# mine" not in (tmp_path / "huitou.yaml").read_text(encoding="utf-8")


def test_compile_shows_sql() -> None:
    out = run("compile", "rules/lifecycle.yaml", "--dialect", "postgres")
    assert out.returncode == 0, out.stderr
    assert "-- rule dormant-high-comeback\n(days_since_last_order BETWEEN 90 AND 180) AND NOT has_unpaid_order;" in out.stdout


def test_compile_refuses_invalid_playbooks() -> None:
    out = run("compile", "cases/unknown-feature.yaml", cwd=INVALID)
    assert out.returncode == 1
    assert "HT201" in out.stderr and out.stdout == ""


def test_compile_unknown_dialect() -> None:
    out = run("compile", "--dialect", "cobol")
    assert out.returncode == 2 and "unknown dialect 'cobol'" in out.stderr


def test_version(huitou_bin: str) -> None:
    out = subprocess.run([huitou_bin, "--version"], capture_output=True, text=True, timeout=120)  # the installed script
    assert out.returncode == 0 and out.stdout.startswith("huitou ")


def test_segments_json_over_examples() -> None:
    out = run("segments", "--as-of", "2026-11-01", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["as_of"] == "2026-11-01" and doc["customers"] == 300
    counts = {(c["playbook"], c["kind"], c["name"]): c["customers"] for c in doc["counts"]}
    stages = [v for (p, k, _), v in counts.items() if p is None and k == "lifecycle"]
    assert len(stages) == 7 and sum(stages) == 300  # the six stages and "no purchase" add up
    # a rule whose segment is a named segment counts the same customers
    assert counts[("lifecycle", "rule", "new-delivery-checkin")] == counts[("lifecycle", "segment", "new")]
    assert "orders: 1,734 rows read from orders.csv, 1,734 loaded" in out.stderr


def test_segments_counts_match_a_direct_query(tmp_path: Path) -> None:
    import duckdb

    out = run("features", "--as-of", "2026-11-01", "--out", str(tmp_path / "f.parquet"))
    assert out.returncode == 0, out.stderr
    assert "wrote 300 customers x 45 columns" in out.stderr
    con = duckdb.connect()
    expected = con.execute(
        f"SELECT count(*) FROM '{tmp_path / 'f.parquet'}' WHERE days_since_last_order BETWEEN 90 AND 180 AND NOT has_unpaid_order"
    ).fetchone()[0]
    doc = json.loads(run("segments", "rules/lifecycle.yaml", "--as-of", "2026-11-01", "-f", "json").stdout)
    found = [c["customers"] for c in doc["counts"] if c["name"] == "dormant-high-comeback"]
    assert found == [expected] and expected > 0


def test_features_csv_to_stdout_keeps_leading_zeros() -> None:
    out = run("features", "--as-of", "2026-11-01")
    lines = out.stdout.splitlines()
    assert lines[0].startswith("customer_id,order_count,purchase_days,")
    assert lines[1].startswith("0000001,") and len(lines) == 301


def test_explain_shows_the_failing_clause() -> None:
    feats = run("features", "--as-of", "2026-11-01").stdout.splitlines()
    header = feats[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in feats[1:]]
    active = next(r for r in rows if r["lifecycle"] == "active")
    out = run("explain", active["customer_id"], "rules/lifecycle.yaml", "--as-of", "2026-11-01")
    assert out.returncode == 0, out.stderr
    assert f"customer {active['customer_id']} as of 2026-11-01" in out.stdout
    assert "segment new: not matched" in out.stdout
    assert "✗ order_count = 1  -> false" in out.stdout
    doc = json.loads(run("explain", active["customer_id"], "rules/lifecycle.yaml", "--as-of", "2026-11-01", "-f", "json").stdout)
    new = next(r for r in doc["results"] if r["name"] == "new")
    assert new["matched"] is False
    assert [c["value"] for c in new["tree"]["children"]][0] is False
    assert doc["features"]["customer_id"] == active["customer_id"]


def test_explain_keeps_the_parentheses_of_a_group(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copy(ROOT / "huitou.yaml", tmp_path / "huitou.yaml")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "g.yaml").write_text(
        "version: 1\nname: g\nsegments:\n  s: days_since_last_order <= 30 AND (tier = 'gold' OR order_count >= 2)\n"
        "rules:\n  - {id: r, intent: care, segment: s, when: {immediate: true}, channel: parcel_insert, template: parcel/first_order_card.j2}\n",
        encoding="utf-8",
    )
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    out = huitou("explain", "0000001", "--as-of", "2026-11-01", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "days_since_last_order <= 30 AND (tier = 'gold' OR order_count >= 2)  ->" in out.stdout
    assert "(tier = 'gold' OR order_count >= 2)  ->" in out.stdout


def test_explain_unknown_customer() -> None:
    out = run("explain", "1", "--as-of", "2026-11-01")
    assert out.returncode == 1 and "no customer '1'" in out.stderr


def test_data_errors_are_one_line(tmp_path: Path) -> None:
    bad = run("segments", "--as-of", "2026-13-01")
    assert bad.returncode == 2 and "is not a date" in bad.stderr
    missing = run("features", "--orders", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "o.csv").write_text("customer,when,amount\n1,2026-01-01,3\n", encoding="utf-8")
    wrong = run("features", "--orders", str(tmp_path / "o.csv"))
    assert wrong.returncode == 2 and "no column 'customer_id'" in wrong.stderr and "customer" in wrong.stderr


def _project_with(tmp_path: Path, playbook: str) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "templates" / "zh-CN").mkdir(parents=True)
    (tmp_path / "templates" / "zh-CN" / "hi.j2").write_text("您好\n", encoding="utf-8")
    (tmp_path / "huitou.yaml").write_text(
        f"version: 1\ndata:\n  orders: {{path: {ROOT / 'examples' / 'orders.csv'}}}\n  customers: {{path: {ROOT / 'examples' / 'customers.csv'}}}\n",
        encoding="utf-8",
    )
    (tmp_path / "rules" / "p.yaml").write_text(playbook, encoding="utf-8")
    return tmp_path


def test_playbook_lifecycle_thresholds_change_its_stages(tmp_path: Path) -> None:
    project = _project_with(
        tmp_path,
        (
            "version: 1\nname: strict\nlifecycle: {active_within: 20, cooling_within: 40, dormant_high_within: 60, dormant_low_within: 90}\n"
            "rules:\n  - {id: r, intent: care, segment: \"lifecycle = 'lost'\", when: {immediate: true}, channel: wechat, template: hi.j2}\n"
        ),
    )
    doc = json.loads(run("segments", "--as-of", "2026-11-01", "-f", "json", cwd=project).stdout)
    default_lost = next(c["customers"] for c in doc["counts"] if c["playbook"] is None and c["name"] == "lost")
    strict_lost = next(c["customers"] for c in doc["counts"] if c["playbook"] == "strict" and c["name"] == "lost")
    rule = next(c["customers"] for c in doc["counts"] if c["kind"] == "rule")
    assert strict_lost > default_lost and rule == strict_lost


def test_explain_marks_unknown_values(tmp_path: Path) -> None:
    project = _project_with(
        tmp_path,
        (
            "version: 1\nname: p\nrules:\n  - {id: r, intent: care, segment: \"days_to_birthday <= 3 OR tier = 'gold'\", when: {immediate: true}, channel: wechat, template: hi.j2}\n"
        ),
    )
    feats = run("features", "--as-of", "2026-11-01", cwd=project).stdout.splitlines()
    header = feats[0].split(",")
    no_birthday = next(dict(zip(header, line.split(","))) for line in feats[1:] if dict(zip(header, line.split(",")))["birthday"] == "")
    out = run("explain", no_birthday["customer_id"], "--as-of", "2026-11-01", cwd=project)
    assert out.returncode == 0, out.stderr
    assert "? days_to_birthday <= 3  -> unknown (NULL)" in out.stdout


def test_features_out_needs_csv_or_parquet(tmp_path: Path) -> None:
    out = run("features", "--as-of", "2026-11-01", "--out", str(tmp_path / "f.json"))
    assert out.returncode == 2 and "use a .csv or .parquet file name" in out.stderr
    assert not (tmp_path / "f.json").exists()


def test_playbooks_in_different_timezones_are_refused(tmp_path: Path) -> None:
    project = _project_with(
        tmp_path,
        "version: 1\nname: a\ntimezone: Asia/Tokyo\nrules:\n  - {id: r, intent: care, segment: order_count >= 1, when: {immediate: true}, channel: wechat, template: hi.j2}\n",
    )
    (project / "rules" / "b.yaml").write_text(
        "version: 1\nname: b\ntimezone: Europe/Paris\nrules:\n  - {id: r, intent: care, segment: order_count >= 1, when: {immediate: true}, channel: wechat, template: hi.j2}\n",
        encoding="utf-8",
    )
    out = run("segments", "--as-of", "2026-11-01", cwd=project)
    assert out.returncode == 2 and "different timezones (Asia/Tokyo, Europe/Paris)" in out.stderr
    ok = run("segments", "--as-of", "2026-11-01", "--timezone", "Asia/Tokyo", "-f", "json", cwd=project)
    assert ok.returncode == 0 and json.loads(ok.stdout)["customers"] == 300


def test_tables_in_a_pipe_show_every_name_whole(tmp_path: Path) -> None:
    """A cron log or a pipe is not a terminal: rich would cut tables at 80 characters
    (`care/winback-che…` twice, email and SMS rows alike). Piped, segments and the plan's
    table show each rule's whole name; COLUMNS, when set, is honoured."""
    import yaml

    from .test_attacks import project

    root = project(tmp_path / "shop", rules=("call", "text"))
    book = root / "rules" / "attack.yaml"
    playbook = yaml.safe_load(book.read_text(encoding="utf-8"))
    names = [
        "winback-checkin-after-ninety-quiet-days-by-phone-for-our-most-loyal-customers",
        "winback-checkin-after-ninety-quiet-days-by-text-message-to-loyal-ones",
    ]
    for rule, name in zip(playbook["rules"], names):
        rule["id"] = name
    book.write_text(yaml.safe_dump(playbook, allow_unicode=True), encoding="utf-8")
    env = {"T_ATTACK_UNSUB_SECRET": "attack-unsubscribe-secret"}
    counted = run("segments", "--as-of", "2026-11-02", cwd=root, env=env)
    planned = run("plan", "--as-of", "2026-11-02", "--horizon", "1d", cwd=root, env=env)
    for done in (counted, planned):
        assert done.returncode == 0, done.stderr
        assert all(name in done.stdout for name in names) and "…" not in done.stdout, done.stdout
    narrow = run("segments", "--as-of", "2026-11-02", cwd=root, env=env | {"COLUMNS": "60"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 60, narrow.stdout


def test_a_project_id_of_digits_stays_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """secrets.token_hex can give 16 digits (1 in 1,800 inits): YAML would read a number,
    and the project would not validate (HT103)."""
    import yaml

    from huitou import starter

    monkeypatch.setattr(starter.secrets, "token_hex", lambda n: "1234567890123456")
    config = dict(starter.starter_files("en", today=dt.date(2026, 12, 1)))["huitou.yaml"]
    assert yaml.safe_load(config)["id"] == "1234567890123456"


_LOADED = """
import sys
from huitou.cli import main
main(sys.argv[1:])
print(sorted(m for m in ("duckdb", "numpy", "pandas", "statsmodels", "scipy", "sqlglot", "matplotlib") if m in sys.modules))
"""


@pytest.mark.parametrize(
    ("args", "forbidden"),
    [
        (["validate"], {"duckdb", "numpy", "pandas", "statsmodels", "scipy", "sqlglot", "matplotlib"}),
        (["plan", "--as-of", "2026-11-01", "--horizon", "14d"], {"statsmodels", "scipy", "matplotlib"}),
    ],
)
def test_commands_import_only_what_they_use(args: list[str], forbidden: set[str]) -> None:
    """validate is static checks: no data engine, no numbers. The plan's dry run sizes its
    holdouts without statistics packages (a second of every plan was importing them).
    (pandas is not forbidden to the plan: DuckDB 1.3 imports it to bind a parameter.)"""
    env = {**os.environ, "HUITOU_REFERRAL_SECRET": "test-secret"}
    done = subprocess.run([sys.executable, "-c", _LOADED, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
    assert not loaded & forbidden, loaded & forbidden
    assert args[0] != "plan" or {"duckdb", "sqlglot"} <= loaded  # the test ran the plan


def test_a_run_in_process_knows_only_the_secrets_it_read() -> None:
    """main() as a process: a word a caller's earlier work took for a secret is not
    scrubbed from a later command's output, and what a command read is forgotten after."""
    from huitou import redact

    redact.remember("files checked")
    try:
        assert "files checked, no problems" in run("validate").stdout
        assert redact.scrub("56 files checked") == "56 ***"  # the caller's own secret, kept
        with redact.remembering():
            redact.remember("no problems")
            assert redact.scrub("files checked, no problems") == "files checked, ***"
        assert redact.scrub("no problems") == "no problems"
    finally:
        redact._KNOWN.discard("files checked")
