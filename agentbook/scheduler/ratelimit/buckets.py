"""Token buckets: one per limited dimension, holding at most its per-minute limit.

Used by `agentbook.scheduler.ratelimit.gate`, whose lock guards every call here.  A bucket refills
continuously at limit/60 per second, which is how Anthropic documents its limiter, and a new
bucket starts full, as the API's does for an idle key.
"""

from __future__ import annotations

from agentbook.scheduler.ratelimit.limits import DIMENSIONS, RateLimits

__all__ = ["Amounts", "Bucket", "Buckets"]

Amounts = tuple[int, int, int]
"""What one request takes, in `DIMENSIONS` order: (1 request, input tokens, output tokens)."""

# Float refills land a hair short of the exact need after sleeping exactly the computed delay;
# a millionth of a token is not worth another trip round the loop.
_EPSILON = 1e-6


class Bucket:
    """A token bucket holding at most `limit`, refilling at `limit / 60` per second.

    `level` may go negative: an oversize request or an under-estimate puts the bucket in debt,
    which later requests wait out, so the average rate still holds.
    """

    __slots__ = ("level", "limit", "updated")

    def __init__(self, limit: float, now: float) -> None:
        self.limit = limit
        self.level = limit
        self.updated = now

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.level = min(self.limit, self.level + elapsed * self.limit / 60.0)
        self.updated = now

    def delay(self, amount: float) -> float:
        """Seconds until `amount` fits, for a bucket refilled to now.

        A request larger than the whole bucket only needs a full bucket: it could never fit
        otherwise, and letting it through then (into debt) is what keeps it from deadlocking.
        """
        short = min(amount, self.limit) - self.level
        return 0.0 if short <= _EPSILON else short * 60.0 / self.limit


class Buckets:
    """The buckets of the dimensions that have a limit, by `RateLimits` field name."""

    def __init__(self) -> None:
        self._by_name: dict[str, Bucket] = {}

    def get(self, name: str) -> Bucket | None:
        return self._by_name.get(name)

    def delay(self, amounts: Amounts, now: float) -> float:
        """Seconds until `amounts` fit every bucket; refills them all to `now` first."""
        wait = 0.0
        for (name, _), amount in zip(DIMENSIONS, amounts, strict=True):
            bucket = self._by_name.get(name)
            if bucket is not None:
                bucket.refill(now)
                wait = max(wait, bucket.delay(amount))
        return wait

    def take(self, amounts: Amounts) -> None:
        """Take `amounts` (from buckets just refilled by `delay`)."""
        for (name, _), amount in zip(DIMENSIONS, amounts, strict=True):
            bucket = self._by_name.get(name)
            if bucket is not None:
                bucket.level -= amount

    def credit(self, name: str, tokens: float, now: float) -> None:
        """Give back `tokens` (or take them, if negative), never above the limit."""
        bucket = self._by_name.get(name)
        if bucket is not None:
            bucket.refill(now)
            bucket.level = min(bucket.limit, bucket.level + tokens)

    def lower(self, name: str, level: float, now: float) -> None:
        """Bring a bucket down to `level` if it holds more (never raise it)."""
        bucket = self._by_name.get(name)
        if bucket is not None:
            bucket.refill(now)
            bucket.level = min(bucket.level, level)

    def levels(self, now: float) -> dict[str, float]:
        """Each bucket's level now, by header name (`requests`, `input-tokens`, `output-tokens`)."""
        for bucket in self._by_name.values():
            bucket.refill(now)
        return {header: self._by_name[name].level for name, header in DIMENSIONS if name in self._by_name}

    def sync(self, limits: RateLimits, now: float) -> None:
        """Make, resize or drop buckets to match `limits`; a bucket keeps its level (capped to a
        smaller limit)."""
        for name, _ in DIMENSIONS:
            limit: float | None = getattr(limits, name)
            bucket = self._by_name.get(name)
            if limit is None:
                self._by_name.pop(name, None)
            elif bucket is None:
                self._by_name[name] = Bucket(limit, now)
            elif bucket.limit != limit:
                bucket.refill(now)
                bucket.limit = limit
                bucket.level = min(bucket.level, limit)
