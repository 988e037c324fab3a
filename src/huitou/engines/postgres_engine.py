"""PostgreSQL: the data stays in the shop's database; huitou sends it SQL (psycopg 3)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlglot.expressions as exp

from .base import Engine, EngineError, python_value

DEFAULT_URL_ENV = "HUITOU_PG_URL"
BATCH_ROWS = 50_000  # rows per batch fetched


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


class PostgresEngine(Engine):
    kind = dialect = "postgres"

    def __init__(self, url_env: str = DEFAULT_URL_ENV) -> None:
        url = os.environ.get(url_env)
        if not url:
            raise EngineError(f"engine postgres: the environment variable {url_env} is not set; set it to the database's connection URL, e.g. postgresql://user@host/db "
                              f"(huitou.yaml's engine.url_env names the variable)")
        try:
            import psycopg
        except ImportError:
            raise EngineError("engine postgres needs psycopg, which is not installed: pip install 'huitou[postgres]'") from None
        try:
            self.con = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise EngineError(f"engine postgres: cannot connect to {_safe(url)}: {reason} (check {url_env}, the server and the credentials)") from None
        self._psycopg = psycopg
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

    def column_types(self, text: str) -> dict[str, str]:
        cursor = self.con.execute(text)
        out = {}
        for column in cursor.description or []:
            info = self.con.adapters.types.get(column.type_code)
            name = info.name if info else "unknown"
            if name == "numeric" and column.precision is not None:
                name = f"numeric({column.precision},{column.scale or 0})"
            out[column.name] = name
        return out

    def create_temp(self, name: str, text: str) -> None:
        table = _ident(name)
        self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self.con.execute(f"CREATE TEMPORARY TABLE {table} AS {text}")
        self.con.execute(f"ANALYZE {table}")

    def take_columns(self, name: str, columns: Mapping[str, Sequence[Any]], types: Mapping[str, str]) -> None:
        rows = ([python_value(v) for v in row] for row in zip(*columns.values()))
        self._load(name, {c: types[c] for c in columns}, rows)

    def copy_local(self, name: str, con: Any, query: str) -> None:
        types = {row[0]: str(row[1]) for row in con.execute(f"DESCRIBE {query}").fetchall()}
        result = con.execute(query)
        self._load(name, types, (row for batch in iter(lambda: result.fetchmany(10_000), []) for row in batch))

    def _load(self, name: str, types: Mapping[str, str], rows: Iterable[Sequence[Any]]) -> None:
        """A temporary table of these columns (DuckDB type names) filled by COPY."""
        table = _ident(name)
        spec = ", ".join(f"{_ident(c)} {exp.DataType.build(t, dialect='duckdb').sql('postgres')}" for c, t in types.items())
        self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self.con.execute(f"CREATE TEMPORARY TABLE {table} ({spec})")
        with self.con.cursor().copy(f"COPY {table} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        self.con.execute(f"ANALYZE {table}")

    def close(self) -> None:
        self.con.close()


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("postgres")
