"""`file:line:col: severity code message`, a hint line under it, a summary at the end.

Editors and CI problem matchers read the first line of each problem as it is.
"""

from __future__ import annotations

import click

from ..i18n import _, n_
from ..validate import Result

_COLOR = {"error": "red", "warning": "yellow"}


def text(result: Result, color: bool = False) -> str:
    lines = []
    for d in result.diagnostics:
        severity = click.style(d.severity, fg=_COLOR.get(d.severity), bold=True) if color else d.severity
        lines.append(f"{d.file}:{d.line}:{d.column}: {severity} {d.code} {d.message} [{d.name}]")
        if d.hint:
            lines.append("    " + _("hint: {hint}", hint=d.hint))
    lines.append(summary(result, color))
    return "\n".join(lines) + "\n"


def summary(result: Result, color: bool = False) -> str:
    files = n_("{n} file", "{n} files", result.files)
    if not result.diagnostics:
        line = _("ok: {files} checked, no problems", files=files)
        return click.style(line, fg="green") if color else line
    errors, warnings = n_("{n} error", "{n} errors", result.errors), n_("{n} warning", "{n} warnings", result.warnings)
    line = _("{errors}, {warnings} in {files}", errors=errors, warnings=warnings, files=files)
    return click.style(line, bold=True) if color else line
