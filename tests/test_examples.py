"""Example-directory tests: valid projects stay clean; each invalid case yields exactly
its golden diagnostics (file:line:col code), and together the cases hit every check."""

from __future__ import annotations

from pathlib import Path

import pytest

from huitou.diagnostics import CHECKS
from huitou.validate import validate_paths

from .conftest import EXAMPLES, ROOT, update_golden

INVALID = EXAMPLES / "invalid"
CASES = sorted(p for p in (INVALID / "cases").iterdir() if p.suffix in (".yaml", "") and not p.name.startswith("."))


def _diagnose(case: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(INVALID)
    result = validate_paths([case.relative_to(INVALID)])
    return [f"{d.file}:{d.line}:{d.column} {d.code}" for d in result.diagnostics]


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_invalid_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    golden = case.with_name(case.stem + ".expected")
    found = _diagnose(case, monkeypatch)
    if update_golden():
        golden.write_text("\n".join(found) + "\n", encoding="utf-8")
    assert found, "an invalid case must produce diagnostics"
    assert found == golden.read_text(encoding="utf-8").splitlines()


def test_cases_cover_every_check() -> None:
    codes = set()
    for golden in (INVALID / "cases").glob("*.expected"):
        codes |= {line.split()[-1] for line in golden.read_text(encoding="utf-8").splitlines() if line}
    assert sorted(set(CHECKS) - codes) == []
    assert len(CASES) >= 40


@pytest.mark.parametrize("project", [ROOT, EXAMPLES / "valid"], ids=["repository", "valid"])
def test_valid_projects_are_clean(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    result = validate_paths([])
    assert [f"{d.file}:{d.line}:{d.column} {d.code} {d.message}" for d in result.diagnostics] == []
    assert result.files > 3
    assert result.playbooks, "the project's playbooks were found and checked"
