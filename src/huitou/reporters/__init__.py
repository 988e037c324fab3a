"""Reporters turn diagnostics into output for people (text) and machines (json, github, sarif).

Each reporter is a function (result, color) -> str, chosen by name.
"""

from __future__ import annotations

from collections.abc import Callable

from ..validate import Result
from .github import github
from .json_ import json_report
from .sarif import sarif
from .text import text

Reporter = Callable[[Result, bool], str]
REPORTERS: dict[str, Reporter] = {"text": text, "json": json_report, "github": github, "sarif": sarif}

__all__ = ["REPORTERS", "Reporter"]
