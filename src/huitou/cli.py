"""The `huitou` command line: a thin layer over the pipeline stages.

Exit codes: 0 clean, 1 problems found, 2 usage or internal error. A user's mistake is
reported as a diagnostic; an unexpected failure prints one line (HUITOU_DEBUG=1 shows
the traceback), never a bare traceback.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import enum
import functools
import inspect
import typing
import json
import os
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from . import __version__
from .diagnostics import ExitCode
from .inert import shown
from .session import DataOptions, OpenError, as_of_date, open_session

app = typer.Typer(
    name="huitou",
    help="Retention playbooks as code: validate, evaluate and plan repeat-purchase marketing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Format(str, enum.Enum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"


class SchemaKind(str, enum.Enum):
    playbook = "playbook"
    project = "project"
    test = "test"


# `huitou report`: its formats and periods.
ReportFormat = enum.Enum("ReportFormat", {v: v for v in ("text", "json", "csv")}, type=str)  # type: ignore[misc]
Every = enum.Enum("Every", {v: v for v in ("month", "week", "quarter")}, type=str)  # type: ignore[misc]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"huitou {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = None,
) -> None:
    """huitou (回头): keep customers coming back, care first."""


@app.command()
def validate(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Playbooks, templates, huitou.yaml or directories. Default: the project.")] = None,
    format: Annotated[Optional[Format], typer.Option("--format", "-f", help="Output format; github is the default under GitHub Actions.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Check playbooks, templates and the project config, like code."""
    from .reporters import REPORTERS
    from .validate import UsageError, validate_paths

    chosen = format.value if format else ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    try:
        result = validate_paths(list(paths or []))
    except UsageError as exc:
        typer.echo(f"huitou validate: {exc}", err=True)
        raise typer.Exit(ExitCode.ERROR) from None
    color = chosen == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    sys.stdout.write(REPORTERS[chosen](result, color))
    raise typer.Exit(ExitCode.PROBLEMS if result.failed(strict) else ExitCode.OK)


