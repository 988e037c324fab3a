"""Quiet hours: the local hours in which no message reaches a customer.

A playbook's `policies.quiet_hours` is a window of the clock (`start`-`end`, which may wrap
midnight) or a country's preset, which the playbook may narrow but not widen. The planner
sets send times outside the window (plan/timing.py); a plan row carries its window as
text (`21:00-08:00 defer`, the `quiet_hours` column), and delivery holds it at the
moment a message is handed over, in the customer's timezone, whatever delayed it
(delivery/dispatch.py). Plain Python, no database: `validate` and `send` both read it.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from .i18n import _

DAY = 24 * 60


@dataclass(frozen=True)
class Preset:
    start: str
    end: str
    source: str  # the rule that sets the hours (docs/playbook.md#quiet-hours)


# Only hours a law or a published industry rule sets, with where they come from. China has
# none that can be cited for marketing messages (docs/playbook.md#quiet-hours): no preset.
PRESETS = {
    "US": Preset(
        "21:00",
        "08:00",
        "TCPA, 47 CFR 64.1200(c)(1): no telephone solicitation before 8 a.m. or after 9 p.m. at the called party's location",
    ),
    "JP": Preset(
        "21:00",
        "08:00",
        "特定商取引法施行規則 第7条・第23条 and 消費者庁's notice on them: soliciting between 21:00 and 08:00 is 迷惑を覚えさせるような仕方",
    ),
}


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    """The zone called `name`, None when there is none (or the name is not a zone name)."""
    try:
        return ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
        return None


def minutes(clock: str) -> int:
    """'HH:MM' as minutes since midnight."""
    hours, mins = str(clock).split(":")
    return int(hours) * 60 + int(mins)


def hhmm(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


@dataclass(frozen=True)
class QuietHours:
    """Minutes of the day in [start, end) (wrapping midnight when start > end) are quiet;
    a message whose time falls there is deferred to `end` or dropped (`outside`)."""

    start: int
    end: int
    outside: str = "defer"

    def contains(self, minute: int) -> bool:
        """
        >>> q = QuietHours(21 * 60, 8 * 60)
        >>> [q.contains(minutes(t)) for t in ("20:59", "21:00", "07:59", "08:00")]
        [False, True, True, False]
        """
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def covers(self, other: QuietHours) -> bool:
        """Every quiet minute of `other` is quiet here too (this window narrows the hours
        messages may go out in, or keeps them).

        >>> us = QuietHours(21 * 60, 8 * 60)
        >>> QuietHours(20 * 60, 9 * 60).covers(us), QuietHours(22 * 60, 8 * 60).covers(us)
        (True, False)
        """
        return all(self.contains(m) for m in range(DAY) if other.contains(m))

    @property
    def text(self) -> str:
        """As a plan row and the ledger carry it: '21:00-08:00 defer'."""
        return f"{hhmm(self.start)}-{hhmm(self.end)} {self.outside}"

    @classmethod
    def parse(cls, text: str | None) -> QuietHours | None:
        """The inverse of `text` (None for a row without quiet hours).

        >>> QuietHours.parse("21:00-08:00 drop")
        QuietHours(start=1260, end=480, outside='drop')
        """
        if not text:
            return None
        window, outside = text.split(" ")
        start, end = window.split("-")
        return cls(minutes(start), minutes(end), outside)

    def reopens(self, instant: float, where: dt.tzinfo) -> float | None:
        """None when `instant` (epoch seconds) is outside the window in `zone`; else the
        instant the window ends there: the next local `end`, found on the calendar (a
        daylight-saving change in between moves it by the hour it should).

        >>> ny = ZoneInfo("America/New_York")
        >>> late = dt.datetime(2026, 10, 31, 21, 0, tzinfo=ny).timestamp()
        >>> dt.datetime.fromtimestamp(QuietHours(21 * 60, 8 * 60).reopens(late, ny), dt.timezone.utc).isoformat()
        '2026-11-01T13:00:00+00:00'
        """
        local = dt.datetime.fromtimestamp(instant, where)
        if not self.contains(local.hour * 60 + local.minute):
            return None
        day = local.date()
        for _attempt in range(3):
            opening = dt.datetime.combine(day, dt.time(self.end // 60, self.end % 60), where).timestamp()
            if opening > instant:
                return opening
            day += dt.timedelta(days=1)
        raise AssertionError("a quiet window ends within two days")  # start != end: unreachable


class QuietHoursError(ValueError):
    """A quiet_hours policy that cannot hold: it opens hours its preset closes."""


def resolve(policy: dict[str, Any] | None) -> QuietHours | None:
    """A playbook's `quiet_hours` policy as a window: its own start and end, the preset's,
    or both (start and end must then keep every hour the preset keeps quiet, else
    QuietHoursError).

    >>> resolve({"preset": "US"}).text, resolve({"preset": "US", "end": "09:00"}).text
    ('21:00-08:00 defer', '21:00-09:00 defer')
    """
    if not policy:
        return None
    outside = str(policy.get("outside", "defer"))
    preset = PRESETS.get(str(policy["preset"])) if policy.get("preset") else None
    if preset is None:
        return QuietHours(minutes(policy["start"]), minutes(policy["end"]), outside)
    floor = QuietHours(minutes(preset.start), minutes(preset.end), outside)
    window = QuietHours(minutes(policy.get("start", preset.start)), minutes(policy.get("end", preset.end)), outside)
    if not window.covers(floor):
        opened, kept = f"{hhmm(window.start)}-{hhmm(window.end)}", f"{preset.start}-{preset.end}"
        raise QuietHoursError(
            _(
                "quiet hours {window} would send inside the {preset} preset's {quiet} ({source})",
                window=opened,
                preset=policy["preset"],
                quiet=kept,
                source=preset.source,
            )
        )
    return window
