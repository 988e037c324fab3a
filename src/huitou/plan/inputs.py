"""The plan's other inputs: the opt-out list and the message history.

Both are optional files named in huitou.yaml (`data.suppression`, `data.history`), read
with the same options as the orders (path, format, columns, csv). The opt-out list has
`customer_id` and optionally `channel` (blank: every channel). The history has
`customer_id`, `channel`, `intent` and `sent_at`; a time without an offset is local time
in the data's timezone. Caps count history in each customer's calendar days: the instant
is turned into a date in the customer's own timezone at arbitration (arbitrate.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from ..data import load
from ..data.sources import DataError, Source, source_from_config


def _source(config: dict[str, Any], root: Path, name: str) -> Source | None:
    spec = (config.get("data") or {}).get(name)
    if not spec or not spec.get("path"):
        return None
    source = source_from_config(name, spec, root)
    if not source.path.exists():
        raise DataError(f"data.{name}: {source.path} does not exist")
    return source


def load_optouts(con: duckdb.DuckDBPyConnection, config: dict[str, Any], root: Path) -> bool:
    """CREATE plan_optouts (customer_id, channel NULL for all); False when there is no list."""
    source = _source(config, root, "suppression")
    if source is None:
        return False
    cols = load.open_raw(con, source)
    cid = load.need_column(source, cols, "customer_id")
    channel = f"nullif(trim(CAST({load.q(source.column('channel'))} AS VARCHAR)), '')" if source.column("channel") in cols else "NULL"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE plan_optouts AS
        SELECT DISTINCT CAST({cid} AS VARCHAR) AS customer_id, {channel} AS channel FROM raw_suppression WHERE {cid} IS NOT NULL""")
    return True


def load_history(con: duckdb.DuckDBPyConnection, config: dict[str, Any], root: Path, timezone: str, notes: list[str]) -> bool:
    """CREATE plan_history (customer_id, channel, intent, sent_at TIMESTAMPTZ); False
    without one. Rows without a customer id or a readable sent_at are left out and
    counted in `notes`."""
    source = _source(config, root, "history")
    if source is None:
        return False
    cols = load.open_raw(con, source)
    cid, channel, intent, sent = (load.need_column(source, cols, c) for c in ("customer_id", "channel", "intent", "sent_at"))
    sent_type = cols[source.column("sent_at")].upper()
    if "TIME ZONE" in sent_type:
        instant = sent
    else:
        # Local times (and text with an offset, which local_timestamp shifts into the data's
        # zone) are instants in the data's timezone.
        instant = f"timezone({load.lit(timezone)}, {load.local_timestamp(sent, sent_type, source, timezone)})"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE plan_history AS
        SELECT CAST({cid} AS VARCHAR) AS customer_id, CAST({channel} AS VARCHAR) AS channel,
               CAST({intent} AS VARCHAR) AS intent, {instant} AS sent_at
        FROM raw_history WHERE {cid} IS NOT NULL AND ({instant}) IS NOT NULL""")
    read, kept = con.execute("SELECT (SELECT count(*) FROM raw_history), (SELECT count(*) FROM plan_history)").fetchone()  # type: ignore[misc]
    if read != kept:
        notes.append(f"history: {read - kept:,} of {read:,} rows in {source.path.name} have no customer_id or no readable sent_at; they are not counted for caps or care-first")
    return True
