"""`huitou segments`: the customers in every segment, rule and lifecycle stage."""

from __future__ import annotations

import sys
from pathlib import Path

from ..diagnostics import ExitCode
from ..session import DataOptions
from . import console, open_data


def segments(opts: DataOptions, paths: list[Path], format: str) -> int:
    from ..evaluate import segment_counts
    from ..reporters.evaluation import segments_json, segments_text

    session, playbooks = open_data("segments", paths, opts, need_playbooks=True)
    total, counts = segment_counts(session, playbooks)
    if format == "json":
        sys.stdout.write(segments_json(session.as_of.isoformat(), total, counts))
    else:
        segments_text(console(), session.as_of.isoformat(), total, counts)
    return ExitCode.OK
