"""The `anthropic-ratelimit-*` headers the fake API sends on every response.

Clients that pace themselves by these headers (`agentbook.scheduler.ratelimit`) need them to move
like the real API's: `-remaining` falls with use and `-reset` names the next window.  The limits
are reported, never enforced: a test that wants a 429 scripts an `ErrorReply` or uses `faults()`.
"""

from __future__ import annotations

import datetime
import threading
import time
from dataclasses import dataclass

__all__ = ["RateWindow", "ReportedRateLimits"]


@dataclass(frozen=True)
class ReportedRateLimits:
    """The per-minute limits reported in the `anthropic-ratelimit-*` headers (not enforced)."""

    requests: int = 4_000
    input_tokens: int = 2_000_000
    output_tokens: int = 400_000


class RateWindow:
    """Usage in the current wall-clock minute, so `-remaining` falls and `-reset` is the next
    minute boundary.  The real API uses token buckets; a fixed window is close enough for
    clients that only read the headers."""

    def __init__(self, limits: ReportedRateLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._minute = -1
        self._requests = 0
        self._input = 0
        self._output = 0

    def charge(self, *, requests: int, input_tokens: int, output_tokens: int) -> dict[str, str]:
        now = time.time()
        minute = int(now // 60)
        with self._lock:
            if minute != self._minute:
                self._minute, self._requests, self._input, self._output = minute, 0, 0, 0
            self._requests += requests
            self._input += input_tokens
            self._output += output_tokens
            used = {"requests": self._requests, "input-tokens": self._input, "output-tokens": self._output}
        reset = datetime.datetime.fromtimestamp((minute + 1) * 60, datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        limits = {
            "requests": self.limits.requests,
            "input-tokens": self.limits.input_tokens,
            "output-tokens": self.limits.output_tokens,
        }
        headers: dict[str, str] = {}
        for name, limit in limits.items():
            headers[f"anthropic-ratelimit-{name}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, limit - used[name]))
            headers[f"anthropic-ratelimit-{name}-reset"] = reset
        return headers
