"""A source as it stands: the view `raw_<name>` over its file or table, every column as
read, plus `_row`, the 1-based data row number that the checks and the quarantine cite.

Reading is lazy: a 10M-row Parquet file streams through the feature query instead of
being copied into memory. Every statement is a sqlglot tree; the file's path and column
names reach it only as literals and quoted identifiers.
"""

from __future__ import annotations

import duckdb
from sqlglot import exp

from ..db import create, drop_table, first_row, named, quoted, run, scalar, select_tree, tree
from ..diagnostics import did_you_mean
from ..i18n import _
from .csvfile import open_csv
from .encoding import text_path
from .sources import ENGINE_TABLE, DataError, Source, column_names, too_wide

_BLANKS = r"\s+"  # what separates the fields of a space-aligned file (CDNOW)


def engine_raw(source: Source) -> str:
    """The local table an engine's table source is brought into (evaluate.open_data)."""
    return "engine_raw_" + source.name


def columns_of(con: duckdb.DuckDBPyConnection, relation: exp.Expr) -> dict[str, str]:
    """The columns of a table, view or query, with their DuckDB types."""
    return {str(name): str(type_) for name, type_, *_ in run(con, exp.Describe(this=relation.copy())).fetchall()}


def raw_table(source: Source) -> exp.Table:
    """The view open_raw creates over a source's file, for the stage that reads it."""
    return named("raw_" + source.name)


