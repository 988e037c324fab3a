"""PostgreSQL: the data stays in the shop's database; huitou sends it SQL (psycopg 3)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlglot.expressions as exp

from ..db import copy_to, named, read_csv, run, scratch_dir, statement
from ..i18n import _
from ..redact import scrub, secret_env
from .base import Engine, EngineError, local_table, python_value

DEFAULT_URL_ENV = "HUITOU_PG_URL"
# DuckDB types whose CSV text PostgreSQL reads back as the same value.
_CSV_SAFE = re.compile(r"VARCHAR|DATE|TIMESTAMP|BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|DECIMAL\(\d+,\s*\d+\)")
BATCH_ROWS = 50_000  # rows per batch fetched


def _where(url: str, url_env: str) -> str:
    """The database a connection string names, for messages: its host, port, database
    and user, never the string itself (in URL or keyword form it can hold a password)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:  # psycopg's reason quotes the text it cannot parse: never shown
        said = _(
            "engine postgres: the value of {variable} is not a connection URL (postgresql://user@host/db) or keyword string "
            "(host=... dbname=...); the value is not shown",
            variable=url_env,
        )
        raise EngineError(said) from None
    given = [f"{k} {parts[k]}" for k in ("host", "port", "dbname", "user") if parts.get(k)]
    return _("the database of {variable} ({settings})", variable=url_env, settings=", ".join(given) or _("the defaults"))


