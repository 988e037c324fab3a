"""The Workspace: the one way every command (and `huitou test`, `huitou diff` and a Python
caller) opens a project and its data.

It validates the playbooks when the command needs them, reads huitou.yaml, opens the
engine once, loads and checks the data (settling the timezone, saying on stderr what
loading found, stopping when a source is mostly rejected), and closes what it opened -
the engine's session and the local DuckDB - when its scope ends: `with Workspace.open(...)
as ws:`. cli.py parses; commands/ say what each command does with a Workspace.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .diagnostics import ExitCode
from .errors import HuitouError
from .i18n import _
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
        raise OpenError(_("--as-of {value} is not a date; write YYYY-MM-DD", value=repr(value))) from None


def _reads_engine_tables(config: dict[str, Any]) -> bool:
    from .data.sources import is_engine_table

    data = config.get("data") or {}
    return any(is_engine_table(data.get(name)) for name in ("orders", "customers"))


class Workspace(contextlib.AbstractContextManager["Workspace"]):
    """A project opened once: its root and huitou.yaml (`project`), the playbooks and rule
    tests that validate, and, when asked for, the engine and the loaded data. Whatever it
    opened is closed with it."""

    def __init__(self, project: Any, playbooks: Sequence[Any] = (), tests: Sequence[Any] = (), warnings: Sequence[Any] = ()) -> None:
        self.project, self.playbooks, self.tests = project, list(playbooks), list(tests)
        self.warnings = list(warnings)  # validation's warnings (Diagnostic): the plan's page says them first
        self._closing = contextlib.ExitStack()
        self._engines: dict[str | None, Any] = {}

    @classmethod
    def open(cls, paths: Sequence[Path] = (), *, playbooks: bool = True) -> Workspace:
        """The project of `paths` (default: the working directory). With `playbooks`, they
        are validated: any error stops here with the diagnostics (OpenError, exit 1). A
        project without playbooks yet still has its data."""
        from .reporters import REPORTERS
        from .validate import UsageError, load_config, open_project, validate_paths

        try:
            if playbooks:
                result = validate_paths(list(paths))
                if result.errors:
                    raise OpenError(None, ExitCode.PROBLEMS, REPORTERS["text"](result, False))
                if result.playbooks:
                    warnings = [d for d in result.diagnostics if d.severity == "warning"]
                    return cls(result.playbooks[0].project, result.playbooks, result.tests, warnings)
            project = open_project(list(paths) if playbooks else [])
            load_config(project)
            return cls(project)
        except UsageError as exc:
            raise OpenError(str(exc)) from None

    @classmethod
    def configured(cls, command: str) -> Workspace:
        """The project of the working directory whose huitou.yaml has no error: delivery
        and the ledger never run on defaults (a broken config stops `command`, exit 1)."""
        from .reporters import REPORTERS
        from .validate import Result, load_config, open_project

        project = open_project([])
        problems = [d for d in load_config(project) if d.severity == "error"]
        if problems:
            report = REPORTERS["text"](Result(diagnostics=problems), False)
            raise HuitouError("fix huitou.yaml first", ExitCode.PROBLEMS, command=command, report=report)
        return cls(project)

    @classmethod
    def whole(cls, root: Path) -> Workspace:
        """Everything of the project in `root` (huitou.yaml, every playbook directory, the
        templates), as `huitou validate` there sees it; the first error is one line
        (plan.run.PlanInputError): a rule test or a Python caller plans only what validates."""
        from .plan.run import PlanInputError
        from .project import CONFIG_NAME
        from .validate import load_config, open_project, validate_paths

        project = open_project([root])
        load_config(project)
        whole = [project.root / CONFIG_NAME, *project.playbook_dirs, project.templates_dir]
        result = validate_paths([p for p in whole if p.exists()])
        if result.errors:
            first = next(d for d in result.diagnostics if d.severity == "error")
            raise PlanInputError(f"{first.file}:{first.line}:{first.column}: {first.code} {first.message}")
        if not result.playbooks:
            raise PlanInputError(_("{root}: no playbooks", root=root))
        return cls(project, result.playbooks, result.tests)

    def hold(self, scope: contextlib.AbstractContextManager[Any]) -> None:
        """Keep `scope` open until the workspace closes (plan.preload's thread)."""
        self._closing.enter_context(scope)

    @property
    def config(self) -> dict[str, Any]:
        return self.project.config

    def engine(self, flag: str | None = None) -> Any:
        """The engine that computes the features (engines.Engine): huitou.yaml's, or
        --engine's; None for the embedded DuckDB that holds the data anyway. Opened once,
        closed with the workspace."""
        from .engines import KINDS, EngineError, open_engine

        kind = flag or str((self.config.get("engine") or {}).get("kind", "duckdb"))
        if kind not in KINDS:
            raise EngineError(_("--engine {kind}: use one of {kinds}", kind=repr(kind), kinds=", ".join(KINDS)))
        if kind == "duckdb":
            return None
        if kind not in self._engines:
            self._engines[kind] = self._closing.enter_context(contextlib.closing(open_engine(self.config.get("engine"), kind)))
        return self._engines[kind]

    def load(
        self,
        opts: DataOptions,
        *,
        features: bool = True,
        forecast: bool | frozenset[str] | None = None,
        engine: Any = None,
        say: bool = True,
        today: dt.date | None = None,
        inputs: Sequence[Path] = (),
    ) -> Any:
        """The data loaded and checked (evaluate.DataSession), its connection closed with
        the workspace. `features`: the command computes them (on the engine); without, an
        engine is opened only to read sources that are its tables. `forecast`: fit the
        purchase models for all their features (True), for the features named (a set:
        Gamma-Gamma only for expected_spend_90d), or for those the playbooks and templates
        name (None). `engine`: one already open instead
        of the workspace's. `say`: print what loading found (announce). `today` and
        `inputs`: as evaluate.open_data's (`huitou test`)."""
        from . import referral
        from .checks.policies import valid_timezone
        from .data.sources import DataError
        from .engines import EngineError
        from .evaluate import data_timezone, open_data
        from .forecast import FORECAST_COLUMNS, forecast_named

        date = as_of_date(opts.as_of)
        try:
            tz = data_timezone(self.project, self.playbooks, opts.timezone)
            if not valid_timezone(tz):
                raise OpenError(_("unknown timezone '{name}'", name=tz))
            if engine is None and (features or _reads_engine_tables(self.config)):
                engine = self.engine(opts.engine)
            session = open_data(
                self.project,
                timezone=tz,
                as_of=date,
                data_dir=opts.data,
                orders=opts.orders,
                customers=opts.customers,
                quarantine_dir=opts.quarantine,
                memory_limit=opts.memory_limit,
                engine=engine,
                today=today,
                inputs=list(inputs),
            )
            self._closing.callback(session.con.close)
            if referral.configured(self.config):
                referral.secret(self.config)  # a missing secret is said here, before any feature is built
        except (DataError, EngineError) as exc:
            raise OpenError(str(exc)) from None
        # The purchase models are fitted when something shows or uses their features.
        if forecast is None:
            forecast = forecast_named(self.playbooks, self.project.templates_dir)
        session.forecast_wanted = frozenset(FORECAST_COLUMNS) if forecast is True else frozenset(forecast or ())
        if say:
            announce(session)
        return session

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.close()


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
            err.print(_("forecast: {problem}", problem=session.forecast.problem), markup=False)
    for report in session.reports:
        if report.too_many_rejected:
            share = sum(report.rejected.values()) / report.order_rows
            said = _(
                "{source}: {share:.0%} of the rows of {label} were rejected, more than data.{source}.max_rejected ({most:.0%}) allows: "
                "the data is probably mapped wrong (see the reasons above); fix the mapping, or raise max_rejected",
                source=report.source,
                share=share,
                label=report.label,
                most=report.max_rejected,
            )
            raise OpenError(said, ExitCode.PROBLEMS)
