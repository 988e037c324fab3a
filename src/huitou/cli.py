"""The `huitou` command line: the commands and their options, nothing else. What a command
does is in commands/, a function of typed options callable in-process; `main` turns its
errors into lines and exit codes (0 clean, 1 problems found, 2 usage or internal error):
a user's mistake is a diagnostic, a bug one line (HUITOU_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer import Argument, Option

from .cli_options import AsOf, Customer, DiffFormat, Every, Format, OutFormat, Paths, ReportFormat, SchemaKind, TextOrJson, Version, with_data_options
from .diagnostics import ExitCode
from .errors import HuitouError, crashed, said
from .workspace import DataOptions

HELP = "Retention playbooks as code: validate, evaluate and plan repeat-purchase marketing."
app = typer.Typer(name="huitou", help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _run(name: str, *args: Any, **kwargs: Any) -> None:
    """Run commands/NAME.py's NAME (imported now: each start stays light); exit with its code."""
    import importlib

    module = importlib.import_module(f".commands.{name}", __package__)
    code = getattr(module, name if hasattr(module, name) else name + "_")(*args, **kwargs)
    if code:
        raise typer.Exit(code)


def data_command(stub: Any) -> Any:
    """A command that reads the shop's data: it takes the data options as `opts`."""
    return app.command()(with_data_options(stub))


# The command line as a table: one option to a line, however long its help (not reflowed).
# fmt: off
@app.callback()
def _root(version: Version = None) -> None:
    """huitou (回头): keep customers coming back, care first."""


