"""The send ledger: every plan row handed to delivery, and what became of it.

A SQLite database (`ledger.path` in huitou.yaml, default .huitou/ledger.sqlite). A row is
keyed by the plan row's idempotency key, so the same message planned twice (a rerun, an
overlapping plan) is one ledger row, and a row that reached `sent` never leaves it.

States: pending -> sending -> sent | failed | pending (a transient failure, retried after
`retry_at`); pending -> skipped (opted out, or a later plan no longer sends it). A row is
`sending` only while its one delivery attempt is in flight: the run marks it just before
handing it to the channel and records the outcome just after. Only one delivery run
works on a ledger at a time (`Ledger.run_lock`, an exclusive lock on a file beside it), so
a row found in `sending` when a run starts was in flight when a run died: whether it
arrived is unknown, and it is retried under the same idempotency key (which the channel
adapters pass on as Message-ID / Idempotency-Key, so the receiver can drop a duplicate)
and marked `recovered`.

A ledger carries a random id (table `meta`); `huitou send` and `huitou optout` witness it
outside the ledger (witness.py), and a send refuses a ledger that is missing or is not
the witnessed one. Errors of SQLite (a damaged, truncated, read-only or unreachable file)
come out as one LedgerError line that names the file and what to do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import itertools
import os
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import HuitouError
from ..i18n import _
from ..vocabulary import Intent, State
from .witness import places, recall, record

# The plan row's identity, the same in the messages and the holdouts tables.
_PLAN_ROW = """
    idempotency_key TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    plan_as_of TEXT,                -- the as-of date of the plan that decided the row: the newest decides
    "trigger" TEXT,                 -- what the message answers (docs/plan.md)
    customer_id TEXT NOT NULL,
    playbook TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    channel TEXT NOT NULL,
    intent TEXT NOT NULL,"""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS messages ({_PLAN_ROW}
    recipient TEXT,
    send_at TEXT NOT NULL,          -- planned, ISO 8601 with the customer's offset
    send_at_utc REAL NOT NULL,      -- the same instant, epoch seconds (what "due" compares)
    timezone TEXT,                  -- the customer's IANA zone: where quiet hours are told
    quiet_hours TEXT,               -- the rule's quiet window, '21:00-08:00 defer' (quiet.py)
    not_before REAL,                -- epoch seconds: deferred out of quiet hours until then (kept once sent)
    content TEXT,                   -- JSON: subject, body, html, ...
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped')),  -- vocabulary.State
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_at REAL,                  -- epoch seconds: not before, after a transient failure
    error TEXT,
    provider_id TEXT,               -- Message-ID, the gateway's id
    recovered INTEGER NOT NULL DEFAULT 0,  -- retried after a run died mid-delivery
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (state, send_at_utc);
CREATE INDEX IF NOT EXISTS messages_recipient ON messages (recipient);
CREATE TABLE IF NOT EXISTS optouts (
    customer_id TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT '',   -- '' = every channel
    recorded_at REAL NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (customer_id, channel)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- The control group: a plan's holdout rows, recorded when a live send reaches their time
-- (as their message would have been handed over), so `huitou report` knows both groups.
CREATE TABLE IF NOT EXISTS holdouts ({_PLAN_ROW}
    send_at TEXT NOT NULL,
    send_at_utc REAL NOT NULL,
    recorded_at REAL NOT NULL
);
"""

# The plan row fields a ledger row is made of (Ledger.enqueue; PlanFile.ledger_rows).
ENQUEUE_COLUMNS = (
    "idempotency_key",
    "plan_id",
    "plan_as_of",
    "trigger",
    "customer_id",
    "playbook",
    "rule_id",
    "step",
    "channel",
    "intent",
    "recipient",
    "send_at",
    "send_at_utc",
    "timezone",
    "quiet_hours",
    "content",
)


# The plan row fields a holdout row is made of (Ledger.hold; PlanFile.holdouts_due).
HOLD_COLUMNS = (
    "idempotency_key",
    "plan_id",
    "plan_as_of",
    "trigger",
    "customer_id",
    "playbook",
    "rule_id",
    "step",
    "channel",
    "intent",
    "send_at",
    "send_at_utc",
)


