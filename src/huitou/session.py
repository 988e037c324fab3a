"""Opening a project and its data: the one way features, segments, explain, plan,
preview, report, referral and forecast start (cli.py parses and dispatches).

Validate the playbooks when the command needs them, settle the timezone, load and check
the data, say on stderr what loading found (rejected rows, the purchase models' fit)
and stop when a source is mostly rejected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .diagnostics import ExitCode
from .errors import HuitouError
from .inert import shown


@dataclass(frozen=True)
class DataOptions:
    """The options every data-reading command takes (cli.with_data_options)."""

    as_of: str | None = None
    data: Path | None = None
    orders: Path | None = None
    customers: Path | None = None
    timezone: str | None = None
    quarantine: Path | None = None
    memory_limit: str | None = None
    engine: str | None = None  # --engine: duckdb, spark or postgres (default: huitou.yaml's engine)


class OpenError(HuitouError):
    """The command cannot start: `message` is its one line (None when `report`, the
    validation diagnostics, says it all); `code` is the exit code."""

    def __init__(self, message: str | None, code: ExitCode = ExitCode.ERROR, report: str | None = None) -> None:
        super().__init__(message, code, report=report)


def as_of_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise OpenError(f"--as-of {value!r} is not a date; write YYYY-MM-DD") from None


# Commands that read the loaded data but compute no features: another engine serves them
# only to read sources that are its tables.
NO_FEATURES = ("report", "referral")


def _reads_engine_tables(config: dict[str, Any]) -> bool:
    from .data.sources import is_engine_table

    data = config.get("data") or {}
    return any(is_engine_table(data.get(name)) for name in ("orders", "customers"))


def open_configured_engine(config: Any, flag: str | None) -> Any:
    """The engine that computes the features (engines.Engine), None for the embedded
    DuckDB that holds the data anyway; closed when the process ends."""
    import atexit

    from .engines import EngineError, KINDS, open_engine

    kind = flag or str((config or {}).get("kind", "duckdb"))
    if kind not in KINDS:
        raise EngineError(f"--engine {kind!r}: use one of {', '.join(KINDS)}")
    if kind == "duckdb":
        return None
    engine = open_engine(config, kind)
    atexit.register(engine.close)
    return engine


def open_session(command: str, paths: list[Path] | None, opts: DataOptions, *, need_playbooks: bool, engine: Any = None) -> tuple[Any, list[Any]]:
    """The loaded data (evaluate.DataSession) and the validated playbooks. `engine`: an
    engine already open (engines.Engine) instead of huitou.yaml's or --engine's."""
    from . import referral
    from .checks.policies import valid_timezone
    from .data.sources import DataError
    from .engines import EngineError
    from .evaluate import data_timezone, open_data
    from .forecast import uses_forecast
    from .reporters import REPORTERS
    from .validate import UsageError, load_config, open_project, validate_paths

    date = as_of_date(opts.as_of)
    try:
        if need_playbooks:
            result = validate_paths(list(paths or []))
            if result.errors:
                raise OpenError(None, ExitCode.PROBLEMS, REPORTERS["text"](result, False))
            if result.playbooks:
                project, playbooks = result.playbooks[0].project, result.playbooks
            else:  # no playbooks yet: the project's data still has features and lifecycle stages
                project, playbooks = open_project(list(paths or [])), []
                load_config(project)
        else:
            project, playbooks = open_project([]), []
            load_config(project)
        tz = data_timezone(project, playbooks, opts.timezone)
        if not valid_timezone(tz):
            raise OpenError(f"unknown timezone '{tz}'")
        if engine is None and (command not in NO_FEATURES or _reads_engine_tables(project.config)):
            engine = open_configured_engine(project.config.get("engine"), opts.engine)
        session = open_data(project, timezone=tz, as_of=date, data_dir=opts.data, orders=opts.orders, customers=opts.customers,
                            quarantine_dir=opts.quarantine, memory_limit=opts.memory_limit, engine=engine)
        if referral.configured(project.config):
            referral.secret(project.config)  # a missing secret is said here, before any feature is built
    except (UsageError, DataError, EngineError) as exc:
        raise OpenError(str(exc)) from None
    # The purchase models are fitted when something shows or uses their features.
    session.forecast_wanted = command in ("features", "explain", "forecast") or uses_forecast(playbooks, project.templates_dir)
    announce(session)
    return session, playbooks


def announce(session: Any) -> None:
    """Say on stderr what loading found (and the purchase models' fit, when wanted); stop
    when a source is mostly rejected."""
    from rich.console import Console

    err = Console(stderr=True, highlight=False, soft_wrap=True)  # log lines stay whole (cron mail, CI logs)
    for report in session.reports:
        for line in report.lines():
            err.print(shown(line), markup=False)  # column names and values from the files
    if session.forecast_wanted:
        session.features()  # fit now, to say here when the shop is too small
        if session.forecast.problem:
            err.print(f"forecast: {session.forecast.problem}", markup=False)
    for report in session.reports:
        if report.too_many_rejected:
            share = sum(report.rejected.values()) / report.order_rows
            raise OpenError(f"{report.source}: {share:.0%} of the rows of {report.label} were rejected, more than data.{report.source}.max_rejected "
                            f"({report.max_rejected:.0%}) allows: the data is probably mapped wrong (see the reasons above); fix the mapping, or raise max_rejected",
                            ExitCode.PROBLEMS)