@app.command()
def schema(
    kind: Annotated[SchemaKind, typer.Argument(help="Which schema to print.")] = SchemaKind.playbook,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write every schema into this directory instead.")] = None,
) -> None:
    """Print the JSON Schema (draft-07) of playbooks, of huitou.yaml or of test files."""
    from .schema import SCHEMAS, load_schema

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, filename in SCHEMAS.items():
            (out / filename).write_text(json.dumps(load_schema(name), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            typer.echo(f"wrote {out / filename}")
        return
    typer.echo(json.dumps(load_schema(kind.value), indent=2, ensure_ascii=False))


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
    locale: Annotated[Optional[str], typer.Option("--locale", help="The shop's language: zh-CN, en, en-GB, ... (playbooks, templates and sample data in it; default: the export's platform's, else zh-CN).")] = None,
    timezone: Annotated[Optional[str], typer.Option("--timezone", help="The shop's IANA timezone (default: Asia/Shanghai for Chinese, America/New_York for English).")] = None,
    from_: Annotated[Optional[Path], typer.Option("--from", help="The shop's own order export (CSV): its platform, columns, encoding, status words and date form become huitou.yaml's data section, instead of sample data.")] = None,
) -> None:
    """Write a starter project that validates clean and plans at once over its sample data, or over the shop's own export (--from)."""
    from .data.sources import DataError, check_data_file
    from .starter import StarterError, write_starter

    data, lines = None, []
    try:
        if from_ is not None:
            from .exports.propose import data_section, propose, summary

            check_data_file(from_, "--from")
            proposal = propose(from_, directory, locale or "")
            locale = locale or proposal.locale or "zh-CN"
            data, lines = data_section(proposal, from_), summary(proposal, from_)
        written = write_starter(directory, force=force, locale=locale or "zh-CN", timezone=timezone, data=data)
    except FileExistsError as exc:
        typer.echo(f"huitou init: {exc}; use --force to overwrite", err=True)
        raise typer.Exit(ExitCode.ERROR) from None
    except (StarterError, DataError) as exc:
        raise _fail("init", str(exc)) from None
    for path in written:
        typer.echo(f"created {path}")
    for line in lines:
        typer.echo(shown(line))  # column names and values of the shop's file
    if from_ is not None:
        _load_once(directory)
    typer.echo(f"\nnext: cd {directory} && huitou validate && huitou segments && huitou plan")


def _load_once(directory: Path) -> None:
    """Load the new project's data as every command will, saying what loading found."""
    from .data.sources import DataError
    from .evaluate import data_timezone, open_data
    from .session import announce
    from .validate import validate_paths

    result = validate_paths([directory])
    if result.errors or not result.playbooks:
        raise _fail("init", f"the project written in {directory} does not validate: run huitou validate there")
    project = result.playbooks[0].project
    try:
        announce(open_data(project, timezone=data_timezone(project, result.playbooks, None)))
    except (DataError, OpenError) as exc:
        raise _fail("init", f"{exc}; the project is written: fix data.orders in {directory / 'huitou.yaml'}") from None


@app.command("compile")
def compile_(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Playbooks or directories. Default: the project.")] = None,
    dialect: Annotated[str, typer.Option("--dialect", help="SQL dialect: duckdb, postgres, bigquery, snowflake, spark, ...")] = "duckdb",
    as_of: AsOf = None,
    horizon: Annotated[str, typer.Option("--horizon", help="The plan's horizon, e.g. 14d or 2w (the candidates' dates).")] = "14d",
) -> None:
    """Show the SQL a plan runs on the engine: the features, the matched customers and the candidates, then each segment and rule (after validating)."""
    import sqlglot

    from .compile import compile_playbook
    from .data.sources import DataError
    from .engines import KINDS, portable
    from .evaluate import engine_sql
    from .reporters import REPORTERS
    from .validate import UsageError, validate_paths

    if dialect not in sqlglot.Dialect.classes:
        typer.echo(f"huitou compile: unknown dialect '{dialect}'; one of: {', '.join(sorted(sqlglot.Dialect.classes))}", err=True)
        raise typer.Exit(ExitCode.ERROR)
    try:
        result = validate_paths(list(paths or []))
    except UsageError as exc:
        typer.echo(f"huitou compile: {exc}", err=True)
        raise typer.Exit(ExitCode.ERROR) from None
    if result.errors:
        sys.stderr.write(REPORTERS["text"](result, False))
        raise typer.Exit(ExitCode.PROBLEMS)
    if result.playbooks:
        project = result.playbooks[0].project
        day = _as_of("compile", as_of) or dt.date.today()
        horizon_days = _horizon(horizon, "compile")
        try:
            steps = engine_sql(project.config, project.root, day, dialect, result.playbooks, horizon_days) if (project.config.get("data") or {}).get("orders") else []
        except DataError as exc:
            raise _fail("compile", str(exc)) from None
        for what, text in steps:
            typer.echo(f"-- {what} (as of {day})\n{text};")
    for ctx in result.playbooks:
        typer.echo(f"-- playbook {ctx.name} ({ctx.doc.path})")
        for item in compile_playbook(ctx):
            tree = portable.rewrite(item.sql, dialect) if dialect in KINDS else item.sql
            typer.echo(f"-- {item.kind} {item.name}\n{tree.sql(dialect)};")


# Options shared by the commands that read data.
AsOf = Annotated[Optional[str], typer.Option("--as-of", help="Evaluation date, YYYY-MM-DD (default: today in the data's timezone).")]
DataDir = Annotated[Optional[Path], typer.Option("--data", help="Directory with orders.* (and customers.*).")]
OrdersFile = Annotated[Optional[Path], typer.Option("--orders", help="Orders file (CSV, Parquet, JSONL, DuckDB).")]
CustomersFile = Annotated[Optional[Path], typer.Option("--customers", help="Customers file.")]
Timezone = Annotated[Optional[str], typer.Option("--timezone", help="Timezone of local dates (default: the playbooks', else huitou.yaml's, else Asia/Shanghai).")]
Quarantine = Annotated[Optional[Path], typer.Option("--quarantine", help="Where rejected rows go (default .huitou/quarantine/).")]
MemoryLimit = Annotated[Optional[str], typer.Option("--memory-limit", help="Most memory the data engine holds before it spills to disk, e.g. 4GB (default: a tenth of RAM, at least 2 GiB).")]

EngineKind = Annotated[Optional[str], typer.Option("--engine", help="Where the features are computed: duckdb (embedded), spark or postgres (default: huitou.yaml's engine, else duckdb).")]


class OutFormat(str, enum.Enum):
    text = "text"
    json = "json"


class DiffFormat(str, enum.Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


# Wide enough that no table of a file, a pipe or a cron log cuts a rule's name short.
WIDE = 4096


def _console() -> Any:
    """stdout's console: a terminal's width (or COLUMNS when set); a file or a pipe gets
    WIDE, where rich would cut every table at 80 characters."""
    from rich.console import Console

    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=WIDE if wide else None)


def _fail(command: str, message: str, code: ExitCode = ExitCode.ERROR) -> typer.Exit:
    typer.echo(f"huitou {command}: {shown(message)}", err=True)  # a message can quote a file's text
    return typer.Exit(code)


def _as_of(command: str, value: str | None) -> dt.date | None:
    try:
        return as_of_date(value)
    except OpenError as exc:
        raise _fail(command, str(exc)) from None


_DATA_OPTION_TYPES = {"as_of": AsOf, "data": DataDir, "orders": OrdersFile, "customers": CustomersFile, "timezone": Timezone, "quarantine": Quarantine, "memory_limit": MemoryLimit,
                     "engine": EngineKind}


def with_data_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the shared data options; it receives them as one `opts: DataOptions`.

    Typer reads a command's options from its signature, so the wrapper's signature is the
    command's own (less `opts`) plus one keyword parameter per data option."""
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)  # this module postpones annotations
    own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "opts"]
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=type_) for name, type_ in _DATA_OPTION_TYPES.items()]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        opts = DataOptions(**{name: kwargs.pop(name) for name in _DATA_OPTION_TYPES})
        command(opts=opts, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**{p.name: p.annotation for p in own}, **_DATA_OPTION_TYPES, "return": None}
    return wrapper


