"""A circuit breaker per pool member: a server that failed is left alone for a while
(doubling each time it fails again, or as long as it said with Retry-After), then
tried with ONE request (half-open) before it gets all its slots back.

Failures are counted per trip, not per request: when a server dies with four requests
in flight, the four errors are one failure, not four doublings of the backoff. A
request knows which trip it started in (`epoch`); errors and successes of requests
that started before the latest trip are ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable

BASE_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0


class Breaker:
    """Not thread-safe on its own: the pool calls it under its lock."""

    def __init__(
        self,
        *,
        base_s: float = BASE_BACKOFF_S,
        max_s: float = MAX_BACKOFF_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base, self._max, self._clock = base_s, max_s, clock
        self.failures = 0  # trips in a row without a success in between
        self.open_until = 0.0  # no request before this (monotonic seconds)
        self.epoch = 0  # bumped by each trip
        self.probing = False  # the one half-open request is in flight

    @property
    def closed(self) -> bool:
        return self.failures == 0

    def capacity(self, slots: int) -> int:
        """How many requests it may have in flight now."""
        if self.closed:
            return slots
        if self.probing or self._clock() < self.open_until:
            return 0
        return 1

    def may_send(self, in_flight: int, slots: int) -> bool:
        """Whether one more request may go now; takes the half-open probe if so."""
        if in_flight >= self.capacity(slots):
            return False
        if not self.closed:
            self.probing = True
        return True

    def wait_s(self) -> float:
        """Seconds until the breaker lets a probe through (0: now or closed)."""
        return 0.0 if self.closed else max(0.0, self.open_until - self._clock())

    def succeeded(self, epoch: int) -> None:
        if epoch == self.epoch:
            self.failures = 0
            self.probing = False

    def failed(self, epoch: int, retry_after: float | None = None) -> bool:
        """A request of this epoch failed because of the server. Returns True if this
        tripped the breaker (False: it had already tripped since the request left)."""
        if epoch != self.epoch:
            return False
        self.failures += 1
        self.epoch += 1
        self.probing = False
        backoff = min(self._max, self._base * 2 ** (self.failures - 1))
        if retry_after is not None:
            backoff = max(0.0, min(retry_after, MAX_BACKOFF_S * 10))
        self.open_until = self._clock() + backoff
        return True
