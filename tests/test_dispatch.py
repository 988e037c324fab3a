"""One channel's delivery in this process (delivery/dispatch.py) against a real webhook
receiver and a real ledger file: what the ledger's commits hold while many messages are
in flight."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from huitou.delivery import dispatch
from huitou.delivery.channels import Adapter, Message, open_adapters
from huitou.delivery.dispatch import Channel, deliver_channel
from huitou.delivery.ledger import Ledger
from huitou.delivery.pacing import Pacer, RetryPolicy
from huitou.delivery.run import ChannelReport, Clock
from tests.servers import WebhookServer
from tests.test_ledger import NOW, row

SECRET = "dispatch-secret"


class HandOvers:
    """A real adapter that also notes when each message was handed to it (the run's clock
    at the claim)."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter, self.handed = adapter, []

    def deliver(self, message: Message) -> str | None:
        self.handed.append(message.handed_at)
        return self.adapter.deliver(message)

    def close(self) -> None:
        self.adapter.close()


class Transactions:
    """Counts the commits that write ledger rows on one SQLite connection, from its
    statements: a BEGIN .. COMMIT holding a write to `messages` is one, and so is such a
    write outside one (it commits on its own)."""

    def __init__(self) -> None:
        self.count, self.writes, self._open, self._wrote = 0, 0, False, False

    def __call__(self, statement: str) -> None:
        verb = statement.split(None, 1)[0].upper() if statement.strip() else ""
        if verb == "BEGIN":
            self._open, self._wrote = True, False
        elif verb in ("COMMIT", "ROLLBACK"):
            self.count += verb == "COMMIT" and self._wrote
            self._open = False
        elif verb in ("INSERT", "UPDATE", "DELETE") and re.search(r"\bmessages\b", statement):
            self.writes += 1
            self._wrote = True
            self.count += not self._open


# (a receiver's seconds a message, the most commits for 120 messages): at a provider's
# latency the outcomes come back one by one and each commit records one and claims the
# row for its place; from a receiver that answers at once they come back faster than a
# commit is written, and each commit takes all that came.
@pytest.mark.parametrize(("latency", "most"), [(0.05, 120), (0.0, 60)])
def test_claims_and_outcomes_share_commits_and_the_window_stays_the_rows_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, latency: float, most: int
) -> None:
    path, keys = tmp_path / "ledger.sqlite", [f"k{i:03d}" for i in range(120)]
    ledger = Ledger(path)
    ledger.enqueue([row(key, customer=f"c{i}") for i, key in enumerate(keys)], NOW)
    ledger.close()
    traced = Transactions()

    class TracedLedger(Ledger):  # the channel thread's own connection, its statements seen
        def _open(self) -> None:
            super()._open()
            self.db.set_trace_callback(traced)

    monkeypatch.setattr(dispatch, "Ledger", TracedLedger)
    monkeypatch.setenv("T_SECRET", SECRET)
    done, widest = threading.Event(), [0]

    def watch() -> None:  # another connection, as a crash would leave the file: rows `sending`
        reader = sqlite3.connect(path)
        while not done.is_set():
            widest[0] = max(widest[0], reader.execute("SELECT count(*) FROM messages WHERE state = 'sending'").fetchone()[0])
        reader.close()

    with WebhookServer(SECRET, latency=latency) as hook:
        config = {"webhook": {"url": hook.url, "secret_env": "T_SECRET"}, "concurrency": 8}
        channel = Channel("sms", open_adapters("sms", config, tmp_path), Pacer(0), RetryPolicy())
        report = ChannelReport("sms")
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            deliver_channel(path, keys, channel, NOW + 3600, threading.Event(), report, Clock(NOW))
        finally:
            done.set()
            watcher.join()
        assert report.sent == 120 and not report.stopped and set(hook.arrivals.delivered) == set(keys) and not hook.arrivals.duplicates()
    assert {state for (state,) in sqlite3.connect(path).execute("SELECT state FROM messages")} == {"sent"}
    # A claim and a settlement per message: 240 writes of a row, in fewer commits.
    assert traced.writes == 240
    assert traced.count <= most, f"{traced.count} commits for 120 messages"
    # Grouping never claims ahead: no more rows were ever `sending` than places in flight.
    assert 2 <= widest[0] <= 8, widest[0]


def test_a_channel_that_keeps_failing_pauses_as_a_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request answered 503, 8 in flight, 40 messages: after 5 failures in a row the
    channel starts nothing for 0.5 s, then 1 s (doubling), instead of each message
    retrying on its own clock and the queue burning through the gateway. The failures of
    the messages in flight when a pause began do not lengthen it."""
    path, keys = tmp_path / "ledger.sqlite", [f"k{i:03d}" for i in range(40)]
    ledger = Ledger(path)
    now = time.time()  # on the real clock: its pauses are real seconds (a replay's clock would move through them)
    ledger.enqueue([row(key, customer=f"c{i}", at=now - 60) for i, key in enumerate(keys)], now)
    ledger.close()
    monkeypatch.setenv("T_SECRET", SECRET)
    with WebhookServer(SECRET) as hook:
        hook.arrivals.faults = ["503"] * 1000
        config = {"webhook": {"url": hook.url, "secret_env": "T_SECRET"}, "concurrency": 8}
        adapters = [HandOvers(adapter) for adapter in open_adapters("sms", config, tmp_path)]
        channel = Channel("sms", adapters, Pacer(0), RetryPolicy(attempts=5, initial=0.5, maximum=1.0))
        stop, report = threading.Event(), ChannelReport("sms")
        timer = threading.Timer(2.2, stop.set)
        timer.start()
        deliver_channel(path, keys, channel, now + 3600, stop, report, Clock())
    # When the sender handed each message over, on its clock (the receiver's arrival times
    # would do as well, but a busy machine stalls a server thread and splits a wave).
    handed = sorted(at for adapter in adapters for at in adapter.handed)
    times = [at - handed[0] for at in handed]
    # Waves (those in flight when a pause began finish): at 0, after 0.5 s, after 1 s
    # more. Each message on its own clock would have sent all 40 at once.
    assert len(times) <= 12 + 8 + 8, f"{len(times)} requests in 2.2 s"  # the first wave: 8, and 4 claimed before the fifth failure
    assert len(hook.arrivals.faulted) == len(times)
    gaps = [b - a for a, b in zip(times, times[1:]) if b - a > 0.3]
    assert len(gaps) == 2 and 0.45 <= gaps[0] < 0.9 and gaps[1] >= 0.95, gaps
    states = dict(sqlite3.connect(path).execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall())
    assert states == {"pending": 40} and report.retried == len(times) and not report.sent  # stopped: nothing left in flight
