"""The `huitou` command line (click): the commands and their options, nothing else; what a
command does is in commands/. `main` gives the exit code: 0 clean, 1 problems found, 2 a
usage or internal error (one line; HUITOU_DEBUG=1 shows the traceback)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from . import __version__
from . import cli_options as opt
from .errors import HuitouError, crashed, said
from .workspace import DataOptions


@click.group(name="huitou", context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 100}, no_args_is_help=True)
@click.version_option(__version__, "--version", prog_name="huitou", message="%(prog)s %(version)s", help="Show the version.")
@click.option(
    "--lang",
    metavar="LANG",
    expose_value=False,
    help="The language huitou speaks: en, zh-CN or ja, anywhere on the line (default: HUITOU_LANG, then huitou.yaml language:, then the locale, LANG).",
)
def app() -> None:
    """Retention playbooks as code: validate, evaluate and plan repeat-purchase marketing."""


def data_command(function: Any) -> Any:  # a command of the shop's data: the data options come as `opts`
    return app.command(function.__name__.rstrip("_"))(opt.with_data_options(function))


# One option to a line, however long its help (not reflowed); arguments are described in the help text.
# fmt: off
@app.command()
@opt.PATHS
@click.option("--format", "-f", type=click.Choice(opt.FORMATS), help="Output format; github is the default under GitHub Actions.")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
def validate(paths: tuple[Path, ...], format: str | None, strict: bool) -> int:
    """Check playbooks, templates and the project config, like code.

    PATHS: playbooks, templates, huitou.yaml or directories (default: the project)."""
    return opt.run("validate", list(paths), format, strict)


@app.command()
@click.argument("kind", type=click.Choice(opt.SCHEMA_KINDS), default="playbook")
@click.option("--out", type=opt.PATH, help="Write every schema into this directory instead.")
def schema(kind: str, out: Path | None) -> int:
    """Print the JSON Schema (draft-07) of playbooks, of huitou.yaml or of test files.

    KIND: which schema to print (default: playbook)."""
    return opt.run("schema", kind, out)


@app.command()
@click.argument("directory", type=opt.PATH)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@click.option("--locale", help="The shop's language: zh-CN, en, en-GB, ... (playbooks, templates and sample data in it; default: the export's platform's, else zh-CN).")
@click.option("--timezone", help="The shop's IANA timezone (default: Asia/Shanghai for Chinese, Asia/Tokyo for Japanese, America/New_York for English).")
@click.option("--from", "from_", type=opt.PATH, help="The shop's own order export (CSV): its platform, columns, encoding, status words and date form become huitou.yaml's data section, instead of sample data.")
def init(directory: Path, force: bool, locale: str | None, timezone: str | None, from_: Path | None) -> int:
    """Write a starter project that validates clean and plans at once over its sample data, or over the shop's own export (--from).

    DIRECTORY: where to create the project."""
    return opt.run("init", directory, force, locale, timezone, from_)


@app.command("compile")
@opt.PATHS
@click.option("--dialect", default="duckdb", show_default=True, help="SQL dialect: duckdb, postgres, bigquery, snowflake, spark, ...")
@opt.AS_OF
@click.option("--horizon", default="14d", show_default=True, help="The plan's horizon, e.g. 14d or 2w (the candidates' dates).")
def compile_(paths: tuple[Path, ...], dialect: str, as_of: str | None, horizon: str) -> int:
    """Show the SQL a plan runs on the engine: the features, the matched customers and the candidates, then each segment and rule (after validating).

    PATHS: playbooks or directories (default: the project)."""
    return opt.run("compile", list(paths), dialect, as_of, horizon)


@data_command
@click.option("--out", type=opt.PATH, help="Write the table to FILE (.csv or .parquet); default: CSV on stdout.")
def features(opts: DataOptions, out: Path | None) -> int:
    """Write the per-customer feature table: the values every predicate sees."""
    return opt.run("features", opts, out)


@data_command
@opt.PATHS
@opt.TEXT_OR_JSON_FORMAT
def segments(opts: DataOptions, paths: tuple[Path, ...], format: str) -> int:
    """Count the customers in every segment, rule and lifecycle stage.

    PATHS: playbooks or directories (default: the project)."""
    return opt.run("segments", opts, list(paths), format)


@data_command
@click.option("--from", "start", required=True, help="First day of the range, YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="Last day of the range, YYYY-MM-DD (default as-of date: this day).")
@click.option("--every", type=click.Choice(opt.PERIODS), help="Also per calendar period: month, week or quarter.")
@click.option("--format", "-f", type=click.Choice(opt.REPORT_FORMATS), default="text", show_default=True, help="text, json or csv")
@click.option("--html", type=opt.PATH, help="Also write a self-contained HTML report (charts included) to FILE.")
def report(opts: DataOptions, start: str, end: str, every: str | None, format: str, html: Path | None) -> int:
    """Repeat purchase as the shop counts it: by customer and by transaction, per period, stage and cohort."""
    return opt.run("report", opts, start, end, every, format, html)


@data_command
@click.argument("code")
def referral(opts: DataOptions, code: str) -> int:
    """Whose referral code this is: the customer to credit (needs referral.secret_env set).

    CODE: a referral code, as an order carried it (R and 10 hexadecimal digits)."""
    return opt.run("referral", opts, code)


@data_command
@click.option("--holdout", default="90d", show_default=True, help="The fit check's holdout period before the as-of date: 90d, 13w.")
@opt.TEXT_OR_JSON_FORMAT
def forecast(opts: DataOptions, holdout: str, format: str) -> int:
    """The purchase models behind p_alive and expected_*_90d: their parameters, and a check of their predictions against a holdout period."""
    return opt.run("forecast", opts, holdout, format)


@data_command
@opt.CUSTOMER
@opt.PATHS
@opt.TEXT_OR_JSON_FORMAT
def explain(opts: DataOptions, customer: str, paths: tuple[Path, ...], format: str) -> int:
    """Show a customer's features and, for every segment and rule, which clause held or failed.

    CUSTOMER: the customer id, exactly as in the data. PATHS: playbooks or directories (default: the project)."""
    return opt.run("explain", opts, customer, list(paths), format)


@data_command
@opt.PATHS
@click.option("--horizon", default="14d", show_default=True, help="How far ahead to plan: 14d, 2w.")
@click.option("--out", type=opt.PATH, help="Write the send plan to FILE (.jsonl, .csv or .parquet). Without it: the dry run.")
@click.option("--format", "-f", type=click.Choice(opt.TEXT_OR_JSON), default="text", show_default=True, help="Dry run output: text or json")
@click.option("--show-pii", is_flag=True, help="Show phone numbers and emails in the dry run unmasked.")
@click.option("--samples", type=int, default=3, show_default=True, help="Rendered messages shown in the dry run.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Processes rendering messages. Default: one per core.")
@click.option("--html", type=opt.PATH, help="Also write the plan as a self-contained page to FILE: problems, calendar, each rule's funnel, the messages.")
@click.option("--customer", "followed", multiple=True, metavar="ID", help="With --html: show this customer's messages on the page (repeatable).")
@click.option("--profile", is_flag=True, help="Print each stage's seconds and rows and the peak memory to stderr (also: HUITOU_PROFILE=1).")
def plan(
    opts: DataOptions,
    paths: tuple[Path, ...],
    horizon: str,
    out: Path | None,
    format: str,
    show_pii: bool,
    samples: int,
    jobs: int | None,
    html: Path | None,
    followed: tuple[str, ...],
    profile: bool,
) -> int:
    """Decide who gets which message, on which channel, when - and why the others do not.

    PATHS: playbooks or directories (default: the project)."""
    return opt.run("plan", opts, list(paths), horizon, out, format, show_pii, samples, jobs, html, followed, profile)


@data_command
@click.argument("base")
@click.argument("head", required=False)
@click.option("--horizon", default="14d", show_default=True, help="How far ahead both are planned: 14d, 2w.")
@click.option("--format", "-f", type=click.Choice(opt.DIFF_FORMATS), default="text", show_default=True, help="text, json, markdown (a pull-request comment) or html (a page, a pull request's artifact)")
@click.option("--out", type=opt.PATH, help="Write the diff to FILE instead of stdout.")
def diff(opts: DataOptions, base: str, head: str | None, horizon: str, format: str, out: Path | None) -> int:
    """What a playbook change does to customers: both versions planned over the same data.

    BASE: the version before, a git revision (main, HEAD~1, a commit) or a project directory. HEAD: the version after (default: the working tree)."""
    return opt.run("diff", opts, base, head, horizon, format, out)


@data_command
@click.argument("rule")
@click.option("--customer", required=True, help="The customer id, exactly as in the data.")
@opt.PATHS
@click.option("--horizon", default="14d", show_default=True, help="How far ahead to look: 14d, 2w.")
def preview(opts: DataOptions, rule: str, customer: str, paths: tuple[Path, ...], horizon: str) -> int:
    """Show one customer's message from one rule: when it goes out and what it says, or why not.

    RULE: the rule id (or playbook/rule when ids repeat across playbooks). PATHS: playbooks or directories (default: the project)."""
    return opt.run("preview", opts, rule, customer, list(paths), horizon)


@app.command("test")
@opt.PATHS
@click.option("--select", "-k", help="Run only the tests whose name contains this text.")
def test_command(paths: tuple[Path, ...], select: str | None) -> int:
    """Run the playbooks' tests: given rows and a date, the plan must hold the expected sends and suppressions.

    PATHS: test files (NAME.test.yaml) or directories (default: every test file of the project)."""
    return opt.run("test", list(paths), select)


@app.command()
@click.argument("plan_file", metavar="PLAN", type=opt.PATH)
@click.option("--live", is_flag=True, help="Deliver. Without it: a dry run that shows what would go out and writes nothing.")
@click.option("--channel", help="Only this channel's rows.")
@click.option("--until", help="Send rows planned up to this time (ISO 8601; a date means the end of that day; no offset: the project's timezone), or a time ahead of the clock: +30m, +24h, +2d. Default: now.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="When another `huitou send` is delivering from the same ledger: wait for it, or stop at once.")
@click.option("--retry-failed", is_flag=True, help="Give the plan's failed rows another set of attempts (once the cause is fixed).")
@click.option("--expire-after", type=float, metavar="HOURS", help="Skip rows this many hours past their send time. Default: delivery.expire_after_hours, 24.")
@opt.TEXT_OR_JSON_FORMAT
@click.option("--now", help="Run as if the clock said this time (ISO 8601; no offset: the project's timezone): due-ness, expiry and the times recorded. For replays, tests and catching up.")
@click.option("--new-ledger", is_flag=True, help="Accept a ledger that is missing or is not the one this project sent with, deliberately: what the old one recorded (sent messages, opt-outs) is not known to the new one.")
def send(plan_file: Path, **options: Any) -> int:
    """Deliver a plan's due messages, exactly once, through the channels in huitou.yaml.

    PLAN: a plan written by `huitou plan --out` (.jsonl, .csv or .parquet)."""
    return opt.run("send", plan_file, **options)


@app.command()
@click.option("--failed", type=int, default=20, show_default=True, help="How many failed rows to list (newest first).")
@opt.TEXT_OR_JSON_FORMAT
def ledger(failed: int, format: str) -> int:
    """Show the send ledger: messages by state, channel and day, and the failed ones."""
    return opt.run("ledger", failed, format)


@app.command()
@click.argument("customer", required=False)
@click.option("--channel", help="Only this channel. Default: every channel.")
@click.option("--token", help="An unsubscribe token from a List-Unsubscribe link, instead of CUSTOMER and --channel.")
def optout(customer: str | None, channel: str | None, token: str | None) -> int:
    """Record an opt-out: no later message to this customer (on this channel), planned or not.

    CUSTOMER: the customer id in any spelling (letter case, a spreadsheet guard), or their phone number or email address."""
    return opt.run("optout", customer, channel, token)
# fmt: on


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (`argv`, default sys.argv[1:]); its exit code. Output goes to
    sys.stdout and sys.stderr, scrubbed of the secrets the command read; a Python caller
    may run it many times in one process."""
    from . import i18n

    try:
        tag, args = i18n.for_command(sys.argv[1:] if argv is None else list(argv))
    except i18n.UnknownLanguage as exc:  # before any secret is read: nothing to scrub yet
        return said(HuitouError(str(exc)))
    with i18n.speaking(tag), opt.help_in(app, i18n.lookup, tag == "en"):
        return _run(args)


def _run(args: list[str]) -> int:
    """The command line, spoken in the language chosen (main): its exit code."""
    from . import redact
    from .i18n import _

    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = redact.Scrubbed(streams[0]), redact.Scrubbed(streams[1])
    with redact.remembering():  # the error lines below are scrubbed too
        try:
            code = app.main(args=args, prog_name="huitou", standalone_mode=False)
            return int(code or 0)
        except click.exceptions.Exit as exc:  # --help, --version
            return int(exc.exit_code)
        except click.ClickException as exc:  # a usage mistake: click's usage line and the error
            exc.show()
            return int(exc.exit_code)
        except (KeyboardInterrupt, click.Abort):
            sys.stderr.write(_("interrupted") + "\n")
            return 130
        except HuitouError as exc:
            return said(exc)
        except Exception as exc:  # a bug, not a user mistake: say so in one line
            return crashed(exc)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr = streams
