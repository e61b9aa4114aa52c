"""Retries for model calls: full-jitter exponential backoff that honours the server's `retry-after`.

Adapters turn every retryable failure into `TransientModelError` (including the ones the SDK
does not retry itself, such as a stream cut mid-message), so this module only decides *when*.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from agentbook.models.base import ModelError, TransientModelError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_attempts` calls in all; waits drawn uniformly from [0, min(cap, base * 2**n)].

    A server's `retry-after` is a floor: we never come back sooner than it asked.
    """

    max_attempts: int = 6
    base_s: float = 1.0
    cap_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        jittered = self.rng.uniform(0.0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))
        return max(jittered, retry_after or 0.0)


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, TransientModelError, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `call` until it succeeds, fails for good, or `policy.max_attempts` calls have failed.

    Raises the last `TransientModelError` wrapped in `ModelError` once attempts run out, so the
    caller sees one error type for "gave up" whatever the cause.
    """
    attempt = 1
    while True:
        try:
            return await call()
        except TransientModelError as exc:
            if attempt >= policy.max_attempts:
                raise ModelError(
                    f"gave up after {attempt} attempts: {exc}", status=exc.status, request_id=exc.request_id
                ) from exc
            wait = policy.delay(attempt, exc.retry_after)
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            await sleep(wait)
            attempt += 1
