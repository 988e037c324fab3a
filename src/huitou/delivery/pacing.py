"""How fast and how often: per-channel rate limits and retry backoff."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class Pacer:
    """Spaces messages evenly at the channel's rate (`rate: {per_second, per_minute}`; the
    stricter wins). Even spacing, no bursts: a provider's limit is never exceeded in any
    window, and a pause (a retry wait) is not made up for afterwards.

    >>> Pacer.from_config({"per_minute": 120}).interval
    0.5
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._next = 0.0

    @classmethod
    def from_config(cls, rate: Mapping[str, Any] | None) -> Pacer:
        rate = rate or {}
        gaps = [1 / float(rate["per_second"])] if rate.get("per_second") else []
        gaps += [60 / float(rate["per_minute"])] if rate.get("per_minute") else []
        return cls(max(gaps, default=0.0))

    def wait(self, stop: threading.Event) -> bool:
        """Wait for the next slot; False when `stop` was set meanwhile."""
        if self.interval <= 0:
            return not stop.is_set()
        now = self.clock()
        if self._next > now and stop.wait(self._next - now):
            return False
        self._next = max(self._next, self.clock()) + self.interval
        return not stop.is_set()


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

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random = random.Random()) -> float:
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
