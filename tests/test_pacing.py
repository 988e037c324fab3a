"""The pacer's promise (delivery/pacing.py), on a clock the test moves: whenever the
thread that hands messages out is late, and by however much, no window of a limit's
length holds more starts than the limit, and small delays do not cost the rate."""

from __future__ import annotations

import random

import pytest

from huitou.delivery.pacing import Pacer

EDGE = 1e-9  # a start a float's rounding before a window's end counts as outside it


def starts_under(rate: dict[str, float], late: float, stalls: float, n: int, seed: int) -> list[float]:
    """When n messages start: each as soon as the pacer allows, then late by up to `late`
    seconds (claiming the row, a commit), and one in twenty stalled by up to `stalls`."""
    rng, now = random.Random(seed), [0.0]
    pacer = Pacer.from_config(rate, clock=lambda: now[0])
    starts = []
    for _ in range(n):
        now[0] += pacer.delay()
        now[0] += rng.uniform(0, late) + (rng.uniform(0, stalls) if rng.random() < 0.05 else 0.0)
        assert pacer.delay() == 0.0, "a start the pacer does not allow yet"
        pacer.take()
        starts.append(now[0])
    return starts


def most_in_a_window(starts: list[float], seconds: float) -> int:
    first, most = 0, 0
    for i, t in enumerate(starts):
        while t - starts[first] >= seconds - EDGE:
            first += 1
        most = max(most, i - first + 1)
    return most


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("rate", "windows"),
    [
        ({"per_second": 40}, [(40, 1.0)]),
        ({"per_second": 40, "per_minute": 1800}, [(40, 1.0), (1800, 60.0)]),
        ({"per_minute": 600}, [(600, 60.0)]),
        ({"per_second": 2.5}, [(5, 2.0)]),
        ({"per_second": 0.5}, [(1, 2.0), (3, 6.0)]),
        ({"per_second": 1e-4}, [(1, 10000.0)]),  # too small for a fraction of small terms: one per interval
    ],
)
def test_no_window_holds_more_than_its_limit(rate: dict[str, float], windows: list[tuple[int, float]], seed: int) -> None:
    interval = max(seconds / n for n, seconds in [(rate.get("per_second", 0), 1.0), (rate.get("per_minute", 0), 60.0)] if n)
    # Late by up to a whole slot (the old schedule then let the next start catch up at
    # once: two starts a moment apart) and stalls of up to eight slots.
    starts = starts_under(rate, late=interval * 0.99, stalls=interval * 8, n=2500, seed=seed)
    for count, seconds in windows:
        assert most_in_a_window(starts, seconds) <= count, f"more than {count} starts in {seconds} s"
    # And no burst inside the limit's window: a slot's length holds its start and at most
    # one late from the slot before (unpaced, every message in flight would start at once).
    assert most_in_a_window(starts, interval) <= 2


def test_small_delays_keep_the_rate() -> None:
    # Late by up to a fifth of a slot, each time: the schedule is kept, so the rate stays
    # within 5% of the limit (a pacer that counted each slot from its late start would
    # lose a tenth on average).
    starts = starts_under({"per_second": 40}, late=0.005, stalls=0.0, n=2000, seed=7)
    assert 38.0 <= (len(starts) - 1) / (starts[-1] - starts[0]) <= 40.0


def test_a_pause_is_not_made_up_with_a_burst() -> None:
    now = [100.0]
    pacer = Pacer.from_config({"per_second": 10}, clock=lambda: now[0])
    pacer.take()
    now[0] = 105.0  # a five-second pause (a backoff): fifty slots passed unused
    starts = []
    while len(starts) < 20:
        now[0] += pacer.delay()
        pacer.take()
        starts.append(now[0])
    assert [round(b - a, 9) for a, b in zip(starts, starts[1:], strict=False)] == [0.1] * 19