def _open(command: str, paths: list[Path] | None, opts: DataOptions, *, need_playbooks: bool):  # type: ignore[no-untyped-def]
    """session.open_session, its refusals as the command's own lines and exit codes."""
    try:
        return open_session(command, paths, opts, need_playbooks=need_playbooks)
    except OpenError as exc:
        if exc.report:
            sys.stderr.write(exc.report)
        if exc.message is None:
            raise typer.Exit(exc.code) from None
        raise _fail(command, exc.message, exc.code) from None


@app.command()
@with_data_options
def features(
    opts: DataOptions,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the table to FILE (.csv or .parquet); default: CSV on stdout.")] = None,
) -> None:
    """Write the per-customer feature table: the values every predicate sees."""
    from sqlglot import exp

    from .data.sources import DataError
    from .db import run
    from .evaluate import write_features

    session, _ = _open("features", None, opts, need_playbooks=False)
    if out is None:
        cursor = run(session.con, session.features_of().order_by("customer_id"))
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([d[0] for d in cursor.description])
        while batch := cursor.fetchmany(10_000):
            writer.writerows(["" if v is None else v for v in row] for row in batch)
        return
    try:
        rows = write_features(session, out)
    except DataError as exc:
        raise _fail("features", str(exc)) from None
    width = len(run(session.con, exp.Describe(this=session.features_of())).fetchall())
    typer.echo(f"wrote {rows:,} customers x {width} columns to {out}", err=True)


@app.command()
@with_data_options
def segments(
    opts: DataOptions,
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Playbooks or directories. Default: the project.")] = None,
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="text or json")] = OutFormat.text,
) -> None:
    """Count the customers in every segment, rule and lifecycle stage."""

    from .evaluate import segment_counts
    from .reporters.evaluation import segments_json, segments_text

    session, playbooks = _open("segments", paths, opts, need_playbooks=True)
    total, counts = segment_counts(session, playbooks)
    if format == OutFormat.json:
        sys.stdout.write(segments_json(session.as_of.isoformat(), total, counts))
    else:
        segments_text(_console(), session.as_of.isoformat(), total, counts)


