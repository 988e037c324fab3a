"""GitHub Actions workflow commands: each problem becomes an annotation on the pull request."""

from __future__ import annotations

from ..validate import Result
from .text import summary


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def github(result: Result, color: bool = False) -> str:
    lines = []
    for d in result.diagnostics:
        level = "error" if d.severity == "error" else "warning"
        message = d.message + (f"\n{d.hint}" if d.hint else "")
        lines.append(f"::{level} file={_prop(d.file)},line={d.line},col={d.column},title={_prop(f'{d.code} {d.name}')}::{_data(message)}")
    lines.append(summary(result))
    return "\n".join(lines) + "\n"
