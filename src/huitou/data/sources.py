"""Where the data is and how to read it: huitou.yaml `data:` or the --data/--orders/
--customers flags. Files with the canonical column names need no configuration."""

from __future__ import annotations

import gzip
import os
import re
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HuitouError
from ..i18n import _, n_

FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".duckdb": "duckdb",
    ".db": "duckdb",
}

REQUIRED_ORDER_COLUMNS = ("customer_id", "ordered_at", "amount")


class DataError(HuitouError):
    """Data that cannot be read at all: names the file (and the column) and how to fix it."""


@dataclass(frozen=True)
class Source:
    name: str  # orders | customers
    path: Path
    format: str
    table: str | None = None
    columns: dict[str, str | list[str]] = field(default_factory=dict)  # canonical -> column in the file (customer_id: a list, first present)
    csv: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # canonical column -> {value in the file: value huitou reads}
    max_rejected: float = 0.5  # a larger share of rejected rows stops the command
    locale: str = ""  # the shop's (default_locale): what a file's encoding likely is

    def column(self, canonical: str) -> str:
        """The file's column for a canonical one (of a customer id read from several
        columns, the first: data/identity.py reads them all)."""
        spec = self.columns.get(canonical, canonical)
        return str(spec[0]) if isinstance(spec, list) else str(spec)

    @property
    def label(self) -> str:
        """The source as messages name it: the file's name, or the engine's table."""
        return f"table {self.table}" if self.format == ENGINE_TABLE else self.path.name


ENGINE_TABLE = "engine"  # the format of a source that is a table of the project's engine


def is_engine_table(spec: Any) -> bool:
    """A source of huitou.yaml naming a table of the project's engine (`table`, no `path`)."""
    return isinstance(spec, dict) and "table" in spec and "path" not in spec


def source_from_config(name: str, spec: dict[str, Any], root: Path, locale: str = "") -> Source:
    """A source of huitou.yaml's data: a file (`path`), or with `table` alone a table of
    the project's engine (orders and customers only: docs/engines.md)."""
    if is_engine_table(spec):
        if name not in ("orders", "customers"):
            raise DataError(_("data.{name}: give path (a file); only orders and customers can be tables of the engine", name=name))
        path, fmt = Path(str(spec["table"])), ENGINE_TABLE
    else:
        path = (root / str(spec["path"])).resolve()
        fmt = spec.get("format") or detect_format(path)
    return Source(
        name=name,
        path=path,
        format=fmt,
        table=spec.get("table"),
        columns={k: [str(c) for c in v] if isinstance(v, list) else str(v) for k, v in (spec.get("columns") or {}).items()},
        csv=dict(spec.get("csv") or {}),
        fields={name: str(s["type"] if isinstance(s, dict) else s) for name, s in (spec.get("fields") or {}).items()},
        values={str(c): {_value_text(k): _value_text(v) for k, v in (m or {}).items()} for c, m in (spec.get("values") or {}).items()},
        max_rejected=float(str(spec.get("max_rejected", "50%")).rstrip("%")) / 100,
        locale=locale,
    )


_SYSTEM = ("/proc", "/sys", "/dev", "/run")  # the kernel's and the system's, never data


def is_system_path(path: Path) -> bool:
    """A path in the system's directories (after links): never data or templates."""
    resolved = os.path.realpath(path)
    return any(resolved == d or resolved.startswith(d + "/") for d in _SYSTEM)


