"""The send ledger: every plan row handed to delivery, and what became of it.

A SQLite database (`ledger.path` in huitou.yaml, default .huitou/ledger.sqlite). A row is
keyed by the plan row's idempotency key, so the same message planned twice (a rerun, an
overlapping plan) is one ledger row, and a row that reached `sent` never leaves it.

States: pending -> sending -> sent | failed | pending (a transient failure, retried after
`retry_at`); pending -> skipped (opted out since it was planned). Only one delivery run
works on a ledger at a time (`Ledger.run_lock`, an exclusive lock on a file beside it),
so a row found in `sending` when a run starts was left by a run that died mid-delivery:
whether it arrived is unknown, and it is retried under the same idempotency key (which
the channel adapters pass on, so the provider can drop the duplicate).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATES = ("pending", "sending", "sent", "failed", "skipped")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    idempotency_key TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    playbook TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    channel TEXT NOT NULL,
    intent TEXT NOT NULL,
    recipient TEXT,
    send_at TEXT NOT NULL,          -- planned, ISO 8601 with the customer's offset
    send_at_utc REAL NOT NULL,      -- the same instant, epoch seconds (what "due" compares)
    content TEXT,                   -- JSON: subject, body, html, ...
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_at REAL,                  -- epoch seconds: not before, after a transient failure
    error TEXT,
    provider_id TEXT,               -- Message-ID, the gateway's id
    recovered INTEGER NOT NULL DEFAULT 0,  -- retried after a run died mid-delivery
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (state, send_at_utc);
CREATE TABLE IF NOT EXISTS optouts (
    customer_id TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT '',   -- '' = every channel
    recorded_at REAL NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (customer_id, channel)
);
"""

_COLUMNS = ("idempotency_key", "plan_id", "customer_id", "playbook", "rule_id", "step", "channel", "intent", "recipient", "send_at", "send_at_utc", "content")


class LedgerBusy(RuntimeError):
    """Another delivery run holds the ledger."""


@dataclass(frozen=True)
class Claimed:
    idempotency_key: str
    customer_id: str
    channel: str
    recipient: str | None
    content: str | None
    attempts: int
    recovered: bool


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE where it matters).
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")  # a state change survives a crash once written
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def run_lock(self, wait: bool = True) -> Iterator[None]:
        """Hold the ledger for one delivery run; another run waits (or, with wait=False,
        gets LedgerBusy). The lock is the kernel's: it goes with the process, however the
        process ends."""
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise LedgerBusy(f"another `huitou send` is delivering from {self.path}") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def enqueue(self, rows: Iterable[dict[str, Any]], now: float) -> int:
        """Add plan rows as pending; a key already in the ledger (in any state) is left as
        it is. Returns how many were new."""
        with self._write() as db:
            before = db.total_changes
            db.executemany(
                f"INSERT OR IGNORE INTO messages ({', '.join(_COLUMNS)}, updated_at) VALUES ({', '.join('?' * len(_COLUMNS))}, ?)",
                ([*(row.get(c) for c in _COLUMNS), now] for row in rows),
            )
            return db.total_changes - before

    def recover(self, now: float) -> int:
        """Rows left in `sending` by a run that died (call under run_lock): back to
        pending, marked recovered. Returns how many."""
        with self._write() as db:
            return db.execute("UPDATE messages SET state = 'pending', recovered = 1, updated_at = ? WHERE state = 'sending'", (now,)).rowcount

    def skip_opted_out(self, now: float) -> int:
        """Pending rows of customers who opted out (of the row's channel or of all)."""
        with self._write() as db:
            return db.execute(
                """UPDATE messages SET state = 'skipped', error = 'opted out after planning', updated_at = ?
                   WHERE state = 'pending' AND EXISTS (SELECT 1 FROM optouts o WHERE o.customer_id = messages.customer_id
                                                        AND o.channel IN ('', messages.channel))""",
                (now,),
            ).rowcount

    def claim(self, now: float, until: float, limit: int, channel: str | None = None) -> list[Claimed]:
        """Up to `limit` due pending rows (send time <= until, retry time passed), moved to
        `sending` in one transaction, oldest first."""
        where = "state = 'pending' AND send_at_utc <= ? AND (retry_at IS NULL OR retry_at <= ?)" + (" AND channel = ?" if channel else "")
        params: list[Any] = [until, now, *([channel] if channel else [])]
        with self._write() as db:
            rows = db.execute(
                f"SELECT idempotency_key, customer_id, channel, recipient, content, attempts, recovered FROM messages WHERE {where} ORDER BY send_at_utc, idempotency_key LIMIT ?",
                [*params, limit],
            ).fetchall()
            db.executemany(
                "UPDATE messages SET state = 'sending', attempts = attempts + 1, updated_at = ? WHERE idempotency_key = ? AND state = 'pending'",
                [(now, r[0]) for r in rows],
            )
        return [Claimed(r[0], r[1], r[2], r[3], r[4], r[5] + 1, bool(r[6])) for r in rows]

    def sent(self, key: str, now: float, provider_id: str | None = None) -> None:
        with self._write() as db:
            db.execute("UPDATE messages SET state = 'sent', error = NULL, provider_id = ?, updated_at = ? WHERE idempotency_key = ? AND state = 'sending'", (provider_id, now, key))

    def failed(self, key: str, now: float, error: str, retry_at: float | None = None) -> None:
        """A permanent failure (retry_at None) is final; a transient one goes back to
        pending until retry_at."""
        state = "failed" if retry_at is None else "pending"
        with self._write() as db:
            db.execute(
                "UPDATE messages SET state = ?, error = ?, retry_at = ?, updated_at = ? WHERE idempotency_key = ? AND state = 'sending'",
                (state, error, retry_at, now, key),
            )

    def record_optout(self, customer_id: str, channel: str | None, now: float, source: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO optouts VALUES (?, ?, ?, ?)", (customer_id, channel or "", now, source))

    def counts(self) -> list[tuple[str, str, str, int]]:
        """(state, channel, planned day, messages), sorted."""
        return self.db.execute(
            "SELECT state, channel, substr(send_at, 1, 10) AS day, count(*) FROM messages GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()

    def state_of(self, key: str) -> str | None:
        row = self.db.execute("SELECT state FROM messages WHERE idempotency_key = ?", (key,)).fetchone()
        return row[0] if row else None

    def history(self) -> list[tuple[str, str, str, str]]:
        """Messages delivered (customer_id, channel, intent, sent_at as ISO 8601 UTC): what
        the planner counts for caps and care-first."""
        return [
            (c, ch, i, dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat())
            for c, ch, i, t in self.db.execute("SELECT customer_id, channel, intent, updated_at FROM messages WHERE state = 'sent' ORDER BY updated_at, idempotency_key")
        ]


def default_path(root: Path, config: dict[str, Any]) -> Path:
    path = Path(str((config.get("ledger") or {}).get("path", ".huitou/ledger.sqlite")))
    return path if path.is_absolute() else root / path

