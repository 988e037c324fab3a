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
from pathlib import Path

import duckdb

from ..data.load import lit, q
from ..feature_sql import next_birthday_sql
from ..features import CATALOG
from .render import Renderer
from .render_worker import create_output, render_cursor
from .relations import Relations
from .rules import PlannedRule
from ..db import scalar

SERIAL_BELOW = 20_000  # fewer rows than this: starting workers costs more than it saves


class RenderWorkerError(RuntimeError):
    """A worker process failed; the plan is not written without all of its rows."""


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def create_rendered(con: duckdb.DuckDBPyConnection, r: Relations) -> None:
    create_output(con, r.rendered)


def render_sends(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], renderer: Renderer, r: Relations, jobs: int | None = None) -> int:
    """Render the rows of r.decided with status `send` that have no rendering for their
    send time yet, into r.rendered. Returns how many of them failed."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {r.to_render} AS
        SELECT d.cand_id, d.send_local FROM {r.decided} d
        WHERE d.status = 'send' AND NOT EXISTS (SELECT 1 FROM {r.rendered} x WHERE x.cand_id = d.cand_id AND x.send_local = d.send_local)""")
    con.execute(f"DELETE FROM {r.rendered} WHERE cand_id IN (SELECT cand_id FROM {r.to_render})")
    total = int(scalar(con, f"SELECT count(*) FROM {r.to_render}"))
    if not total:
        return 0
    rows_sql = _rows_sql(con, rules, renderer, r)
    jobs = default_jobs() if jobs is None else max(1, jobs)
    if jobs > 1 and total >= SERIAL_BELOW:
        _render_in_workers(con, rows_sql, renderer.specs, jobs, total, r)
    else:
        # A second cursor streams the rows while this one writes results; temp tables are
        # private to a cursor, so the rows go through a (session-lifetime) main table.
        staged = f"{r.to_render}_input"
        con.execute(f"CREATE OR REPLACE TABLE {staged} AS {rows_sql}")
        cursor = con.cursor()
        try:
            cursor.execute(f"SELECT * FROM {staged}")
            render_cursor(renderer, cursor, con, r.rendered)
        finally:
            cursor.close()
            con.execute(f"DROP TABLE {staged}")
    return int(scalar(con, f"SELECT count(*) FROM {r.rendered} JOIN {r.to_render} USING (cand_id) WHERE error IS NOT NULL"))


def _render_in_workers(con: duckdb.DuckDBPyConnection, rows_sql: str, specs: dict, jobs: int, total: int, r: Relations) -> None:
    with tempfile.TemporaryDirectory(prefix="huitou-render-") as tmp:
        work = Path(tmp)
        (work / "specs.pickle").write_bytes(pickle.dumps(specs))
        con.execute(f"COPY (SELECT *, cand_id % {jobs} AS share FROM ({rows_sql})) TO {lit((work / 'in').as_posix())} (FORMAT parquet, PARTITION_BY (share))")
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
                for _, started in procs:
                    started.kill()
                raise RenderWorkerError(f"cannot start a rendering worker ({exc}); --jobs 1 renders in this process") from None
        outputs = []
        for out, proc in procs:
            _, stderr = proc.communicate()
            if proc.returncode != 0:
                last = (stderr.strip().splitlines() or ["no output"])[-1]
                raise RenderWorkerError(f"a rendering worker failed (exit {proc.returncode}): {last}; --jobs 1 renders in this process")
            outputs.append(out.as_posix())
        files = ", ".join(lit(o) for o in outputs)
        con.execute(f"INSERT INTO {r.rendered} SELECT * FROM read_parquet([{files}])")
    got = int(scalar(con, f"SELECT count(*) FROM {r.rendered} JOIN {r.to_render} USING (cand_id)"))
    if got != total:
        raise RenderWorkerError(f"rendering workers returned {got:,} of {total:,} rows")


def _rows_sql(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], renderer: Renderer, r: Relations) -> str:
    """The rows to render, in the column order Renderer.render expects."""
    present = {row[0] for row in con.execute(f"DESCRIBE {r.matched}").fetchall()}
    project_catalog = rules[0].ctx.project.catalog if rules else {}
    every = list(dict.fromkeys([*CATALOG, *project_catalog]))
    wanted = every if renderer.customer_fields is None else ["customer_id", *sorted(renderer.customer_fields)]
    texts = {name for name, feature in {**CATALOG, **project_catalog}.items() if feature.type == "string"}
    fields = ", ".join(f"{lit(f)}: {_field_sql(f, present, renderer, f in texts)}" for f in dict.fromkeys(wanted))
    needing = ", ".join(str(i) for i in renderer.rules_needing_orders)
    last = ", o._last_order, o._last_orders, o._latest_order" if needing else ", NULL AS _last_order, NULL AS _last_orders, NULL AS _latest_order"
    join = f"LEFT JOIN ({_last_orders_sql(needing, r)}) o ON o.customer_id = d.customer_id AND d.rule_index IN ({needing})" if needing else ""
    return f"""
        SELECT d.cand_id, d.rule_index, d.step, d.send_local, d.utc_offset, d.event, d.event_date, d.customer_id,
               {{{fields}}} AS customer{last}
        FROM {r.to_render} t JOIN {r.decided} d USING (cand_id) JOIN {r.matched} m USING (customer_id) {join}"""


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


# Control characters a customer typed into a text field (NUL, ESC, a bell) are removed
# before the text reaches a message, a subject line or a call list; tab and line breaks stay.
PRINTABLE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _field_sql(field: str, present: set[str], renderer: Renderer, text: bool = False) -> str:
    """A customer field, NULL on the rows of rules whose templates do not read it: turning
    values nobody reads into Python objects was a third of the cost of fetching a row."""
    if field not in present:
        return "NULL"
    value = SEND_DAY_FIELDS.get(field, f"m.{q(field)}") if {"as_of", "birthday"} <= present else f"m.{q(field)}"
    if text and field != "customer_id":
        value = f"regexp_replace({value}, {lit(PRINTABLE)}, '', 'g')"
    readers = [i for i, r in renderer.rules.items() if r.customer_fields is None or field in r.customer_fields]
    if field == "customer_id" or len(readers) == len(renderer.rules):
        return value
    return f"CASE WHEN d.rule_index IN ({', '.join(map(str, readers))}) THEN {value} END"


def _last_orders_sql(rule_indexes: str, r: Relations) -> str:
    """The latest purchase (`last_order`, the order last_order_date is the date of), the
    last three purchases (call and print lists) and the latest order of any status
    (`latest_order`) of each customer with a row to render from a rule that needs them.
    Ties on the time go to the later row of the file, as in the features."""
    fields = "{'order_id': order_id, 'ordered_at': ordered_at, 'amount': amount, 'status': status, 'category': category, 'items': items, 'delivered_at': delivered_date, 'rating': rating}"
    paid = "FILTER (WHERE status = 'paid')"
    return f"""
        SELECT customer_id, arg_max({fields}, (ordered_at, _row)) {paid} AS _last_order,
               (list({fields} ORDER BY ordered_at DESC, _row DESC) {paid})[1:3] AS _last_orders,
               arg_max({fields}, (ordered_at, _row)) AS _latest_order
        FROM orders WHERE customer_id IN (SELECT d.customer_id FROM {r.to_render} JOIN {r.decided} d USING (cand_id) WHERE d.rule_index IN ({rule_indexes}))
          AND local_date <= (SELECT max(as_of) FROM {r.matched})
        GROUP BY customer_id"""
