"""Retries for model calls: full-jitter exponential backoff that honours the server's `retry-after`.

Adapters turn every retryable failure into `TransientModelError` (including the ones the SDK
does not retry itself, such as a stream cut mid-message), so this module only decides *when*.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from agentbook.models.base import ModelError, TransientModelError

__all__ = ["RetryPolicy", "call_with_retries"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_attempts` failed calls (`None`: no count), and no retry that would start more
    than `deadline_s` seconds after the first attempt (`None`: no deadline); waits drawn uniformly
    from [0, min(cap, base * 2**n)].

    A 429 uses no attempt: it is the API asking to wait, not failing, and the run's rate gate
    paces the fleet to the limit (`agentbook.scheduler.ratelimit`), so only the deadline bounds
    it (with `deadline_s=None` it counts as an attempt after all): against a steady limit sent as
    bare 429s no agent of 40 fails, where the SDK's own six attempts fail 29 (`bench_faults.py`).
    The defaults are the Anthropic SDK's own backoff (0.5 s doubling, at most 8 s apart): a longer
    base made agentbook 1.7 times slower than the bare SDK at 20% faults (`bench/bench_faults.py`).
    A server's `retry-after` is a floor: we never come back sooner than it asked.  An overloaded
    API is worth minutes of patience: raise `max_attempts` (or `None`) and bound the whole by
    `deadline_s`.
    """

    max_attempts: int | None = 6
    base_s: float = 0.5
    cap_s: float = 8.0
    rng: random.Random = field(default_factory=random.Random, compare=False)
    deadline_s: float | None = 600.0

    def __post_init__(self) -> None:
        attempts = self.max_attempts
        whole = isinstance(attempts, int) and not isinstance(attempts, bool) and attempts >= 1
        if not (whole or (attempts is None and self.deadline_s is not None)):
            raise ValueError(
                f"max_attempts must be a whole number at least 1 (None needs a deadline_s), not {attempts!r}"
            )
        for name in ("base_s", "cap_s", "deadline_s"):
            value = getattr(self, name)
            if value is None and name == "deadline_s":
                continue
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number of seconds, at least 0, not {value!r}")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        # The exponent is capped: a 429 storm uses no attempt and can reach attempt 1,025, where
        # 2**n no longer fits a float.
        jittered = self.rng.uniform(0.0, min(self.cap_s, self.base_s * 2 ** min(attempt - 1, 64)))
        return max(jittered, retry_after or 0.0)

    def wait_after(
        self, attempt: int, error: BaseException, elapsed_s: float = 0.0, *, rate_limited: int = 0
    ) -> float | None:
        """Seconds to wait before retrying after `error` ended attempt number `attempt` (of
        which `rate_limited` were 429s, this one included), `elapsed_s` after the first began;
        `None` when there is no retry: the error is not transient, the attempts are used up, or
        the retry would start past the deadline."""
        if not isinstance(error, TransientModelError):
            return None
        # Without a deadline nothing else bounds 429s: then they use attempts like any error.
        counted = attempt - rate_limited if self.deadline_s is not None else attempt
        if self.max_attempts is not None and counted >= self.max_attempts:
            return None
        wait = self.delay(attempt, error.retry_after)
        if self.deadline_s is not None and elapsed_s + wait > self.deadline_s:
            return None
        return wait

    def final_error(self, attempt: int, error: ModelError, elapsed_s: float | None = None) -> ModelError:
        """The error a caller sees when `error` ended attempt `attempt` for good: a transient one
        becomes a `ModelError` saying how many attempts were made over how long, and the last
        error (one type for "gave up")."""
        if not isinstance(error, TransientModelError):
            return error
        over = f" over {elapsed_s:.1f} s" if elapsed_s is not None else ""
        return ModelError(
            f"gave up after {attempt} attempts{over}: {error}",
            status=error.status,
            request_id=error.request_id,
        )


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, TransientModelError, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `call` until it succeeds, fails for good, or `policy` gives up (see `RetryPolicy`).

    Raises the last `TransientModelError` wrapped in `ModelError` once attempts run out, so the
    caller sees one error type for "gave up" whatever the cause.
    """
    attempt, limited, started = 1, 0, time.monotonic()
    while True:
        try:
            return await call()
        except TransientModelError as exc:
            limited += exc.status == 429
            wait = policy.wait_after(attempt, exc, time.monotonic() - started, rate_limited=limited)
            if wait is None:
                raise policy.final_error(attempt, exc, time.monotonic() - started) from exc
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            await sleep(wait)
            attempt += 1
