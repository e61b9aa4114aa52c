"""Rate-limit gates: one per model and process, shared by every agent, so siblings slow down together.

Without a gate, twenty agents on one API key all send at once, all get 429, all back off and all
come back together.  A `RateGate` instead keeps the API's own bookkeeping on our side: one token
bucket per limited dimension (requests, input tokens, output tokens per minute), each holding at
most its per-minute limit and refilling continuously at limit/60 per second, which is how
Anthropic documents its limiter.  `acquire` waits until a request fits; waiters are served strictly
first come, first served.

Limits come from configuration (`RateLimits`) or are learned from the `anthropic-ratelimit-*`
headers of responses; a configured limit always wins over a learned one.  Output tokens are
reserved at `max_tokens` before the call and corrected to the real usage afterwards (the API
estimates OTPM the same way); input tokens are reserved at an estimate and corrected likewise.

Wiring into `agentbook.agent.loop.run_agent` (the hook acquires; *settling is the caller's job*, after
each response, because the loop does not know about gates)::

    gate = gate_for(f"{model.name} {base_url}")
    hook = gated(gate, max_tokens)

    def emit(event: AgentEvent) -> None:
        if isinstance(event, TurnCompleted):
            hook.settle(event.response)  # runs in the agent's task, which made the reservation
        ...

    await run_agent(..., max_tokens=max_tokens, before_request=hook, emit=emit)

and when a call gets a 429, `gate.pause(retry_after)` (or `gate.pause_for(error)`) makes every
sibling wait with it.

Concurrency contract: `acquire` runs on an event loop (any loop; no asyncio object outlives a
call, so a process-wide gate survives a notebook's loop being replaced).  The synchronous methods
(`settle`, `learn`, `pause`, `configure`, ...) take a lock and may be called from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from agentbook.messages import Request, Response
from agentbook.models.base import RequestEstimator, TransientModelError, estimate_request_tokens

HEADER_PREFIX = "anthropic-ratelimit-"

# A `-reset` header has one-second resolution; treating it as up to this much later keeps the
# learned level from being optimistic by the rounding.
RESET_SLACK_S = 1.0

# Float refills land a hair short of the exact need after sleeping exactly the computed delay;
# a millionth of a token is not worth another trip round the loop.
_EPSILON = 1e-6


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


# The three dimensions: RateLimits field, header name (after the prefix), index into `amounts`.
_DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("requests_per_minute", "requests"),
    ("input_tokens_per_minute", "input-tokens"),
    ("output_tokens_per_minute", "output-tokens"),
)


class _Bucket:
    """A token bucket holding at most `limit`, refilling at `limit / 60` per second.

    `level` may go negative: an oversize request or an under-estimate puts the bucket in debt,
    which later requests wait out, so the average rate still holds.
    """

    __slots__ = ("level", "limit", "updated")

    def __init__(self, limit: float, now: float) -> None:
        self.limit = limit
        self.level = limit  # a new bucket starts full, as the API's does for an idle key
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


class _Waiter:
    # Compared by identity (not a dataclass): two waiters with the same amounts are different.
    __slots__ = ("amounts", "wake")

    def __init__(self, amounts: tuple[int, int, int]) -> None:
        self.amounts = amounts
        self.wake: asyncio.Future[None] | None = None


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
        self._buckets: dict[str, _Bucket] = {}
        self._queue: deque[_Waiter] = deque()
        self._paused_until = -math.inf
        self._admitted = 0
        self._waited = 0
        self._wait_s = 0.0
        self._pauses = 0
        with self._lock:
            self._sync_buckets(self._clock())

    # ----------------------------------------------------------------------------------------
    # Reading

    @property
    def limits(self) -> RateLimits:
        """The effective limits: per dimension the configured one, else the learned one."""
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
            now = self._clock()
            for bucket in self._buckets.values():
                bucket.refill(now)
            return {
                header: self._buckets[name].level for name, header in _DIMENSIONS if name in self._buckets
            }

    # ----------------------------------------------------------------------------------------
    # Acquiring

    async def acquire(self, input_tokens: int, output_tokens: int = 0) -> None:
        """Wait until one request with these tokens fits every known limit, then take them.

        Strictly FIFO: while anyone waits, a newcomer queues behind them even if it would fit, so a
        large request is never starved by a stream of small ones.  Never waits when no limit is
        known and no pause is running.  A request larger than a bucket goes through once that
        bucket is full (leaving it in debt) instead of waiting forever.  Cancelling the caller
        gives up its place in the queue without taking anything.
        """
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError(f"token counts must not be negative: {input_tokens}, {output_tokens}")
        amounts = (1, input_tokens, output_tokens)
        with self._lock:
            start = self._clock()
            if not self._queue and self._delay(amounts, start) == 0.0:
                self._admit(amounts, start, start)
                return
            waiter = _Waiter(amounts)
            self._queue.append(waiter)
        try:
            while True:
                with self._lock:
                    # Made before releasing the lock, so a wake-up sent while we wait is not lost.
                    wake = waiter.wake = asyncio.get_running_loop().create_future()
                    head = self._queue[0] is waiter
                    now = self._clock()
                    delay = self._delay(amounts, now) if head else 0.0
                    if head and delay == 0.0:
                        self._queue.popleft()
                        self._admit(amounts, start, now)
                        self._wake_head()
                        return
                if head:
                    # Only the head sleeps (the others wait for their turn), and it wakes early
                    # when a settle refunds tokens or the limits change.
                    await self._sleep_or_wake(delay, wake)
                else:
                    await wake
        finally:
            with self._lock:
                waiter.wake = None
                if waiter in self._queue:  # cancelled (or the injected sleep failed): leave the queue
                    was_head = self._queue[0] is waiter
                    self._queue.remove(waiter)
                    if was_head:
                        self._wake_head()

    async def _sleep_or_wake(self, delay: float, wake: asyncio.Future[None]) -> None:
        sleeper = asyncio.ensure_future(self._sleep(delay))
        try:
            await asyncio.wait((sleeper, wake), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not sleeper.done():
                sleeper.cancel()
        if sleeper.done() and not sleeper.cancelled():
            sleeper.result()  # surface a failing injected sleep instead of spinning

    def _delay(self, amounts: tuple[int, int, int], now: float) -> float:
        # Caller holds the lock.  Refills every bucket to `now` as a side effect.
        wait = max(0.0, self._paused_until - now)
        for (name, _), amount in zip(_DIMENSIONS, amounts, strict=True):
            bucket = self._buckets.get(name)
            if bucket is not None:
                bucket.refill(now)
                wait = max(wait, bucket.delay(amount))
        return wait

    def _admit(self, amounts: tuple[int, int, int], start: float, now: float) -> None:
        # Caller holds the lock and has just refilled the buckets to `now` via `_delay`.
        for (name, _), amount in zip(_DIMENSIONS, amounts, strict=True):
            bucket = self._buckets.get(name)
            if bucket is not None:
                bucket.level -= amount
        self._admitted += 1
        if now > start:
            self._waited += 1
            self._wait_s += now - start

    def _wake_head(self) -> None:
        # Caller holds the lock.  The head re-checks the buckets; nobody else can go before it.
        if not self._queue:
            return
        wake = self._queue[0].wake
        if wake is None or wake.done():
            return
        loop = wake.get_loop()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set_result(None)
        else:  # called from another thread: futures are not thread-safe
            with contextlib.suppress(RuntimeError):  # a closed loop: its waiters are gone with it
                loop.call_soon_threadsafe(_set_if_pending, wake)

    # ----------------------------------------------------------------------------------------
    # Feedback from responses

    def settle(
        self, reserved_output_tokens: int, response: Response, *, reserved_input_tokens: int | None = None
    ) -> None:
        """Correct a finished request's reservation with its real usage, then `learn` its headers.

        The output bucket gets back `reserved_output_tokens - usage.output_tokens` (or loses the
        excess).  With `reserved_input_tokens`, the input bucket is corrected to the tokens the API
        counts against ITPM: uncached input plus cache writes (cache reads do not count), which is
        often far below an estimate of the whole prompt.  Call it once per response that came
        from an acquisition; a failed attempt keeps its reservation, which errs on the safe side.
        """
        usage = response.usage
        with self._lock:
            now = self._clock()
            self._credit("output_tokens_per_minute", reserved_output_tokens - usage.output_tokens, now)
            if reserved_input_tokens is not None:
                counted = usage.input_tokens + usage.cache_creation_input_tokens
                self._credit("input_tokens_per_minute", reserved_input_tokens - counted, now)
            self._learn(response.rate_limits, now)
            self._wake_head()

    def _credit(self, name: str, tokens: float, now: float) -> None:
        bucket = self._buckets.get(name)
        if bucket is not None:
            bucket.refill(now)
            bucket.level = min(bucket.limit, bucket.level + tokens)

    def learn(self, headers: Mapping[str, str]) -> None:
        """Learn from rate-limit headers, named with or without the `anthropic-ratelimit-` prefix.

        `<dimension>-limit` becomes the learned limit (used only where none is configured).
        `<dimension>-remaining` lowers the bucket when the server has less left than we think
        (another process on the key, an estimate that was low); it never raises it, since our
        own reservations since the header was made are not in it.  The remaining count is aged
        to now with `<dimension>-reset` (when the server's bucket will be full again), because
        a streamed response's headers can be a minute old.  Malformed values are ignored: the
        headers are advice, never a reason to fail a call.
        """
        with self._lock:
            self._learn(headers, self._clock())
            self._wake_head()

    def _learn(self, headers: Mapping[str, str], now: float) -> None:
        found = {key.lower().removeprefix(HEADER_PREFIX): value for key, value in headers.items()}
        learned: dict[str, float | None] = {name: getattr(self._learned, name) for name, _ in _DIMENSIONS}
        for name, header in _DIMENSIONS:
            limit = _number(found.get(f"{header}-limit"))
            if limit is not None and limit > 0:
                learned[name] = limit
        if any(learned[name] != getattr(self._learned, name) for name, _ in _DIMENSIONS):
            self._learned = RateLimits(**learned)
            self._sync_buckets(now)
        wall_now: datetime | None = None
        for name, header in _DIMENSIONS:
            bucket = self._buckets.get(name)
            remaining = _number(found.get(f"{header}-remaining"))
            if bucket is None or remaining is None:
                continue
            observed = max(0.0, remaining)
            reset = _parse_time(found.get(f"{header}-reset"))
            server_limit = learned[name] or bucket.limit
            if reset is not None:
                wall_now = wall_now or self._wall_clock()
                ahead = max(0.0, (reset - wall_now).total_seconds()) + RESET_SLACK_S
                observed = max(observed, server_limit - ahead * server_limit / 60.0)
            bucket.refill(now)
            bucket.level = min(bucket.level, observed)

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
        """`pause` for a 429 `TransientModelError` that carries `retry_after`; say whether it did.

        Fits `call_with_retries(on_retry=lambda n, exc, wait: gate.pause_for(exc))`.
        """
        if isinstance(error, TransientModelError) and error.status == 429 and error.retry_after:
            self.pause(error.retry_after)
            return True
        return False

    def configure(self, limits: RateLimits) -> None:
        """Replace the configured limits; a bucket keeps its level (capped to a smaller limit)."""
        with self._lock:
            self._configured = limits
            self._sync_buckets(self._clock())
            self._wake_head()

    # ----------------------------------------------------------------------------------------

    def _effective(self) -> RateLimits:
        return RateLimits(
            **{
                name: getattr(self._configured, name)
                if getattr(self._configured, name) is not None
                else getattr(self._learned, name)
                for name, _ in _DIMENSIONS
            }
        )

    def _sync_buckets(self, now: float) -> None:
        # Caller holds the lock.  Makes, resizes or drops buckets to match the effective limits.
        effective = self._effective()
        for name, _ in _DIMENSIONS:
            limit: float | None = getattr(effective, name)
            bucket = self._buckets.get(name)
            if limit is None:
                self._buckets.pop(name, None)
            elif bucket is None:
                self._buckets[name] = _Bucket(limit, now)
            elif bucket.limit != limit:
                bucket.refill(now)
                bucket.limit = limit
                bucket.level = min(bucket.level, limit)


def _set_if_pending(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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


# --------------------------------------------------------------------------------------------
# The loop hook


class GatedHook:
    """A `before_request` hook for `run_agent` that acquires from a gate; see `gated`."""

    def __init__(self, gate: RateGate, max_tokens: int | None = None) -> None:
        self.gate = gate
        self.max_tokens = max_tokens
        # The reservation of each agent task's latest attempt, so one hook can serve many agents:
        # an agent's requests are sequential, and its `emit` runs in its own task.
        self._reserved: weakref.WeakKeyDictionary[asyncio.Task[object], tuple[int, int]] = (
            weakref.WeakKeyDictionary()
        )
        self._estimators: weakref.WeakKeyDictionary[asyncio.Task[object], RequestEstimator] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, request: Request) -> None:
        """Acquire (estimated input tokens, `max_tokens`) for one attempt at `request`."""
        output = request.max_tokens if self.max_tokens is None else self.max_tokens
        task = asyncio.current_task()
        if task is None:
            estimate = estimate_request_tokens(request)
        else:
            estimate = self._estimators.setdefault(task, RequestEstimator())(request)
        await self.gate.acquire(estimate, output)
        if task is not None:
            self._reserved[task] = (estimate, output)

    def settle(self, response: Response) -> None:
        """Settle `response` against the reservation the current task made (see `RateGate.settle`).

        Outside the agent's task the reservation is unknown: the output is settled against the
        hook's `max_tokens` (if it has one), the input estimate is left as reserved.
        """
        try:
            task: asyncio.Task[object] | None = asyncio.current_task()
        except RuntimeError:  # no running loop in this thread
            task = None
        reserved = self._reserved.pop(task, None) if task is not None else None
        if reserved is not None:
            self.gate.settle(reserved[1], response, reserved_input_tokens=reserved[0])
        elif self.max_tokens is not None:
            self.gate.settle(self.max_tokens, response)
        else:  # nothing known to correct against: only the headers are of use
            self.gate.learn(response.rate_limits)


def gated(gate: RateGate, max_tokens: int | None = None) -> GatedHook:
    """A `before_request` hook: estimate the request's input tokens and acquire (input, max_tokens).

    `max_tokens=None` reserves each request's own `max_tokens`.  The hook only acquires: settle
    each response afterwards with `hook.settle(response)` (from the agent's `emit`, as in the
    module docstring) or `gate.settle(...)`, or the gate keeps the whole reservation.
    """
    return GatedHook(gate, max_tokens)


# --------------------------------------------------------------------------------------------
# The process-wide registry

_gates: dict[str, RateGate] = {}
_gates_lock = threading.Lock()


def gate_for(key: str, limits: RateLimits | None = None) -> RateGate:
    """The process's gate for `key` (e.g. model id and base URL), made on first use.

    Every agent of a model should share its gate; `limits` given for an existing gate replace
    its configured limits, `None` leaves them.
    """
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = RateGate(limits)
            return gate
    if limits is not None:
        gate.configure(limits)
    return gate


def reset_gates() -> None:
    """Forget every gate (for tests); gates already handed out keep working on their own."""
    with _gates_lock:
        _gates.clear()
