"""The sender's clock, and quiet hours told on it.

A live run hands a row over when its send time has come, on this clock: the real one, or
(`--now`, replays and tests) one that starts at the given time and runs on with the real
seconds, except that whenever a channel has nothing in flight and waits (for the next
row's time, a retry, the end of quiet hours, the rate's next slot, a receiver's
Retry-After) it moves straight to the end of the wait. A replayed day takes seconds, and
every rule of time holds on its clock as it would on the real one. Each channel of a
replay runs a clock of its own (`fork`), so one channel's wait does not move another's.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from zoneinfo import ZoneInfo

from ..quiet import QuietHours
from ..quiet import zone as named_zone

LOOK_AGAIN = 1.0  # seconds: the longest real wait before the ledger is read again (opt-outs, a newer run)


class Clock:
    def __init__(self, start: float | None = None) -> None:
        self.replay = start is not None
        self.offset = 0.0 if start is None else start - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset

    def fork(self) -> Clock:
        """A clock that reads the same now and moves on its own (a replay's channel)."""
        twin = Clock()
        twin.replay, twin.offset = self.replay, self.offset
        return twin

    def wait_until(self, instant: float, stop: threading.Event) -> None:
        """Wait for `instant`, or for `stop`: the real clock sleeps at most LOOK_AGAIN (the
        caller looks again, so what changed meanwhile is seen); a replay's moves there."""
        ahead = instant - self()
        if ahead <= 0:
            return
        if self.replay:
            self.offset += ahead
        else:
            stop.wait(min(ahead, LOOK_AGAIN))


def row_zone(timezone: str | None, send_at: str) -> dt.tzinfo:
    """Where a row's quiet hours are told: the customer's zone, or (a row enqueued before
    rows carried it) the fixed offset of its planned time."""
    named = named_zone(timezone) if timezone else None
    if isinstance(named, ZoneInfo):
        return named
    offset = dt.datetime.fromisoformat(send_at).utcoffset()
    return dt.timezone(offset) if offset is not None else dt.UTC


def quiet_until(quiet_hours: str | None, timezone: str | None, send_at: str, instant: float) -> tuple[QuietHours, float] | None:
    """(the window, when it ends) when `instant` falls inside the row's quiet hours, else None."""
    quiet = QuietHours.parse(quiet_hours)
    if quiet is None:
        return None
    opens = quiet.reopens(instant, row_zone(timezone, send_at))
    return None if opens is None else (quiet, opens)
