"""A request limit learned from bare 429s, for an API that sends no rate-limit headers.

Used by `RateGate` (under its lock) while no request limit is configured or learned from headers.
A 429 says the server's bucket is empty *now*; how fast it refills is read from the successes of
the requests admitted since the first refusal (those in flight then may have had the burst):
while the fleet asks for more than the limit, the server lets through exactly its rate.  The
gate then admits a little faster than that (`MARGIN`), so the server is never left idle (a
refusal costs one round trip; an idle server costs the makespan), and each success adds one
request a minute back (additive increase) in case the limit has grown.  A refusal resets the
estimate to what was measured, never below half the rate admitted over the last ten seconds (the
multiplicative decrease) nor below one a minute.  Until there is something to measure the gate
learns nothing, and each refused agent backs off on its own.
"""

from __future__ import annotations

import collections

__all__ = ["MARGIN", "LimitProbe"]

MARGIN = 1.05
"""How much faster than the measured rate the gate admits once it has learned one."""

_WINDOW_S = 60.0
_RECENT_S = 10.0
_MIN_SPAN_S = 1.0
_MIN_SUCCESSES = 3


class LimitProbe:
    """The learned requests per minute (`rpm`, `None` until a refusal teaches one)."""

    def __init__(self) -> None:
        self.rpm: float | None = None
        self._first_refusal: float | None = None
        self._admissions: collections.deque[float] = collections.deque(maxlen=10_000)
        # When each successful request was admitted (not when it succeeded: see above).
        self._successes: collections.deque[float] = collections.deque(maxlen=10_000)

    def admitted(self, now: float) -> None:
        self._admissions.append(now)

    def succeeded(self, admitted_at: float) -> None:
        self._successes.append(admitted_at)
        if self.rpm is not None:
            self.rpm += 1.0

    def refused(self, now: float) -> float | None:
        """Learn from a 429 at `now`; the requests per minute learned (`None`: no evidence yet,
        and the agents' own backoff spaces them).

        The measured rate needs a second and three successes since the first refusal; it is
        never taken below half the rate admitted over the last ten seconds (the decrease), so
        one stray 429 after a quiet minute does not bring the fleet down to a request a minute.
        """
        for times in (self._successes, self._admissions):
            while times and times[0] <= now - _WINDOW_S:
                times.popleft()
        if self._first_refusal is None:
            self._first_refusal = now
        start = max(self._first_refusal, now - _WINDOW_S)
        since = sum(1 for t in self._successes if t > start)
        measured = 0.0
        if now - start >= _MIN_SPAN_S and since >= _MIN_SUCCESSES:  # the server was asked for more
            measured = MARGIN * since / (now - start) * 60.0
        elif self.rpm is None:
            return None
        recent = sum(1 for t in self._admissions if t > now - _RECENT_S)
        self.rpm = max(1.0, measured, recent * 60.0 / _RECENT_S / 2)
        return self.rpm
