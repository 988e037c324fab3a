"""The `huitou` command line: a thin layer over the pipeline stages.

Exit codes: 0 clean, 1 problems found, 2 usage or internal error. A user's mistake is
reported as a diagnostic; an unexpected failure prints one line (HUITOU_DEBUG=1 shows
the traceback), never a bare traceback.
"""

from __future__ import annotations

import enum
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .diagnostics import ExitCode

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
    """Print the JSON Schema (draft-07) of playbooks or of huitou.yaml."""
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
) -> None:
    """Write a starter project that validates clean."""
    from .starter import write_starter

    try:
        written = write_starter(directory, force=force)
    except FileExistsError as exc:
        typer.echo(f"huitou init: {exc}; use --force to overwrite", err=True)
        raise typer.Exit(ExitCode.ERROR) from None
    for path in written:
        typer.echo(f"created {path}")
    typer.echo(f"\nnext: cd {directory} && huitou validate")


@app.command("compile")
def compile_(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Playbooks or directories. Default: the project.")] = None,
    dialect: Annotated[str, typer.Option("--dialect", help="SQL dialect: duckdb, postgres, bigquery, snowflake, spark, ...")] = "duckdb",
) -> None:
    """Show the SQL each segment and rule compiles to (after validating)."""
    import sqlglot

    from .compile import compile_playbook
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
    for ctx in result.playbooks:
        typer.echo(f"-- playbook {ctx.name} ({ctx.doc.path})")
        for item in compile_playbook(ctx):
            typer.echo(f"-- {item.kind} {item.name}\n{item.sql.sql(dialect)};")


def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:  # a bug, not a user mistake: say so in one line
        if os.environ.get("HUITOU_DEBUG"):
            raise
        sys.stderr.write(f"huitou: internal error: {type(exc).__name__}: {exc} (set HUITOU_DEBUG=1 for details)\n")
        sys.exit(ExitCode.ERROR)