def check_data_file(path: Path, what: str, contents: bool = True) -> None:
    """A data file huitou may read: a regular file, not a file of the system's directories
    (/proc/self/environ holds the environment), not a directory, device, pipe or socket,
    and (`contents`) not a compression bomb. DataError otherwise, naming `what`
    (data.customers.path, --orders)."""
    resolved = Path(os.path.realpath(path))
    if is_system_path(resolved):
        said = _(
            "{what}: {path} is a file of the system ({resolved}), not a data file; give the path of a CSV, Parquet, JSONL or DuckDB file",
            what=what,
            path=path,
            resolved=resolved,
        )
        raise DataError(said)
    try:
        mode = resolved.stat().st_mode
    except FileNotFoundError:
        raise DataError(_("{what}: {path} does not exist", what=what, path=path)) from None
    except OSError as exc:
        raise DataError(_("{what}: {path} cannot be read ({reason})", what=what, path=path, reason=exc.strerror)) from None
    if not stat.S_ISREG(mode):
        kind = (
            _("a directory")
            if stat.S_ISDIR(mode)
            else _("a pipe")
            if stat.S_ISFIFO(mode)
            else _("a socket")
            if stat.S_ISSOCK(mode)
            else _("a device")
        )
        raise DataError(
            _("{what}: {path} is {kind}, not a data file; give the path of a CSV, Parquet, JSONL or DuckDB file", what=what, path=path, kind=kind)
        )
    if contents:
        _check_expansion(resolved, what)


MAX_EXPANSION = 100  # a compressed file may expand to this many times its size (exports: 5-20)
_CHUNK = 1 << 20


def _check_expansion(path: Path, what: str) -> None:
    """A gzip file is read only when it expands to at most MAX_EXPANSION times its size
    (counted by decompressing it once, stopping at the bound): a 3 MB file of zeros that
    expands to 3 GB is refused after reading 300 MB of it. Other compressions DuckDB would
    open by their extension are refused: huitou cannot bound them."""
    suffix = path.suffix.lower()
    if suffix in (".zst", ".zstd"):
        raise DataError(
            _("{what}: {path} is compressed with zstd, which huitou does not read; decompress it, or compress it with gzip", what=what, path=path)
        )
    if suffix not in (".gz", ".gzip"):
        return
    bound, expanded = max(path.stat().st_size, 1) * MAX_EXPANSION, 0
    try:
        with gzip.open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                expanded += len(chunk)
                if expanded > bound:
                    raise DataError(
                        _(
                            "{what}: {path} expands to more than {times} times its size ({bound:,} bytes read, not the end): "
                            "not an export (a compression bomb?); decompress it and check it",
                            what=what,
                            path=path,
                            times=MAX_EXPANSION,
                            bound=bound,
                        )
                    )
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(_("{what}: {path} is not a whole gzip file ({reason})", what=what, path=path, reason=exc)) from None


# What a header's names look like: short, no control characters, no `=` or `:` of a
# settings line, no quotes, not a token (a long run of letters and digits).
_NOT_A_NAME = re.compile(r"[=:/\\'\"\x00-\x1f\x7f-\x9f]|^(?=\S*\d)(?=\S*[A-Za-z])[\w+/.-]{16,}$")


def column_names(columns: list[str]) -> str:
    """A file's columns as an error message lists them. Only when they read as names:
    the first line of a file that is not a table (a settings file, a key) is content, and
    a message never shows a file's content.

    >>> column_names(["order_id", "下单时间"])
    'order_id, 下单时间'
    >>> column_names(["AWS_SECRET_ACCESS_KEY=abc123"])
    '1 column whose name is not shown (the first line does not read as a header of names)'
    """
    if columns and all(len(c) <= 40 and not _NOT_A_NAME.search(c) for c in columns):
        return ", ".join(columns)
    return n_(
        "{n:,} column whose name is not shown (the first line does not read as a header of names)",
        "{n:,} columns whose names are not shown (the first line does not read as a header of names)",
        len(columns),
    )


MAX_COLUMNS = 1_000  # no export has more; a file that does is not one (or its delimiter is wrong)


def too_wide(source: Source, columns: int) -> None:
    """Refuse a file of more than MAX_COLUMNS columns before reading it: DuckDB's work
    grows with the square of them (30,000 columns: minutes)."""
    if columns > MAX_COLUMNS:
        raise DataError(
            _(
                "{file}: {columns:,} columns, more than the {most:,} huitou reads: not an export of orders or customers "
                "(if it is, the delimiter may be wrong: set data.{source}.csv.delimiter)",
                file=source.path,
                columns=columns,
                most=MAX_COLUMNS,
                source=source.name,
            )
        )


