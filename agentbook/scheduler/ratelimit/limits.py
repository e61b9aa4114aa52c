"""Rate limits as values: the configured or learned per-minute limits, and the API's headers read.

Used by `agentbook.scheduler.ratelimit.gate` (and exported as `ab.RateLimits` for `run_parallel`).
Everything here is a pure function of its arguments: the gate owns the clocks and the buckets.
Malformed header values are dropped, never raised: the headers are advice, never a reason to fail
a call.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

__all__ = ["DIMENSIONS", "HEADER_PREFIX", "RESET_SLACK_S", "RateHeaders", "RateLimits", "observed_level"]

HEADER_PREFIX = "anthropic-ratelimit-"

# A `-reset` header has one-second resolution; treating it as up to this much later keeps the
# learned level from being optimistic by the rounding.
RESET_SLACK_S = 1.0

DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("requests_per_minute", "requests"),
    ("input_tokens_per_minute", "input-tokens"),
    ("output_tokens_per_minute", "output-tokens"),
)
"""The three limited dimensions: `RateLimits` field and header name (after the prefix), in the
order of a request's amounts (1 request, input tokens, output tokens)."""


@dataclass(frozen=True)
class RateLimits:
    """Per-minute limits; `None` means unknown (not enforced unless learned from headers).

    Raises `ValueError` for a value that is not a positive finite number.
    """

    requests_per_minute: float | None = None
    input_tokens_per_minute: float | None = None
    output_tokens_per_minute: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not (number and math.isfinite(value) and value > 0):
                raise ValueError(f"{f.name} must be a positive number or None, not {value!r}")

    def over(self, fallback: RateLimits) -> RateLimits:
        """Per dimension this limit, else `fallback`'s (configured limits over learned ones)."""
        return RateLimits(
            **{
                name: getattr(self, name) if getattr(self, name) is not None else getattr(fallback, name)
                for name, _ in DIMENSIONS
            }
        )

    def updated(self, limits: Mapping[str, float]) -> RateLimits:
        """These limits with `limits` (by field name) replacing theirs; `self` if none changes."""
        if all(getattr(self, name) == value for name, value in limits.items()):
            return self
        return RateLimits(**{name: limits.get(name, getattr(self, name)) for name, _ in DIMENSIONS})


@dataclass(frozen=True)
class RateHeaders:
    """What a response's `anthropic-ratelimit-*` headers say, by `RateLimits` field name: the
    server's `limits` (positive), `remaining` amounts and `resets` (when its bucket is full again)."""

    limits: dict[str, float] = field(default_factory=dict)
    remaining: dict[str, float] = field(default_factory=dict)
    resets: dict[str, datetime] = field(default_factory=dict)
    date: datetime | None = None
    """The response's `date` header, when given: the server's clock at the time."""

    @classmethod
    def read(cls, headers: Mapping[str, str]) -> RateHeaders:
        """Read headers named with or without the `anthropic-ratelimit-` prefix, in any case."""
        found = {key.lower().removeprefix(HEADER_PREFIX): value for key, value in headers.items()}
        reading = cls(date=_parse_http_date(found.get("date")))
        for name, header in DIMENSIONS:
            limit = _number(found.get(f"{header}-limit"))
            if limit is not None and limit > 0:
                reading.limits[name] = limit
            remaining = _number(found.get(f"{header}-remaining"))
            if remaining is not None:
                reading.remaining[name] = remaining
            reset = _parse_time(found.get(f"{header}-reset"))
            if reset is not None:
                reading.resets[name] = reset
        return reading


def observed_level(remaining: float, limit: float, ahead_s: float | None) -> float:
    """The level a server bucket of `limit` has now, from a header's `remaining` that is
    `ahead_s` seconds before its reset (`None`: no reset given).

    A streamed response's headers can be a minute old: the reset time ages the remaining count,
    since the server's bucket has refilled since (at `limit` a minute) toward full at the reset.
    """
    observed = max(0.0, remaining)
    if ahead_s is not None:
        ahead = max(0.0, ahead_s) + RESET_SLACK_S
        observed = max(observed, limit - ahead * limit / 60.0)
    return observed


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _parse_time(value: str | None) -> datetime | None:
    # RFC 3339, e.g. "2025-01-23T19:22:07Z"; Python 3.11's fromisoformat reads the "Z".
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _parse_http_date(value: str | None) -> datetime | None:
    # "Wed, 02 Dec 2026 18:20:07 GMT"
    try:
        return email.utils.parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
