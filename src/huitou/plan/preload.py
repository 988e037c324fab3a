"""What a plan will need that Python is slow to load - the holiday calendars its timings
name, Babel's locale data for its messages - loaded on a second thread while the first
loads the shop's data.

Loading a shop is mostly DuckDB statements, and DuckDB lets go of the interpreter's lock
while a statement runs: the second core is idle then. In the example's dry run the
`holidays` package (it imports every country's calendar to give one: 0.1-0.15 s) and
Babel's Chinese locale data (0.09 s) were a tenth of the time, on the first thread.

What is loaded here is only ever a cache a stage reads - a module, a parsed locale, a
year's holidays - never a result: a stage that gets there first loads it itself (the
import system makes a thread wait for a module the other is still importing), and a
failure here is left for the stage to meet again, and report, on its own thread.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import threading
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

from ..calendar import anchor_kind, holiday_date
from .timing import anchor_of


class Preload:
    """`tasks` run in order on a daemon thread from now on; leaving the `with` block (a
    workspace's scope) waits for them, so no work outlives the command."""

    def __init__(self, tasks: Iterable[Callable[[], object]]) -> None:
        self._tasks = list(tasks)
        self._thread = threading.Thread(target=self._run, name="huitou-preload", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for task in self._tasks:
            try:
                task()
            except Exception:  # noqa: BLE001 - the stage that needs it meets it again, and says so
                continue

    def __enter__(self) -> Preload:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._thread.join()


def plan_needs(playbooks: Sequence[Any], as_of: dt.date | None, modules: Sequence[str] = ()) -> list[Callable[[], object]]:
    """What planning `playbooks` will read: each holiday anchor's dates in the years
    around `as_of` (today when the data will say), each playbook locale's data; then
    `modules`, what the command imports after the plan (its output's)."""
    year = (as_of or dt.date.today()).year
    timings = [rule.get("when") for ctx in playbooks for rule in ctx.rules]
    anchors = sorted({a for when in timings if isinstance(when, dict) and (a := anchor_of(when)) and anchor_kind(a) == "holiday"})
    locales = sorted({ctx.locale for ctx in playbooks})
    return [
        *(functools.partial(holiday_date, anchor, y) for anchor in anchors for y in range(year - 1, year + 2)),
        *(functools.partial(locale_data, locale) for locale in locales),
        *(functools.partial(importlib.import_module, module) for module in modules),
    ]


def locale_data(locale: str) -> None:
    """Babel's data for `locale` and the modules the message filters format with."""
    from ..templates import parsed_locale

    for module in ("babel.numbers", "babel.dates"):
        importlib.import_module(module)
    parsed_locale(locale).number_symbols  # noqa: B018 - reading it loads the locale's data
