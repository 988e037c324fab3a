"""The embedded engine, the default: nothing to install, the data in this process."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import duckdb
import numpy
from sqlglot import exp

from ..db import connect, named, register_columns, statement
from .base import Engine, insert_cast


class DuckDBEngine(Engine):
    kind = dialect = "duckdb"
    capabilities = frozenset({"bitstring_agg", "hugeint", "numpy_in"})

    errors = (duckdb.Error,)

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None, owned: bool = True) -> None:
        """`owned`: close() closes the connection (False: a session's, which it closes)."""
        self.con = con if con is not None else connect()
        self.owned = owned

    def execute(self, text: str) -> None:
        self.con.execute(text)

    def fetch(self, text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.con.execute(text)
        rows = cursor.fetchall()
        return [d[0] for d in cursor.description or []], rows

    def create_temp(self, name: str, query: exp.Expr) -> None:
        self.con.execute(statement(_CREATE, "duckdb", named(name), query))

    def take_columns(self, name: str, columns: Mapping[str, Any], types: Mapping[str, str]) -> None:
        arrays = {c: numpy.asarray(v, dtype=object if types[c] == "VARCHAR" else None) for c, v in columns.items()}
        register_columns(self.con, f"{name}__in", arrays)
        self.con.execute(insert_cast(name, f"{name}__in", {c: types[c] for c in columns}, create=True))
        self.con.unregister(f"{name}__in")

    def fetch_batches(self, text: str) -> Iterator[Any]:
        yield arrow_table(self.con.sql(text))

    def fetch_numpy(self, query: exp.Query, types: Mapping[str, str]) -> dict[str, Any]:
        casts = [exp.cast(exp.column(c, quoted=True), t).as_(c, quoted=True) for c, t in types.items()]
        return self.con.execute(exp.select(*casts).from_(query.subquery("q")).sql("duckdb")).fetchnumpy()

    def column_types(self, query: exp.Query) -> dict[str, str]:
        return {str(row[0]): str(row[1]) for row in self.con.execute(statement("DESCRIBE SELECT 1", "duckdb", query=query)).fetchall()}

    def copy_local(self, name: str, con: duckdb.DuckDBPyConnection, query: exp.Query) -> None:
        if con is not self.con:
            raise ValueError("a DuckDB engine takes relations from its own connection")
        self.create_temp(name, query)

    def close(self) -> None:
        if self.owned:
            self.con.close()


def arrow_table(relation: duckdb.DuckDBPyRelation) -> Any:
    """A DuckDB relation's rows as a pyarrow Table (DuckDB 2 renamed the method)."""
    return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()


_CREATE = "CREATE OR REPLACE TEMPORARY TABLE t AS SELECT 1"
