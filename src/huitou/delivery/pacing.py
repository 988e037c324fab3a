"""How fast and how often: per-channel rate limits and retry backoff."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

_JITTER = random.Random()  # retries' jitter: one generator for the process (a test passes its own, seeded)


class Pacer:
    """Spaces the starts of a channel's messages evenly at its rate (`rate: {per_second,
    per_minute}`; both may be given), however many are in flight: one Pacer per channel,
    asked by the one thread that hands messages out. Even spacing, no bursts, and a
    provider's limit is never exceeded in any window of its length: a start waits until
    the limit's count of starts before it is a whole window old. A pause (a retry wait, a
    channel backing off) is not made up for afterwards.

    >>> Pacer.from_config({"per_minute": 120}).interval
    0.5
    >>> Pacer.from_config({"per_second": 40, "per_minute": 600}).limits
    ((40, 1.0), (600, 60.0))
    >>> now = [10.0]
    >>> pacer = Pacer(0.5, clock=lambda: now[0], limits=((2, 1.0),))
    >>> pacer.delay(), pacer.take(), pacer.delay()
    (0.0, None, 0.5)
    >>> now[0] = 10.9; pacer.take()  # late within its slot: the next slot stays at 11.0
    >>> now[0] = 11.0; pacer.delay()  # but a third start within a second of 10.0 waits
    0.0
    >>> pacer.take(); now[0] = 11.5; round(pacer.delay(), 6)  # 10.9's start is a second old at 11.9
    0.4
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic, limits: tuple[tuple[int, float], ...] = ()) -> None:
        """`limits`: (count, seconds) windows no run of starts may exceed; `interval` the even
        spacing between slots (the strictest limit's seconds / count)."""
        self.interval = interval
        self.clock = clock
        self.limits = limits
        self._next = 0.0
        # The last starts, as many as the largest count: what the windows look back on.
        self._starts: deque[float] = deque(maxlen=max((count for count, _ in limits), default=1))

    @classmethod
    def from_config(cls, rate: Mapping[str, Any] | None, clock: Callable[[], float] = time.monotonic) -> Pacer:
        """`clock`: the run's (a replay's clock moves through the waits)."""
        rate = rate or {}
        given = [(float(rate[key]), seconds) for key, seconds in (("per_second", 1.0), ("per_minute", 60.0)) if rate.get(key)]
        return cls(max((seconds / n for n, seconds in given), default=0.0), clock, tuple(_whole(n, seconds) for n, seconds in given))

    def delay(self) -> float:
        """Seconds until the next message may start (0.0: now): its slot, and no window
        holding more than its limit."""
        if self.interval <= 0:
            return 0.0
        now = self.clock()
        opens = [self._next] + [self._starts[-count] + seconds for count, seconds in self.limits if len(self._starts) >= count]
        return max(0.0, max(opens) - now)

    def take(self) -> None:
        """A message starts in its slot: the next slot is an interval after this one. A
        start a little late (claiming the row took a commit) keeps the schedule, so the
        rate is the limit, not less, while the windows in delay() keep the catch-up from
        crowding one; after a pause longer than a slot the schedule starts again from now."""
        if self.interval > 0:
            now = self.clock()
            self._next = now + self.interval if now > self._next + self.interval else self._next + self.interval
            self._starts.append(now)


def _whole(n: float, seconds: float) -> tuple[int, float]:
    """N a window as a whole count of starts and the window that holds it: 40 a second is
    40 in 1 s; 2.5 a second 5 in 2 s; 0.5 a second 1 in 2 s; a rate too small for a
    fraction of small terms (1e-4 a second) 1 in its own interval.

    >>> _whole(2.5, 1.0), _whole(0.5, 1.0), _whole(1e-4, 1.0)
    ((5, 2.0), (1, 2.0), (1, 10000.0))
    """
    whole = Fraction(n).limit_denominator(1000)
    return (whole.numerator, seconds * whole.denominator) if whole.numerator else (1, seconds / n)


class ChannelBackoff:
    """When a whole channel waits: after a receiver's Retry-After (a 429 says the account
    is over its limit, not that one message is), and after FAILURES_BEFORE_PAUSE transient
    failures in a row, for a time that doubles with each further one (up to the retry
    policy's longest wait). Messages already in flight finish; their failures belong to
    the wave that began the pause and do not lengthen it, or 32 in flight failing together
    would double it 27 times at once.

    >>> b = ChannelBackoff(RetryPolicy(attempts=5, initial=2, maximum=60))
    >>> b.failed(100.0, 99.9, retry_after=30); b.until
    130.0
    >>> for _ in range(4): b.failed(200.0, 199.9)
    >>> b.until  # the fifth failure in a row: 2 s
    202.0
    >>> b.failed(200.5, 199.9); b.until  # started before the pause began: the same wave
    202.0
    >>> b.failed(300.0, 299.9); b.until  # the sixth, started after it: 4 s
    304.0
    >>> b.succeeded(); b.failed(400.0, 399.9); b.until  # a success: the count starts again
    304.0
    """

    FAILURES_BEFORE_PAUSE = 5

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.until = 0.0  # clock time before which the channel starts nothing
        self.paused_at = float("-inf")  # when the latest pause began
        self.in_a_row = 0

    def failed(self, now: float, started: float, retry_after: float | None = None) -> None:
        """A transient failure of a message started at `started` (with the receiver's
        Retry-After, if it gave one)."""
        if retry_after:
            self.until = max(self.until, now + retry_after)
        if started < self.paused_at:  # in flight when the pause began
            return
        self.in_a_row += 1
        beyond = self.in_a_row - self.FAILURES_BEFORE_PAUSE
        if beyond >= 0:
            self.until = max(self.until, now + min(self.policy.maximum, self.policy.initial * 2**beyond))
        if self.until > now:
            self.paused_at = now

    def succeeded(self) -> None:
        """A delivery: the failures in a row start again from none. A pause already begun
        runs its course (the message that succeeded was started before it)."""
        self.in_a_row = 0


@dataclass(frozen=True)
class RetryPolicy:
    """`delivery.retry` in huitou.yaml: attempts in all, first wait, longest wait (seconds)."""

    attempts: int = 5
    initial: float = 2.0
    maximum: float = 300.0

    @classmethod
    def from_config(cls, retry: Mapping[str, Any] | None) -> RetryPolicy:
        retry = retry or {}
        return cls(int(retry.get("attempts", cls.attempts)), float(retry.get("initial", cls.initial)), float(retry.get("max", cls.maximum)))

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random = _JITTER) -> float:
        """Seconds before attempt `attempt + 1`: exponential, with equal jitter (half fixed,
        half random, so retries of many messages spread out), never sooner than the
        receiver's Retry-After.

        >>> policy = RetryPolicy(attempts=5, initial=2, maximum=300)
        >>> all(1 <= policy.delay(1) <= 2 and 4 <= policy.delay(3) <= 8 for _ in range(100))
        True
        >>> policy.delay(20) <= 300 and policy.delay(1, retry_after=30) >= 30
        True
        """
        cap = min(self.maximum, self.initial * 2 ** (attempt - 1))
        return max(cap / 2 + rng.uniform(0, cap / 2), retry_after or 0.0)
