"""A request limit learned from bare 429s, for an API that sends no rate-limit headers.

Used by `RateGate` (under its lock) while no request limit is configured or learned from headers.
A 429 says the server's bucket is empty *now*; how fast it refills is read from the successes of
the requests admitted since the first refusal (those in flight then may have had the burst):
while the fleet asks for more than the limit, the server lets through exactly its rate.  The
gate then admits a little faster than that (`MARGIN`), so the server is never left idle (a
refusal costs one round trip; an idle server costs the makespan), and each success adds one
request a minute back (additive increase) in case the limit has grown.  A refusal resets the
estimate to what was measured (the decrease), never below one a minute.
"""

from __future__ import annotations

import collections

__all__ = ["MARGIN", "LimitProbe"]

MARGIN = 1.05
"""How much faster than the measured rate the gate admits once it has learned one."""

_WINDOW_S = 60.0
_MIN_SPAN_S = 1.0
_MIN_SUCCESSES = 3


class LimitProbe:
    """The learned requests per minute (`rpm`, `None` until a refusal teaches one)."""

    def __init__(self) -> None:
        self.rpm: float | None = None
        self._first_admission: float | None = None
        self._first_refusal: float | None = None
        # When each successful request was admitted (not when it succeeded: see above).
        self._successes: collections.deque[float] = collections.deque(maxlen=100_000)

    def admitted(self, now: float) -> None:
        if self._first_admission is None:
            self._first_admission = now

    def succeeded(self, admitted_at: float) -> None:
        self._successes.append(admitted_at)
        if self.rpm is not None:
            self.rpm += 1.0

    def refused(self, now: float) -> bool:
        """Learn from a 429 at `now`; whether `rpm` is known afterwards."""
        while self._successes and self._successes[0] <= now - _WINDOW_S:
            self._successes.popleft()
        if self._first_refusal is None and self._successes:  # saturated from here on
            self._first_refusal = now
        start = max(self._first_refusal or now, now - _WINDOW_S)
        since = sum(1 for t in self._successes if t > start)
        if now - start >= _MIN_SPAN_S and since >= _MIN_SUCCESSES:
            per_s = since / (now - start)  # measured while the server had more asked of it than it let in
        elif self._successes:  # too early to tell: what got through since the first request
            per_s = len(self._successes) / min(
                _WINDOW_S, max(_MIN_SPAN_S, now - (self._first_admission or now))
            )
        else:
            return self.rpm is not None  # nothing got through yet: the agents' own backoff spaces them
        self.rpm = max(1.0, MARGIN * per_s * 60.0)
        return True