@app.command()
def validate(
    paths: Annotated[Optional[list[Path]], Argument(help="Playbooks, templates, huitou.yaml or directories. Default: the project.")] = None,
    format: Annotated[Optional[Format], Option("--format", "-f", help="Output format; github is the default under GitHub Actions.")] = None,
    strict: Annotated[bool, Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Check playbooks, templates and the project config, like code."""
    _run("validate", paths or [], format.value if format else None, strict)


@app.command()
def schema(
    kind: Annotated[SchemaKind, Argument(help="Which schema to print.")] = SchemaKind.playbook,
    out: Annotated[Optional[Path], Option("--out", help="Write every schema into this directory instead.")] = None,
) -> None:
    """Print the JSON Schema (draft-07) of playbooks, of huitou.yaml or of test files."""
    _run("schema", kind.value, out)


@app.command()
def init(
    directory: Annotated[Path, Argument(help="Where to create the project.")],
    force: Annotated[bool, Option("--force", help="Overwrite files that exist.")] = False,
    locale: Annotated[Optional[str], Option("--locale", help="The shop's language: zh-CN, en, en-GB, ... (playbooks, templates and sample data in it; default: the export's platform's, else zh-CN).")] = None,
    timezone: Annotated[Optional[str], Option("--timezone", help="The shop's IANA timezone (default: Asia/Shanghai for Chinese, America/New_York for English).")] = None,
    from_: Annotated[Optional[Path], Option("--from", help="The shop's own order export (CSV): its platform, columns, encoding, status words and date form become huitou.yaml's data section, instead of sample data.")] = None,
) -> None:
    """Write a starter project that validates clean and plans at once over its sample data, or over the shop's own export (--from)."""
    _run("init", directory, force, locale, timezone, from_)


@app.command("compile")
def compile_(
    paths: Paths = None,
    dialect: Annotated[str, Option("--dialect", help="SQL dialect: duckdb, postgres, bigquery, snowflake, spark, ...")] = "duckdb",
    as_of: AsOf = None,
    horizon: Annotated[str, Option("--horizon", help="The plan's horizon, e.g. 14d or 2w (the candidates' dates).")] = "14d",
) -> None:
    """Show the SQL a plan runs on the engine: the features, the matched customers and the candidates, then each segment and rule (after validating)."""
    _run("compile", paths or [], dialect, as_of, horizon)


@data_command
def features(opts: DataOptions, out: Annotated[Optional[Path], Option("--out", help="Write the table to FILE (.csv or .parquet); default: CSV on stdout.")] = None) -> None:
    """Write the per-customer feature table: the values every predicate sees."""
    _run("features", opts, out)


@data_command
def segments(opts: DataOptions, paths: Paths = None, format: TextOrJson = OutFormat.text) -> None:
    """Count the customers in every segment, rule and lifecycle stage."""
    _run("segments", opts, paths or [], format.value)


@data_command
def report(
    opts: DataOptions,
    start: Annotated[str, Option("--from", help="First day of the range, YYYY-MM-DD.")],
    end: Annotated[str, Option("--to", help="Last day of the range, YYYY-MM-DD (default as-of date: this day).")],
    every: Annotated[Optional[Every], Option("--every", help="Also per calendar period: month, week or quarter.")] = None,
    format: Annotated[ReportFormat, Option("--format", "-f", help="text, json or csv")] = ReportFormat.text,
    html: Annotated[Optional[Path], Option("--html", help="Also write a self-contained HTML report (charts included) to FILE.")] = None,
) -> None:
    """Repeat purchase as the shop counts it: by customer and by transaction, per period, stage and cohort."""
    _run("report", opts, start, end, every.value if every else None, format.value, html)


@data_command
def referral(opts: DataOptions, code: Annotated[str, Argument(help="A referral code, as an order carried it (R and 10 hexadecimal digits).")]) -> None:
    """Whose referral code this is: the customer to credit (needs referral.secret_env set)."""
    _run("referral", opts, code)


@data_command
def forecast(
    opts: DataOptions,
    holdout: Annotated[str, Option("--holdout", help="The fit check's holdout period before the as-of date: 90d, 13w.")] = "90d",
    format: TextOrJson = OutFormat.text,
) -> None:
    """The purchase models behind p_alive and expected_*_90d: their parameters, and a check of their predictions against a holdout period."""
    _run("forecast", opts, holdout, format.value)


@data_command
def explain(opts: DataOptions, customer: Customer, paths: Paths = None, format: TextOrJson = OutFormat.text) -> None:
    """Show a customer's features and, for every segment and rule, which clause held or failed."""
    _run("explain", opts, customer, paths or [], format.value)


@data_command
def plan(
    opts: DataOptions,
    paths: Paths = None,
    horizon: Annotated[str, Option("--horizon", help="How far ahead to plan: 14d, 2w.")] = "14d",
    out: Annotated[Optional[Path], Option("--out", help="Write the send plan to FILE (.jsonl, .csv or .parquet). Without it: the dry run.")] = None,
    format: Annotated[OutFormat, Option("--format", "-f", help="Dry run output: text or json")] = OutFormat.text,
    show_pii: Annotated[bool, Option("--show-pii", help="Show phone numbers and emails in the dry run unmasked.")] = False,
    samples: Annotated[int, Option("--samples", help="Rendered messages shown in the dry run.")] = 3,
    jobs: Annotated[Optional[int], Option("--jobs", "-j", min=1, help="Processes rendering messages. Default: one per core.")] = None,
) -> None:
    """Decide who gets which message, on which channel, when - and why the others do not."""
    _run("plan", opts, paths or [], horizon, out, format.value, show_pii, samples, jobs)


@data_command
def diff(
    opts: DataOptions,
    base: Annotated[str, Argument(help="The version before: a git revision (main, HEAD~1, a commit) or a project directory.")],
    head: Annotated[Optional[str], Argument(help="The version after. Default: the working tree.")] = None,
    horizon: Annotated[str, Option("--horizon", help="How far ahead both are planned: 14d, 2w.")] = "14d",
    format: Annotated[DiffFormat, Option("--format", "-f", help="text, json, or markdown (a pull-request comment)")] = DiffFormat.text,
    out: Annotated[Optional[Path], Option("--out", help="Write the diff to FILE instead of stdout.")] = None,
) -> None:
    """What a playbook change does to customers: both versions planned over the same data."""
    _run("diff", opts, base, head, horizon, format.value, out)


@data_command
def preview(
    opts: DataOptions,
    rule: Annotated[str, Argument(help="The rule id (or playbook/rule when ids repeat across playbooks).")],
    customer: Annotated[str, Option("--customer", help="The customer id, exactly as in the data.")],
    paths: Paths = None,
    horizon: Annotated[str, Option("--horizon", help="How far ahead to look: 14d, 2w.")] = "14d",
) -> None:
    """Show one customer's message from one rule: when it goes out and what it says, or why not."""
    _run("preview", opts, rule, customer, paths or [], horizon)


@app.command("test")
def test_command(
    paths: Annotated[Optional[list[Path]], Argument(help="Test files (NAME.test.yaml) or directories. Default: every test file of the project.")] = None,
    select: Annotated[Optional[str], Option("--select", "-k", help="Run only the tests whose name contains this text.")] = None,
) -> None:
    """Run the playbooks' tests: given rows and a date, the plan must hold the expected sends and suppressions."""
    _run("test", paths or [], select)


@app.command()
def send(
    plan_file: Annotated[Path, Argument(metavar="PLAN", help="A plan written by `huitou plan --out` (.jsonl, .csv or .parquet).")],
    live: Annotated[bool, Option("--live", help="Deliver. Without it: a dry run that shows what would go out and writes nothing.")] = False,
    channel: Annotated[Optional[str], Option("--channel", help="Only this channel's rows.")] = None,
    until: Annotated[Optional[str], Option("--until", help="Send rows planned up to this time (ISO 8601; a date means the end of that day; no offset: the project's timezone), or a time ahead of the clock: +30m, +24h, +2d. Default: now.")] = None,
    wait: Annotated[bool, Option("--wait/--no-wait", help="When another `huitou send` is delivering from the same ledger: wait for it, or stop at once.")] = True,
    retry_failed: Annotated[bool, Option("--retry-failed", help="Give the plan's failed rows another set of attempts (once the cause is fixed).")] = False,
    expire_after: Annotated[Optional[float], Option("--expire-after", metavar="HOURS", help="Skip rows this many hours past their send time. Default: delivery.expire_after_hours, 24.")] = None,
    format: Annotated[OutFormat, Option("--format", "-f", help="Report format: text or json")] = OutFormat.text,
    now: Annotated[Optional[str], Option("--now", help="Run as if the clock said this time (ISO 8601; no offset: the project's timezone): due-ness, expiry and the times recorded. For replays, tests and catching up.")] = None,
    new_ledger: Annotated[bool, Option("--new-ledger", help="Accept a ledger that is missing or is not the one this project sent with, deliberately: what the old one recorded (sent messages, opt-outs) is not known to the new one.")] = False,
) -> None:
    """Deliver a plan's due messages, exactly once, through the channels in huitou.yaml."""
    _run("send", plan_file, live=live, channel=channel, until=until, wait=wait, retry_failed=retry_failed, expire_after=expire_after,
              format=format.value, now=now, new_ledger=new_ledger)


@app.command()
def ledger(
    failed: Annotated[int, Option("--failed", help="How many failed rows to list (newest first).")] = 20,
    format: Annotated[OutFormat, Option("--format", "-f", help="Output format: text or json")] = OutFormat.text,
) -> None:
    """Show the send ledger: messages by state, channel and day, and the failed ones."""
    _run("ledger", failed, format.value)


@app.command()
def optout(
    customer: Annotated[Optional[str], Argument(help="The customer id in any spelling (letter case, a spreadsheet guard), or their phone number or email address.")] = None,
    channel: Annotated[Optional[str], Option("--channel", help="Only this channel. Default: every channel.")] = None,
    token: Annotated[Optional[str], Option("--token", help="An unsubscribe token from a List-Unsubscribe link, instead of CUSTOMER and --channel.")] = None,
) -> None:
    """Record an opt-out: no later message to this customer (on this channel), planned or not."""
    _run("optout", customer, channel, token)
# fmt: on


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (`argv`, default sys.argv[1:]) and return its exit code. It
    writes to sys.stdout and sys.stderr as they are now, scrubbed of every secret the
    command read; a Python caller may run it many times in one process."""
    from . import redact

    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = redact.Scrubbed(streams[0]), redact.Scrubbed(streams[1])
    with redact.remembering():  # the error lines below are scrubbed too
        try:
            app(args=None if argv is None else list(argv), prog_name="huitou")
        except SystemExit as exc:  # typer's way out, with the command's exit code
            return exc.code if isinstance(exc.code, int) else ExitCode.ERROR if exc.code else ExitCode.OK
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            return 130
        except HuitouError as exc:
            return said(exc)
        except Exception as exc:  # a bug, not a user mistake: say so in one line
            return crashed(exc)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr = streams
    return ExitCode.OK
