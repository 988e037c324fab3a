"""Where a command's time goes: `huitou plan --profile` (or HUITOU_PROFILE=1) writes each
stage's seconds, the rows it made and the peak memory to stderr when the plan is done -
the breakdown docs/benchmarks.md gives, for a shop's own data and machine.

The stages mark their own ends (`lap`). Without a profile running a lap does nothing, and
the rows are never counted: a count is a query, made only when someone asked (and not
charged to the stage it counts).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

ENV_VAR = "HUITOU_PROFILE"


@dataclass(frozen=True)
class Stage:
    name: str  # what was done, in English as marked (N_): translated where shown
    seconds: float
    rows: int | None = None  # rows the stage made, where it makes a relation
    of: str = ""  # what the rows are (N_): "orders", "candidate messages", ...


@dataclass
class Profile:
    stages: list[Stage] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    last: float = field(default_factory=time.perf_counter)

    def lap(self, name: str, rows: Callable[[], int] | None = None, of: str = "") -> None:
        """The stage `name` ends now; `rows` counts what it made (called here, untimed)."""
        now = time.perf_counter()
        counted = rows() if rows is not None else None
        seconds = now - self.last
        # A stage run again (arbitration and rendering, when a send fails to render) is one
        # line: its seconds summed, the rows of its last run.
        before = next((i for i, s in enumerate(self.stages) if s.name == name), None)
        if before is None:
            self.stages.append(Stage(name, seconds, counted, of))
        else:
            self.stages[before] = Stage(name, self.stages[before].seconds + seconds, counted, of)
        self.last = time.perf_counter()

    @property
    def seconds(self) -> float:
        """From the profile's start to its last lap, counting included."""
        return self.last - self.started


_current: contextvars.ContextVar[Profile | None] = contextvars.ContextVar("huitou_profile", default=None)


def lap(name: str, rows: Callable[[], int] | None = None, of: str = "") -> None:
    """The current stage ends now (nothing happens unless a profile runs)."""
    profile = _current.get()
    if profile is not None:
        profile.lap(name, rows, of)


def wanted(flag: bool) -> bool:
    """Whether to profile: the option, else HUITOU_PROFILE set to anything but 0."""
    return flag or os.environ.get(ENV_VAR, "").strip() not in ("", "0")


@contextlib.contextmanager
def profiling(on: bool) -> Iterator[Profile | None]:
    """A profile for the block when `on`; None (and laps that do nothing) otherwise."""
    if not on:
        yield None
        return
    profile = Profile()
    token = _current.set(profile)
    try:
        yield profile
    finally:
        _current.reset(token)


@contextlib.contextmanager
def reported(flag: bool, show: Callable[[Profile], None]) -> Iterator[None]:
    """Profile the block when asked (`flag`, or HUITOU_PROFILE), and `show` the profile
    when the block ends - after an error too: the stages done say where it stopped."""
    with profiling(wanted(flag)) as profile:
        try:
            yield
        finally:
            if profile is not None:
                show(profile)


def peak_mib() -> float:
    """This process's peak resident memory so far, MiB (Linux counts ru_maxrss in KiB,
    macOS in bytes)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
