"""The plan's other inputs: the opt-out list and the message history.

Both are optional files named in huitou.yaml (`data.suppression`, `data.history`), read
with the same options as the orders (path, format, columns, csv). The opt-out list has
`customer_id` and optionally `channel` (blank: every channel). The history has
`customer_id`, `channel`, `intent` and `sent_at`; a time without an offset is local time
in the data's timezone. The send ledger's delivered messages, when there is a ledger, are
history as well. Caps count history in each customer's calendar days: the instant
is turned into a date in the customer's own timezone at arbitration (arbitrate.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy

from ..data import load
from ..data.sources import DataError, Source, source_from_config
from ..db import first_row, register_columns


def with_inputs(config: dict[str, Any], inputs: dict[str, Path | None]) -> dict[str, Any]:
    """The config with the plan's other inputs replaced: keys `history` and `suppression`
    (data sources) and `ledger`; a None value means none."""
    data = {k: v for k, v in (config.get("data") or {}).items() if k not in inputs}
    data |= {k: {"path": str(v)} for k, v in inputs.items() if k != "ledger" and v is not None}
    out = {**config, "data": data}
    if "ledger" in inputs:
        out["ledger"] = None if inputs["ledger"] is None else {"path": str(inputs["ledger"])}
    return out


def _source(config: dict[str, Any], root: Path, name: str) -> Source | None:
    spec = (config.get("data") or {}).get(name)
    if not spec or not spec.get("path"):
        return None
    source = source_from_config(name, spec, root)
    if not source.path.exists():
        raise DataError(f"data.{name}: {source.path} does not exist")
    return source


def load_optouts(con: duckdb.DuckDBPyConnection, config: dict[str, Any], root: Path, optouts: str) -> bool:
    """CREATE `optouts` (customer_id, channel NULL for all) from the opt-out file and
    the opt-outs recorded in the send ledger (`huitou optout`, unsubscribe tokens); False
    when there is neither."""
    selects = []
    source = _source(config, root, "suppression")
    if source is not None:
        cols = load.open_raw(con, source)
        cid = load.need_column(source, cols, "customer_id")
        channel = f"nullif(trim(CAST({load.q(source.column('channel'))} AS VARCHAR)), '')" if source.column("channel") in cols else "NULL"
        selects.append(f"SELECT CAST({cid} AS VARCHAR) AS customer_id, {channel} AS channel FROM raw_suppression WHERE {cid} IS NOT NULL")
    ledger_path = _ledger_path(config, root)
    if ledger_path is not None:
        from ..delivery.ledger import peek

        _table_from_rows(con, f"{optouts}_ledger", {"customer_id": "VARCHAR", "channel": "VARCHAR"}, peek(ledger_path, [])[1])
        selects.append(f"SELECT * FROM {optouts}_ledger")
    if not selects:
        return False
    con.execute(f"CREATE OR REPLACE TEMP TABLE {optouts} AS SELECT DISTINCT * FROM ({' UNION ALL '.join(selects)})")
    con.execute(f"DROP TABLE IF EXISTS {optouts}_ledger")
    if source is not None:
        _forget_raw(con, "suppression")
    return True


def read_optout_file(config: dict[str, Any], root: Path) -> list[tuple[str, str | None]]:
    """The project's opt-out file as (customer_id, channel or None) rows (`huitou send`
    records them in the ledger)."""
    if _source(config, root, "suppression") is None:
        return []
    con = duckdb.connect()
    try:
        load_optouts(con, {**config, "ledger": None}, root, "optouts")
        return [(c, ch) for c, ch in con.execute("SELECT customer_id, channel FROM optouts ORDER BY 1, 2").fetchall()]
    finally:
        con.close()


def load_history(con: duckdb.DuckDBPyConnection, config: dict[str, Any], root: Path, timezone: str, notes: list[str], history: str) -> bool:
    """CREATE `history` (customer_id, channel, intent, sent_at TIMESTAMPTZ) from the
    history file and the send ledger's delivered messages; False when there is neither.
    Rows of the file without a customer id or a readable sent_at are left out and counted
    in `notes`."""
    source = _source(config, root, "history")
    selects = []
    if source is not None:
        cols = load.open_raw(con, source)
        cid, channel, intent, sent = (load.need_column(source, cols, c) for c in ("customer_id", "channel", "intent", "sent_at"))
        sent_type = cols[source.column("sent_at")].upper()
        if "TIME ZONE" in sent_type:
            instant = sent
        else:
            # Local times (and text with an offset, which local_timestamp shifts into the
            # data's zone) are instants in the data's timezone.
            instant = f"timezone({load.lit(timezone)}, {load.local_timestamp(sent, sent_type, source, timezone)})"
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {history}_file AS
            SELECT CAST({cid} AS VARCHAR) AS customer_id, CAST({channel} AS VARCHAR) AS channel,
                   CAST({intent} AS VARCHAR) AS intent, {instant} AS sent_at
            FROM raw_history WHERE {cid} IS NOT NULL AND ({instant}) IS NOT NULL""")
        read, kept = first_row(con, f"SELECT (SELECT count(*) FROM raw_history), (SELECT count(*) FROM {history}_file)")
        if read != kept:
            notes.append(f"history: {read - kept:,} of {read:,} rows in {source.path.name} have no customer_id or no readable sent_at; they are not counted for caps or care-first")
        selects.append(f"SELECT * FROM {history}_file")
        _forget_raw(con, "history")
    ledger_path = _ledger_path(config, root)
    if ledger_path is None and config.get("ledger", {}) is not None:
        from ..delivery.ledger import default_path, witness_problem

        if problem := witness_problem(default_path(root, config), None):
            notes.append(f"this plan cannot know what was sent: {problem}")
    if ledger_path is not None:
        from ..delivery.ledger import history as ledger_history

        rows = ledger_history(ledger_path)
        _table_from_rows(con, f"{history}_ledger", {"customer_id": "VARCHAR", "channel": "VARCHAR", "intent": "VARCHAR", "sent_at": "TIMESTAMPTZ"}, rows)
        selects.append(f"SELECT * FROM {history}_ledger")
    if not selects:
        return False
    con.execute(f"CREATE OR REPLACE TEMP VIEW {history} AS {' UNION ALL '.join(selects)}")
    return True


