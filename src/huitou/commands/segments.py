"""`huitou segments`: the customers in every segment, rule and lifecycle stage."""

from __future__ import annotations

import sys
from pathlib import Path

from ..diagnostics import ExitCode
from ..workspace import DataOptions
from . import console, opened


def segments(opts: DataOptions, paths: list[Path], format: str) -> int:
    from ..evaluate import segment_counts
    from ..reporters.evaluation import segments_json, segments_text

    with opened("segments", paths) as ws:
        session = ws.load(opts)
        total, counts = segment_counts(session, ws.playbooks)
    if format == "json":
        sys.stdout.write(segments_json(session.as_of.isoformat(), total, counts))
    else:
        segments_text(console(), session.as_of.isoformat(), total, counts)
    return ExitCode.OK
