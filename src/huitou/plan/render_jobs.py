"""Rendering the plan's sends, streamed and on every core.

The rows to render are selected in SQL with the customer as a struct of just the fields
the templates read, and only the rows of rules that need the last orders carry them.
Few rows: rendered here, fetched in batches. Many: written to Parquet in one share per
worker, and each share rendered by a worker process (render_worker.py) with its own
DuckDB, so fetching, rendering and writing all run on every core and this process holds
no rows in Python. Either way memory stays flat however many messages there are, and the
result is the same: the rendered relation, one row per rendered candidate.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from ..db import create_temp, drop_table, scalar, scratch_dir, select_tree, tree
from ..errors import HuitouError
from ..feature_sql import next_birthday_sql
from ..features import CATALOG
from ..i18n import _
from ..inert import UNSENDABLE_SQL
from ..relation import Scratch
from .render import Renderer, RenderRow
from .render_memo import RenderMemo, fingerprints
from .render_worker import create_output, render_cursor
from .rules import PlannedRule

SERIAL_BELOW = 20_000  # fewer rows than this: starting workers costs more than it saves


class RenderWorkerError(HuitouError, RuntimeError):
    """A worker process failed; the plan is not written without all of its rows."""


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def create_rendered(con: duckdb.DuckDBPyConnection, scratch: Scratch) -> exp.Table:
    """The rendered messages of a plan, none yet: render_sends adds to it."""
    rendered = scratch.new("rendered")
    create_output(con, rendered.name)
    return rendered


@dataclass(frozen=True)
class RenderInputs:
    """What rendering reads, all in huitou's DuckDB."""

    decided: exp.Table  # the decisions (decide.Decided): the sends to render
    matched: exp.Table  # the matched customers' features: the templates' customer
    orders: exp.Table  # the loaded orders: the templates' last_order and last_orders
    rendered: exp.Table  # the messages rendered so far (create_rendered), added to


def render_sends(
    con: duckdb.DuckDBPyConnection,
    rules: list[PlannedRule],
    renderer: Renderer,
    given: RenderInputs,
    scratch: Scratch,
    jobs: int | None = None,
    memo: RenderMemo | None = None,
) -> int:
    """Render the `decided` rows with status `send` that have no rendering for their send
    time yet, into `rendered` (copying from `memo` the messages it knows, and recording
    there those rendered). Returns how many of them failed."""
    tables = {f.name: getattr(given, f.name) for f in fields(given)} | {"to_render": scratch.new("to_render")}
    create_temp(con, tables["to_render"].name, tree(_TO_RENDER, **tables))
    con.execute(tree("DELETE FROM :rendered WHERE cand_id IN (SELECT cand_id FROM :to_render)", **tables).sql("duckdb"))
    total = int(scalar(con, tree("SELECT count(*) FROM :to_render", **tables).sql("duckdb")))
    failed = 0
    if total:
        if memo is None:
            _render(con, _rows_query(con, rules, renderer, tables), total, renderer, scratch, jobs, tables)
        else:
            prints = fingerprints(renderer, customer_types(rules))
            rest = scratch.new("to_render_new")
            copied = memo.take(con, prints, tables, rest.name)
            try:
                _render(con, _rows_query(con, rules, renderer, {**tables, "to_render": rest}), total - copied, renderer, scratch, jobs, tables)
                memo.keep(con, prints, tables, rest)
            finally:
                drop_table(con, rest)
        failed = int(
            scalar(con, tree("SELECT count(*) FROM :rendered JOIN :to_render USING (cand_id) WHERE error IS NOT NULL", **tables).sql("duckdb"))
        )
    drop_table(con, tables["to_render"])  # read only here
    return failed


def _render(
    con: duckdb.DuckDBPyConnection,
    rows: exp.Select,
    total: int,
    renderer: Renderer,
    scratch: Scratch,
    jobs: int | None,
    tables: dict[str, exp.Table],
) -> None:
    """Render the `total` rows of `rows` into tables["rendered"]: here when they are few,
    else in workers."""
    if not total:
        return
    jobs = default_jobs() if jobs is None else max(1, jobs)
    if jobs > 1 and total >= SERIAL_BELOW:
        _render_in_workers(con, rows, renderer.specs, jobs, tables)
    else:
        # A second cursor streams the rows while this one writes results; temp tables are
        # private to a cursor, so the rows go through a (session-lifetime) main table.
        staged = scratch.new("to_render_input")
        con.execute(exp.Create(this=staged.copy(), kind="TABLE", replace=True, expression=rows).sql("duckdb"))
        cursor = con.cursor()
        try:
            cursor.execute(exp.select("*").from_(staged.copy()).sql("duckdb"))
            render_cursor(renderer, cursor, con, tables["rendered"].name)
        finally:
            cursor.close()
            drop_table(con, staged)


# The sends of :decided that have no rendering for their send time yet.
_TO_RENDER = """
    SELECT d.cand_id, d.send_local FROM :decided AS d
    WHERE d.status = 'send' AND NOT EXISTS (SELECT 1 FROM :rendered AS x WHERE x.cand_id = d.cand_id AND x.send_local = d.send_local)"""


