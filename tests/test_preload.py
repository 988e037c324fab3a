"""The plan's preload: what it loads beside the data, and that it never changes or stops
what the plan does (the plan's own tests run with it: commands.preload_plan)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import yaml

from huitou import calendar
from huitou.plan.preload import Preload, plan_needs
from huitou.workspace import Workspace

from .conftest import ROOT


def test_a_task_that_fails_is_left_for_its_stage_and_the_next_one_still_runs() -> None:
    ran: list[str] = []

    def broken() -> None:
        raise ValueError("no such locale")

    with Preload([broken, lambda: ran.append("after")]):
        pass
    assert ran == ["after"]


def test_leaving_the_scope_waits_for_the_thread() -> None:
    started, done = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        time.sleep(0.2)
        done.set()

    with Preload([slow]):
        assert started.wait(5)
    assert done.is_set()


def test_the_example_playbooks_need_their_holidays_and_locales() -> None:
    """Read from the YAML here, not through huitou: the anchors `on`/`before`/`after` name
    that are holidays, and the playbooks' locales."""
    docs = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "rules").glob("*.yaml"))]
    default = yaml.safe_load((ROOT / "huitou.yaml").read_text(encoding="utf-8"))["default_locale"]
    timings = [rule["when"] for doc in docs for rule in doc.get("rules") or []]
    named = {str(w[k]) for w in timings for k in (True, "before", "after") if k in w}  # PyYAML reads `on` as true
    holidays = sorted(a for a in named if a in calendar.HOLIDAYS)
    assert holidays, "the example names holidays"
    locales = sorted({doc.get("locale", default) for doc in docs})

    with Workspace.whole(ROOT) as ws:
        needs = plan_needs(ws.playbooks, dt.date(2026, 11, 1))
    expected = [("holiday_date", (a, y)) for a in holidays for y in (2025, 2026, 2027)]
    expected += [("locale_data", (loc,)) for loc in locales]
    assert [(n.func.__name__, n.args) for n in needs] == expected  # type: ignore[attr-defined]
