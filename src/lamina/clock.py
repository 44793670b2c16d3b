"""The one wall clock metric periods, alarm evaluation and the billing month read.

Tests (and `lamina server --fake-clock`) use a `ManualClock` they move forward instead of sleeping:
an alarm over five one-minute periods is then evaluated in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """Starts at `start` (default: the real time now) and moves only when told to."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self._now += seconds
        for listener in list(self._listeners):
            listener()
        return self._now

    def move_to(self, moment: float) -> None:
        """Forward to `moment` (a worker following its primary's clock); never back."""
        if moment > self._now:
            self.advance(moment - self._now)

    def on_advance(self, listener: Callable[[], None]) -> None:
        """Called after every move (the alarm evaluator re-checks at once)."""
        self._listeners.append(listener)