@app.command()
@with_data_options
def report(
    opts: DataOptions,
    start: Annotated[str, typer.Option("--from", help="First day of the range, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day of the range, YYYY-MM-DD (default as-of date: this day).")],
    every: Annotated[Optional[Every], typer.Option("--every", help="Also per calendar period: month, week or quarter.")] = None,
    format: Annotated[ReportFormat, typer.Option("--format", "-f", help="text, json or csv")] = ReportFormat.text,
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write a self-contained HTML report (charts included) to FILE.")] = None,
) -> None:
    """Repeat purchase as the shop counts it: by customer and by transaction, per period, stage and cohort."""

    from .delivery.ledger import default_path
    from .reporters.report import report_csv, report_json, report_text
    from .report.effect import effect_report, read_ledger
    from .report.stats import preload
    from .report.repeat import repeat_report

    days = []
    for flag, value in (("from", start), ("to", end)):
        try:
            days.append(dt.date.fromisoformat(value))
        except ValueError:
            raise _fail("report", f"--{flag} {value!r} is not a date; write YYYY-MM-DD") from None
    first, last = days
    if first > last:
        raise _fail("report", f"--from {first} is after --to {last}")
    if opts.as_of is None:
        opts = dataclasses.replace(opts, as_of=last.isoformat())
    project = _project("report")
    ledger = default_path(project.root, project.config)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # SQLite reads the ledger (and statsmodels loads) while DuckDB loads the data
        reading = pool.submit(read_ledger, ledger, first, last)
        pool.submit(preload)
        session, playbooks = _open("report", None, opts, need_playbooks=True)
        result = repeat_report(session.con, first, last, every.value if every else None)
        effects = effect_report(session.con, ledger, first, last, session.as_of, session.timezone, playbooks, project.config.get("channels") or {},
                                read=reading.result())
    if html is not None:
        from .report.effect import sample_messages
        from .reporters.html_report import report_html

        monthly = result.periods or repeat_report(session.con, first, last, "month").periods  # the chart over time needs periods
        page = report_html(result, effects, sample_messages(ledger, first, last), session.as_of.isoformat(), monthly)
        try:
            html.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise _fail("report", f"--html {html}: cannot write it ({exc.strerror or exc})") from None
    if format == ReportFormat.json:
        sys.stdout.write(report_json(result, effects))
    elif format == ReportFormat.csv:
        sys.stdout.write(report_csv(result))
    else:
        report_text(_console(), result, effects)


@app.command()
@with_data_options
def referral(
    opts: DataOptions,
    code: Annotated[str, typer.Argument(help="A referral code, as an order carried it (R and 10 hexadecimal digits).")],
) -> None:
    """Whose referral code this is: the customer to credit (needs referral.secret_env set)."""
    from .data.sources import DataError
    from .referral import configured, whose

    project = _project("referral")
    if not configured(project.config):
        raise _fail("referral", "huitou.yaml has no referral section: add referral: {url: ..., secret_env: HUITOU_REFERRAL_SECRET}", ExitCode.PROBLEMS)
    session, _ = _open("referral", None, opts, need_playbooks=False)
    try:
        customer = whose(session.con, project.config, code)
    except DataError as exc:
        raise _fail("referral", str(exc)) from None
    if customer is None:
        raise _fail("referral", f"{code!r} is no customer's referral code in this shop (mistyped, made up, or signed with another secret)", ExitCode.PROBLEMS)
    typer.echo(customer)


@app.command()
@with_data_options
def forecast(
    opts: DataOptions,
    holdout: Annotated[str, typer.Option("--holdout", help="The fit check's holdout period before the as-of date: 90d, 13w.")] = "90d",
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="text or json")] = OutFormat.text,
) -> None:
    """The purchase models behind p_alive and expected_*_90d: their parameters, and a check of their predictions against a holdout period."""

    from .forecast.check import fit_check
    from .reporters.forecast import forecast_json, forecast_text

    days = _horizon(holdout, "forecast", "holdout")
    session, _ = _open("forecast", None, opts, need_playbooks=False)
    fitted = session.forecast
    check = fit_check(session.con, session.as_of, days)
    if format == OutFormat.json:
        sys.stdout.write(forecast_json(fitted, check))
    else:
        forecast_text(_console(), fitted, check)


@app.command()
@with_data_options
def explain(
    opts: DataOptions,
    customer: Annotated[str, typer.Argument(help="The customer id, exactly as in the data.")],
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Playbooks or directories. Default: the project.")] = None,
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="text or json")] = OutFormat.text,
) -> None:
    """Show a customer's features and, for every segment and rule, which clause held or failed."""

    from .evaluate import explain as explain_customer
    from .reporters.evaluation import explain_json, explain_text

    session, playbooks = _open("explain", paths, opts, need_playbooks=True)
    found = explain_customer(session, customer, playbooks)
    if found is None:
        raise _fail("explain", f"no customer '{customer}' in the data (ids are compared exactly, leading zeros included)", ExitCode.PROBLEMS)
    values, items = found
    if format == OutFormat.json:
        sys.stdout.write(explain_json(customer, session.as_of.isoformat(), values, items))
    else:
        explain_text(_console(), customer, session.as_of.isoformat(), values, items)


def _horizon(text: str, command: str = "plan", flag: str = "horizon") -> int:
    """A number of days from --horizon (or another flag taking a duration)."""
    from .plan.timing import parse_horizon

    try:
        return parse_horizon(text)
    except ValueError as exc:
        raise _fail(command, f"--{str(exc).replace('horizon', flag, 1)}") from None


