"""Small helpers over a DuckDB connection, shared by every stage.

Results are always read to the end: DuckDB 2 refuses other work on a connection (a
`register`, say) while a result is still open, which a bare `fetchone()` leaves behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
    """The first row of a query (None when it has none), with the result read to the end."""
    rows = con.execute(sql, list(params or [])).fetchall()
    return rows[0] if rows else None


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> Any:
    """The first value of the first row (None when there is no row)."""
    row = first_row(con, sql, params)
    return row[0] if row else None
