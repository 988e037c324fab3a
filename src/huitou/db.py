"""Small helpers over a DuckDB connection, shared by every stage.

Results are always read to the end: DuckDB 2 refuses other work on a connection (a
`register`, say) while a result is still open, which a bare `fetchone()` leaves behind.

Every name and value that comes from configuration or data (a column name in a file, a
field declared in huitou.yaml, a channel, a path) reaches SQL through `ident` or
`literal`: sqlglot writes the quoted identifier or string literal, so no text of theirs
is ever read as SQL.

>>> print(literal("x'; DROP TABLE orders; --"), ident('vip" || 1 || "x'))
'x''; DROP TABLE orders; --' "vip"" || 1 || ""x"
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import duckdb
from sqlglot import exp

Statement: TypeAlias = "str | exp.Expr"  # fixed SQL text, or a tree
E = TypeVar("E", bound="exp.Expr")  # a string: sqlglot 28 (the lowest bound) calls it Expression


def connect(files: Iterable[Path | str] = (), directories: Iterable[Path | str] | None = None, **settings: Any) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads and writes only `files` (the data files the
    configuration or the command line names) and inside `directories` (default: the
    process's scratch directory), with its settings locked: a view, macro or statement
    of a data file (a `.duckdb` source) cannot read the environment, another file or the
    network, nor widen these limits. `settings` (huitou's own names: memory_limit,
    threads, ...) are set before the lock."""
    con = duckdb.connect()
    # register_columns' numpy path: sample every row (the setting cannot change later).
    settings = {"enable_progress_bar": False, "pandas_analyze_sample": 2**62, **settings}
    named_files = [str(f) for f in files]
    settings["allowed_paths"] = named_files + [f + ".wal" for f in named_files]  # a database's write-ahead log
    settings["allowed_directories"] = [os.path.join(str(d), "") for d in (directories if directories is not None else [scratch_dir()])]
    for name, value in settings.items():
        assignment = exp.EQ(this=exp.to_identifier(name), expression=exp.Placeholder())  # the value as a parameter
        con.execute(exp.Set(expressions=[exp.SetItem(this=assignment)]).sql("duckdb"), [value])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


