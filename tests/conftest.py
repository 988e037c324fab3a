from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).resolve().parent / "examples"


@pytest.fixture(scope="session")
def huitou_bin() -> str:
    """The installed console script, next to the interpreter running the tests."""
    candidate = Path(sys.executable).parent / "huitou"
    found = str(candidate) if candidate.exists() else shutil.which("huitou")
    assert found, "the huitou console script is not installed"
    return found


def update_golden() -> bool:
    """Set UPDATE_GOLDEN=1 to rewrite golden files; then review the diff before committing."""
    return os.environ.get("UPDATE_GOLDEN") == "1"
