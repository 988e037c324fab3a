"""A JSON list of problems: file, line, column (1-based), code, name, severity, message, hint."""

from __future__ import annotations

import json

from ..validate import Result


def json_report(result: Result, color: bool = False) -> str:
    return json.dumps([d.as_dict() for d in result.diagnostics], ensure_ascii=False, indent=2) + "\n"
