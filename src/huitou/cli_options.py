"""The command line's shared vocabulary: the choices its options take, the arguments and
options several commands declare alike, and the data options every data command takes as
one `DataOptions`."""

from __future__ import annotations

import enum
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer import Argument, Option

from . import __version__
from .workspace import DataOptions


class Format(enum.StrEnum):
    text, json, github, sarif = "text", "json", "github", "sarif"


class SchemaKind(enum.StrEnum):
    playbook, project, test = "playbook", "project", "test"


class OutFormat(enum.StrEnum):
    text, json = "text", "json"


class ReportFormat(enum.StrEnum):
    text, json, csv = "text", "json", "csv"


class DiffFormat(enum.StrEnum):
    text, json, markdown = "text", "json", "markdown"


class Every(enum.StrEnum):
    month, week, quarter = "month", "week", "quarter"


# fmt: off
# Arguments and options several commands share.
Paths = Annotated[Optional[list[Path]], Argument(help="Playbooks or directories. Default: the project.")]
AsOf = Annotated[Optional[str], Option("--as-of", help="Evaluation date, YYYY-MM-DD (default: today in the data's timezone).")]
TextOrJson = Annotated[OutFormat, Option("--format", "-f", help="text or json")]
Customer = Annotated[str, Argument(help="The customer id, exactly as in the data.")]
DATA_OPTIONS = {
    "as_of": AsOf,
    "data": Annotated[Optional[Path], Option("--data", help="Directory with orders.* (and customers.*).")],
    "orders": Annotated[Optional[Path], Option("--orders", help="Orders file (CSV, Parquet, JSONL, DuckDB).")],
    "customers": Annotated[Optional[Path], Option("--customers", help="Customers file.")],
    "timezone": Annotated[Optional[str], Option("--timezone", help="Timezone of local dates (default: the playbooks', else huitou.yaml's, else Asia/Shanghai).")],
    "quarantine": Annotated[Optional[Path], Option("--quarantine", help="Where rejected rows go (default .huitou/quarantine/).")],
    "memory_limit": Annotated[Optional[str], Option("--memory-limit", help="Most memory the data engine holds before it spills to disk, e.g. 4GB (default: a tenth of RAM, at least 2 GiB).")],
    "engine": Annotated[Optional[str], Option("--engine", help="Where the features are computed: duckdb (embedded), spark or postgres (default: huitou.yaml's engine, else duckdb).")],
}
# fmt: on


def with_data_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the shared data options; it receives them as one `opts: DataOptions`.
    Typer reads a command's options from its signature, so the wrapper's signature is the
    command's own (less `opts`) plus one keyword parameter per data option."""
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)  # this module postpones annotations
    own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "opts"]
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=type_) for name, type_ in DATA_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        command(opts=DataOptions(**{name: kwargs.pop(name) for name in DATA_OPTIONS}), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**{p.name: p.annotation for p in own}, **DATA_OPTIONS, "return": None}
    return wrapper


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"huitou {__version__}")
        raise typer.Exit()


Version = Annotated[Optional[bool], Option("--version", callback=_show_version, is_eager=True, help="Show the version.")]
