"""`file:line:col: severity code message`, a hint line under it, a summary at the end.

Editors and CI problem matchers read the first line of each problem as it is.
"""

from __future__ import annotations

import click

from ..validate import Result

_COLOR = {"error": "red", "warning": "yellow"}


def text(result: Result, color: bool = False) -> str:
    lines = []
    for d in result.diagnostics:
        severity = click.style(d.severity, fg=_COLOR.get(d.severity), bold=True) if color else d.severity
        lines.append(f"{d.file}:{d.line}:{d.column}: {severity} {d.code} {d.message} [{d.name}]")
        if d.hint:
            lines.append(f"    hint: {d.hint}")
    lines.append(summary(result, color))
    return "\n".join(lines) + "\n"


def summary(result: Result, color: bool = False) -> str:
    files = f"{result.files} file{'s' if result.files != 1 else ''}"
    if not result.diagnostics:
        line = f"ok: {files} checked, no problems"
        return click.style(line, fg="green") if color else line
    line = f"{_count(result.errors, 'error')}, {_count(result.warnings, 'warning')} in {files}"
    return click.style(line, bold=True) if color else line


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"
