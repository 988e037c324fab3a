"""`huitou compile`: the SQL a plan runs on the engine, after validating."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..diagnostics import ExitCode
from ..errors import Found
from ..i18n import _
from . import as_of, echo, horizon, refuse


def compile_(paths: list[Path], dialect: str, as_of_text: str | None, horizon_text: str) -> int:
    import sqlglot

    from ..compile import compile_playbook
    from ..data.sources import DataError
    from ..engines import KINDS, portable
    from ..evaluate import engine_sql
    from ..reporters import REPORTERS
    from ..validate import UsageError, validate_paths

    if dialect not in sqlglot.Dialect.classes:
        raise refuse(
            "compile", _("unknown dialect '{dialect}'; one of: {dialects}", dialect=dialect, dialects=", ".join(sorted(sqlglot.Dialect.classes)))
        )
    try:
        result = validate_paths(paths)
    except UsageError as exc:
        raise refuse("compile", str(exc)) from None
    if result.errors:
        raise Found(None, report=REPORTERS["text"](result, False))
    if result.playbooks:
        project = result.playbooks[0].project
        day = as_of("compile", as_of_text) or dt.date.today()
        days = horizon(horizon_text, "compile")
        try:
            has_orders = bool((project.config.get("data") or {}).get("orders"))
            steps = engine_sql(project.config, project.root, day, dialect, result.playbooks, days) if has_orders else []
        except DataError as exc:
            raise refuse("compile", str(exc)) from None
        for what, text in steps:
            echo(f"-- {what} (as of {day})\n{text};")
    for ctx in result.playbooks:
        echo(f"-- playbook {ctx.name} ({ctx.doc.path})")
        for item in compile_playbook(ctx):
            tree = portable.rewrite(item.sql, dialect) if dialect in KINDS else item.sql
            echo(f"-- {item.kind} {item.name}\n{tree.sql(dialect)};")
    return ExitCode.OK
