"""The command line's shared vocabulary: the choices its options take, the arguments and
options several commands declare alike, and the data options every data command takes as
one `DataOptions`.

The command line is click's (typer 0.2x, built on it, brought pydantic into every start:
0.14 s of a 0.4 s `huitou validate`)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from .workspace import DataOptions

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

# The choices of the options that take one, first the default where there is one.
FORMATS = ("text", "json", "github", "sarif")
SCHEMA_KINDS = ("playbook", "project", "test")
TEXT_OR_JSON = ("text", "json")
REPORT_FORMATS = ("text", "json", "csv")
DIFF_FORMATS = ("text", "json", "markdown", "html")
PERIODS = ("month", "week", "quarter")

PATH = click.Path(path_type=Path)


def options(*decorators: Decorator) -> Decorator:
    """Several click decorators as one, applied in the order written (the help lists them so)."""

    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


# fmt: off
# Arguments and options several commands share.
PATHS = click.argument("paths", nargs=-1, type=PATH)  # Playbooks or directories. Default: the project.
AS_OF = click.option("--as-of", help="Evaluation date, YYYY-MM-DD (default: today in the data's timezone).")
TEXT_OR_JSON_FORMAT = click.option("--format", "-f", type=click.Choice(TEXT_OR_JSON), default="text", show_default=True, help="text or json")
CUSTOMER = click.argument("customer")  # The customer id, exactly as in the data.
DATA_OPTIONS = {
    "as_of": AS_OF,
    "data": click.option("--data", type=PATH, help="Directory with orders.* (and customers.*)."),
    "orders": click.option("--orders", type=PATH, help="Orders file (CSV, Parquet, JSONL, DuckDB)."),
    "customers": click.option("--customers", type=PATH, help="Customers file."),
    "timezone": click.option("--timezone", help="Timezone of local dates (default: the playbooks', else huitou.yaml's, else Asia/Shanghai)."),
    "quarantine": click.option("--quarantine", type=PATH, help="Where rejected rows go (default .huitou/quarantine/)."),
    "memory_limit": click.option("--memory-limit", help="Most memory the data engine holds before it spills to disk, e.g. 4GB (default: a tenth of RAM, at least 2 GiB)."),
    "engine": click.option("--engine", help="Where the features are computed: duckdb (embedded), spark or postgres (default: huitou.yaml's engine, else duckdb)."),
}
# fmt: on


def run(name: str, *args: Any, **kwargs: Any) -> int:
    """Run commands/NAME.py's NAME (imported now: each start stays light); its exit code."""
    import importlib

    module = importlib.import_module(f".commands.{name}", __package__)
    return int(getattr(module, name if hasattr(module, name) else name + "_")(*args, **kwargs) or 0)


def with_data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the shared data options, after its own; it receives them as one
    `opts: DataOptions`."""

    own = list(getattr(command, "__click_params__", []))

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        return command(DataOptions(**{name: kwargs.pop(name) for name in DATA_OPTIONS}), **kwargs)

    wrapper.__click_params__ = []  # type: ignore[attr-defined]
    options(*DATA_OPTIONS.values())(wrapper)
    # click lists a command's parameters in the reverse of this list: its own, then these.
    wrapper.__click_params__ += own  # type: ignore[attr-defined]
    return wrapper


def helped(group: click.Group) -> list[Any]:
    """The group, its commands and their options: everything whose `help` is a text the
    help page shows (tools/catalog.py puts each in the catalog)."""
    items: list[Any] = [group, *group.params]
    for command in group.commands.values():
        items += [command, *command.params]
    return [item for item in items if getattr(item, "help", None)]


@contextlib.contextmanager
def help_in(group: click.Group, translate: Callable[[str], str], english: bool) -> Iterator[None]:
    """The help page in the chosen language for one command line: each help text
    translated, and the commands' one-line summaries cut at the first sentence of the
    translation (click's own cut splits at spaces, which Chinese and Japanese do not
    write). Given back as they were after."""
    saved = [(item, item.help, getattr(item, "short_help", None)) for item in helped(group)]
    try:
        for item, text, _short in saved:
            item.help = translate(text)
            if isinstance(item, click.Command) and not english:
                item.short_help = item.help.partition("\n\n")[0].partition("。")[0] + "。"
        yield
    finally:
        for item, text, short in saved:
            item.help = text
            if isinstance(item, click.Command):
                item.short_help = short
