"""One channel's delivery: up to `concurrency` messages in flight, exactly once.

One thread per channel hands messages out and keeps the ledger; a pool of `concurrency`
threads delivers them, each with a connection of its own (SMTP) or sharing a keep-alive
pool (HTTP). The handing-out thread:
- records the outcomes that have come back and claims rows for the places they freed
  (pending -> sending, the opt-out read in it) in one transaction, one fsync, and hands
  the claimed rows over only once it is committed. A row is `sending` from its claim until
  its outcome is recorded, so at most `concurrency` rows of the channel are ever of
  unknown fate (after a crash they are resent under the same key, marked recovered);
- starts messages no faster than the channel's rate (one Pacer for the channel, however
  many are in flight) and starts none while the channel backs off (ChannelBackoff);
- hands a row over only once its send time has come on the run's clock (clock.py), unless
  the channel sends ahead (an outbox whose receiver schedules), and waits for the next
  row's time while none is due;
- holds quiet hours at the moment of handing over: a row whose turn comes inside its
  rule's quiet window (the customer's local time) waits for the window's end, or is
  dropped, as the rule says, whatever delayed it; a retry is never set inside the window;
- on stop (SIGINT, SIGTERM, a newer run taking over) claims nothing more and records what
  is in flight.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import sqlite3
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..quiet import hhmm
from ..vocabulary import State
from .channels import Adapter, ChannelDown, DeliveryError, Message
from .clock import Clock, quiet_until, row_zone
from .ledger import DueMessage, Ledger, Settlement, explain
from .pacing import ChannelBackoff, Pacer, RetryPolicy

if TYPE_CHECKING:
    from .run import ChannelReport

IDLE_WAIT = 0.2  # seconds between looks at the stop flag while nothing is in flight
BATCH = 200  # due rows read from the ledger at a time (claimed as places free up)


@dataclass
class _Outcome:
    message: Message
    attempt: int
    started: float  # the run's clock when it was claimed
    provider_id: str | None = None
    error: DeliveryError | None = None
    down: ChannelDown | None = None


MAX_PAUSE = 600.0  # seconds: `max_pause` of a channel in huitou.yaml


@dataclass
class Channel:
    """What a channel delivers with: its adapters (one per place in flight; an adapter
    that is safe to share appears several times), how it is paced and retried."""

    kind: str
    adapters: list[Adapter]
    pacer: Pacer
    policy: RetryPolicy
    ahead: bool = False  # hands rows over before their time (an outbox whose receiver schedules)
    max_pause: float = MAX_PAUSE  # the longest a receiver's Retry-After may pause it; longer stops it

    @property
    def concurrency(self) -> int:
        return len(self.adapters)


def deliver_channel(
    ledger_path: Path, keys: list[str], channel: Channel, until: float, stop: threading.Event, report: ChannelReport, clock: Clock
) -> None:
    """Deliver one channel's rows of `keys` planned by `until`, each when its time comes,
    until none is left, the channel is down, or `stop` is set; the report's counts as
    they go."""
    started = time.monotonic()
    ledger = Ledger(ledger_path)  # this thread's connection
    free: queue.SimpleQueue[Adapter] = queue.SimpleQueue()
    for adapter in channel.adapters:
        free.put(adapter)
    backoff = ChannelBackoff(channel.policy)
    in_flight: set[Future[_Outcome]] = set()
    due: deque[DueMessage] = deque()  # read, not claimed yet: only this thread claims the run's rows
    pool = ThreadPoolExecutor(channel.concurrency, thread_name_prefix=f"send-{report.channel}")
    try:
        ledger.restrict(keys)
        while True:
            done = {f for f in in_flight if f.done()}
            in_flight -= done
            outcomes = [f.result() for f in done]
            # The outcomes back and the rows claimed in their places: one commit.
            with ledger.batch() if outcomes else contextlib.nullcontext():
                _settle(ledger, outcomes, channel, backoff, report, clock)
                claimed = None if stop.is_set() or report.stopped else _claim(ledger, channel, backoff, until, due, report, clock, len(in_flight))
            for message, attempt in claimed or ():  # handed over once their claims are committed
                in_flight.add(pool.submit(_deliver, free, message, attempt, clock()))
            if stop.is_set() or report.stopped:  # claim nothing more; record what is in flight
                if not in_flight:
                    break
                wait(in_flight, return_when=FIRST_COMPLETED)
                continue
            if claimed is None and not in_flight:  # nothing due now: wait for the next row's time, or finish
                next_at = ledger.next_due(until, report.channel)
                if next_at is None:
                    break
                clock.wait_until(next_at, stop)
                continue
            # Rows are due or in flight: wait for one to come back, for the next slot of the
            # rate or the end of a backoff, or (to see the stop flag) a moment.
            room = len(in_flight) < channel.concurrency and claimed is not None
            pause = max(channel.pacer.delay(), backoff.until - clock()) if room else IDLE_WAIT
            if in_flight:
                wait(in_flight, timeout=min(max(pause, 0.001), IDLE_WAIT * 5), return_when=FIRST_COMPLETED)
            else:
                clock.wait_until(clock() + max(pause, 0.001), stop)
    except sqlite3.Error as exc:  # the disk filled, the file went away: the rows in flight are recovered next run
        report.stopped = str(explain(ledger_path, exc))
    except Exception as exc:  # a bug, not a delivery failure: stop the channel, say so; the rows in flight are recovered next run
        report.stopped = f"internal error: {type(exc).__name__}: {exc}"
    finally:
        pool.shutdown(wait=True)  # a message handed over is finished, not abandoned mid-write
        report.seconds = time.monotonic() - started
        ledger.close()


def _claim(
    ledger: Ledger,
    channel: Channel,
    backoff: ChannelBackoff,
    until: float,
    due: deque[DueMessage],
    report: ChannelReport,
    clock: Clock,
    busy: int,
) -> list[tuple[Message, int]] | None:
    """Claim as many due rows as there are free places (`busy` are taken) and the rate
    and backoff allow: the messages and their attempt numbers, None when no row is due."""
    places = channel.concurrency - busy
    if places <= 0 or clock() < backoff.until:
        return []
    if channel.pacer.interval > 0:  # paced: one at a time, each in its slot
        if channel.pacer.delay() > 0:
            return []
        places = 1
    now = clock()
    if not due:
        due.extend(ledger.due(now, until if channel.ahead else min(now, until), BATCH, report.channel))
        if not due:
            return None
    batch = _outside_quiet_hours([due.popleft() for _ in range(min(places, len(due)))], ledger, channel, report, now)
    attempts = ledger.start_many([row.idempotency_key for row in batch], now)
    claimed = []
    for row in batch:
        if attempts[row.idempotency_key] is None:
            report.skipped += ledger.state_of(row.idempotency_key) == "skipped"
            continue
        channel.pacer.take()
        claimed.append((Message.from_row(row, channel.kind, now), int(attempts[row.idempotency_key] or 1)))
    return claimed


def _outside_quiet_hours(rows: list[DueMessage], ledger: Ledger, channel: Channel, report: ChannelReport, now: float) -> list[DueMessage]:
    """The rows whose quiet hours do not hold them now; the others wait for the window's
    end or are dropped (their rule's `outside`), recorded in the ledger. A channel that
    sends ahead hands rows to a receiver that delivers at send_at: nothing to hold."""
    if channel.ahead:
        return rows
    free, deferred, dropped = [], [], []
    for row in rows:
        held = quiet_until(row.quiet_hours, row.timezone, row.send_at, now)
        if held is None:
            free.append(row)
            continue
        quiet, opens = held
        where = row_zone(row.timezone, row.send_at)
        window = f"quiet hours {hhmm(quiet.start)}-{hhmm(quiet.end)} ({row.timezone or where})"
        if quiet.outside == "drop":
            dropped.append((row.idempotency_key, f"{window}: its turn came at {_local(now, where)}, and the rule drops what falls inside them"))
        else:
            deferred.append(
                (
                    row.idempotency_key,
                    opens,
                    f"deferred: its turn came at {_local(now, where)}, inside {window}; waits until {_local(opens, where)}",
                )
            )
    if deferred or dropped:
        ledger.hold_for_quiet(deferred, dropped, now)
        report.deferred += len(deferred)
        report.dropped += len(dropped)
    return free


def _local(instant: float, where: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(instant, where).isoformat(timespec="seconds")


def _deliver(free: queue.SimpleQueue[Adapter], message: Message, attempt: int, started: float) -> _Outcome:
    """In a pool thread: deliver one message with a free adapter."""
    adapter = free.get()
    try:
        return _Outcome(message, attempt, started, provider_id=adapter.deliver(message))
    except ChannelDown as exc:
        return _Outcome(message, attempt, started, down=exc)
    except DeliveryError as exc:
        return _Outcome(message, attempt, started, error=exc)
    finally:
        free.put(adapter)


def _settle(ledger: Ledger, outcomes: list[_Outcome], channel: Channel, backoff: ChannelBackoff, report: ChannelReport, clock: Clock) -> None:
    """Record the outcomes that came back, in one transaction, and count them."""
    if not outcomes:
        return
    now = clock()
    settled = []
    for outcome in outcomes:
        key = outcome.message.key
        if outcome.down is not None:  # nothing was sent: back to pending, the channel stops
            settled.append(Settlement(key, State.FAILED, str(outcome.down), retry_at=now))
            report.stopped = str(outcome.down)
        elif outcome.error is not None and (outcome.error.retry_after or 0) > channel.max_pause:
            # Waiting that long would hold the ledger (and the run) for hours: stop the
            # channel; its rows stay for a later run, which the receiver may then accept.
            report.stopped = (
                f"the receiver asked to wait {outcome.error.retry_after:,.0f} s (Retry-After), longer than the channel's "
                f"max_pause of {channel.max_pause:,.0f} s; send again later"
            )
            settled.append(Settlement(key, State.FAILED, str(outcome.error), retry_at=now + float(outcome.error.retry_after or 0)))
        elif outcome.error is not None:
            if outcome.error.transient:
                backoff.failed(now, outcome.started, outcome.error.retry_after)
            settled.append(_failure(outcome.error, outcome.message, outcome.attempt, now, channel.policy, report))
        else:
            settled.append(Settlement(key, State.SENT, outcome.provider_id))
            backoff.succeeded()
            report.sent += 1
            report.resent_after_crash += outcome.message.recovered
    ledger.settle_many(settled, now)


def _failure(exc: DeliveryError, message: Message, attempt: int, now: float, policy: RetryPolicy, report: ChannelReport) -> Settlement:
    """A failed delivery's settlement: retried later (transient, attempts left; never inside
    the row's quiet hours when its rule defers: then at their end) or final."""
    key = message.key
    if exc.transient and attempt < policy.attempts:
        report.retried += 1
        retry_at = now + policy.delay(attempt, exc.retry_after)
        held = quiet_until(message.quiet_hours, message.timezone, message.send_at, retry_at)
        if held is not None and held[0].outside == "defer":
            retry_at = held[1]
        return Settlement(key, State.FAILED, str(exc), retry_at=retry_at)
    error = f"{exc} (gave up after {attempt} attempts)" if exc.transient else str(exc)
    report.failed += 1
    if len(report.errors) < 10:
        report.errors.append((key, error))
    return Settlement(key, State.FAILED, error)
