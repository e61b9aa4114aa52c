"""An enforced request limit: a handler wrapper that refuses requests over a rate with a bare 429.

`ReportedRateLimits` only reports limits; this one enforces one, the way the API does (a token
bucket refilling continuously), and says nothing about it: no `retry-after` and, with the server's
`rate_headers=False`, no `anthropic-ratelimit-*` headers.  That is the case a client must learn
the limit from refusals alone (`agentbook.scheduler.ratelimit.probe`), as behind some proxies.
"""

from __future__ import annotations

import threading
import time

from agentbook.testing.fakeapi.handlers import default_handler
from agentbook.testing.fakeapi.replies import ErrorReply, Handler, Reply
from agentbook.testing.fakeapi.request import FakeRequest

__all__ = ["RequestLimit", "request_limit"]


class RequestLimit:
    """A handler that passes at most `rpm` requests a minute to `base` (a bucket of `burst`
    requests refilling at `rpm / 60` a second) and refuses the others with a bare 429."""

    def __init__(self, base: Handler, *, rpm: float, burst: float) -> None:
        if not (rpm > 0 and burst >= 1):
            raise ValueError(f"a request limit needs rpm > 0 and burst >= 1, not {rpm!r}, {burst!r}")
        self.base, self.rpm, self.burst = base, rpm, burst
        self._lock = threading.Lock()
        self._level, self._updated = float(burst), time.monotonic()
        self.passed = 0
        self.refused = 0

    def __call__(self, request: FakeRequest) -> Reply:
        with self._lock:
            now = time.monotonic()
            self._level = min(self.burst, self._level + (now - self._updated) * self.rpm / 60.0)
            self._updated = now
            allowed = self._level >= 1.0
            if allowed:
                self._level -= 1.0
                self.passed += 1
            else:
                self.refused += 1
        if not allowed:
            return ErrorReply(429, message="Number of requests has exceeded your rate limit")
        return self.base(request)


def request_limit(rpm: float, base: Handler | None = None, *, burst: float | None = None) -> RequestLimit:
    """Wrap `base` (default: `default_handler`) to enforce `rpm` requests a minute, with bursts of
    at most `burst` (default: `rpm`, as the API's bucket holds a minute's worth)."""
    return RequestLimit(base or default_handler, rpm=rpm, burst=rpm if burst is None else burst)