def _build(command: str, session, playbooks, days: int, customer: str | None = None, jobs: int | None = None):  # type: ignore[no-untyped-def]
    """Plan, with the plan's own inputs (history, opt-outs) read on the way: an unreadable
    one is a usage error naming the file; rows left out of them are said on stderr."""
    from .data.sources import DataError
    from .delivery.ledger import LedgerError
    from .plan.build import build_plan
    from .plan.render_jobs import RenderWorkerError

    try:
        result = build_plan(session, playbooks, days, customer=customer, jobs=jobs)
    except (DataError, RenderWorkerError, LedgerError) as exc:
        raise _fail(command, str(exc)) from None
    for note in [*result.notes, *result.warnings]:
        typer.echo(note, err=True)
    return result


@app.command()
@with_data_options
def plan(
    opts: DataOptions,
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Playbooks or directories. Default: the project.")] = None,
    horizon: Annotated[str, typer.Option("--horizon", help="How far ahead to plan: 14d, 2w.")] = "14d",
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the send plan to FILE (.jsonl, .csv or .parquet). Without it: the dry run.")] = None,
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="Dry run output: text or json")] = OutFormat.text,
    show_pii: Annotated[bool, typer.Option("--show-pii", help="Show phone numbers and emails in the dry run unmasked.")] = False,
    samples: Annotated[int, typer.Option("--samples", help="Rendered messages shown in the dry run.")] = 3,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Processes rendering messages. Default: one per core.")] = None,
) -> None:
    """Decide who gets which message, on which channel, when - and why the others do not."""

    from .plan.output import summarise, summary_json, write_plan
    from .report.sizing import holdout_sizing
    from .reporters.plan import plan_text

    from .plan.output import FORMATS

    days = _horizon(horizon)
    if out is not None and out.suffix.lower() not in FORMATS:
        raise _fail("plan", f"--out {out}: use a .jsonl, .csv or .parquet file name")
    session, playbooks = _open("plan", paths, opts, need_playbooks=True)
    result = _build("plan", session, playbooks, days, jobs=jobs)
    if out is not None:
        rows = write_plan(result, out)
        summary = summarise(result, samples=0)
        counts = ", ".join(f"{n:,} {s}" for s, n in summary.status.items()) or "no candidates"
        typer.echo(f"wrote {rows:,} rows to {out} ({counts}); plan {result.plan_id}", err=True)
        return
    summary = summarise(result, samples=samples, show_pii=show_pii)
    summary.sizing = holdout_sizing(result.con, playbooks, session.as_of, result.relation)
    if format == OutFormat.json:
        sys.stdout.write(summary_json(summary) + "\n")
    else:
        plan_text(_console(), summary)


@app.command()
@with_data_options
def diff(
    opts: DataOptions,
    base: Annotated[str, typer.Argument(help="The version before: a git revision (main, HEAD~1, a commit) or a project directory.")],
    head: Annotated[Optional[str], typer.Argument(help="The version after. Default: the working tree.")] = None,
    horizon: Annotated[str, typer.Option("--horizon", help="How far ahead both are planned: 14d, 2w.")] = "14d",
    format: Annotated[DiffFormat, typer.Option("--format", "-f", help="text, json, or markdown (a pull-request comment)")] = DiffFormat.text,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the diff to FILE instead of stdout.")] = None,
) -> None:
    """What a playbook change does to customers: both versions planned over the same data."""
    from .diff import run_diff
    from .reporters.diff import as_json, as_markdown, as_text

    days = _horizon(horizon, "diff")
    try:
        result, notes = run_diff(base, head, opts, days, _as_of("diff", opts.as_of))
    except OpenError as exc:
        raise _fail("diff", exc.message or "", exc.code) from None
    for note in notes:
        typer.echo(note, err=True)
    text = {DiffFormat.text: as_text, DiffFormat.json: as_json, DiffFormat.markdown: as_markdown}[format](result)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote the diff to {out}", err=True)


