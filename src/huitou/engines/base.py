"""What every engine does for huitou, whatever runs the SQL (docs/engines.md).

An engine runs sqlglot trees: each statement is written for the engine's dialect after
the rewrites of portable.py, which make functions mean the same on every engine. It
makes temporary relations from queries, takes columns in (numpy or Arrow) and hands
results out. Relations are sqlglot tables: a stage returns the relation it made and the
next stage receives it, so no module needs to know another's table names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import sqlglot.expressions as exp

from ..db import named, statement
from ..errors import HuitouError
from ..i18n import _
from . import portable


def python_value(value: Any) -> Any:
    """A numpy scalar as the plain Python value drivers write."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def local_table(name: str, types: Mapping[str, str], dialect: str = "duckdb", replace: bool = True) -> str:
    """CREATE the empty temporary table `name` of these columns (DuckDB types), for
    DuckDB or another engine's `dialect`."""
    columns = [exp.ColumnDef(this=exp.to_identifier(c, quoted=True), kind=exp.DataType.build(t, dialect="duckdb")) for c, t in types.items()]
    create = exp.Create(
        this=exp.Schema(this=exp.to_table(name), expressions=columns),
        kind="TABLE",
        replace=replace,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )
    return create.sql(dialect)


def insert_cast(name: str, source: str, types: Mapping[str, str], create: bool = False) -> str:
    """INSERT INTO `name` the rows of the relation `source`, each column cast to its type
    (DuckDB's); `create`: CREATE the temporary table `name` of them instead."""
    columns = [exp.cast(exp.column(c, quoted=True), exp.DataType.build(t, dialect="duckdb")).as_(c, quoted=True) for c, t in types.items()]
    rows = exp.select(*columns).from_(named(source))
    if create:
        return statement("CREATE OR REPLACE TEMPORARY TABLE t AS SELECT 1", "duckdb", named(name), rows)
    return exp.insert(rows, exp.to_table(name)).sql("duckdb")


# Engine column types read as they are: text, integers, exact decimals of stated scale,
# floating point, dates, timestamps with and without zone, booleans.
_AS_IS = {
    exp.DataType.Type.TEXT: "VARCHAR",
    exp.DataType.Type.VARCHAR: "VARCHAR",
    exp.DataType.Type.CHAR: "VARCHAR",
    exp.DataType.Type.NVARCHAR: "VARCHAR",
    exp.DataType.Type.TINYINT: "TINYINT",
    exp.DataType.Type.SMALLINT: "SMALLINT",
    exp.DataType.Type.INT: "INTEGER",
    exp.DataType.Type.BIGINT: "BIGINT",
    exp.DataType.Type.FLOAT: "FLOAT",
    exp.DataType.Type.DOUBLE: "DOUBLE",
    exp.DataType.Type.DATE: "DATE",
    exp.DataType.Type.TIMESTAMP: "TIMESTAMP",
    exp.DataType.Type.TIMESTAMPNTZ: "TIMESTAMP",
    exp.DataType.Type.TIMESTAMPTZ: "TIMESTAMPTZ",
    exp.DataType.Type.BOOLEAN: "BOOLEAN",
}


def local_type(engine_type: str, dialect: str) -> str | None:
    """The DuckDB type a column of this engine type arrives as, None when it arrives as text.

    >>> local_type("decimal(18,2)", "spark"), local_type("numeric", "postgres"), local_type("timestamp", "spark")
    ('DECIMAL(18, 2)', None, 'TIMESTAMPTZ')
    """
    try:
        built = exp.DataType.build(engine_type, dialect=dialect)
    except Exception:  # a type sqlglot does not know (an enum, a domain)
        return None
    if built.this == exp.DataType.Type.DECIMAL:
        sizes = [int(e.this.this) for e in built.expressions if isinstance(e, exp.DataTypeParam) and isinstance(e.this, exp.Literal)]
        return f"DECIMAL({sizes[0]}, {sizes[1] if len(sizes) > 1 else 0})" if sizes and sizes[0] <= 38 else None
    return _AS_IS.get(built.this)


class EngineError(HuitouError):
    """The engine cannot be used: the message names it and says what to do."""


