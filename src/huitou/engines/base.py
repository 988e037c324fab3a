"""What every engine does for huitou, whatever runs the SQL (docs/engines.md).

An engine runs sqlglot trees: each statement is written for the engine's dialect after
the rewrites of portable.py, which make functions mean the same on every engine. It
makes temporary relations from queries, takes columns in (numpy or Arrow) and hands
results out. Relations are sqlglot tables: a stage returns the relation it made and the
next stage receives it, so no module needs to know another's table names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlglot.expressions as exp

from . import portable


def python_value(value: Any) -> Any:
    """A numpy scalar as the plain Python value drivers write."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def local_table(name: str, source: str, types: Mapping[str, str]) -> str:
    """CREATE the DuckDB temporary table `name` from the relation `source`, each column cast
    to its type in `types`."""
    columns = [exp.cast(exp.column(c, quoted=True), exp.DataType.build(t, dialect="duckdb")).as_(c, quoted=True) for c, t in types.items()]
    query = exp.select(*columns).from_(exp.to_table(source, quoted=True))
    create = exp.Create(this=exp.to_table(name, quoted=True), kind="TABLE", replace=True, expression=query,
                        properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
    return create.sql("duckdb")


class EngineError(Exception):
    """The engine cannot be used: the message names it and says what to do."""


class Engine:
    """One connection to one engine. Subclasses implement the five primitives below."""

    kind = ""  # duckdb, spark, postgres: the name in huitou.yaml and --engine
    dialect = ""  # sqlglot's dialect name
    capabilities: frozenset[str] = frozenset()  # engine-only speed-ups it offers (portable.CAPABILITIES)

    def sql(self, tree: exp.Expression) -> str:
        """The text of `tree` for this engine: huitou's rewrites, then sqlglot's dialect."""
        return portable.rewrite(tree, self.kind).sql(self.dialect)

    # The primitives.
    def execute(self, text: str) -> None:
        raise NotImplementedError

    def fetch(self, text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and every row of a query."""
        raise NotImplementedError

    def create_temp(self, name: str, text: str) -> None:
        """A temporary relation `name` holding the result of the query `text`, computed now."""
        raise NotImplementedError

    def take_columns(self, name: str, columns: Mapping[str, Sequence[Any]], types: Mapping[str, str]) -> None:
        """A temporary relation `name` of the given columns; `types` are SQL types (DuckDB names)."""
        raise NotImplementedError

    def copy_local(self, name: str, con: Any, query: str) -> None:
        """A temporary relation `name` of a query's rows in the local DuckDB `con`."""
        raise NotImplementedError

    def fetch_arrow(self, text: str) -> Any:
        """Every row of a query as a pyarrow.Table."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # Built on them.
    def run(self, tree: exp.Expression) -> None:
        self.execute(self.sql(tree))

    def rows(self, tree: exp.Expression) -> list[tuple[Any, ...]]:
        return self.fetch(self.sql(tree))[1]

    def records(self, tree: exp.Expression) -> list[dict[str, Any]]:
        names, rows = self.fetch(self.sql(tree))
        return [dict(zip(names, row)) for row in rows]

    def temp(self, name: str, query: exp.Expression) -> exp.Table:
        """The query computed into a temporary relation; the relation, as a tree."""
        self.create_temp(name, self.sql(query))
        return exp.to_table(name)

    def take(self, name: str, columns: Mapping[str, Sequence[Any]], types: Mapping[str, str]) -> exp.Table:
        """Columns from Python as a temporary relation; the relation, as a tree."""
        self.take_columns(name, columns, types)
        return exp.to_table(name)

    def take_local(self, name: str, con: Any, query: str) -> exp.Table:
        """A query's rows in the local DuckDB `con` as a temporary relation of the engine:
        how file sources, loaded and checked by huitou, reach it."""
        self.copy_local(name, con, query)
        return exp.to_table(name)

    def bring(self, query: exp.Expression, con: Any, name: str, types: Mapping[str, str]) -> None:
        """The rows of a query of this engine as the temporary table `name` of the local
        DuckDB `con`, with exactly the columns and types of `types` (DuckDB names): how the
        engine's results reach the stages that run in huitou's process."""
        view = f"{name}__arrow"
        con.register(view, self.fetch_arrow(self.sql(query)))
        try:
            con.execute(local_table(name, view, types))
        finally:
            con.unregister(view)

    def drop(self, relation: exp.Table) -> None:
        self.execute(f"DROP TABLE IF EXISTS {relation.sql(self.dialect)}")

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