def _render_in_workers(con: duckdb.DuckDBPyConnection, rows: exp.Select, specs: dict, jobs: int, tables: dict[str, exp.Table]) -> None:
    with tempfile.TemporaryDirectory(prefix="render-", dir=scratch_dir()) as tmp:  # where the session's connection may write
        work = Path(tmp)
        (work / "specs.pickle").write_bytes(pickle.dumps(specs))
        shares = select_tree("SELECT *, cand_id % :jobs AS share FROM :rows", jobs=jobs, rows=rows.subquery("r"))
        con.execute(
            tree("COPY :rows TO :path (FORMAT parquet, PARTITION_BY (share))", rows=shares.subquery(), path=(work / "in").as_posix()).sql("duckdb")
        )
        procs = []
        for share in range(jobs):
            inputs = work / "in" / f"share={share}"
            if not inputs.is_dir():
                continue
            out = work / f"out_{share}.parquet"
            cmd = [sys.executable, "-m", "huitou.plan.render_worker", str(work / "specs.pickle"), f"{inputs}/*.parquet", str(out)]
            try:
                procs.append((out, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
            except OSError as exc:
                for _proc, started in procs:
                    started.kill()
                raise RenderWorkerError(_("cannot start a rendering worker ({reason}); --jobs 1 renders in this process", reason=exc)) from None
        outputs = []
        for out, proc in procs:
            _out, stderr = proc.communicate()
            if proc.returncode != 0:
                last = (stderr.strip().splitlines() or ["no output"])[-1]
                raise RenderWorkerError(
                    _("a rendering worker failed (exit {code}): {reason}; --jobs 1 renders in this process", code=proc.returncode, reason=last)
                )
            outputs.append(out.as_posix())
        read = tree(
            "INSERT INTO :rendered SELECT * FROM read_parquet(:files)",
            files=exp.Array(expressions=[exp.Literal.string(o) for o in outputs]),
            **tables,
        )
        con.execute(read.sql("duckdb"))
    # Every send of the round has its message now (those copied from a memo included).
    got = int(scalar(con, tree("SELECT count(*) FROM :rendered JOIN :to_render USING (cand_id)", **tables).sql("duckdb")))
    total = int(scalar(con, tree("SELECT count(*) FROM :to_render", **tables).sql("duckdb")))
    if got != total:
        raise RenderWorkerError(_("rendering workers returned {got:,} of {total:,} rows", got=got, total=total))


def _rows_query(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], renderer: Renderer, tables: dict[str, exp.Table]) -> exp.Select:
    """The rows to render: render.RenderRow's columns, in its order."""
    present = set(con.table(tables["matched"].name).columns)
    types = customer_types(rules)
    wanted = list(types) if renderer.customer_fields is None else ["customer_id", *sorted(renderer.customer_fields)]
    texts = {name for name, kind in types.items() if kind == "string"}
    fields = [
        exp.PropertyEQ(this=exp.to_identifier(f, quoted=True), expression=_field(f, present, renderer, f in texts)) for f in dict.fromkeys(wanted)
    ]
    columns: dict[str, exp.Expr] = {f: exp.column(f, "d") for f in RenderRow._fields if f not in _OF_ORDERS and f != "customer"}
    columns["customer"] = exp.Struct(expressions=fields)
    needing = sorted(renderer.rules_needing_orders)
    columns |= {f: exp.column(f"_{f}", "o") if needing else exp.null() for f in _OF_ORDERS}
    query = tree("SELECT * FROM :to_render AS t JOIN :decided AS d USING (cand_id) JOIN :matched AS m USING (customer_id)", **tables)
    assert isinstance(query, exp.Select)
    query = query.select(*(columns[f].as_(f) for f in RenderRow._fields), append=False)
    if not needing:
        return query
    last = select_tree(_LAST_ORDERS, fields=tree(_ORDER_FIELDS), needing=exp.Tuple(expressions=[exp.Literal.number(i) for i in needing]), **tables)
    on = tree(
        "o.customer_id = d.customer_id AND d.rule_index IN :needing",
        needing=exp.Tuple(expressions=[exp.Literal.number(i) for i in needing]),
    )
    return query.join(last.subquery("o"), on=on, join_type="left")


def customer_types(rules: list[PlannedRule]) -> dict[str, str]:
    """The fields a template's `customer` may have (the features and the project's
    profile columns), with their types."""
    project_catalog = rules[0].ctx.project.catalog if rules else {}
    return {name: feature.type for name, feature in {**CATALOG, **project_catalog}.items()}


_OF_ORDERS = ("last_order", "last_orders", "latest_order")  # the RenderRow fields read from the orders (`o`)


# Features that count days from the as-of date, as of the day the message goes out (the
# send day's local date): a win-back email sent 9 days after planning says 130 days, not
# 121. Everything else is as of planning (docs/plan.md#values-in-messages).
_SEND_DAY = "CAST(d.send_local AS DATE)"
_SHIFT = f"date_diff('day', m.as_of, {_SEND_DAY})"
SEND_DAY_FIELDS = {
    "days_since_first_order": f"m.days_since_first_order + {_SHIFT}",
    "days_since_last_order": f"m.days_since_last_order + {_SHIFT}",
    "days_since_last_delivery": f"m.days_since_last_delivery + {_SHIFT}",
    "days_until_due": f"m.days_until_due - {_SHIFT}",
    "days_to_birthday": f"date_diff('day', {_SEND_DAY}, {next_birthday_sql(_SEND_DAY, 'm.birthday')})",
    "age": f"year({_SEND_DAY}) - year(m.birthday) - CASE WHEN month(m.birthday) * 100 + day(m.birthday) > month({_SEND_DAY}) * 100 + day({_SEND_DAY}) THEN 1 ELSE 0 END",
}


# Control characters a customer typed into a text field (NUL, ESC, a bell, C1, bidi
# controls) are removed before the text reaches a message, a subject line or a call list;
# tab and line breaks stay (inert.sendable).
PRINTABLE = UNSENDABLE_SQL


def _field(field: str, present: set[str], renderer: Renderer, text: bool = False) -> exp.Expr:
    """A customer field, NULL on the rows of rules whose templates do not read it: turning
    values nobody reads into Python objects was a third of the cost of fetching a row."""
    if field not in present:
        return exp.null()
    value: exp.Expr = exp.column(field, "m", quoted=True)
    if field in SEND_DAY_FIELDS and {"as_of", "birthday"} <= present:
        value = sqlglot.parse_one(SEND_DAY_FIELDS[field], dialect="duckdb")  # huitou's own text, no names from elsewhere
    if text and field != "customer_id":
        value = tree("regexp_replace(:value, :printable, '', 'g')", value=value, printable=PRINTABLE)
    readers = [i for i, r in renderer.rules.items() if r.customer_fields is None or field in r.customer_fields]
    if field == "customer_id" or len(readers) == len(renderer.rules):
        return value
    return exp.Case().when(exp.column("rule_index", "d").isin(*readers), value)


# The latest purchase (`last_order`, the order last_order_date is the date of), the last
# three purchases (call and print lists) and the latest order of any status
# (`latest_order`) of each customer with a row to render from a rule that needs them.
# Orders are ranked by one 128-bit key, time then file row (ties go to the later row, as
# in the features). The keys come from three passes of max(), a fixed-size state DuckDB
# can spill to disk; the orders' fields are then fetched by key. An ordered list
# aggregate (list(... ORDER BY ...)) cannot spill: at 10M customers it ran out of the
# memory limit (benchmarks/scale.py, 2026-12-08).
_ORDER_FIELDS = (
    "{'order_id': order_id, 'ordered_at': ordered_at, 'amount': amount, 'status': status, 'category': category, 'items': items, "
    "'delivered_at': delivered_date, 'rating': rating}"
)
_LAST_ORDERS = """
    WITH keyed AS MATERIALIZED (
      SELECT customer_id, status = 'paid' AS paid, CAST(epoch_us(ordered_at) AS HUGEINT) * 18446744073709551616 + _row AS k
      FROM :orders
      WHERE customer_id IN (SELECT d.customer_id FROM :to_render JOIN :decided AS d USING (cand_id) WHERE d.rule_index IN :needing)
        AND local_date <= (SELECT max(as_of) FROM :matched)),
    first AS (SELECT customer_id, max(k) FILTER (WHERE paid) AS k1, max(k) AS latest FROM keyed GROUP BY customer_id),
    second AS (SELECT customer_id, max(o.k) AS k2 FROM keyed AS o JOIN first AS t USING (customer_id) WHERE o.paid AND o.k < t.k1 GROUP BY customer_id),
    third AS (SELECT customer_id, max(o.k) AS k3 FROM keyed AS o JOIN second AS t USING (customer_id) WHERE o.paid AND o.k < t.k2 GROUP BY customer_id),
    picked AS MATERIALIZED (
      SELECT k, :fields AS f FROM (SELECT *, CAST(epoch_us(ordered_at) AS HUGEINT) * 18446744073709551616 + _row AS k FROM :orders)
      WHERE k IN (SELECT k1 FROM first UNION ALL SELECT latest FROM first UNION ALL SELECT k2 FROM second UNION ALL SELECT k3 FROM third))
    SELECT t.customer_id, p1.f AS _last_order,
           CASE WHEN p1.f IS NOT NULL THEN [p1.f, p2.f, p3.f][1:1 + CAST(p2.f IS NOT NULL AS INTEGER) + CAST(p3.f IS NOT NULL AS INTEGER)] END AS _last_orders,
           pl.f AS _latest_order
    FROM first AS t LEFT JOIN second AS t2 USING (customer_id) LEFT JOIN third AS t3 USING (customer_id)
    LEFT JOIN picked AS p1 ON p1.k = t.k1 LEFT JOIN picked AS p2 ON p2.k = t2.k2 LEFT JOIN picked AS p3 ON p3.k = t3.k3
    LEFT JOIN picked AS pl ON pl.k = t.latest"""