@app.command()
@with_data_options
def preview(
    opts: DataOptions,
    rule: Annotated[str, typer.Argument(help="The rule id (or playbook/rule when ids repeat across playbooks).")],
    customer: Annotated[str, typer.Option("--customer", help="The customer id, exactly as in the data.")],
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Playbooks or directories. Default: the project.")] = None,
    horizon: Annotated[str, typer.Option("--horizon", help="How far ahead to look: 14d, 2w.")] = "14d",
) -> None:
    """Show one customer's message from one rule: when it goes out and what it says, or why not."""
    days = _horizon(horizon)
    session, playbooks = _open("preview", paths, opts, need_playbooks=True)
    known = [f"{ctx.name}/{r['id']}" for ctx in playbooks for r in ctx.rules]
    matches = [k for k in known if k == rule or k.split("/", 1)[1] == rule]
    if len(matches) != 1:
        from .diagnostics import did_you_mean

        hint = did_you_mean(rule, [k.split("/", 1)[1] for k in known] + known) or "rules: " + ", ".join(known)
        raise _fail("preview", f"{'no' if not matches else 'more than one'} rule '{rule}'; {hint}", ExitCode.PROBLEMS)
    playbook, rule_id = matches[0].split("/", 1)
    from .db import scalar

    if scalar(session.con, session.features_of().where("customer_id = ?").select("count(*)", append=False), [customer]) == 0:
        raise _fail("preview", f"no customer '{customer}' in the data (ids are compared exactly, leading zeros included)", ExitCode.PROBLEMS)
    result = _build("preview", session, playbooks, days, customer=customer)
    rows = result.con.execute(
        f"SELECT step, scheduled_date, send_at, status, reason, reason_detail, channel, \"to\", content FROM {result.relation} WHERE playbook = ? AND rule_id = ? ORDER BY send_at, step",
        [playbook, rule_id],
    ).fetchall()
    if not rows:
        typer.echo(f"{playbook}/{rule_id}: no message for {customer} in the {days} days from {session.as_of} - the customer is not in the rule's segment or its timing has no date in the window (see `huitou explain {customer}`)")
        return
    for step, scheduled, send_at, status, reason, detail, channel, to, content in rows:
        typer.echo(f"{playbook}/{rule_id} -> {customer} via {channel} ({to or 'no contact'}), step {step}, scheduled {scheduled}, send at {send_at}: {status}")
        if reason:
            typer.echo(f"  {reason}: {detail}")
        for key in ("subject", "body", "html"):
            if content and content.get(key):
                typer.echo(f"  --- {key}")
                for line in str(content[key]).splitlines():
                    typer.echo(f"  {line}")


@app.command("test")
def test_command(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Test files (NAME.test.yaml) or directories. Default: every test file of the project.")] = None,
    select: Annotated[Optional[str], typer.Option("--select", "-k", help="Run only the tests whose name contains this text.")] = None,
) -> None:
    """Run the playbooks' tests: given rows and a date, the plan must hold the expected sends and suppressions."""
    from .reporters import REPORTERS
    from .rule_tests import run_tests
    from .validate import UsageError, validate_paths

    try:
        result = validate_paths([])
        wanted = [p.resolve() for p in paths or []]
        for path in wanted:
            if not path.exists():
                raise UsageError(f"no such file or directory: {path}")
    except UsageError as exc:
        raise _fail("test", str(exc)) from None
    if result.errors:
        sys.stderr.write(REPORTERS["text"](result, False))
        raise typer.Exit(ExitCode.PROBLEMS)
    tests = [doc for path, doc in result.tests if not wanted or any(path == w or w in path.parents for w in wanted)]
    if not tests:
        raise _fail("test", "no tests: put them beside the playbooks as NAME.test.yaml (docs/testing.md)", ExitCode.PROBLEMS)
    outcomes = run_tests(result.playbooks, tests, select)
    for outcome in outcomes:
        if outcome.passed:
            typer.echo(f"PASS {outcome.file}:{outcome.line}: {outcome.name}")
        elif outcome.error:
            typer.echo(f"ERROR {outcome.file}:{outcome.line}:{outcome.column}: {outcome.name}: {outcome.error}")
        for failure in outcome.failures:
            typer.echo(f"FAIL {outcome.file}:{failure.line}:{failure.column}: {outcome.name}: {failure.message}")
    failed = sum(not o.passed for o in outcomes)
    typer.echo(f"{len(outcomes)} tests, {len(outcomes) - failed} passed, {failed} failed")
    if not outcomes:
        raise _fail("test", f"no test name contains {select!r}", ExitCode.PROBLEMS)
    raise typer.Exit(ExitCode.PROBLEMS if failed else ExitCode.OK)


def _project(command: str):  # type: ignore[no-untyped-def]
    """The project (root and huitou.yaml) of the current directory; a broken config is
    reported and stops the command: delivery never runs on defaults."""
    from .reporters import REPORTERS
    from .validate import Result, load_config, open_project

    project = open_project([])
    problems = [d for d in load_config(project) if d.severity == "error"]
    if problems:
        sys.stderr.write(REPORTERS["text"](Result(diagnostics=problems), False))
        raise _fail(command, "fix huitou.yaml first", ExitCode.PROBLEMS)
    return project


