"""`RateGate`: one model's shared rate-limit gate, which agents `acquire` from before each request.

The gate keeps the API's bookkeeping on our side (see `agentbook.scheduler.ratelimit`): a token
bucket per limited dimension (`buckets`), a strictly first-come-first-served queue of waiters
(`waiters`), a pause for a 429's `retry-after`, and limits configured or learned from headers
(`limits`).  `acquire` runs on an event loop (any loop); the synchronous methods take a lock and
may be called from any thread.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from agentbook.messages import Response
from agentbook.models.base import TransientModelError
from agentbook.scheduler.ratelimit.buckets import Amounts, Buckets
from agentbook.scheduler.ratelimit.limits import RESET_SLACK_S, RateHeaders, RateLimits, observed_level
from agentbook.scheduler.ratelimit.probe import LimitProbe
from agentbook.scheduler.ratelimit.waiters import Waiter, WaitQueue, sleep_or_wake

__all__ = ["GateStats", "RateGate"]


@dataclass(frozen=True)
class GateStats:
    """A snapshot of a gate's counters since it was made.

    `admitted` counts granted acquisitions, `waited` those of them that had to wait, `wait_s` the
    seconds they waited in all, `pauses` the calls to `pause`, `waiting` the acquirers queued now.
    """

    admitted: int = 0
    waited: int = 0
    wait_s: float = 0.0
    pauses: int = 0
    waiting: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RateGate:
    """A shared rate-limit gate for one model (see the module docstring).

    `clock` (seconds, monotonic) and `sleep` drive all waiting and `wall_clock` (aware UTC) reads
    the headers' reset times; tests inject fakes for all three.
    """

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._configured = limits or RateLimits()
        self._learned = RateLimits()
        self._buckets = Buckets()
        self._queue = WaitQueue()
        self._paused_until = -math.inf
        self._probe = LimitProbe()  # without any known request limit, 429s teach one
        self._admitted = 0
        self._waited = 0
        self._wait_s = 0.0
        self._pauses = 0
        with self._lock:
            self._buckets.sync(self._effective(), self._clock())

    @property
    def limits(self) -> RateLimits:
        """The effective limits: per dimension the configured one, else the one learned from
        headers, else (requests) the one 429s taught (`refused`)."""
        with self._lock:
            return self._effective()

    @property
    def configured(self) -> RateLimits:
        """The limits given to the constructor, `configure` or `gate_for`."""
        return self._configured

    @property
    def stats(self) -> GateStats:
        """A snapshot of the counters (see `GateStats`)."""
        with self._lock:
            return GateStats(self._admitted, self._waited, self._wait_s, self._pauses, len(self._queue))

    def available(self) -> dict[str, float]:
        """Each limited dimension's bucket level now, by header name (`requests`, `input-tokens`,
        `output-tokens`); negative while the bucket is in debt."""
        with self._lock:
            return self._buckets.levels(self._clock())

    async def acquire(self, input_tokens: int, output_tokens: int = 0) -> float:
        """Wait until one request with these tokens fits every known limit, then take them.

        Strictly FIFO: while anyone waits, a newcomer queues behind them even if it would fit, so a
        large request is never starved by a stream of small ones.  Never waits when no limit is
        known and no pause is running.  A request larger than a bucket goes through once that
        bucket is full (leaving it in debt) instead of waiting forever.  Cancelling the caller
        gives up its place in the queue without taking anything.  Returns when it was admitted
        (the gate's clock), for `settle`.
        """
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError(f"token counts must not be negative: {input_tokens}, {output_tokens}")
        amounts = (1, input_tokens, output_tokens)
        with self._lock:
            start = self._clock()
            if not self._queue and self._delay(amounts, start) == 0.0:
                return self._admit(amounts, start, start)
            waiter = Waiter(amounts)
            self._queue.append(waiter)
        try:
            return await self._wait_turn(waiter, start)
        finally:
            with self._lock:
                waiter.wake = None
                self._queue.discard(waiter)  # cancelled (or the injected sleep failed): leave the queue

    async def _wait_turn(self, waiter: Waiter, start: float) -> float:
        while True:
            with self._lock:
                # Made before releasing the lock, so a wake-up sent while we wait is not lost.
                wake = waiter.wake = asyncio.get_running_loop().create_future()
                head = self._queue.is_head(waiter)
                now = self._clock()
                delay = self._delay(waiter.amounts, now) if head else 0.0
                if head and delay == 0.0:
                    self._queue.pop_head()
                    self._queue.wake_head()
                    return self._admit(waiter.amounts, start, now)
            if head:
                # Only the head sleeps (the others wait for their turn), and it wakes early
                # when a settle refunds tokens or the limits change.
                await sleep_or_wake(self._sleep, delay, wake)
            else:
                await wake

    def _delay(self, amounts: Amounts, now: float) -> float:
        # Caller holds the lock.  Refills every bucket to `now` as a side effect.
        return max(0.0, self._paused_until - now, self._buckets.delay(amounts, now))

    def _admit(self, amounts: Amounts, start: float, now: float) -> float:
        # Caller holds the lock and has just refilled the buckets to `now` via `_delay`.
        self._buckets.take(amounts)
        self._admitted += 1
        self._probe.admitted(now)
        if now > start:
            self._waited += 1
            self._wait_s += now - start
        return now

    # ---- feedback from responses

    def settle(
        self,
        reserved_output_tokens: int,
        response: Response,
        *,
        reserved_input_tokens: int | None = None,
        admitted_at: float | None = None,
    ) -> None:
        """Correct a finished request's reservation to its real usage, then `learn` its headers.

        Output is corrected to `usage.output_tokens`; input (with `reserved_input_tokens`) to what
        counts against ITPM: uncached input plus cache writes, not cache reads.  Call it once per
        response of an acquisition (`admitted_at`: what `acquire` returned); a failed attempt
        keeps its reservation, which errs on the safe side.
        """
        usage = response.usage
        with self._lock:
            now = self._clock()
            self._buckets.credit(
                "output_tokens_per_minute", reserved_output_tokens - usage.output_tokens, now
            )
            if reserved_input_tokens is not None:
                counted = usage.input_tokens + usage.cache_creation_input_tokens
                self._buckets.credit("input_tokens_per_minute", reserved_input_tokens - counted, now)
            self._learn(response.rate_limits, now)
            self._probe.succeeded(now if admitted_at is None else admitted_at)
            if self._probe.rpm is not None:
                self._buckets.sync(self._effective(), now)
            self._queue.wake_head()

    def learn(self, headers: Mapping[str, str]) -> None:
        """Learn from rate-limit headers (with or without the `anthropic-ratelimit-` prefix).

        `-limit` becomes the learned limit (where none is configured); `-remaining`, aged to now
        by `-reset` (a streamed response's headers can be a minute old), lowers the bucket when
        the server has less left than we think, never raises it (our own reservations since are
        not in it).  Malformed values are ignored: the headers are advice, never a failure.
        """
        with self._lock:
            self._learn(headers, self._clock())
            self._queue.wake_head()

    def _learn(self, headers: Mapping[str, str], now: float) -> None:
        # Caller holds the lock.
        reading = RateHeaders.read(headers)
        learned = self._learned.updated(reading.limits)
        if learned is not self._learned:
            self._learned = learned
            self._buckets.sync(self._effective(), now)
        wall_now: datetime | None = None
        for name, remaining in reading.remaining.items():
            bucket = self._buckets.get(name)
            if bucket is None:
                continue
            reset = reading.resets.get(name)
            ahead_s = None
            if reset is not None:
                wall_now = wall_now or self._wall_clock()
                ahead_s = (reset - wall_now).total_seconds()
            server_limit = getattr(learned, name) or bucket.limit
            self._buckets.lower(name, observed_level(remaining, server_limit, ahead_s), now)

    def pause(self, seconds: float) -> None:
        """Hold every waiter and new acquirer until at least `seconds` from now (a 429's
        `retry-after`), so the siblings of the agent that was refused back off with it.

        Pauses do not add up: the later end wins.  The buckets keep refilling meanwhile, so when
        the pause ends the queue goes as fast as they allow (with no known limit: all at once).
        Raises `ValueError` for a negative or non-finite duration (an endless pause would hang
        every agent).
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"pause must be a finite number of seconds >= 0, not {seconds!r}")
        with self._lock:
            self._pauses += 1
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def pause_for(self, error: BaseException) -> bool:
        """`pause` for a 429 that is a real limit (headers show a dimension spent, or there are
        none) until its `retry_after`, else the spent dimension's `-reset` (on the server's clock,
        at most a minute); whether the fleet now waits for it.  Its headers are learned as
        current: a spent dimension with a known limit paces by its bucket instead.  Room
        everywhere delays only the refused agent, not every sibling."""
        if not (isinstance(error, TransientModelError) and error.status == 429):
            return False
        reading = RateHeaders.read(error.rate_limits or {})
        self.learn(error.rate_limits or {})
        if reading.remaining and all(left >= 1 for left in reading.remaining.values()):
            return False
        if error.retry_after:
            self.pause(error.retry_after)
            return True
        with self._lock:
            now, spent = self._clock(), [n for n, left in reading.remaining.items() if left < 1]
            for name, left in reading.remaining.items():
                self._buckets.lower(name, max(0.0, left), now)
            unknown = [n for n in spent if self._buckets.get(n) is None]
            until = _until_reset(reading, unknown, reading.date or self._wall_clock())
        if until > 0:
            self.pause(until)
        return until > 0 or len(unknown) < len(spent)

    def configure(self, limits: RateLimits) -> None:
        """Replace the configured limits; a bucket keeps its level (capped to a smaller limit)."""
        with self._lock:
            self._configured = limits
            self._buckets.sync(self._effective(), self._clock())
            self._queue.wake_head()

    def refused(self) -> bool:
        """A request got a bare 429 (no headers).  With no request limit configured or learned, the
        gate learns one from refusals (`agentbook.scheduler.ratelimit.probe`), its requests
        bucket empty as the server's is, and says so (`True`: it now spaces the retries)."""
        with self._lock:
            now = self._clock()
            if self._configured.over(self._learned).requests_per_minute is not None:
                return False
            if self._probe.refused(now) is None:
                return False
            self._buckets.sync(self._effective(), now)
            self._buckets.lower("requests_per_minute", 0.0, now)
            return True

    @property
    def probed_rpm(self) -> float | None:
        """The request limit learned from 429s (`None`: none needed so far)."""
        with self._lock:
            return self._probe.rpm

    def _effective(self) -> RateLimits:
        probed = RateLimits(requests_per_minute=self._probe.rpm)
        return self._configured.over(self._learned).over(probed)


def _until_reset(reading: RateHeaders, names: list[str], now: datetime) -> float:
    """Seconds until the latest `-reset` of the dimensions `names`, at most a minute and a
    second: a per-minute bucket never needs longer, whatever a bad header or a skewed clock says."""
    ahead = [(reading.resets[n] - now).total_seconds() for n in names if n in reading.resets]
    return min(max(ahead, default=0.0), 60.0 + RESET_SLACK_S)