def data_files(config: dict[str, Any], root: Path) -> list[Path]:
    """Every file huitou.yaml's `data:` names (orders, customers, history, suppression):
    the files a DuckDB connection of huitou may read (db.connect)."""
    specs = (config.get("data") or {}).values()
    return [(root / str(spec["path"])).resolve() for spec in specs if isinstance(spec, dict) and spec.get("path")]


def field_limits(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Declared limits of profile fields ({max_length, charset}), from the customers' and
    the orders' `fields`."""
    data = config.get("data") or {}
    out: dict[str, dict[str, Any]] = {}
    for source in ("orders", "customers"):
        for name, spec in ((data.get(source) or {}).get("fields") or {}).items():
            if isinstance(spec, dict):
                out[name] = {k: spec[k] for k in ("max_length", "charset") if k in spec}
    return out


def _value_text(value: object) -> str:
    """A value of a `values:` mapping as the text it matches or becomes (YAML's true is
    'true')."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            _(
                "{file}: cannot tell the format from the extension '{suffix}'; set `format:` (csv, parquet, jsonl, duckdb) in huitou.yaml",
                file=path,
                suffix=path.suffix,
            )
        )
    return fmt


def find_in_dir(directory: Path, stem: str) -> Path | None:
    found = sorted(p for p in directory.glob(f"{stem}.*") if p.suffix.lower() in FORMATS)
    return found[0] if found else None


def resolve(
    config: dict[str, Any],
    root: Path,
    *,
    data_dir: Path | None = None,
    orders: Path | None = None,
    customers: Path | None = None,
    engine_kind: str | None = "duckdb",
    must_exist: bool = True,
) -> tuple[Source, Source | None]:
    """The orders source (required) and the customers source (optional). Flags win over
    huitou.yaml; a flag keeps the config's column mapping and CSV options for that source.
    `engine_kind` None: any engine may read tables; `must_exist` False: the files need not
    be there yet (huitou compile)."""
    specs = dict(config.get("data") or {})
    if data_dir is not None:
        if not data_dir.is_dir():
            raise DataError(_("--data {dir}: not a directory", dir=data_dir))
        found_orders = find_in_dir(data_dir, "orders")
        if found_orders is None:
            raise DataError(_("--data {dir}: no orders.csv, orders.parquet or orders.jsonl inside", dir=data_dir))
        orders = orders or found_orders
        customers = customers or find_in_dir(data_dir, "customers")
    out: dict[str, Source | None] = {}
    for name, flag in (("orders", orders), ("customers", customers)):
        spec = dict(specs.get(name) or {})
        if flag is not None:
            spec = {
                **spec,
                "path": str(flag.resolve()),
                "format": spec.get("format") if "path" not in spec or Path(spec["path"]).suffix == flag.suffix else None,
            }
        locale = str(config.get("default_locale") or "")
        out[name] = source_from_config(name, spec, root, locale) if spec.get("path") or spec.get("table") else None
    if out["orders"] is None:
        raise DataError(_("no order data: give --data DIR or --orders FILE, or set data.orders.path in huitou.yaml"))
    for source in out.values():
        if source is not None and source.format == ENGINE_TABLE and engine_kind == "duckdb":
            raise DataError(
                _(
                    "data.{source}: table {table} without path names a table of the engine, and the engine is the embedded DuckDB: "
                    "give path (a file, or a DuckDB database holding the table), or name the engine (huitou.yaml's engine, --engine)",
                    source=source.name,
                    table=repr(source.table),
                )
            )
        if must_exist and source is not None and source.format != ENGINE_TABLE:
            check_data_file(source.path, f"data.{source.name}.path")
    return out["orders"], out["customers"]
