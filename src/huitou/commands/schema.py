"""`huitou schema`: the JSON Schemas (draft-07) of playbooks, huitou.yaml and test files."""

from __future__ import annotations

import json
from pathlib import Path

from ..diagnostics import ExitCode
from ..i18n import _
from . import echo


def schema(kind: str, out: Path | None) -> int:
    """Print the JSON Schema of `kind`, or write every schema into `out`."""
    from ..schema import SCHEMAS, load_schema

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, filename in SCHEMAS.items():
            (out / filename).write_text(json.dumps(load_schema(name), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            echo(_("wrote {file}", file=out / filename))
        return ExitCode.OK
    echo(json.dumps(load_schema(kind), indent=2, ensure_ascii=False))
    return ExitCode.OK
