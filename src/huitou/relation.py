"""Relations: what one stage hands the next, instead of a table name both must know.

A `Relation` is a table (a sqlglot tree) and the DuckDB connection it lives on. Loading
(data/load.py, evaluate.open_data) creates the data's tables and hands the stages a
`Loaded` record of them; a stage reads `loaded.orders.table` in its SQL (a :placeholder
of db.tree) and never spells the name. Only the relation layer (this module, data/,
feature_sql.py and evaluate.py) knows what the tables are called:
tests/test_layers.py fails when another module names one.

>>> Relation(exp.to_table("orders"), None).sql()
'orders'
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sqlglot import exp

from .db import drop_existing


@dataclass(frozen=True)
class Relation:
    table: exp.Table  # how SQL names it (copied where it is placed: db.tree copies)
    con: Any  # the duckdb.DuckDBPyConnection it lives on

    def sql(self) -> str:
        return self.table.sql("duckdb")

    def types(self) -> dict[str, str]:
        """Its columns and their DuckDB types, in order."""
        rows = self.con.execute(exp.Describe(this=self.table.copy()).sql("duckdb")).fetchall()
        return {str(row[0]): str(row[1]) for row in rows}

    def count(self) -> int:
        return int(self.con.execute(exp.select(exp.Count(this=exp.Star())).from_(self.table.copy()).sql("duckdb")).fetchall()[0][0])


@dataclass(frozen=True)
class Loaded:
    """The data as loading checked it, on one DuckDB connection."""

    orders: Relation  # the usable orders, one row an order (status, amount, local_date, items, ...)
    customers: Relation  # one row a customer: the profile and consent (from the customers file or the orders)
    order_rows: Relation  # every row of the orders file, typed, with its verdict (_verdict NULL: usable)
    summary: Relation  # one row a customer id of the orders: the aggregates the features start from
    items: Relation  # the orders' line items (customer_id, order_id, local_date, sku, product, category, ...)

    @property
    def con(self) -> Any:
        return self.orders.con


class Scratch:
    """The temporary relations of one piece of work on a connection. A stage asks it for
    each relation it makes, by what the relation holds (`new("candidates")` is
    `<prefix>_candidates`, `new()` the prefix itself), and returns what it made; the next
    stage is handed those tables, never a name. When the work ends, every relation asked
    for is dropped: all of them when it fails, all but those `keep` names (what it hands
    on) when it ends well. A plan that stops half-way (a render worker that dies, a ledger
    that cannot be read) leaves nothing behind in the session, which `huitou diff` and
    `huitou test` plan in several times. `drop` gives one back earlier, as soon as nothing
    reads it. Without a connection it only names (`huitou compile` prints the statements).

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> with Scratch(con, "p") as scratch:
    ...     a, b, c = scratch.new("a"), scratch.new("b"), scratch.new()
    ...     _ = con.execute("CREATE TABLE p_a AS SELECT 1 AS x; CREATE VIEW p_b AS SELECT * FROM p_a; CREATE TABLE p AS SELECT 2 AS y")
    ...     scratch.keep(c)
    >>> [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    ['p']
    """

    def __init__(self, con: Any, prefix: str) -> None:
        self.con, self.prefix = con, prefix
        self.made: dict[str, None] = {}  # every name asked for, in order
        self.kept: set[str] = set()

    def new(self, stem: str = "") -> exp.Table:
        """The relation a stage makes that holds `stem` (the same name when asked again:
        a stage that runs again replaces its relation)."""
        name = f"{self.prefix}_{stem}" if stem else self.prefix
        self.made[name] = None
        return exp.to_table(name)

    def keep(self, *tables: exp.Table) -> None:
        """These outlive the work when it ends well."""
        self.kept |= {t.name for t in tables}

    def drop(self, *tables: exp.Table | None) -> None:
        """Give these back now: nothing reads them any more."""
        drop_existing(self.con, [t.name for t in tables if t is not None])

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        drop_existing(self.con, [n for n in self.made if kind is not None or n not in self.kept])
