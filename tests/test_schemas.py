"""The schemas are real for other tools: check-jsonschema (from PyPI) accepts our playbooks
and rejects a broken one; the committed files are what tools/gen_schemas.py writes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, installed_script

PLAYBOOK_SCHEMA = ROOT / "schemas" / "playbook.v1.schema.json"
PROJECT_SCHEMA = ROOT / "schemas" / "project.v1.schema.json"


@pytest.fixture(scope="module")
def check_jsonschema() -> str:
    return installed_script("check-jsonschema")


def test_check_jsonschema_accepts_example_playbooks(check_jsonschema: str) -> None:
    playbooks = sorted(str(p) for p in (ROOT / "rules").glob("*.yaml") if not p.name.endswith(".test.yaml"))
    assert len(playbooks) >= 6
    out = subprocess.run([check_jsonschema, "--schemafile", str(PLAYBOOK_SCHEMA), *playbooks], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    tests = sorted(str(p) for p in (ROOT / "rules").glob("*.test.yaml"))
    assert len(tests) >= 2
    out = subprocess.run([check_jsonschema, "--schemafile", str(ROOT / "schemas" / "test.v1.schema.json"), *tests], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run([check_jsonschema, "--schemafile", str(PROJECT_SCHEMA), str(ROOT / "huitou.yaml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_check_jsonschema_rejects_a_broken_playbook(check_jsonschema: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = (ROOT / "rules" / "lifecycle.yaml").read_text(encoding="utf-8").replace("channel: sms", "chanel: sms", 1)
    broken.write_text(text, encoding="utf-8")
    out = subprocess.run([check_jsonschema, "--schemafile", str(PLAYBOOK_SCHEMA), str(broken)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "chanel" in out.stdout + out.stderr


def test_committed_schemas_match_generator(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    (work / "tools").mkdir(parents=True)
    (work / "schemas").mkdir()
    shutil.copy(ROOT / "tools" / "gen_schemas.py", work / "tools")
    subprocess.run([sys.executable, str(work / "tools" / "gen_schemas.py")], check=True, capture_output=True)
    for name in ("playbook.v1.schema.json", "project.v1.schema.json"):
        assert (work / "schemas" / name).read_text(encoding="utf-8") == (ROOT / "schemas" / name).read_text(encoding="utf-8"), (
            f"run tools/gen_schemas.py ({name} is stale)"
        )


def test_package_ships_the_same_schemas() -> None:
    from importlib import resources

    for name in ("playbook.v1.schema.json", "project.v1.schema.json"):
        shipped = resources.files("huitou").joinpath("schemas").joinpath(name).read_text(encoding="utf-8")
        assert shipped == (ROOT / "schemas" / name).read_text(encoding="utf-8")
