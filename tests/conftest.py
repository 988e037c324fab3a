from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from huitou.i18n import tag_of

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).resolve().parent / "examples"


# The files that start a Spark session and a PostgreSQL server (tests/engines.py, one of
# each per test worker): run on one worker, so the suite starts each once (a JVM is 7-9 s).
ENGINE_FILES = ("tests/test_engines.py", "tests/test_engine_plans.py", "tests/test_engine_sources.py")


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`--dist loadfile` (make test), with the engine files as one unit of work."""
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class EnginesTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "engines" if scope in ENGINE_FILES else scope

    return EnginesTogether(config, log)


def installed_script(name: str) -> str:
    """A console script installed next to the interpreter running the tests (or on PATH)."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    assert found, f"the {name} console script is not installed (pip install -e '.[test]')"
    return found


@pytest.fixture(scope="session")
def huitou_bin() -> str:
    return installed_script("huitou")


def update_golden() -> bool:
    """Set UPDATE_GOLDEN=1 to rewrite golden files; then review the diff before committing."""
    return os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture(autouse=True, scope="session")
def _witness_state_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Ledger witnesses (delivery/witness.py) of the test projects go to a directory of
    this session, not the user's ~/.local/state (the console scripts inherit it)."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    # The example project signs referral codes (huitou.yaml `referral`) with this secret:
    # set here, whatever the environment holds, since the golden messages show codes.
    os.environ["HUITOU_REFERRAL_SECRET"] = "test-referral-secret"
    # The suite's golden outputs are English unless a test asks for a language: a machine
    # whose locale is Chinese or Japanese (LANG=zh_CN.UTF-8) runs it as CI does.
    os.environ.pop("HUITOU_LANG", None)
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name) and (tag_of(os.environ[name]) or "en") != "en":
            os.environ[name] = "C.UTF-8"


def keep_plan_relations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every relation a plan's stages make stays on its connection for the test to read:
    neither dropped when nothing reads it nor when the plan ends (plan/build.py)."""
    from huitou.relation import Scratch

    monkeypatch.setattr(Scratch, "drop", lambda self, *tables: None)
    monkeypatch.setattr(Scratch, "__exit__", lambda self, *exc: None)