@app.command()
def send(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN", help="A plan written by `huitou plan --out` (.jsonl, .csv or .parquet).")],
    live: Annotated[bool, typer.Option("--live", help="Deliver. Without it: a dry run that shows what would go out and writes nothing.")] = False,
    channel: Annotated[Optional[str], typer.Option("--channel", help="Only this channel's rows.")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Send rows planned up to this time (ISO 8601; a date means the end of that day; no offset: the project's timezone), or a time ahead of the clock: +30m, +24h, +2d. Default: now.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="When another `huitou send` is delivering from the same ledger: wait for it, or stop at once.")] = True,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Give the plan's failed rows another set of attempts (once the cause is fixed).")] = False,
    expire_after: Annotated[Optional[float], typer.Option("--expire-after", metavar="HOURS", help="Skip rows this many hours past their send time. Default: delivery.expire_after_hours, 24.")] = None,
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="Report format: text or json")] = OutFormat.text,
    now: Annotated[Optional[str], typer.Option("--now", help="Run as if the clock said this time (ISO 8601; no offset: the project's timezone): due-ness, expiry and the times recorded. For replays, tests and catching up.")] = None,
    new_ledger: Annotated[bool, typer.Option("--new-ledger", help="Accept a ledger that is missing or is not the one this project sent with, deliberately: what the old one recorded (sent messages, opt-outs) is not known to the new one.")] = False,
) -> None:
    """Deliver a plan's due messages, exactly once, through the channels in huitou.yaml."""
    from .data.sources import DataError
    from .delivery.channels import ConfigError
    from .delivery.ledger import LedgerBusy, LedgerError
    from .delivery.planfile import PlanFileError
    from .delivery.run import parse_until, send as run_send
    from .plan.inputs import read_optout_file
    from .reporters.send import send_json, send_text

    project = _project("send")
    config = project.config
    zone = str(config.get("timezone", "Asia/Shanghai"))
    times: dict[str, float | None] = {}
    for flag, value in (("now", now), ("until", until)):
        ahead_of = (times["now"] or time.time()) if flag == "until" else None  # --until +24h: on the run's clock
        try:
            times[flag] = parse_until(value, zone, end_of_day=flag == "until", now=ahead_of)
        except ValueError:
            ahead = " or a time ahead of the clock: +30m, +24h, +2d" if flag == "until" else ""
            raise _fail("send", f"--{flag} {value!r} is not a date or time of the years 1970-2199; write 2026-11-25 or 2026-11-25T18:00 (an offset such as +08:00 is allowed){ahead}") from None
    limit = times["until"] if times["until"] is not None else times["now"]
    try:
        optouts = read_optout_file(config, project.root)
        with _send_progress(live) as progress:
            report = run_send(project.root, config, plan_file, live=live, until=limit, channel=channel, wait=wait, expire_after_hours=expire_after, optouts=optouts,
                              retry_failed=retry_failed, progress=progress, now=times["now"], new_ledger=new_ledger)
    except (PlanFileError, DataError) as exc:
        raise _fail("send", str(exc)) from None
    except LedgerError as exc:
        raise _fail("send", f"nothing sent: {exc}") from None
    except ConfigError as exc:
        raise _fail("send", f"nothing sent: {exc}") from None
    except LedgerBusy as exc:
        raise _fail("send", f"{exc}; nothing sent (drop --no-wait to wait for it)") from None
    sys.stdout.write(send_json(report) + "\n" if format == OutFormat.json else send_text(report))
    troubled = report.problems or any(c.troubled for c in report.channels.values())
    raise typer.Exit(ExitCode.PROBLEMS if troubled else ExitCode.OK)


@contextlib.contextmanager
def _send_progress(live: bool):  # type: ignore[no-untyped-def]
    """A progress bar per channel on a terminal's stderr during a live send; nothing
    otherwise (machine output stays clean)."""
    if not live or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def show(channels: dict[str, Any]) -> None:
            for name, channel in sorted(channels.items()):
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=channel.due)
                bar.update(tasks[name], completed=channel.sent + channel.failed + channel.skipped)

        yield show


