"""A rendering worker: `python -m huitou.plan.render_worker SPECS INPUT OUTPUT`.

Reads its share of the rows to render (Parquet, written by render_jobs), renders them
with a Renderer built from the pickled rule specs, and writes the RENDERED_COLUMNS to
OUTPUT (Parquet). A separate process with its own DuckDB, so it shares nothing with the
parent but files; the parent checks that every row came back.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import duckdb
import numpy

from ..db import connect, register_columns, tree
from ..engines.base import insert_cast, local_table
from .render import RENDERED_COLUMNS, Renderer

BATCH = 10_000


# The rendered relation's columns (RENDERED_COLUMNS) and their types.
_TYPES = {
    "cand_id": "BIGINT",
    "send_local": "TIMESTAMP",
    "template": "VARCHAR",
    "subject": "VARCHAR",
    "body": "VARCHAR",
    "html": "VARCHAR",
    "segments": "INTEGER",
    "extra": "JSON",
    "error": "VARCHAR",
    "error_reason": "VARCHAR",
}


def create_output(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """The table rendered rows go to (plan_rendered in the planner's session)."""
    con.execute(local_table(table, _TYPES))


def append(con: duckdb.DuckDBPyConnection, table: str, columns: list[list[Any]]) -> None:
    """Add one batch of rendered columns to `table`."""
    types: dict[str, Any] = {"cand_id": numpy.int64, "send_local": "datetime64[us]"}
    arrays = {name: numpy.array(col, dtype=types.get(name, object)) for name, col in zip(RENDERED_COLUMNS, columns)}
    register_columns(con, "rendered_batch", arrays)
    con.execute(insert_cast(table, "rendered_batch", _TYPES))
    con.unregister("rendered_batch")


def render_cursor(renderer: Renderer, cursor: duckdb.DuckDBPyConnection, con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Render every row of `cursor`'s result into `table` of `con`, batch by batch."""
    while rows := cursor.fetchmany(BATCH):
        append(con, table, renderer.render_batch(rows))


def main(argv: list[str]) -> int:
    specs_path, input_path, output_path = (Path(a) for a in argv)
    renderer = Renderer(pickle.loads(specs_path.read_bytes()))
    con = connect(directories=[specs_path.parent], threads=1)  # the other workers have the other cores
    create_output(con, "rendered")
    cursor = con.cursor()
    cursor.execute(tree("SELECT * FROM read_parquet(:path, hive_partitioning = false)", path=input_path.as_posix()).sql("duckdb"))
    render_cursor(renderer, cursor, con, "rendered")
    con.execute(tree("COPY rendered TO :path (FORMAT parquet)", path=output_path.as_posix()).sql("duckdb"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