class Engine:
    """One connection to one engine. Subclasses implement the five primitives below."""

    kind = ""  # duckdb, spark, postgres: the name in huitou.yaml and --engine
    dialect = ""  # sqlglot's dialect name
    capabilities: frozenset[str] = frozenset()  # engine-only speed-ups it offers (portable.CAPABILITIES)
    errors: tuple[type[BaseException], ...] = ()  # the driver's exceptions: what the server or the connection says

    def sql(self, tree: exp.Expr) -> str:
        """The text of `tree` for this engine: huitou's rewrites, then sqlglot's dialect."""
        return portable.rewrite(tree, self.kind).sql(self.dialect)

    # The primitives.
    def execute(self, text: str) -> None:
        raise NotImplementedError

    def fetch(self, text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and every row of a query."""
        raise NotImplementedError

    def create_temp(self, name: str, query: exp.Expr) -> None:
        """A temporary relation `name` holding the result of `query` (rewritten for this
        engine: Engine.temp), computed now."""
        raise NotImplementedError

    def take_columns(self, name: str, columns: Mapping[str, Any], types: Mapping[str, str]) -> None:
        """A temporary relation `name` of the given columns; `types` are SQL types (DuckDB names)."""
        raise NotImplementedError

    def copy_local(self, name: str, con: Any, query: exp.Query) -> None:
        """A temporary relation `name` of the rows of `query` (DuckDB's) in the local DuckDB `con`."""
        raise NotImplementedError

    def fetch_batches(self, text: str) -> Iterator[Any]:
        """The rows of a query as pyarrow Tables of a bounded number of rows each (the
        types of a batch are what its values say; Engine.bring casts them)."""
        raise NotImplementedError

    def column_types(self, query: exp.Query) -> dict[str, str]:
        """The columns of a query and their types, as the engine names them."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # Built on them.
    def run(self, tree: exp.Expr) -> None:
        self.execute(self.sql(tree))

    def rows(self, tree: exp.Expr) -> list[tuple[Any, ...]]:
        return self.fetch(self.sql(tree))[1]

    def records(self, tree: exp.Expr) -> list[dict[str, Any]]:
        names, rows = self.fetch(self.sql(tree))
        return [dict(zip(names, row)) for row in rows]

    def temp(self, name: str, query: exp.Expr) -> exp.Table:
        """The query computed into a temporary relation; the relation, as a tree."""
        self.create_temp(name, portable.rewrite(query, self.kind))
        return exp.to_table(name)

    def take(self, name: str, columns: Mapping[str, Any], types: Mapping[str, str]) -> exp.Table:
        """Columns from Python as a temporary relation; the relation, as a tree."""
        self.take_columns(name, columns, types)
        return exp.to_table(name)

    def take_local(self, name: str, con: Any, query: exp.Query) -> exp.Table:
        """A query's rows in the local DuckDB `con` as a temporary relation of the engine:
        how file sources, loaded and checked by huitou, reach it."""
        self.copy_local(name, con, query)
        return exp.to_table(name)

    def bring(self, query: exp.Query, con: Any, name: str, types: Mapping[str, str]) -> None:
        """The rows of a query of this engine as the temporary table `name` of the local
        DuckDB `con`, with exactly the columns and types of `types` (DuckDB names): how the
        engine's results reach the stages that run in huitou's process."""
        con.execute(local_table(name, types))
        view = f"{name}__batch"
        for batch in self.fetch_batches(self.sql(query)):
            con.register(view, batch)
            try:
                con.execute(insert_cast(name, view, types))
            finally:
                con.unregister(view)

    def map_groups(self, name: str, relation: exp.Table, key: exp.Expr, fn: Any, types: Mapping[str, str]) -> None:
        """A grouped map run by the engine's workers (Spark's): see SparkEngine.map_groups.
        The other engines have no workers; arbitration partitions itself there."""
        raise NotImplementedError(f"engine {self.kind} runs no grouped map")

    def fetch_numpy(self, query: exp.Query, types: Mapping[str, str]) -> dict[str, Any]:
        """A query's rows as numpy arrays, its columns those of `types` (DuckDB names):
        brought into a scratch DuckDB (each engine's fastest way out) and read from there."""
        from ..db import connect

        scratch = connect()
        try:
            self.bring(query, scratch, "brought", types)
            return scratch.execute("SELECT * FROM brought").fetchnumpy()
        finally:
            scratch.close()

    def bring_table(self, table: str, con: Any, name: str, what: str) -> dict[str, str]:
        """A table of the engine (`schema.table`, as the engine's SQL names it), as it is,
        into the local DuckDB `con` as the temporary table `name`; its DuckDB types.
        Columns of types huitou does not read as they are (JSON, UUID, arrays, a numeric
        of unstated scale, ...) arrive as text, which the row checks then parse. `what`
        names the table in messages (data.orders.table)."""
        try:
            relation = exp.to_table(table, dialect=self.dialect)
        except Exception:  # sqlglot's parse errors: the name is not a table name
            raise EngineError(
                _("engine {kind}: {what} {table} is not a table name (write schema.table)", kind=self.kind, what=what, table=repr(table))
            ) from None
        try:
            found = self.column_types(exp.select("*").from_(relation).limit(0))
        except self.errors as exc:  # the driver's own: no such table, no permission
            reason = " ".join(str(exc).split())[:300]
            said = _(
                "engine {kind}: cannot read {what} {table}: {reason} (check the name, the schema and the permissions)",
                kind=self.kind,
                what=what,
                table=repr(table),
                reason=reason,
            )
            raise EngineError(said) from None
        types = {column: local_type(type_, self.dialect) for column, type_ in found.items()}
        columns = [exp.column(c, quoted=True) if t else exp.cast(exp.column(c, quoted=True), "VARCHAR").as_(c, quoted=True) for c, t in types.items()]
        wanted = {c: t or "VARCHAR" for c, t in types.items()}
        self.bring(exp.select(*columns).from_(relation), con, name, wanted)
        return wanted

    def drop(self, relation: exp.Table) -> None:
        self.execute(statement("DROP TABLE IF EXISTS t", self.dialect, table=relation))

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