class PostgresEngine(Engine):
    kind = dialect = "postgres"

    def __init__(self, url_env: str = DEFAULT_URL_ENV) -> None:
        url = secret_env(url_env)
        if not url:
            said = _(
                "engine postgres: the environment variable {variable} is not set; set it to the database's connection URL, "
                "e.g. postgresql://user@host/db (huitou.yaml's engine.url_env names the variable)",
                variable=url_env,
            )
            raise EngineError(said)
        try:
            import psycopg
        except ImportError:
            raise EngineError(_("engine postgres needs psycopg, which is not installed: pip install 'huitou[postgres]'")) from None
        where = _where(url, url_env)
        try:
            self.con = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            reason = scrub(" ".join(str(exc).split())) or type(exc).__name__
            said = _(
                "engine postgres: cannot connect to {where}: {reason} (check {variable}, the server and the credentials)",
                where=where,
                reason=reason,
                variable=url_env,
            )
            raise EngineError(said) from None
        self._psycopg = psycopg
        # Text the CSV path below reads back exactly, whatever the server's defaults:
        # ISO dates, and floats in their shortest exact form.
        self.con.execute("SET DateStyle = 'ISO, MDY'")
        self.con.execute("SET extra_float_digits = 1")
        self.errors = (psycopg.Error,)

    def execute(self, text: str) -> None:
        self.con.execute(text)

    def fetch(self, text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.con.execute(text)
        if cursor.description is None:
            return [], []
        return [d.name for d in cursor.description], cursor.fetchall()

    def fetch_batches(self, text: str) -> Iterator[Any]:
        import pyarrow

        # A server-side cursor: the rows come over in batches, never all in Python at once.
        with self.con.transaction(), self.con.cursor(name="huitou_fetch") as cursor:
            cursor.itersize = BATCH_ROWS
            cursor.execute(text)
            names = [d.name for d in cursor.description or []]
            while rows := cursor.fetchmany(BATCH_ROWS):
                yield pyarrow.table({n: pyarrow.array(list(values)) for n, values in zip(names, zip(*rows))})

    def column_types(self, query: exp.Query) -> dict[str, str]:
        cursor = self.con.execute(self.sql(query))
        out = {}
        for column in cursor.description or []:
            info = self.con.adapters.types.get(column.type_code)
            name = info.name if info else "unknown"
            if name == "numeric" and column.precision is not None:
                name = f"numeric({column.precision},{column.scale or 0})"
            out[column.name] = name
        return out

    def bring(self, query: exp.Query, con: Any, name: str, types: Mapping[str, str]) -> None:
        """As Engine.bring, through PostgreSQL's CSV output read by DuckDB when every type
        allows (a million feature rows: 26 s as Python rows); lists travel as JSON text."""
        if not all(_CSV_SAFE.fullmatch(t) or t in ("DOUBLE", "VARCHAR[]") for t in types.values()):
            super().bring(query, con, name, types)
            return
        lists = {c for c, t in types.items() if t == "VARCHAR[]"}
        picked = [
            exp.func("array_to_json", exp.column(c, quoted=True)).as_(c, quoted=True) if c in lists else exp.column(c, quoted=True) for c in types
        ]
        text = self.sql(exp.select(*picked).from_(query.subquery("q")))
        with tempfile.TemporaryDirectory(prefix="pg-", dir=scratch_dir()) as tmp:
            path = Path(tmp) / "rows.csv"
            with path.open("wb") as handle, self.con.cursor().copy(_composed("COPY ({}) TO STDOUT (FORMAT csv)", text)) as copy:
                for chunk in copy:
                    handle.write(chunk)
            con.execute(local_table(name, types))
            run(con, exp.insert(read_pg_csv(path, types, lists), named(name)))

    def create_temp(self, name: str, query: exp.Expr) -> None:
        table = named(name)
        self.con.execute(statement("DROP TABLE IF EXISTS t", "postgres", table))
        self.con.execute(statement("CREATE TEMPORARY TABLE t AS SELECT 1", "postgres", table, query))
        self.con.execute(statement("ANALYZE t", "postgres", table))

    def take_columns(self, name: str, columns: Mapping[str, Any], types: Mapping[str, str]) -> None:
        rows = ([python_value(v) for v in row] for row in zip(*columns.values()))
        self._load(name, {c: types[c] for c in columns}, rows)

    def copy_local(self, name: str, con: Any, query: exp.Query) -> None:
        types = {row[0]: str(row[1]) for row in con.execute(statement("DESCRIBE SELECT 1", "duckdb", query=query)).fetchall()}
        if len(types) > 1 and all(_CSV_SAFE.fullmatch(t) for t in types.values()):
            # DuckDB writes the rows as CSV and PostgreSQL parses them: 2.3 s for a million
            # orders where Python rows took 5.3 s. Only for types whose CSV text both read
            # alike (NULL unquoted and empty, '' quoted; no floats, lists or zones).
            with tempfile.TemporaryDirectory(prefix="pg-", dir=scratch_dir()) as tmp:
                path = Path(tmp) / "rows.csv"
                con.execute(copy_to(query, str(path), "FORMAT csv, HEADER false").sql("duckdb"))
                self._load(name, types, csv=path)
            return
        result = con.execute(query.sql("duckdb"))
        self._load(name, types, (row for batch in iter(lambda: result.fetchmany(10_000), []) for row in batch))

    def _load(self, name: str, types: Mapping[str, str], rows: Iterable[Sequence[Any]] = (), csv: Path | None = None) -> None:
        """A temporary table of these columns (DuckDB type names) filled by COPY, from
        Python rows or from a CSV file."""
        table = named(name)
        self.con.execute(statement("DROP TABLE IF EXISTS t", "postgres", table))
        self.con.execute(local_table(name, types, "postgres", replace=False))
        with self.con.cursor().copy(_composed("COPY {} FROM STDIN" + (" (FORMAT csv)" if csv else ""), table.sql("postgres"))) as copy:
            if csv is not None:
                with csv.open("rb") as handle:
                    while chunk := handle.read(1 << 20):
                        copy.write(chunk)
            for row in rows:
                copy.write_row(row)
        self.con.execute(statement("ANALYZE t", "postgres", table))

    def close(self) -> None:
        self.con.close()


def read_pg_csv(path: Path, types: Mapping[str, str], lists: set[str]) -> exp.Select:
    """SELECT the rows of PostgreSQL's CSV output in DuckDB, each column in its type: NULL
    is unquoted and empty, '' quoted (allow_quoted_nulls off); lists arrive as JSON text."""
    text = exp.Literal.string
    columns = [exp.PropertyEQ(this=text(c), expression=text("VARCHAR" if c in lists else t)) for c, t in types.items()]
    # PostgreSQL ends CSV lines with \n; said, not sniffed: DuckDB 1.3 took a \r\n inside a
    # quoted value (a name with a line break) for the line ending and refused the file.
    options = {
        "columns": exp.Struct(expressions=columns),
        "header": exp.false(),
        "delim": text(","),
        "quote": text('"'),
        "escape": text('"'),
        "new_line": text("\\n"),
        "auto_detect": exp.false(),
        "allow_quoted_nulls": exp.false(),
    }
    picked = [
        (exp.cast(exp.cast(exp.column(c, quoted=True), "JSON"), "VARCHAR[]") if c in lists else exp.cast(exp.column(c, quoted=True), t)).as_(
            c, quoted=True
        )
        for c, t in types.items()
    ]
    return exp.select(*picked).from_(read_csv(path, options))


def _composed(template: str, *parts: str) -> Any:
    """A COPY statement (sqlglot does not write PostgreSQL's COPY ... STDIN/STDOUT) composed
    by psycopg from huitou's fixed text and SQL sqlglot wrote (a quoted name, a query)."""
    from psycopg import sql

    return sql.SQL(template).format(*(sql.SQL(part) for part in parts))