# The row's customer opted out of its channel or of every channel.
# An opt-out names the customer by id or by a contact (huitou optout 13812345678): either
# stops the message; and so does an opt-out of another customer id the ledger has sent
# or planned to the same recipient: one phone or address is one person, however many ids
# the shop's data gives them.
_OPTOUT_EXISTS = (
    "(EXISTS (SELECT 1 FROM optouts o WHERE o.customer_id IN (m.customer_id, m.recipient) AND o.channel IN ('', m.channel)) "
    "OR m.recipient <> '' AND EXISTS (SELECT 1 FROM messages p JOIN optouts o ON o.customer_id = p.customer_id AND o.channel IN ('', m.channel) "
    "WHERE p.recipient = m.recipient))"
)
# Rows an earlier run enqueued and a later one finishes (Ledger.waiting; `sending`: in
# flight when a run died, recovered by the next). A ledger from before quiet hours has no
# not_before; waiting_channels reads it without migrating it.
_WAITING = (
    "(state = 'pending' AND (retry_at IS NOT NULL OR not_before IS NOT NULL OR recovered = 1 OR send_at_utc <= ?) OR state = 'sending') "
    "AND channel = coalesce(?, channel)"
)
_WAITING_BEFORE_DEFERRALS = _WAITING.replace("not_before IS NOT NULL OR ", "")
_OPTED_OUT = f"UPDATE messages AS m SET state = 'skipped', error = 'opted out', updated_at = ? WHERE m.state = 'pending' AND {_OPTOUT_EXISTS}"


class LedgerBusy(HuitouError, RuntimeError):
    """Another delivery run holds the ledger."""


class LedgerError(HuitouError, RuntimeError):
    """The ledger cannot be used: damaged, read-only, unreachable, missing or replaced."""


def explain(path: Path, exc: sqlite3.Error | OSError) -> LedgerError:
    """One line for an SQLite error on the ledger: which file, what is wrong, what to do."""
    text = str(exc).lower()
    if path.is_dir():
        why = _("the ledger {path} is a directory, not a ledger file: point ledger.path in huitou.yaml at a file", path=path)
    elif "readonly" in text or "read-only" in text or _read_only(path):
        why = _(
            "the ledger {path} is read-only: huitou records every message in it before and after delivery; "
            "make the file and its directory writable (SQLite writes a journal beside it)",
            path=path,
        )
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        why = _(
            "the ledger {path} is damaged (not a SQLite database, or truncated): restore it from a backup. huitou does not send without it: "
            "it is what keeps a message from going out twice",
            path=path,
        )
    elif "unable to open" in text or isinstance(exc, OSError):
        why = _("the ledger {path} cannot be opened (a missing directory, no permission, or a disk that is not there)", path=path)
    elif "locked" in text or "busy" in text:
        why = _("the ledger {path} stayed locked by another program for 30 s; try again when it is done", path=path)
    elif "disk" in text and "full" in text:
        why = _("the ledger {path} cannot be written: the disk is full", path=path)
    else:
        why = _("the ledger {path} cannot be used: {reason}", path=path, reason=exc)
    return LedgerError(why)


def witness_problem(path: Path, ledger_id: str | None, traces: Sequence[str] = ()) -> str | None:
    """Why this ledger must not be sent with (None when it may): the project witnessed
    another one (witness.py), and this one is missing or has another id; or it is missing
    and `traces` say the project sent before (a witness file in any state, outbox files,
    a plan that found messages already sent)."""
    witness = recall(path)
    reachable = path.parent.is_dir() or not path.parent.exists()  # else the ledger cannot be opened: said when it is
    if (
        witness is None
        and not path.exists()
        and reachable
        and (traces := [*traces, *(_("{file} exists", file=p) for p in places(path) if p.exists() or p.is_symlink())])
    ):
        return _(
            "the ledger {path} is missing, but this project has sent before ({traces}): sending with a new one could send those messages "
            "again, or to customers who opted out. Restore the ledger from a backup, or start a new one deliberately: huitou send --live --new-ledger",
            path=path,
            traces="; ".join(traces),
        )
    if witness is None or witness.ledger_id == ledger_id:
        return None
    if not path.exists():
        what = _("the ledger {path} is missing, but this project's ledger {held}", path=path, held=witness.what())
    else:
        what = _("the ledger {path} is not the one this project sent with (that one {held})", path=path, held=witness.what())
    return _(
        "{what}: sending with a new one could send those messages again, or to customers who opted out. "
        "Restore the ledger from a backup, or start a new one deliberately: huitou send --live --new-ledger",
        what=what,
    )


def _read_only(path: Path) -> bool:
    """The file exists and this process may not write it or its directory (permissions,
    or a read-only file system: os.access says so even to root)."""
    return path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def writable_problem(path: Path) -> str | None:
    """Why a live send could not write this ledger, seen without writing (a dry run)."""
    if path.is_dir() or _read_only(path):
        return str(explain(path, sqlite3.OperationalError("attempt to write a readonly database")))
    if not path.exists():  # it will be created: its nearest existing ancestor must be a writable directory
        ancestor = next(p for p in path.parents if p.exists())
        if not (ancestor.is_dir() and os.access(ancestor, os.W_OK)):
            return str(explain(path, OSError("unable to open")))
    return None


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection (dry runs, plans, `huitou ledger`): it creates and changes
    nothing, and works on a ledger that is read-only to this user."""
    try:
        db = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise explain(path, exc) from None
    try:
        yield db
    except sqlite3.Error as exc:
        raise explain(path, exc) from None
    finally:
        db.close()


def ledger_identity(path: Path) -> str | None:
    """The ledger's id; None when there is no ledger, or it predates ids."""
    if not path.exists():
        return None
    with read_only(path) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchall():
            db.execute("SELECT count(*) FROM messages").fetchall()  # a damaged file fails here
            return None
        row = db.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchall()
        return row[0][0] if row else None