def load_ledger_done(con: duckdb.DuckDBPyConnection, config: dict[str, Any], root: Path, done: str) -> tuple[bool, bool]:
    """CREATE `done` (idempotency_key, playbook, rule_id, customer_id, legacy)
    from the send ledger: the messages it has delivered, or had in flight when a run
    stopped (the next run resends those under the same key). A candidate with one of
    these keys is `already_sent`. Returns (a ledger exists, it has legacy rows: keys
    written before keys named triggers)."""
    ledger_path = _ledger_path(config, root)
    if ledger_path is None:
        return False, False
    from ..delivery.ledger import delivered

    rows = delivered(ledger_path)
    types = {"idempotency_key": "VARCHAR", "playbook": "VARCHAR", "rule_id": "VARCHAR", "customer_id": "VARCHAR", "legacy": "BOOLEAN"}
    _table_from_rows(con, done, types, rows)
    return True, any(r[4] for r in rows)


def _forget_raw(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the file's view and its malformed rows once what was read from it is a table."""
    con.execute(f"DROP VIEW IF EXISTS raw_{name}")
    con.execute(f"DROP TABLE IF EXISTS malformed_{name}")


def _table_from_rows(con: duckdb.DuckDBPyConnection, name: str, types: dict[str, str], rows: list[tuple]) -> None:
    """CREATE TEMP TABLE `name` from Python rows (the ledger's), typed as given."""
    columns = list(zip(*rows)) if rows else [[] for _ in types]
    register_columns(con, f"{name}_rows", {c: numpy.array(values, dtype=object) for c, values in zip(types, columns)})
    casts = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in types.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {casts} FROM {name}_rows")
    con.unregister(f"{name}_rows")


def _ledger_path(config: dict[str, Any], root: Path) -> Path | None:
    """The send ledger when it exists: its delivered messages are history too."""
    if "ledger" in config and config["ledger"] is None:
        return None  # switched off (huitou test: a test sees only the history it gives)
    from ..delivery.ledger import default_path

    path = default_path(root, config)
    return path if path.is_file() else None
