"""`huitou diff BASE [HEAD]`: what a playbook change does to customers, both versions
planned over the same data."""

from __future__ import annotations

import sys
from pathlib import Path

from ..diagnostics import ExitCode
from ..i18n import _
from ..workspace import DataOptions, OpenError
from . import as_of, echo, horizon, refuse


def diff(opts: DataOptions, base: str, head: str | None, horizon_text: str, format: str, out: Path | None) -> int:
    from ..diff import run_diff
    from ..reporters.diff import as_json, as_markdown, as_text
    from ..reporters.diff_html import as_html

    days = horizon(horizon_text, "diff")
    try:
        result, notes = run_diff(base, head, opts, days, as_of("diff", opts.as_of))
    except OpenError as exc:
        raise refuse("diff", exc.message or "", exc.code) from None
    for note in notes:
        echo(note, err=True)
    text = {"text": as_text, "json": as_json, "markdown": as_markdown, "html": as_html}[format](result)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return ExitCode.OK
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    echo(_("wrote the diff to {file}", file=out), err=True)
    return ExitCode.OK