@dataclass(frozen=True)
class DueMessage:
    """A due row, as the channel adapters need it."""

    idempotency_key: str
    customer_id: str
    channel: str
    recipient: str | None
    content: str | None  # JSON: subject, body, html, segments, extra
    attempts: int
    recovered: bool
    playbook: str
    rule_id: str
    intent: Intent
    send_at: str
    timezone: str | None = None  # the customer's zone (None: a row enqueued before quiet hours held at delivery)
    quiet_hours: str | None = None  # '21:00-08:00 defer' (quiet.py), None: none

    @classmethod
    def of(cls, row: Sequence[Any]) -> DueMessage:
        """From a row of Ledger.due's SELECT, in its order."""
        key, customer, channel, recipient, content, attempts, recovered, playbook, rule_id, intent, send_at, zone, quiet = row
        return cls(key, customer, channel, recipient, content, attempts, bool(recovered), playbook, rule_id, Intent(intent), send_at, zone, quiet)


@dataclass(frozen=True)
class Settlement:
    """What became of a row in flight (Ledger.settle_many)."""

    key: str
    state: State  # sent or failed
    detail: str | None = None  # sent: the receiver's id; failed: the error
    retry_at: float | None = None  # failed: pending again from then (None: failed for good)


class Ledger:
    def __init__(self, path: Path) -> None:
        """Open (or create) the ledger; LedgerError when SQLite cannot use the file. No
        witness check: `for_sending` is the one delivery uses."""
        self.path = path
        try:
            self._open()
        except (sqlite3.Error, OSError) as exc:
            raise explain(path, exc) from None

    @classmethod
    def reading(cls, path: Path) -> Ledger:
        """A read-only Ledger (`huitou ledger`): counts and failures, nothing written."""
        ledger = cls.__new__(cls)
        ledger.path = path
        try:
            ledger.db = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise explain(path, exc) from None
        return ledger

    @classmethod
    def for_sending(cls, path: Path, start_new: bool = False, traces: Sequence[str] = ()) -> Ledger:
        """The ledger a live send uses: refused (LedgerError) when it is missing or is not
        the one the project witnessed, or missing with `traces` of earlier sends
        (witness_problem), unless `start_new` (--new-ledger) accepts it."""
        if not start_new and not path.exists() and (problem := witness_problem(path, None, traces)):
            raise LedgerError(problem)  # checked before the file is created
        ledger = cls(path)
        ledger._accepted = start_new
        if not start_new and (problem := witness_problem(path, ledger.ledger_id)):
            ledger.close()
            raise LedgerError(problem)
        return ledger

    def vouch(self) -> None:
        """Witness this ledger (witness.py) - unless the project witnessed another one,
        which only `for_sending(start_new=True)` may replace."""
        if witness_problem(self.path, self.ledger_id) is None or self._accepted:
            sent, optouts = self.db.execute("SELECT (SELECT count(*) FROM messages WHERE state = 'sent'), (SELECT count(*) FROM optouts)").fetchone()
            try:
                record(self.path, self.ledger_id, sent, optouts)
            except OSError as exc:  # a full disk, a read-only directory: nothing is sent unwitnessed
                said = _(
                    "the ledger's witness beside {path} cannot be written ({reason}): free space or make the directory writable; nothing was sent",
                    path=self.path,
                    reason=exc.strerror or exc,
                )
                raise LedgerError(said) from None

    def _open(self) -> None:
        path = self.path
        self._accepted = False
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: a single statement commits on its own (atomically); many
        # go in one explicit BEGIN IMMEDIATE transaction (_write).
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA synchronous = FULL")  # a state change survives a crash once written
        # Switching to WAL takes an exclusive lock without waiting for a busy one: only a
        # new ledger needs it (WAL is persistent), and creating the tables waits its turn.
        deadline = time.monotonic() + 30
        while self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                self.db.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with self._write() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            present = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
            added = {"plan_as_of": "TEXT", "trigger": "TEXT", "timezone": "TEXT", "quiet_hours": "TEXT", "not_before": "REAL"}
            for column, type_ in added.items():  # ledgers written before these columns existed
                if column not in present:
                    db.execute(f'ALTER TABLE messages ADD COLUMN "{column}" {type_}')
            db.execute("INSERT OR IGNORE INTO meta VALUES ('ledger_id', ?)", (uuid.uuid4().hex,))
            self.ledger_id = db.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def run_lock(self, wait: bool = True) -> Iterator[None]:
        """Hold the ledger for one delivery run. A second run asks the one holding it to hand
        over (handover_asked) and waits for it (or, with wait=False, gets LedgerBusy). The
        lock is the kernel's: it goes with the process, however the process ends."""
        lock = self.path.with_name(self.path.name + ".lock")
        try:
            handle = open(lock, "a+")
        except OSError as exc:
            raise LedgerError(
                _(
                    "the ledger's lock file {lock} cannot be opened ({reason}): it must be a file huitou can write; remove what is there",
                    lock=lock,
                    reason=exc.strerror,
                )
            ) from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise LedgerBusy(_("another `huitou send` is delivering from {path}", path=self.path)) from None
                request = self.handover_path
                request.write_text(str(os.getpid()))  # the holder sees it, finishes what is in flight and stops
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                finally:
                    with contextlib.suppress(OSError):
                        if request.read_text() == str(os.getpid()):
                            request.unlink()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def handover_path(self) -> Path:
        return self.path.with_name(self.path.name + ".handover")

    def handover_asked(self) -> bool:
        """Another live run waits for this ledger (it wrote its process id beside it): the
        run holding it should finish what is in flight and stop, leaving the rest to it."""
        try:
            pid = int(self.handover_path.read_text() or 0)
        except (OSError, ValueError):
            return False
        if pid <= 0 or pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)  # a request left by a run that died is no request
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def batch(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One transaction (one fsync) for the writes made in it, start_many and settle_many
        included."""
        return self._write()

    @contextlib.contextmanager
    def _write(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        if self.db.in_transaction:  # within a batch: its commit is this write's
            yield self.db
            return
        self.db.execute(begin)
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        """One statement over many parameter rows in one transaction; the rows changed."""
        with self._write() as db:
            before = db.total_changes
            db.executemany(sql, params)
            return db.total_changes - before

    def enqueue(self, rows: Iterable[dict[str, Any]], now: float) -> tuple[int, int]:
        """Add a plan's send rows. A new key becomes pending. A key already here is
        replanned (time, recipient, text) when this plan is at least as new as the one
        that decided it and the row is still pending or was withdrawn, or when this plan is
        newer and the row expired (an immediate trigger planned again for today); a row
        sent, in flight, failed or opted out is left as it is. Returns (new, replanned)."""
        columns = ", ".join(f'"{c}"' for c in ENQUEUE_COLUMNS)
        insert = f"INSERT OR IGNORE INTO messages ({columns}, updated_at) VALUES ({', '.join('?' * len(ENQUEUE_COLUMNS))}, ?)"
        replan = """
            UPDATE messages SET plan_id = ?, plan_as_of = ?, recipient = ?, send_at = ?, send_at_utc = ?, timezone = ?, quiet_hours = ?, content = ?,
                   state = 'pending', error = CASE state WHEN 'pending' THEN error END, not_before = NULL, updated_at = ?
            WHERE idempotency_key = ?
              AND (state = 'pending' AND coalesce(plan_as_of, '') <= ?
                   OR state = 'skipped' AND error LIKE 'plan %' AND coalesce(plan_as_of, '') <= ?
                   OR state = 'skipped' AND error LIKE 'expired%' AND coalesce(plan_as_of, '') < ?)
              AND (state <> 'pending' OR recipient IS NOT ? OR send_at IS NOT ? OR content IS NOT ?)"""
        # The rows this plan keeps as they were are now this plan's too (not counted).
        adopt = "UPDATE messages SET plan_id = ?, plan_as_of = ? WHERE idempotency_key = ? AND state = 'pending' AND coalesce(plan_as_of, '') < ?"
        new = replanned = 0
        stream = iter(rows)
        while batch := list(itertools.islice(stream, 5_000)):  # the plan streams in; a batch per transaction
            with self._write() as db:
                before = db.total_changes
                db.executemany(insert, ([*(r.get(c) for c in ENQUEUE_COLUMNS), now] for r in batch))
                new += db.total_changes - before
                before = db.total_changes
                db.executemany(
                    replan,
                    (
                        (
                            r["plan_id"],
                            r.get("plan_as_of"),
                            r["recipient"],
                            r["send_at"],
                            r["send_at_utc"],
                            r.get("timezone"),
                            r.get("quiet_hours"),
                            r["content"],
                            now,
                            r["idempotency_key"],
                            *[r.get("plan_as_of")] * 3,
                            r["recipient"],
                            r["send_at"],
                            r["content"],
                        )
                        for r in batch
                    ),
                )
                replanned += db.total_changes - before
                db.executemany(adopt, ((r["plan_id"], r.get("plan_as_of"), r["idempotency_key"], r.get("plan_as_of")) for r in batch))
        return new, replanned

    def hold(self, rows: Iterable[dict[str, Any]], oldest: float, now: float) -> int:
        """Record a plan's due holdout rows: the control group, as the sends would have gone
        out. A row is left out as its message would have been: its customer opted out (of
        its channel or of all), or it is older than `oldest` (it would have expired). A key
        recorded once stays as it was. Returns the rows recorded."""
        columns = ", ".join(f'"{c}"' for c in HOLD_COLUMNS)
        insert = (
            f"INSERT OR IGNORE INTO holdouts ({columns}, recorded_at) SELECT {', '.join('?' * len(HOLD_COLUMNS))}, ? "
            "WHERE ? >= ? AND NOT EXISTS (SELECT 1 FROM optouts o WHERE o.customer_id = ? AND o.channel IN ('', ?))"
        )
        recorded = 0
        stream = iter(rows)
        while batch := list(itertools.islice(stream, 5_000)):
            recorded += self._many(
                insert, ([*(r[c] for c in HOLD_COLUMNS), now, r["send_at_utc"], oldest, r["customer_id"], r["channel"]] for r in batch)
            )
        return recorded

    def recover(self, now: float) -> list[str]:
        """Rows left in `sending` by a run that died (call under run_lock): back to
        pending, marked recovered. Returns their keys."""
        return [
            r[0]
            for r in self.db.execute(
                "UPDATE messages SET state = 'pending', recovered = 1, updated_at = ? WHERE state = 'sending' RETURNING idempotency_key",
                (now,),
            ).fetchall()
        ]

    def skip_opted_out(self, now: float) -> int:
        """Pending rows of customers who opted out (of the row's channel or of all)."""
        return self.db.execute(_OPTED_OUT, (now,)).rowcount

    def supersede(self, reasons: Iterable[tuple[str, str]], plan_as_of: str, now: float) -> int:
        """A plan keeps these keys but does not send them: their pending rows -> skipped with
        the plan's reason, unless a newer plan decided them (the newest plan decides)."""
        return self._many(
            "UPDATE messages SET state = 'skipped', error = ?, plan_as_of = ?, updated_at = ? WHERE idempotency_key = ? AND state = 'pending' AND coalesce(plan_as_of, '') <= ?",
            ((reason, plan_as_of, now, key, plan_as_of) for key, reason in reasons),
        )

    def expire(self, oldest: float, now: float, channel: str | None = None) -> int:
        """Pending rows (of one channel) planned before `oldest` are skipped: a birthday
        greeting or a countdown a day late is worse than none."""
        return self.db.execute(
            "UPDATE messages SET state = 'skipped', error = 'expired: not delivered within the allowed delay of its send time', updated_at = ? "
            "WHERE state = 'pending' AND send_at_utc < ? AND channel = coalesce(?, channel)",
            (now, oldest, channel),
        ).rowcount

    def standing(self, keys: list[str], until: float) -> Counter[str]:
        """Where these rows stand, as the send report counts them (run.OUTCOMES; a row
        `sent` here may have been sent by an earlier run)."""
        self.restrict(keys)
        rows = self.db.execute(
            """SELECT CASE
                 WHEN m.state = 'skipped' AND m.error = 'opted out' THEN 'opted out'
                 WHEN m.state = 'skipped' AND m.error LIKE 'expired%' THEN 'expired'
                 WHEN m.state = 'skipped' AND m.error LIKE 'quiet hours%' THEN 'dropped (quiet hours)'
                 WHEN m.state = 'skipped' THEN 'withdrawn'
                 WHEN m.state = 'pending' AND m.retry_at IS NOT NULL THEN 'waiting for retry'
                 WHEN m.state = 'pending' AND m.not_before IS NOT NULL THEN 'deferred (quiet hours)'
                 WHEN m.state = 'pending' AND m.send_at_utc > ? THEN 'rescheduled'
                 WHEN m.state = 'sending' THEN 'in flight'
                 ELSE m.state END, count(*)
               FROM messages m JOIN run_keys USING (idempotency_key) GROUP BY 1""",
            (until,),
        ).fetchall()
        return Counter(dict(rows))

    def requeue_failed(self, keys: Iterable[str], now: float) -> int:
        """Failed rows among `keys` back to pending with their attempts reset (`huitou send
        --retry-failed`, once the cause is fixed)."""
        return self._many(
            "UPDATE messages SET state = 'pending', attempts = 0, retry_at = NULL, error = NULL, updated_at = ? WHERE idempotency_key = ? AND state = 'failed'",
            ((now, k) for k in keys),
        )

    def restrict(self, keys: Iterable[str]) -> None:
        """Limit `due` on this connection to these keys (the rows of the plan being sent)."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS run_keys (idempotency_key TEXT PRIMARY KEY)")
        with self._write("BEGIN") as db:  # a temporary table: one transaction, not one per key (2.6x faster)
            db.execute("DELETE FROM run_keys")
            db.executemany("INSERT OR IGNORE INTO run_keys VALUES (?)", ((k,) for k in keys))

    def due(self, now: float, upto: float, limit: int, channel: str | None = None) -> list[DueMessage]:
        """Up to `limit` pending rows of the run's keys (see restrict) planned at or before
        `upto` whose retry time and quiet-hours deferral have passed by `now`, oldest
        first. Read only: `start` takes one."""
        where = (
            "m.state = 'pending' AND m.send_at_utc <= ? AND (m.retry_at IS NULL OR m.retry_at <= ?) AND (m.not_before IS NULL OR m.not_before <= ?)"
            + (" AND m.channel = ?" if channel else "")
        )
        rows = self.db.execute(
            f"""SELECT m.idempotency_key, m.customer_id, m.channel, m.recipient, m.content, m.attempts, m.recovered,
                       m.playbook, m.rule_id, m.intent, m.send_at, m.timezone, m.quiet_hours
                FROM messages m JOIN run_keys USING (idempotency_key) WHERE {where} ORDER BY m.send_at_utc, m.idempotency_key LIMIT ?""",
            [upto, now, now, *([channel] if channel else []), limit],
        ).fetchall()
        return [DueMessage.of(r) for r in rows]

    def next_due(self, until: float, channel: str | None = None) -> float | None:
        """When the earliest pending row of the run planned at or before `until` comes
        due: its send time, its retry time or the end of its quiet-hours deferral,
        whichever is latest. None when the run has no such row left."""
        row = self.db.execute(
            "SELECT min(max(m.send_at_utc, coalesce(m.retry_at, 0), coalesce(m.not_before, 0))) FROM messages m JOIN run_keys USING (idempotency_key) "
            "WHERE m.state = 'pending' AND m.send_at_utc <= ?" + (" AND m.channel = ?" if channel else ""),
            [until, *([channel] if channel else [])],
        ).fetchone()
        return row[0] if row else None

    def hold_for_quiet(self, deferred: list[tuple[str, float, str]], dropped: list[tuple[str, str]], now: float) -> None:
        """Rows whose turn came inside their quiet hours: (key, when the window ends, why)
        wait until then; (key, why) are dropped (the rule's `outside: drop`)."""
        with self._write() as db:
            db.executemany(
                "UPDATE messages SET not_before = ?, error = ?, updated_at = ? WHERE idempotency_key = ? AND state = 'pending'",
                ((until, why, now, key) for key, until, why in deferred),
            )
            db.executemany(
                "UPDATE messages SET state = 'skipped', error = ?, updated_at = ? WHERE idempotency_key = ? AND state = 'pending'",
                ((why, now, key) for key, why in dropped),
            )

    def waiting(self, until: float, channel: str | None = None) -> dict[str, list[str]]:
        """Pending rows earlier runs enqueued that are still to go (of one channel), by
        channel: waiting for a retry or for the end of quiet hours, in flight when a run
        died, or due by `until` (a customer behind the shop's clock: yesterday's plan
        holds their evening, today's starts at their today). Any later live run finishes
        them; the newest plan that covered a row has decided it."""
        rows = self.db.execute(
            "SELECT channel, idempotency_key FROM messages WHERE " + _WAITING + " ORDER BY send_at_utc, idempotency_key", (until, channel)
        ).fetchall()
        out: dict[str, list[str]] = {}
        for name, key in rows:
            out.setdefault(name, []).append(key)
        return out

    def start(self, key: str, now: float) -> int | None:
        """Mark one pending row in flight and return its attempt number; None when it is
        no longer pending or its customer opted out meanwhile (then it is `skipped`): the
        opt-out list is read in the same transaction, so an opt-out recorded during a
        run stops every message not yet handed over."""
        # One statement, autocommitted: the opt-out test and the state change are atomic.
        updated = self.db.execute(
            f"""UPDATE messages AS m SET
                  state = CASE WHEN {_OPTOUT_EXISTS} THEN 'skipped' ELSE 'sending' END,
                  error = CASE WHEN {_OPTOUT_EXISTS} THEN 'opted out' END,
                  attempts = attempts + NOT {_OPTOUT_EXISTS}, updated_at = ?
                WHERE m.idempotency_key = ? AND m.state = 'pending' RETURNING state, attempts""",
            (now, key),
        ).fetchone()
        return updated[1] if updated and updated[0] == "sending" else None

    def start_many(self, keys: list[str], now: float) -> dict[str, int | None]:
        """start() for several rows in one transaction (one fsync): each row's attempt
        number, None for a row no longer pending or whose customer opted out."""
        with self._write():
            return {key: self.start(key, now) for key in keys}

    def settle_many(self, outcomes: list[Settlement], now: float) -> None:
        """Record several rows' outcomes in one transaction (one fsync): `sent` with the
        receiver's id, or `failed` (retry_at None: for good; else pending until then)."""
        with self._write():
            for outcome in outcomes:
                if outcome.state == State.SENT:
                    self.sent(outcome.key, now, outcome.detail)
                else:
                    self.failed(outcome.key, now, str(outcome.detail), outcome.retry_at)

    def sent(self, key: str, now: float, provider_id: str | None = None) -> None:
        self.db.execute(  # one statement, autocommitted (and fsynced) on its own
            "UPDATE messages SET state = 'sent', error = NULL, provider_id = ?, updated_at = ? WHERE idempotency_key = ? AND state = 'sending'",
            (provider_id, now, key),
        )

    def failed(self, key: str, now: float, error: str, retry_at: float | None = None) -> None:
        """A permanent failure (retry_at None) is final; a transient one goes back to
        pending until retry_at."""
        state = State.FAILED if retry_at is None else State.PENDING
        self.db.execute(
            "UPDATE messages SET state = ?, error = ?, retry_at = ?, updated_at = ? WHERE idempotency_key = ? AND state = 'sending'",
            (state, error, retry_at, now, key),
        )

    def record_optout(self, customer_id: str, channel: str | None, now: float, source: str) -> bool:
        """True when it is new (an opt-out already on record keeps its first date)."""
        return self.import_optouts([(customer_id, channel)], now, source) == 1

    def import_optouts(self, rows: Iterable[tuple[str, str | None]], now: float, source: str) -> int:
        """(customer_id, channel or None for all); returns how many were new."""
        return self._many("INSERT OR IGNORE INTO optouts VALUES (?, ?, ?, ?)", ((c, ch or "", now, source) for c, ch in rows))

    def optouts(self) -> list[tuple[str, str | None]]:
        return [(c, ch or None) for c, ch in self.db.execute("SELECT customer_id, channel FROM optouts ORDER BY 1, 2")]

    def counts(self) -> list[tuple[str, str, str, int]]:
        """(state, channel, planned day, messages), sorted."""
        return self.db.execute(
            "SELECT state, channel, substr(send_at, 1, 10) AS day, count(*) FROM messages GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()

    def failures(self, limit: int = 50) -> list[tuple[str, str, str, int, str]]:
        """Failed rows, newest first: (key, customer, channel, attempts, error)."""
        return self.db.execute(
            "SELECT idempotency_key, customer_id, channel, attempts, error FROM messages WHERE state = 'failed' ORDER BY updated_at DESC, idempotency_key LIMIT ?",
            (limit,),
        ).fetchall()

    def state_of(self, key: str) -> str | None:
        row = self.db.execute("SELECT state FROM messages WHERE idempotency_key = ?", (key,)).fetchone()
        return row[0] if row else None


class ArmGroup(NamedTuple):
    """One rule's treated (arm "t": its messages) or held-out (arm "h") customers in a range,
    with their scheduled instants, and (treated) the message counts by state."""

    arm: str
    playbook: str
    rule_id: str
    channel: str
    planned: int
    sent: int
    failed: int
    segments: int
    customers: list[str]  # those who count: a message attempted or sent, or held out
    times: list[float]  # each one's scheduled instant (UTC seconds), in the same order


# Per rule and channel, from one pass over each table: the message counts, and the two
# groups' customers and scheduled times as text joined by U+001F (split in C, not read a
# row at a time: a million rows cost a second less). Both lists of a group come from the
# same rows in the same order (SQLite steps a group's aggregates together, row by row).
_ARMS = """
    SELECT 't', playbook, rule_id, channel, count(*), sum(state = 'sent'), sum(state = 'failed'),
           sum(CASE WHEN state = 'sent' THEN coalesce(json_extract(content, '$.segments'), 1) ELSE 0 END),
           count(*) FILTER (WHERE attempts > 0 OR state = 'sent'),
           group_concat(customer_id, char(31)) FILTER (WHERE attempts > 0 OR state = 'sent'),
           group_concat(send_at_utc, char(31)) FILTER (WHERE attempts > 0 OR state = 'sent')
    FROM messages WHERE substr(send_at, 1, 10) BETWEEN ? AND ? GROUP BY playbook, rule_id, channel
    UNION ALL
    SELECT 'h', playbook, rule_id, channel, 0, 0, 0, 0, count(*), group_concat(customer_id, char(31)), group_concat(send_at_utc, char(31))
    FROM holdouts WHERE substr(send_at, 1, 10) BETWEEN ? AND ? GROUP BY playbook, rule_id, channel"""
_ARM_ROWS = """
    SELECT customer_id, send_at_utc FROM messages WHERE playbook = ? AND rule_id = ? AND channel = ? AND (attempts > 0 OR state = 'sent')
      AND substr(send_at, 1, 10) BETWEEN ? AND ? AND ? = 't'
    UNION ALL
    SELECT customer_id, send_at_utc FROM holdouts WHERE playbook = ? AND rule_id = ? AND channel = ? AND substr(send_at, 1, 10) BETWEEN ? AND ? AND ? = 'h'"""


def arms(path: Path, start: dt.date, end: dt.date) -> list[ArmGroup] | None:
    """Each rule's treated and held-out customers whose send falls in start..end (local
    days), read-only; None for a ledger written before holdouts were recorded."""
    span = [start.isoformat(), end.isoformat()]
    out = []
    with read_only(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "holdouts" not in tables:
            return None
        for arm, playbook, rule, channel, planned, sent, failed, segments, n, customers, times in db.execute(_ARMS, span * 2).fetchall():
            ids, at = (customers.split("\x1f"), [float(x) for x in times.split("\x1f")]) if n else ([], [])
            if len(ids) != n:  # a separator inside an id (the data's checks reject them): read this group row by row
                ids, at = (list(c) for c in zip(*db.execute(_ARM_ROWS, [playbook, rule, channel, *span, arm] * 2).fetchall()))
            out.append(ArmGroup(arm, playbook, rule, channel, planned, sent, failed, segments, ids, at))
    return out


_FIRST_SENT = """
    SELECT playbook, rule_id, channel, content FROM (
        SELECT *, row_number() OVER (PARTITION BY playbook, rule_id ORDER BY send_at_utc, idempotency_key) AS k
        FROM messages WHERE state = 'sent' AND substr(send_at, 1, 10) BETWEEN ? AND ?)
    WHERE k = 1 ORDER BY playbook, rule_id"""


def first_sent(path: Path, start: dt.date, end: dt.date) -> list[tuple[str, str, str, str | None]]:
    """The first message each rule sent in start..end: playbook, rule, channel, content."""
    with read_only(path) as db:
        return db.execute(_FIRST_SENT, [start.isoformat(), end.isoformat()]).fetchall()


def history(path: Path) -> list[tuple[str, str, str, str]]:
    """Read only: messages delivered (customer_id, channel, intent, sent_at as ISO 8601
    UTC): what the planner counts for caps and care-first."""
    with read_only(path) as db:
        return [
            (c, ch, i, dt.datetime.fromtimestamp(t, dt.UTC).isoformat())
            for c, ch, i, t in db.execute(
                "SELECT customer_id, channel, intent, updated_at FROM messages WHERE state = 'sent' ORDER BY updated_at, idempotency_key"
            )
        ]


def peek(path: Path, keys: list[str]) -> tuple[dict[str, str], list[tuple[str, str | None]]]:
    """Read only (a dry run): the states of these keys and the opt-outs, without creating
    or changing the ledger."""
    if not path.is_file():
        return {}, []
    with read_only(path) as db:
        db.execute("CREATE TEMP TABLE wanted (k TEXT PRIMARY KEY)")
        db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((k,) for k in keys))
        states = dict(db.execute("SELECT idempotency_key, state FROM messages JOIN wanted ON k = idempotency_key").fetchall())
        optouts = [(c, ch or None) for c, ch in db.execute("SELECT customer_id, channel FROM optouts")]
    return states, optouts


def waiting_channels(path: Path, until: float, channel: str | None = None) -> set[str]:
    """Read only: the channels with rows an earlier run left to go (Ledger.waiting; rows
    still `sending` are those a dead run had in flight), so a run opens their adapters
    before it takes the ledger."""
    if not path.is_file():
        return set()
    with read_only(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
        waiting = _WAITING if "not_before" in columns else _WAITING_BEFORE_DEFERRALS
        return {c for (c,) in db.execute("SELECT DISTINCT channel FROM messages WHERE " + waiting, (until, channel))}


def delivered(path: Path) -> list[tuple[str, str, str, str, bool, str | None]]:
    """Read only: the messages sent, or in flight when a run stopped, as (key, playbook,
    rule, customer, legacy, trigger). `legacy`: written before keys named triggers (no
    `trigger`), when the key hashed the scheduled date instead."""
    with read_only(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
        legacy = '"trigger" IS NULL' if "trigger" in columns else "1"
        trigger = '"trigger"' if "trigger" in columns else "NULL"
        return [
            (k, p, r, c, bool(old), t)
            for k, p, r, c, old, t in db.execute(
                f"SELECT idempotency_key, playbook, rule_id, customer_id, {legacy}, {trigger} FROM messages WHERE state IN ('sent', 'sending')"
            )
        ]


def default_path(root: Path, config: dict[str, Any]) -> Path:
    path = Path(str((config.get("ledger") or {}).get("path", ".huitou/ledger.sqlite")))
    return path if path.is_absolute() else root / path