@functools.cache
def scratch_dir(purpose: str = "") -> Path:
    """This process's private working directory (files being written, rendering work;
    `purpose` "spill": DuckDB's spilled data, a directory beside it, not inside: DuckDB
    1.3 refuses files of a directory whose subdirectory is also allowed), removed at exit."""
    path = Path(tempfile.mkdtemp(prefix=f"huitou-{purpose + '-' if purpose else ''}"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def copy_out(con: duckdb.DuckDBPyConnection, query: exp.Query, path: Path | str, options: str) -> int:
    """COPY a query to `path` through the scratch directory (the only place a confined
    connection writes), then move the finished file into place: a reader never sees half
    a file, and a link at `path` is replaced, never written through. The rows written."""
    target = Path(path)
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as work:
        written = Path(work) / ("out" + target.suffix)
        rows = run(con, copy_to(query, str(written), options)).fetchall()
        shutil.move(written, target)
    return int(rows[0][0]) if rows else 0


def run(con: duckdb.DuckDBPyConnection, statement: Statement, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
    """Execute a statement (a tree is written in DuckDB's dialect); the connection, for fetching."""
    # copy=False: a statement is written once and not used after (sqlglot would copy it
    # whole first; for the loading of one shop that was a quarter of the time).
    text = statement if isinstance(statement, str) else statement.sql("duckdb", copy=False)
    return con.execute(text, list(params or []))


def first_row(con: duckdb.DuckDBPyConnection, sql: Statement, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
    """The first row of a query (None when it has none), with the result read to the end."""
    rows = run(con, sql, params).fetchall()
    return rows[0] if rows else None


def scalar(con: duckdb.DuckDBPyConnection, sql: Statement, params: Sequence[Any] | None = None) -> Any:
    """The first value of the first row (None when there is no row)."""
    row = first_row(con, sql, params)
    return row[0] if row else None


def named(name: str, alias: str | None = None) -> exp.Table:
    """A table or view named by huitou or by configuration, quoted (never split on dots)."""
    return exp.table_(name, alias=alias, quoted=True)


def quoted(name: str, table: str | None = None) -> exp.Column:
    """A column named by configuration or data (a file's header), quoted."""
    return exp.column(name, table=table, quoted=True)


def copy_to(query: exp.Query, path: str, options: str) -> exp.Expr:
    """COPY (query) TO 'path' (options), the path set as a literal node. `options` is
    huitou's own fixed text (FORMAT PARQUET; HEADER, DELIMITER ','). A placeholder in the
    file's place does not parse with older sqlglot (28.10)."""
    statement = _parsed(f"COPY (SELECT 1) TO 'file' ({options})").copy()
    statement.set("this", query.subquery())
    statement.set("files", [exp.Literal.string(path)])
    return statement


def read_csv(path: Path | str, options: Mapping[str, exp.Expr], **more: exp.Expr) -> exp.Expr:
    """read_csv(path, option = value, ...) as a tree."""
    given = [exp.EQ(this=exp.column(k), expression=v.copy()) for k, v in {**options, **more}.items()]
    return exp.ReadCSV(this=exp.Literal.string(str(path)), expressions=given)


def create(con: duckdb.DuckDBPyConnection, name: str, query: exp.Expr, kind: str = "VIEW") -> exp.Table:
    """CREATE OR REPLACE VIEW (or TABLE) `name` AS `query`; the relation, as a tree."""
    relation = named(name)
    run(con, exp.Create(this=relation.copy(), kind=kind, replace=True, expression=query))
    return relation


def ident(name: str) -> str:
    """A quoted SQL identifier (DuckDB), written by sqlglot."""
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def literal(text: str) -> str:
    """A quoted SQL string literal (DuckDB), written by sqlglot."""
    return exp.Literal.string(text).sql("duckdb")


def tree(sql: str, **values: Any) -> exp.Expr:
    """A statement or an expression written with :placeholders (DuckDB's dialect) as a
    sqlglot tree, each placeholder replaced by a copy of its tree (a literal, a column, a
    relation; plain Python values become literals): values never pass through text.
    DuckDB's `alias: expr` syntax makes `(:name` at the start of a select item ambiguous:
    write `(x AND :name)`, not `(:name AND x)`, there."""
    built = _parsed(sql).copy()  # the parsed text stays as it was, for the next caller
    placed: set[int] = set()
    for node in list(built.find_all(exp.Placeholder)):
        if node.this not in values:
            continue
        value = exp.convert(values[node.this])
        # A value already in a tree (or put in this one before) is copied; a fresh one is
        # moved in as it is. Copying every value copied a nested tree once per level.
        if value.parent is not None or id(value) in placed:
            value = value.copy()
        placed.add(id(value))
        if node is built:
            return value
        node.replace(value)
    return built


def select_tree(sql: str, **values: Any) -> exp.Select:
    """tree() of a SELECT, typed as one (a query other stages add to or nest)."""
    built = tree(sql, **values)
    assert isinstance(built, exp.Select), sql
    return built


@functools.lru_cache(maxsize=1024)
def _parsed(sql: str) -> exp.Expr:
    """The text of tree() parsed once per process: the same statements are built for
    every source, plan and rule, and parsing is most of what building them costs."""
    return parse(sql)


_POSITIONS = frozenset({"line", "col", "start", "end"})


def parse(sql: str) -> exp.Expr:
    """huitou's own SQL text (DuckDB's dialect) as a tree, without the parser's record of
    where each name and literal stood in the text: trees are copied wherever they are
    placed, and sqlglot copies that record as a dict per node, in Python (a third of the
    time `huitou test` spent on the example's tests).

    >>> [node.sql() for node in parse("SELECT a, 'x' FROM t").walk() if node._meta]
    []
    """
    import sqlglot

    return without_positions(sqlglot.parse_one(sql, dialect="duckdb"))


def without_positions(tree: E) -> E:
    """`tree` with the parser's positions (and empty comment lists) taken off its nodes,
    in place: a tree built from text (sqlglot's builders parse the strings they are given)
    and then copied into many statements is copied faster without them."""
    for node in tree.walk():
        if node._meta is not None and node._meta.keys() <= _POSITIONS:
            node._meta = None
        if node.comments == []:
            node.comments = None
    return tree


def union_all(queries: Sequence[exp.Query]) -> exp.Query:
    """The queries' rows together (UNION ALL); one query as it is. A balanced tree of
    UNIONs, not a chain: 1,500 rules' candidates nested 1,500 deep cost sqlglot and
    DuckDB time and memory growing with the square of the depth."""
    if len(queries) == 1:
        return queries[0]
    if len(queries) == 2:
        return exp.union(*queries, distinct=False, copy=False)
    half = len(queries) // 2
    return exp.union(exp.Paren(this=union_all(queries[:half])), exp.Paren(this=union_all(queries[half:])), distinct=False, copy=False)


def date_literal(day: Any) -> exp.Expr:
    """CAST('YYYY-MM-DD' AS DATE) as a tree."""
    return exp.cast(exp.Literal.string(day.isoformat()), "DATE")


def register_columns(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, Any]) -> None:
    """Register numpy columns as relation `name` (con.unregister when done). DuckDB 1.1
    infers an object column's type from a sample of its rows and, past the sample, goes
    through pandas, which fails on numpy arrays ('first_valid_index'); a sample as long as
    the columns keeps it on the numpy path (db.connect sets it)."""
    con.register(name, columns)  # connect() set pandas_analyze_sample past any length


def table_from_columns(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, Any], types: dict[str, str]) -> exp.Table:
    """CREATE the temporary table `name` from numpy columns, each cast to its type."""
    found = name + "_found"
    register_columns(con, found, columns)
    casts = [exp.cast(exp.column(c, quoted=True), t).as_(c, quoted=True) for c, t in types.items()]
    table = create_temp(con, name, exp.select(*casts).from_(exp.to_table(found, quoted=True)))
    con.unregister(found)
    return table


def create_temp(con: duckdb.DuckDBPyConnection, name: str, query: exp.Expr) -> exp.Table:
    """CREATE OR REPLACE TEMPORARY TABLE `name` AS `query` (a tree); the table, as a tree."""
    table = exp.to_table(name)
    create = exp.Create(
        this=table.copy(), kind="TABLE", replace=True, properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=query
    )
    con.execute(create.sql("duckdb", copy=False))  # written once: see statement()
    return table


_DROPS = {"TABLE": "DROP TABLE IF EXISTS t", "VIEW": "DROP VIEW IF EXISTS t"}


def drop_table(con: duckdb.DuckDBPyConnection, table: exp.Table, kind: str = "TABLE") -> None:
    """DROP TABLE (or VIEW) IF EXISTS, the name given as a tree."""
    con.execute(statement(_DROPS[kind], "duckdb", table))


def drop_existing(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> None:
    """Drop those of the relations that exist (a table or a view), in the order given;
    what exists is found in one look at the catalog (a look per name was a tenth of a
    dry run)."""
    wanted = list(names)
    found = dict(
        con.execute(
            "SELECT table_name, CASE WHEN table_type = 'VIEW' THEN 'VIEW' ELSE 'TABLE' END FROM information_schema.tables WHERE list_contains(?, table_name)",
            [wanted],
        ).fetchall()
    )
    for name in wanted:
        if name in found:
            drop_table(con, exp.to_table(name), found[name])


def statement(template: str, dialect: str, table: exp.Table | None = None, query: exp.Expr | None = None) -> str:
    """One of huitou's fixed statements (CREATE ... AS SELECT 1, DROP TABLE t, DESCRIBE
    SELECT 1, ANALYZE t), parsed once, with its table `t` and its query `SELECT 1` replaced
    by these trees, written in `dialect` (DuckDB's or an engine's): a name or a query
    never passes through text. The query is the top-level one: a dialect's own rewrites
    apply to it alike. It is placed, not copied (a plan's candidates are a tree of many
    thousand nodes, and copying them was a twentieth of a dry run): the writing leaves its
    text as it was, and its parent is the statement from then on.

    >>> statement("CREATE TEMPORARY TABLE t AS SELECT 1", "postgres", named("plan; x"), exp.select("a").from_("b"))
    'CREATE TEMPORARY TABLE "plan; x" AS SELECT a FROM b'
    """
    built = _parsed(template).copy()
    if table is not None:
        for node in list(built.find_all(exp.Table)):
            if node.name == "t":
                node.replace(table.copy())
    if query is not None:
        (built.expression if isinstance(built, exp.Create) else built.this).replace(query)
    return built.sql(dialect, copy=False)


def relation_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the connection has a table or view of that name (in any schema it searches)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? UNION ALL SELECT count(*) FROM duckdb_views() WHERE view_name = ?",
        [name, name],
    ).fetchall()
    return any(n for (n,) in found)