def forget(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Drop a source's view and its malformed rows once what was read from it is a table."""
    drop_table(con, raw_table(source), "VIEW")
    drop_table(con, named("malformed_" + source.name))


def open_raw(con: duckdb.DuckDBPyConnection, source: Source) -> dict[str, str]:
    """Create the view raw_table(source) over the file; its columns and their types."""
    if source.format != ENGINE_TABLE and source.path.is_file() and source.path.stat().st_size == 0:
        raise DataError(_("{file}: the file is empty", file=source.path))
    try:
        select = _raw_select(con, source)
        described = columns_of(con, select)
        too_wide(source, len(described) - 1)  # Parquet, JSONL, a table (CSV: before reading)
        create(con, raw_table(source).name, _without_nul(select, described, source))
        return described  # removing NUL bytes keeps every column's type
    except duckdb.Error as exc:
        text = str(exc).strip()
        hint = "; " + _("the file must be UTF-8 text") if "unicode" in text.lower() else ""
        raise DataError(
            _("{file}: cannot read it as {format}: {reason}", file=source.path, format=source.format, reason=text.splitlines()[0]) + hint
        ) from None


def need_column(source: Source, columns: dict[str, str], canonical: str) -> exp.Column:
    """The source's column for a canonical one; a clear error when the source has none."""
    name = source.column(canonical)
    if name not in columns:
        present = [c for c in columns if c != "_row"]
        listed = column_names(present)
        hint = (did_you_mean(name, present) if listed == ", ".join(present) else "") or _(
            "map it in huitou.yaml: data.{source}.columns: {{{column}: <your column>}}", source=source.name, column=canonical
        )
        raise DataError(
            _(
                "{file}: no column '{name}' (for {column}); the file has {listed}; {hint}",
                file=source.path,
                name=name,
                column=canonical,
                listed=listed,
                hint=hint,
            )
        )
    return quoted(name)


def mapped(source: Source, canonical: str, value: exp.Expr) -> exp.Expr:
    """A column with the source's `values:` mapping for it applied (exact match after
    trimming; other values pass unchanged), or the column itself when it has none."""
    mapping = source.values.get(canonical)
    if not mapping:
        return value
    text = exp.cast(value, "VARCHAR")
    cases = [exp.If(this=exp.Literal.string(str(k)), true=exp.Literal.string(str(v))) for k, v in mapping.items()]
    return exp.Paren(this=exp.Case(this=exp.Trim(this=text.copy()), ifs=cases, default=text))


def _raw_select(con: duckdb.DuckDBPyConnection, source: Source) -> exp.Select:
    """The query reading the file as it is, plus `_row`."""
    path = str(source.path)
    if source.format == "parquet":
        return select_tree(
            "SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _row FROM read_parquet(:path, file_row_number = true)", path=path
        )
    if source.format == "jsonl":
        return select_tree("SELECT *, row_number() OVER () AS _row FROM read_json(:path, format = 'newline_delimited')", path=path)
    if source.format == ENGINE_TABLE:
        # A table has no row order: number the rows by their values (DuckDB's byte order,
        # whatever the engine's collation), so that ties are settled alike on every run.
        local = named(engine_raw(source))
        numbered = select_tree("SELECT *, row_number() OVER (ORDER BY _values) AS _row FROM :local", local=local)
        order = numbered.find(exp.Order)
        assert order is not None
        order.set("expressions", [quoted(c) for c in columns_of(con, local)])
        return numbered
    if source.format == "duckdb":
        table = _base_table(con, source)
        return select_tree("SELECT *, row_number() OVER () AS _row FROM :table", table=table)
    if source.csv.get("delimiter") == "whitespace":
        return _space_aligned(con, source)
    return open_csv(con, source)


def _space_aligned(con: duckdb.DuckDBPyConnection, source: Source) -> exp.Select:
    """A space-aligned file (CDNOW): each line split on runs of blanks."""
    header = bool(source.csv.get("header", True))
    names = source.csv.get("names")
    lines = select_tree(
        """SELECT line, row_number() OVER () AS n
                    FROM (SELECT unnest(string_split(replace(content, chr(13), ''), chr(10))) AS line FROM read_text(:path))""",
        path=str(text_path(source)),
    )
    parts = tree("regexp_split_to_array(trim(line), :blanks)", blanks=_BLANKS)
    if names is None:
        if not header:
            raise DataError(_("{file}: a file without a header needs csv.names in huitou.yaml", file=source.path))
        first = first_row(con, exp.select(parts.copy()).from_(lines.subquery()).where("n = 1"))
        names = list(first[0]) if first else []
    skip = 1 if header else 0
    # list_extract, not parts[i]: sqlglot shifts a bracket's index it did not parse.
    cells = [tree("list_extract(:parts, :i)", parts=parts, i=i + 1).as_(name, quoted=True) for i, name in enumerate(names)]
    return (
        exp.select(*cells, tree("n - :skip", skip=skip).as_("_row")).from_(lines.subquery()).where(tree("n > :skip AND trim(line) <> ''", skip=skip))
    )


def _base_table(con: duckdb.DuckDBPyConnection, source: Source) -> exp.Table:
    """The source's table in its DuckDB database file. Tables only: a view or a macro of
    the file is SQL its author wrote, and reading a view would run it with huitou's
    rights (the connection is confined besides: db.connect)."""
    database, name = _attached(con, source), source.table or source.name
    kind = scalar(
        con,
        "SELECT 'table' FROM duckdb_tables() WHERE database_name = ? AND table_name = ? "
        "UNION ALL SELECT 'view' FROM duckdb_views() WHERE database_name = ? AND view_name = ?",
        [database, name, database, name],
    )
    if kind != "table":
        what = _("is a view: huitou reads tables only, never the file's own SQL") if kind == "view" else _("is not a table of the file")
        said = _(
            "{file}: {name} {what}; set data.{source}.table to a table (CREATE TABLE {table}_table AS SELECT ... in the file)",
            file=source.path,
            name=repr(name),
            what=what,
            source=source.name,
            table=name,
        )
        raise DataError(said)
    return exp.table_(name, db=database, quoted=True)


def _attached(con: duckdb.DuckDBPyConnection, source: Source) -> str:
    """The name of the attached DuckDB database file of a source, attached read-only once
    per file (orders and customers often share one; DuckDB 1.x refuses a second attach)."""
    found = scalar(con, "SELECT database_name FROM duckdb_databases() WHERE path = ?", [str(source.path)])
    if found is not None:
        return str(found)
    name = "src_" + source.name
    run(con, tree("ATTACH :path AS :name (READ_ONLY)", path=str(source.path), name=exp.to_identifier(name, quoted=True)))
    return name


def _without_nul(select: exp.Select, columns: dict[str, str], source: Source) -> exp.Select:
    """The raw rows with NUL bytes (0x00) removed from text values: no engine, file or
    channel downstream carries them (PostgreSQL's text cannot hold one), and removing them
    everywhere keeps every engine's plan the same. The customer id is left as it is: an id
    with a control character is rejected (bad_customer_id), not silently changed into
    another customer's."""
    text = {name for name, type_ in columns.items() if type_.upper() == "VARCHAR" and name != source.column("customer_id")}
    if not text:
        return select
    # Testing first is cheaper than building a new string for every one of 10M values.
    strip = "CASE WHEN contains(:value, chr(0)) THEN replace(:value, chr(0), '') ELSE :value END"
    picked = [tree(strip, value=quoted(name)).as_(name, quoted=True) if name in text else quoted(name) for name in columns]
    return exp.select(*picked).from_(select.subquery())
