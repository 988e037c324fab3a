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
- on stop (SIGINT, SIGTERM) claims nothing more and records what is in flight.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .channels import Adapter, ChannelDown, DeliveryError, Message
from .ledger import DueMessage, Ledger, Settlement, explain
from .pacing import ChannelBackoff, Pacer, RetryPolicy

if TYPE_CHECKING:
    from .run import ChannelReport, Clock

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


@dataclass
class Channel:
    """What a channel delivers with: its adapters (one per place in flight; an adapter
    that is safe to share appears several times), how it is paced and retried."""

    kind: str
    adapters: list[Adapter]
    pacer: Pacer
    policy: RetryPolicy

    @property
    def concurrency(self) -> int:
        return len(self.adapters)


def deliver_channel(ledger_path: Path, keys: list[str], channel: Channel, until: float, stop: threading.Event, report: ChannelReport, clock: Clock) -> None:
    """Deliver one channel's due rows of `keys` until none is left or due, the channel is
    down, or `stop` is set; the report's counts as they go."""
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
            if claimed is None and not in_flight:  # nothing due now: wait for a retry, or finish
                retry_at = ledger.next_retry(until, report.channel)
                if retry_at is None:
                    break
                stop.wait(min(1.0, max(0.0, retry_at - clock())))
                continue
            # Rows are due or in flight: wait for one to come back, for the next slot of the
            # rate or the end of a backoff, or (to see the stop flag) a moment.
            room = len(in_flight) < channel.concurrency and claimed is not None
            pause = max(channel.pacer.delay(), backoff.until - clock()) if room else IDLE_WAIT
            pause = min(max(pause, 0.001), IDLE_WAIT * 5)
            if in_flight:
                wait(in_flight, timeout=pause, return_when=FIRST_COMPLETED)
            else:
                stop.wait(pause)
    except sqlite3.Error as exc:  # the disk filled, the file went away: the rows in flight are recovered next run
        report.stopped = str(explain(ledger_path, exc))
    except Exception as exc:  # a bug, not a delivery failure: stop the channel, say so; the rows in flight are recovered next run
        report.stopped = f"internal error: {type(exc).__name__}: {exc}"
    finally:
        pool.shutdown(wait=True)  # a message handed over is finished, not abandoned mid-write
        report.seconds = time.monotonic() - started
        ledger.close()


def _claim(ledger: Ledger, channel: Channel, backoff: ChannelBackoff, until: float, due: deque[DueMessage], report: ChannelReport, clock: Clock,
           busy: int) -> list[tuple[Message, int]] | None:
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
        due.extend(ledger.due(now, until, BATCH, report.channel))
        if not due:
            return None
    batch = [due.popleft() for _ in range(min(places, len(due)))]
    attempts = ledger.start_many([row.idempotency_key for row in batch], now)
    claimed = []
    for row in batch:
        if attempts[row.idempotency_key] is None:
            report.skipped += ledger.state_of(row.idempotency_key) == "skipped"
            continue
        channel.pacer.take()
        claimed.append((Message.from_row(row, channel.kind), int(attempts[row.idempotency_key] or 1)))
    return claimed


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
            settled.append(Settlement(key, "failed", str(outcome.down), retry_at=now))
            report.stopped = str(outcome.down)
        elif outcome.error is not None:
            if outcome.error.transient:
                backoff.failed(now, outcome.started, outcome.error.retry_after)
            settled.append(_failure(outcome.error, key, outcome.attempt, now, channel.policy, report))
        else:
            settled.append(Settlement(key, "sent", outcome.provider_id))
            backoff.succeeded()
            report.sent += 1
            report.resent_after_crash += outcome.message.recovered
    ledger.settle_many(settled, now)


def _failure(exc: DeliveryError, key: str, attempt: int, now: float, policy: RetryPolicy, report: ChannelReport) -> Settlement:
    """A failed delivery's settlement: retried later (transient, attempts left) or final."""
    if exc.transient and attempt < policy.attempts:
        report.retried += 1
        return Settlement(key, "failed", str(exc), retry_at=now + policy.delay(attempt, exc.retry_after))
    error = f"{exc} (gave up after {attempt} attempts)" if exc.transient else str(exc)
    report.failed += 1
    if len(report.errors) < 10:
        report.errors.append((key, error))
    return Settlement(key, "failed", error)
