"""SARIF 2.1.0, for code-scanning dashboards."""

from __future__ import annotations

import json

from .. import __version__
from ..diagnostics import CHECKS
from ..i18n import _, language
from ..validate import Result

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif(result: Result, color: bool = False) -> str:
    used = sorted({d.code for d in result.diagnostics})
    rules = [
        {
            "id": code,
            "name": CHECKS[code].name,
            "shortDescription": {"text": _(CHECKS[code].summary)},
            "defaultConfiguration": {"level": CHECKS[code].severity},
        }
        for code in used
    ]
    results = [
        {
            "ruleId": d.code,
            "ruleIndex": used.index(d.code),
            "level": "error" if d.severity == "error" else "warning",
            "message": {"text": d.message + (f" ({d.hint})" if d.hint else "")},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": d.file}, "region": {"startLine": d.line, "startColumn": d.column}}}],
        }
        for d in result.diagnostics
    ]
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "huitou", "version": __version__, "informationUri": "https://huitou.dev/docs/checks", "rules": rules}},
                "results": results,
                "language": language(),
                "invocations": [{"executionSuccessful": True}],
            }
        ],
    }
    return json.dumps(log, ensure_ascii=False, indent=2) + "\n"
