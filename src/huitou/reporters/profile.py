"""`huitou plan --profile`'s table: each stage's seconds and rows, the total and the peak
memory, in the language chosen."""

from __future__ import annotations

from ..i18n import _, lookup
from ..profile import Profile, peak_mib
from .cells import left, right, width


def profile_text(profile: Profile) -> str:
    names = [lookup(stage.name) for stage in profile.stages]
    stage, seconds, rows, total = _("stage"), _("seconds"), _("rows"), _("total")
    wide = max(width(text) for text in [stage, total, *names])
    lines = [f"{left(stage, wide)}  {right(seconds, 9)}  {right(rows, 11)}"]
    for name, s in zip(names, profile.stages):
        counted = f"{right(f'{s.rows:,}', 11)}  {lookup(s.of)}" if s.rows is not None else ""
        lines.append(f"{left(name, wide)}  {right(f'{s.seconds:.2f}', 9)}  {counted}".rstrip())
    lines.append(f"{left(total, wide)}  {right(f'{profile.seconds:.2f}', 9)}")
    # This process's own peak: a render worker's would count the pages it shared with this
    # process when it was forked (Linux keeps that high-water mark across exec).
    lines.append(_("peak memory: {own:,.0f} MiB", own=peak_mib()))
    return "\n".join(lines)