@app.command()
def ledger(
    failed: Annotated[int, typer.Option("--failed", help="How many failed rows to list (newest first).")] = 20,
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format: text or json")] = OutFormat.text,
) -> None:
    """Show the send ledger: messages by state, channel and day, and the failed ones."""
    import sqlite3

    from .delivery.ledger import Ledger, LedgerError, default_path, explain
    from .reporters.send import ledger_json, ledger_text

    project = _project("ledger")
    path = default_path(project.root, project.config)
    if not path.is_file():
        counts, failures = [], []
    else:
        try:
            book = Ledger.reading(path)
            try:
                counts, failures = book.counts(), book.failures(failed)
            finally:
                book.close()
        except sqlite3.Error as exc:
            raise _fail("ledger", str(explain(path, exc))) from None
        except LedgerError as exc:
            raise _fail("ledger", str(exc)) from None
    shown = project.display(path)
    sys.stdout.write(ledger_json(counts, failures, shown) + "\n" if format == OutFormat.json else ledger_text(counts, failures, shown))


@app.command()
def optout(
    customer: Annotated[Optional[str], typer.Argument(help="The customer id in any spelling (letter case, a spreadsheet guard), or their phone number or email address.")] = None,
    channel: Annotated[Optional[str], typer.Option("--channel", help="Only this channel. Default: every channel.")] = None,
    token: Annotated[Optional[str], typer.Option("--token", help="An unsubscribe token from a List-Unsubscribe link, instead of CUSTOMER and --channel.")] = None,
) -> None:
    """Record an opt-out: no later message to this customer (on this channel), planned or not."""
    from .data.contacts import spellings
    from .data.identity import region
    from .delivery.channels import ConfigError, channels_named, token_owner
    from .delivery.ledger import Ledger, LedgerError, default_path

    project = _project("optout")
    config = project.config
    if (customer is None) == (token is None):
        raise _fail("optout", "give a CUSTOMER id or --token TOKEN (one of them)")
    source = "huitou optout"
    if token is not None:
        try:
            customer, channel = token_owner(config.get("channels") or {}, token)
        except ConfigError as exc:
            raise _fail("optout", str(exc)) from None
        except ValueError as exc:
            raise _fail("optout", f"--token: {exc}", ExitCode.PROBLEMS) from None
        source = "unsubscribe link"
    scope: list[str | None] = [None]
    if channel is not None:
        configured = config.get("channels") or {}
        scope = list(channels_named(channel, configured))
        if not scope:
            raise _fail("optout", f"--channel {channel}: not a channel of huitou.yaml ({', '.join(configured) or 'none'}); give a channel's name or kind "
                                  "(sms, email, phone, ...), or leave --channel out to opt out of every channel")
    try:
        book = Ledger(default_path(project.root, config))
        now = time.time()
        # Every form the person may have in the data: the id as typed and unguarded, and
        # its phone (E.164) or email (lower case) form when it is one.
        new = book.import_optouts([(who, ch) for who in sorted(spellings(str(customer), region(config))) for ch in scope], now, source) > 0
        skipped = book.skip_opted_out(now)
        book.vouch()
        book.close()
    except LedgerError as exc:
        raise _fail("optout", f"not recorded: {exc}") from None
    what = f"channel {', '.join(str(c) for c in scope)}" if channel else "every channel"
    typer.echo(f"{'recorded' if new else 'already recorded'}: customer {customer} opted out of {what}; {skipped:,} planned message(s) skipped")


def main() -> None:
    from .redact import Scrubbed

    sys.stdout, sys.stderr = Scrubbed(sys.stdout), Scrubbed(sys.stderr)  # no secret huitou read is ever printed
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:  # a bug, not a user mistake: say so in one line
        from .data.sources import DataError
        from .delivery.ledger import LedgerError
        from .engines import EngineError

        if isinstance(exc, (DataError, LedgerError, EngineError)):  # the data or the ledger, met after a command's own checks (features built lazily)
            sys.stderr.write(f"huitou: {shown(str(exc))}\n")
            sys.exit(ExitCode.ERROR)
        if "Invalid string encoding found in" in str(exc):  # duckdb's, met when the rows are read (lazily, after the checks)
            sys.stderr.write(f"huitou: {shown(str(exc).splitlines()[0].split(': ', 1)[-1])}: a data file must hold UTF-8 text; re-export it as UTF-8\n")
            sys.exit(ExitCode.ERROR)
        if type(exc).__name__ == "OutOfMemoryException":  # duckdb's; importing it here would slow every start
            sys.stderr.write(f"huitou: the data engine ran out of memory ({str(exc).splitlines()[0]}): give it more with --memory-limit, e.g. --memory-limit 8GB\n")
            sys.exit(ExitCode.ERROR)
        if os.environ.get("HUITOU_DEBUG"):
            raise
        sys.stderr.write(f"huitou: internal error: {type(exc).__name__}: {shown(str(exc))} (set HUITOU_DEBUG=1 for details)\n")
        sys.exit(ExitCode.ERROR)
