"""Resolve a rule's `when` into send dates inside the plan window, as SQL.

A timing becomes a set of (step, scheduled date, event, event date) per customer:
- dates known before looking at any customer (a fixed date, a holiday, a recurrence,
  `immediate`) are computed here and joined as a constant table;
- customer dates (birthday, first-order anniversary, last order, last delivery, purchase
  due) are SQL expressions over the feature columns, one per candidate year.
The time of day is fixed per rule (`at`, default DEFAULT_AT), so quiet hours are settled
here too: a time inside them is deferred to their end (possibly the next day) or dropped.
Weekday restrictions then move a date forward to the next allowed day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from ..calendar import anchor_kind, holiday_date, yearly
from ..db import date_literal, tree
from ..feature_sql import birthday_in
from ..i18n import _
from ..quiet import QuietHours, minutes

DEFAULT_AT = "10:00"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Window:
    """The plan window: scheduled dates in [start, end)."""

    start: dt.date
    days: int

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days)

    def years(self) -> range:
        return range(self.start.year - 1, self.end.year + 2)

    def bounds(self) -> tuple[exp.Expr, exp.Expr]:
        """The first and the last scheduled date, as SQL date literals."""
        return date_literal(self.start), date_literal(self.end - dt.timedelta(days=1))


@dataclass(frozen=True)
class TimeOfDay:
    """The local time a rule sends at, after quiet hours: minutes since midnight plus a day
    shift (1 when deferral crosses midnight), or dropped."""

    minutes: int
    day_shift: int
    deferred: bool
    dropped: bool

    @property
    def hhmm(self) -> str:
        return f"{self.minutes // 60:02d}:{self.minutes % 60:02d}"


def time_of_day(when: dict[str, Any], quiet: QuietHours | None) -> TimeOfDay:
    """The rule's `at` (default DEFAULT_AT), deferred to the end of the quiet window or
    dropped when it falls inside it.

    >>> late = time_of_day({"at": "22:30"}, QuietHours(21 * 60, 9 * 60))
    >>> late.hhmm, late.day_shift, late.deferred
    ('09:00', 1, True)
    """
    at = minutes(str(when.get("at", DEFAULT_AT)))
    if quiet is None or not quiet.contains(at):
        return TimeOfDay(at, 0, False, False)
    if quiet.outside == "drop":
        return TimeOfDay(at, 0, False, True)
    return TimeOfDay(quiet.end, 1 if at >= quiet.end else 0, True, False)


# The keys a timing names its anchor with, and the sign of their days.
_ANCHOR_SIGNS = {"on": 0, "before": -1, "after": 1}


def anchor_of(when: dict[str, Any]) -> str | None:
    """The date a timing counts from (`on`, `before` or `after`); None for the others."""
    return next((str(when[key]) for key in _ANCHOR_SIGNS if key in when), None)


def _offsets(when: dict[str, Any]) -> tuple[str, list[int]]:
    """The anchor and the signed day offsets (one per step)."""
    for key, sign in _ANCHOR_SIGNS.items():
        if key in when:
            days = when.get("days", 0)
            steps = days if isinstance(days, list) else [days]
            return str(when[key]), [sign * int(d) for d in steps] if sign else [0]
    raise ValueError("no anchor")


def constant_dates(
    when: dict[str, Any], window: Window, date_fields: Collection[str] = (), founded: dt.date | None = None
) -> list[tuple[int, dt.date, str | None, dt.date | None]] | None:
    """(step, scheduled date, event, event date) for timings that do not depend on the
    customer, or None when they do (`date_fields`: the project's declared customer date
    fields; `founded`: the shop's founding date). Scheduled dates are inside the window."""
    rows: list[tuple[int, dt.date, str | None, dt.date | None]] = []
    if when.get("immediate"):
        return [(0, window.start, None, None)]
    if "every" in when:
        every = str(when["every"])
        for n in range(window.days):
            day = window.start + dt.timedelta(days=n)
            if every == "day" or (every in WEEKDAYS and day.weekday() == WEEKDAYS.index(every)):
                rows.append((0, day, None, None))
            elif every == "month" and day.day == min(int(when.get("day", 1)), _month_days(day)):
                rows.append((0, day, None, None))
        return rows
    anchor, offsets = _offsets(when)
    kind = anchor_kind(anchor, date_fields)
    if kind == "customer":
        return None
    events: list[dt.date] = []
    if kind == "date":
        events = [dt.date.fromisoformat(anchor)]
    elif kind == "shop" and founded is not None:  # from the first anniversary on
        events = [yearly(founded, y) for y in window.years() if y > founded.year]
    elif kind == "holiday":
        events = [d for d in (holiday_date(anchor, y) for y in window.years()) if d is not None]
    for event in events:
        for offset in offsets:
            day = event + dt.timedelta(days=offset)
            if window.start <= day < window.end:
                rows.append((abs(offset), day, anchor, event))
    return sorted(rows, key=lambda r: (r[1], r[0]))


def _month_days(day: dt.date) -> int:
    following = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return (following - dt.timedelta(days=1)).day


def customer_anchors(anchor: str, window: Window) -> list[exp.Expr]:
    """The anchor's dates near the window, over the feature columns: yearly anchors give
    one per candidate year; a declared date field (any other anchor: the caller checked
    it) is its own date."""
    if anchor == "birthday":
        return [sqlglot.parse_one(birthday_in(y), dialect="duckdb") for y in window.years()]
    if anchor == "first_order_anniversary":
        # The anniversary of the first purchase, from its first year on (never the day itself).
        return [
            tree(
                "CASE WHEN year(first_order_date) < :year THEN :day END",
                year=y,
                day=sqlglot.parse_one(birthday_in(y, "first_order_date"), dialect="duckdb"),
            )
            for y in window.years()
        ]
    if anchor == "last_order":
        return [exp.column("last_order_date")]
    if anchor == "last_delivery":
        return [tree(":as_of - CAST(days_since_last_delivery AS INTEGER)", as_of=date_literal(window.start))]
    if anchor == "purchase_due":
        return [tree("last_order_date + CAST(round(purchase_cycle_days) AS INTEGER)")]
    return [exp.cast(exp.column(anchor, quoted=True), "DATE")]


def weekday_shift(day: exp.Expr, weekdays: list[str] | None) -> exp.Expr:
    """The date moved forward to the first allowed weekday (ISO: Monday = 1)."""
    if not weekdays or set(weekdays) == set(WEEKDAYS):
        return day
    allowed = [WEEKDAYS.index(w) + 1 for w in weekdays]
    shifted = exp.Case()
    for n in range(7):
        later = tree(":day + :n", day=exp.paren(day.copy()), n=n)
        shifted = shifted.when(exp.func("isodow", later.copy(), dialect="duckdb").isin(*allowed), later)
    return shifted


def parse_horizon(text: str) -> int:
    """A planning horizon in days: 14d, 2w or a plain number, from 1 to 366 days.

    >>> parse_horizon("14d"), parse_horizon("2w"), parse_horizon("30")
    (14, 14, 30)
    """
    import re

    match = re.fullmatch(r"\s*(\d+)\s*([dw]?)\s*", text)
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1) if match else 0
    if not 1 <= days <= 366:
        raise ValueError(_("horizon {text}: give a number of days or weeks between 1d and 366d, e.g. 14d or 2w", text=repr(text)))
    return days
