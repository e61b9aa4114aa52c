"""Rate-limit gates, on virtual time: a fake clock that jumps to the next sleeper's deadline only
when nothing else can run, so admission times are exact and the tests take milliseconds."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agentbook.agent.gates import RequestHook, RequestOutcome
from agentbook.agent.loop import run_agent
from agentbook.events import AgentEvent, TurnCompleted
from agentbook.messages import Message, Request, Response, Text, ToolResult, ToolSchema, ToolUse, Usage
from agentbook.models import ScriptedModel, TransientModelError
from agentbook.models.base import RequestEstimator, estimate_request_tokens
from agentbook.scheduler.gating import RateGateHook
from agentbook.scheduler.ratelimit import (
    GatedHook,
    RateGate,
    RateLimits,
    gate_for,
    gated,
    reset_gates,
)
from agentbook.scheduler.ratelimit.probe import MARGIN
from agentbook.tools.base import ToolContext

T = TypeVar("T")
T0 = 1000.0
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


class FakeTime:
    """Virtual time: `sleep` registers a deadline; `run` advances `now` to the earliest one
    whenever every task is blocked, and fails if all are blocked with no deadline (deadlock)."""

    def __init__(self) -> None:
        self.now = T0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now - T0)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + seconds, next(self._seq), future))
        await future

    def gate(self, limits: RateLimits | None = None) -> RateGate:
        return RateGate(limits, clock=self.clock, sleep=self.sleep, wall_clock=self.wall)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        async def drive() -> T:
            task = asyncio.ensure_future(main)
            while True:
                for _ in range(100):  # let everything that can run, run
                    await asyncio.sleep(0)
                if task.done():
                    return task.result()
                while self._timers and self._timers[0][2].cancelled():
                    heapq.heappop(self._timers)
                if not self._timers:
                    task.cancel()
                    raise AssertionError("deadlock: every task waits and nobody sleeps")
                when, _, future = heapq.heappop(self._timers)
                self.now = max(self.now, when)
                future.set_result(None)

        return asyncio.run(drive())


async def admit_all(gate: RateGate, fake: FakeTime, sizes: list[tuple[int, int]]) -> list[tuple[int, float]]:
    """Start one acquirer per (input, output) in order; return (index, admission time) in
    admission order, times relative to T0."""
    admitted: list[tuple[int, float]] = []

    async def one(i: int, inp: int, out: int) -> None:
        await gate.acquire(inp, out)
        admitted.append((i, fake.now - T0))

    await asyncio.gather(*(one(i, inp, out) for i, (inp, out) in enumerate(sizes)))
    return admitted


def response(
    output: int = 0,
    *,
    input: int = 0,
    cache_write: int = 0,
    cache_read: int = 0,
    headers: dict[str, str] | None = None,
) -> Response:
    usage = Usage(
        input_tokens=input,
        output_tokens=output,
        cache_creation_input_tokens=cache_write,
        cache_read_input_tokens=cache_read,
    )
    return Response("msg_1", "m", (Text("ok"),), "end_turn", usage, rate_limits=headers or {})


@pytest.fixture(autouse=True)
def _fresh_registry() -> None:
    reset_gates()


# --------------------------------------------------------------------------------------------
# Limits


@pytest.mark.parametrize("bad", [0, -1, -0.5, math.nan, math.inf, True])
def test_invalid_limits_raise(bad: float) -> None:
    for field in ("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute"):
        with pytest.raises(ValueError, match=field):
            RateLimits(**{field: bad})


def test_invalid_arguments_raise() -> None:
    fake = FakeTime()
    gate = fake.gate()
    with pytest.raises(ValueError):
        fake.run(gate.acquire(-1))
    with pytest.raises(ValueError):
        fake.run(gate.acquire(0, -1))
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            gate.pause(bad)


def test_without_limits_nothing_waits() -> None:
    fake = FakeTime()
    gate = fake.gate()
    times = fake.run(admit_all(gate, fake, [(10**9, 10**9)] * 200))
    assert {t for _, t in times} == {0.0}
    assert fake.sleeps == []
    assert gate.limits == RateLimits() and gate.available() == {}
    assert gate.stats.admitted == 200 and gate.stats.waited == 0


# --------------------------------------------------------------------------------------------
# Spacing


def test_rpm_limit_spaces_requests_after_the_burst() -> None:
    # 60 rpm: the full bucket lets 60 through at once, then one a second.
    fake = FakeTime()
    gate = fake.gate(RateLimits(requests_per_minute=60))
    times = fake.run(admit_all(gate, fake, [(0, 0)] * 70))
    assert [i for i, _ in times] == list(range(70))
    assert [t for _, t in times[:60]] == [0.0] * 60
    assert [t for _, t in times[60:]] == pytest.approx([float(n) for n in range(1, 11)])
    stats = gate.stats
    assert (stats.admitted, stats.waited, stats.waiting) == (70, 10, 0)
    assert stats.wait_s == pytest.approx(sum(range(1, 11)))


def test_itpm_limit() -> None:
    # 6000 input tokens a minute = 100 a second: three 2000-token requests now, then one per 20 s.
    fake = FakeTime()
    gate = fake.gate(RateLimits(input_tokens_per_minute=6000))
    times = fake.run(admit_all(gate, fake, [(2000, 0)] * 5))
    assert [t for _, t in times] == pytest.approx([0, 0, 0, 20, 40])


def test_otpm_limit_reserves_max_tokens() -> None:
    # 600 output tokens a minute = 10 a second.
    fake = FakeTime()
    gate = fake.gate(RateLimits(output_tokens_per_minute=600))
    times = fake.run(admit_all(gate, fake, [(999_999, 300)] * 4))
    assert [t for _, t in times] == pytest.approx([0, 0, 30, 60])


def test_the_tightest_dimension_decides() -> None:
    fake = FakeTime()
    gate = fake.gate(
        RateLimits(requests_per_minute=600, input_tokens_per_minute=600, output_tokens_per_minute=60)
    )
    # Requests: 10/s, input 10/s, output 1/s: each 10-output-token request after the sixth
    # waits 10 s for the output bucket.
    times = fake.run(admit_all(gate, fake, [(10, 10)] * 8))
    assert [t for _, t in times] == pytest.approx([0] * 6 + [10, 20])


def test_fifo_a_big_request_is_not_overtaken_by_small_ones() -> None:
    # 600 ITPM = 10 tokens a second.  After draining the bucket, a 500-token request queues first;
    # the 10-token requests behind it would fit after a second, but wait their turn.
    fake = FakeTime()
    gate = fake.gate(RateLimits(input_tokens_per_minute=600))
    times = fake.run(admit_all(gate, fake, [(600, 0), (500, 0), (10, 0), (10, 0), (50, 0)]))
    assert [i for i, _ in times] == [0, 1, 2, 3, 4]
    assert [t for _, t in times] == pytest.approx([0, 50, 51, 52, 57])


def test_a_newcomer_queues_behind_waiters_even_if_it_would_fit() -> None:
    fake = FakeTime()
    gate = fake.gate(RateLimits(input_tokens_per_minute=600))

    async def main() -> list[tuple[str, float]]:
        order: list[tuple[str, float]] = []
        await gate.acquire(550)  # 50 left

        async def take(name: str, tokens: int) -> None:
            await gate.acquire(tokens)
            order.append((name, fake.now - T0))

        big = asyncio.create_task(take("big", 600))
        await asyncio.sleep(0)
        assert gate.stats.waiting == 1
        await take("small", 10)  # would fit now, but big is first
        await big
        return order

    order = fake.run(main())
    assert [name for name, _ in order] == ["big", "small"]
    assert [t for _, t in order] == pytest.approx([55.0, 56.0])


def test_oversize_request_goes_through_a_full_bucket_and_leaves_debt() -> None:
    # 600 ITPM = 10 tokens a second.  A 1000-token request (over the 600 capacity) goes through the
    # full bucket at once, leaving it at -400; the next waits until the bucket is full again:
    # 1000 tokens of refill, 100 s.
    fake = FakeTime()
    gate = fake.gate(RateLimits(input_tokens_per_minute=600))
    times = fake.run(admit_all(gate, fake, [(1000, 0), (1000, 0)]))
    assert [t for _, t in times] == pytest.approx([0, 100])
    assert gate.available()["input-tokens"] == pytest.approx(-400)


def test_max_tokens_over_the_otpm_bucket_does_not_deadlock() -> None:
    # 100 OTPM and max_tokens=8192: each request needs a full bucket, so they go 8192 tokens of
    # refill apart (at 100/60 a second).
    fake = FakeTime()
    gate = fake.gate(RateLimits(output_tokens_per_minute=100))
    times = fake.run(admit_all(gate, fake, [(0, 8192)] * 3))
    assert [t for _, t in times] == pytest.approx([0, 8192 * 0.6, 2 * 8192 * 0.6])


def test_a_partly_used_bucket_must_be_full_for_an_oversize_request() -> None:
    fake = FakeTime()
    gate = fake.gate(RateLimits(input_tokens_per_minute=600))
    times = fake.run(admit_all(gate, fake, [(100, 0), (5000, 0)]))
    assert [t for _, t in times] == pytest.approx([0, 10])


def test_a_cancelled_waiter_leaves_the_queue() -> None:
    fake = FakeTime()
    gate = fake.gate(RateLimits(requests_per_minute=60))

    async def main() -> float:
        for _ in range(60):
            await gate.acquire(0)
        first = asyncio.create_task(gate.acquire(0))
        second = asyncio.create_task(gate.acquire(0))
        await asyncio.sleep(0)
        assert gate.stats.waiting == 2
        first.cancel()  # the head, sleeping: the next waiter takes its place and its slot
        await second
        assert first.cancelled()
        return fake.now - T0

    assert fake.run(main()) == pytest.approx(1.0)
    assert gate.stats.waiting == 0 and gate.stats.admitted == 61


# --------------------------------------------------------------------------------------------
# Pauses


def test_pause_delays_every_waiter_and_newcomer() -> None:
    fake = FakeTime()
    gate = fake.gate()  # no limits at all: only the pause holds them

    async def main() -> tuple[list[tuple[int, float]], float]:
        gate.pause(5)
        gate.pause(2)  # pauses do not add up; the later end wins
        times = await admit_all(gate, fake, [(0, 0)] * 3)
        before = fake.now
        await gate.acquire(0)  # after the pause: immediate
        return times, fake.now - before

    times, after = fake.run(main())
    assert [t for _, t in times] == pytest.approx([5, 5, 5])
    assert after == 0
    assert gate.stats.pauses == 2


def test_pause_holds_waiters_already_queued_for_a_bucket() -> None:
    fake = FakeTime()
    gate = fake.gate(RateLimits(requests_per_minute=60))

    async def main() -> list[tuple[int, float]]:
        for _ in range(60):
            await gate.acquire(0)
        task = asyncio.create_task(admit_all(gate, fake, [(0, 0)] * 2))
        await asyncio.sleep(0)
        gate.pause(10)  # a sibling got a 429: the waiter due at 1 s waits until 10 s
        return await task

    # The bucket kept refilling during the pause, so both go when it ends.
    assert [t for _, t in fake.run(main())] == pytest.approx([10, 10])


def test_pause_for_a_429_only() -> None:
    gate = FakeTime().gate()
    assert gate.pause_for(TransientModelError("429", status=429, retry_after=3))
    assert not gate.pause_for(TransientModelError("429", status=429))
    assert not gate.pause_for(TransientModelError("529", status=529, retry_after=3))
    assert not gate.pause_for(ValueError("nope"))
    assert gate.stats.pauses == 1


# --------------------------------------------------------------------------------------------
# Learning from headers


def test_learn_sets_limits_from_headers_with_or_without_prefix() -> None:
    gate = FakeTime().gate()
    gate.learn(
        {"anthropic-ratelimit-requests-limit": "50", "Anthropic-RateLimit-Input-Tokens-Limit": "30000"}
    )
    gate.learn({"output-tokens-limit": "8000", "tokens-limit": "1", "retry-after": "3"})
    assert gate.limits == RateLimits(50, 30000, 8000)
    # A bucket learned from headers starts full.
    assert gate.available() == {"requests": 50, "input-tokens": 30000, "output-tokens": 8000}


def test_learn_lowers_the_bucket_to_remaining_but_never_raises_it() -> None:
    fake = FakeTime()
    gate = fake.gate(RateLimits(requests_per_minute=60, input_tokens_per_minute=6000))
    fake.run(gate.acquire(1000))
    gate.learn({"requests-remaining": "10", "input-tokens-remaining": "5500"})
    assert gate.available() == {"requests": 10, "input-tokens": 5000}
    # Refill continues from the lowered level: 60 rpm = 1 a second.
    fake.now += 5
    assert gate.available()["requests"] == pytest.approx(15)


def test_learn_remaining_from_the_same_headers_as_a_new_limit() -> None:
    fake = FakeTime()
    gate = fake.gate()
    gate.learn({"requests-limit": "60", "requests-remaining": "0"})
    # Nothing left: the next request waits a second for the refill.
    times = fake.run(admit_all(gate, fake, [(0, 0)] * 2))
    assert [t for _, t in times] == pytest.approx([1, 2])


def test_learn_ages_old_headers_with_their_reset_time() -> None:
    # A 600 rpm bucket at 0 is full again in 60 s.  A header saying 0 left, full in 30 s, was made
    # about 30 s ago: the bucket now holds about 300, minus a second of slack for the header's
    # one-second resolution.
    fake = FakeTime()
    gate = fake.gate(RateLimits(requests_per_minute=600))
    reset = (fake.wall() + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    gate.learn({"requests-limit": "600", "requests-remaining": "0", "requests-reset": reset})
    assert gate.available()["requests"] == pytest.approx(290)
    # A fresh header (remaining consistent with its reset) is taken as it stands.
    reset = (fake.wall() + timedelta(seconds=57)).isoformat()
    gate.learn({"requests-remaining": "30", "requests-reset": reset})
    assert gate.available()["requests"] == pytest.approx(30)


def test_learn_ignores_malformed_values() -> None:
    gate = FakeTime().gate(RateLimits(requests_per_minute=60))
    gate.learn(
        {
            "requests-remaining": "lots",
            "requests-reset": "tomorrow",
            "input-tokens-limit": "-5",
            "output-tokens-limit": "nan",
        }
    )
    gate.learn({"requests-remaining": "7", "requests-reset": "not a time"})
    assert gate.limits == RateLimits(requests_per_minute=60)
    assert gate.available() == {"requests": 7}


def test_configured_limits_win_over_learned_ones() -> None:
    gate = FakeTime().gate(RateLimits(requests_per_minute=10))
    gate.learn({"requests-limit": "1000", "input-tokens-limit": "5000"})
    assert gate.limits == RateLimits(requests_per_minute=10, input_tokens_per_minute=5000)
    assert gate.configured == RateLimits(requests_per_minute=10)
    # Reconfiguring the other dimension wins over what was learned for it, and a smaller limit
    # caps the bucket.
    gate.configure(RateLimits(input_tokens_per_minute=100))
    assert gate.limits == RateLimits(requests_per_minute=1000, input_tokens_per_minute=100)
    assert gate.available() == {"requests": 10, "input-tokens": 100}


# --------------------------------------------------------------------------------------------
# Settling


def test_settle_corrects_the_output_reservation() -> None:
    fake = FakeTime()
    gate = fake.gate(RateLimits(output_tokens_per_minute=6000))
    fake.run(gate.acquire(0, 4000))
    assert gate.available()["output-tokens"] == 2000
    gate.settle(4000, response(1000))
    assert gate.available()["output-tokens"] == 5000
    # Using more than reserved takes the rest (never past the capacity when refunding).
    fake.run(gate.acquire(0, 100))
    gate.settle(100, response(600))
    assert gate.available()["output-tokens"] == 4400
    gate.settle(5000, response(0))
    assert gate.available()["output-tokens"] == 6000


def test_settle_corrects_the_input_reservation_without_cache_reads() -> None:
    fake = FakeTime()
    gate = fake.gate(RateLimits(input_tokens_per_minute=10000, output_tokens_per_minute=10000))
    fake.run(gate.acquire(8000, 1000))
    # The API counts uncached input and cache writes against ITPM, not cache reads.
    gate.settle(1000, response(200, input=1000, cache_write=500, cache_read=6000), reserved_input_tokens=8000)
    assert gate.available() == {"input-tokens": 8500, "output-tokens": 9800}
    # Without the input reservation, only the output is corrected.
    fake.run(gate.acquire(1000, 1000))
    gate.settle(1000, response(1000, input=1))
    assert gate.available() == {"input-tokens": 7500, "output-tokens": 8800}


def test_settle_learns_from_the_response_headers() -> None:
    fake = FakeTime()
    gate = fake.gate(RateLimits(output_tokens_per_minute=6000))
    fake.run(gate.acquire(0, 1000))
    gate.settle(1000, response(500, headers={"output-tokens-remaining": "3000", "requests-limit": "50"}))
    assert gate.limits == RateLimits(requests_per_minute=50, output_tokens_per_minute=6000)
    assert gate.available() == {"requests": 50, "output-tokens": 3000}


def test_settle_wakes_the_waiting_head_at_once() -> None:
    # The head needs 4000 output tokens and 2000 are left: it would sleep 20 s, but a sibling's
    # response refunds 3000 unused tokens and it goes at once.
    fake = FakeTime()
    gate = fake.gate(RateLimits(output_tokens_per_minute=6000))

    async def main() -> float:
        await gate.acquire(0, 4000)
        waiter = asyncio.create_task(gate.acquire(0, 4000))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not waiter.done() and fake.sleeps == [pytest.approx(20.0)]
        gate.settle(4000, response(1000))
        await waiter
        return fake.now - T0

    assert fake.run(main()) == 0.0
    assert gate.available()["output-tokens"] == pytest.approx(1000)


def test_settle_from_another_thread_wakes_the_head() -> None:
    gate = RateGate(RateLimits(output_tokens_per_minute=60))  # 1 a second: a refill takes minutes

    async def main() -> float:
        await gate.acquire(0, 60)
        started = time.monotonic()
        waiter = asyncio.create_task(gate.acquire(0, 50))
        await asyncio.sleep(0.05)
        await asyncio.to_thread(gate.settle, 60, response(0))
        await asyncio.wait_for(waiter, 2)
        return time.monotonic() - started

    assert asyncio.run(main()) < 1.0


# --------------------------------------------------------------------------------------------
# Registry and hook


def test_gate_for_returns_one_gate_per_key() -> None:
    a = gate_for("claude-x https://api.anthropic.com")
    assert gate_for("claude-x https://api.anthropic.com") is a
    assert gate_for("claude-y https://api.anthropic.com") is not a
    assert a.limits == RateLimits()
    assert gate_for("claude-x https://api.anthropic.com", RateLimits(requests_per_minute=5)) is a
    assert a.limits == RateLimits(requests_per_minute=5)
    assert gate_for("claude-x https://api.anthropic.com").limits == RateLimits(requests_per_minute=5)
    reset_gates()
    assert gate_for("claude-x https://api.anthropic.com") is not a


def test_gated_hook_acquires_estimate_and_max_tokens() -> None:
    fake = FakeTime()
    gate = fake.gate(RateLimits(input_tokens_per_minute=100_000, output_tokens_per_minute=100_000))
    request = Request(system="be brief", messages=(Message.user("x" * 4000),), max_tokens=2048)
    estimate = estimate_request_tokens(request)
    fake.run(gated(gate, 5000)(request))
    assert gate.available() == {"input-tokens": 100_000 - estimate, "output-tokens": 95_000}
    fake.run(gated(gate)(request))  # no max_tokens: the request's own
    assert gate.available()["output-tokens"] == 95_000 - 2048


def test_the_incremental_estimate_equals_the_whole_one() -> None:
    # An agent's conversation grows, is cut back (a resume), or is replaced outright; the
    # estimator must still give exactly what measuring the whole request gives.
    tools = (ToolSchema("Glob", "find files", {"type": "object"}),)
    turns = [
        Message.user("Find the tests ☃"),
        Message("assistant", (Text("Looking."), ToolUse("t1", "Glob", {"pattern": "**/*.py"}))),
        Message("user", (ToolResult("t1", "a.py\nb.py"),)),
        Message("assistant", (Text("Two files."),)),
        Message.user("And the docs?"),
    ]
    estimator = RequestEstimator()
    conversations = [turns[:n] for n in range(1, 6)] + [turns[:2], turns[:4], [Message.user("new")]]
    for system, messages in itertools.product(["", "be brief"], conversations):
        for request in (
            Request(system=system, messages=tuple(messages), tools=tools),
            Request(system=system, messages=tuple(messages)),
        ):
            assert estimator(request) == estimate_request_tokens(request)


def test_gated_hook_with_run_agent_settles_per_agent(tmp_path: Path) -> None:
    # Three agents share one request hook on a 2-requests-a-minute gate: two go at once, the
    # third 30 s later; the hook settles each agent's own reservation after its response.
    fake = FakeTime()
    gate = fake.gate(
        RateLimits(requests_per_minute=2, input_tokens_per_minute=1_000_000, output_tokens_per_minute=100_000)
    )
    assert isinstance(gated(gate, 4096), GatedHook)
    hook = RateGateHook(gate, 4096)
    assert isinstance(hook, RequestHook)
    started: dict[str, float] = {}

    async def agent(name: str) -> None:
        model = ScriptedModel([f"{name} done"])

        def emit(event: AgentEvent) -> None:
            if isinstance(event, TurnCompleted):
                started[name] = fake.now - T0

        result = await run_agent(
            name,
            "go",
            model=model,
            tools=[],
            ctx=ToolContext(tmp_path),
            max_tokens=4096,
            emit=emit,
            request_hooks=[hook],
        )
        assert result.state == "done"

    async def main() -> None:
        await asyncio.gather(*(agent(f"a{i}") for i in range(3)))

    fake.run(main())
    assert sorted(started.values()) == pytest.approx([0, 0, 30])
    levels = gate.available()
    # Every reservation was settled to the (tiny) estimated usage of the scripted model.
    assert 99_900 < levels["output-tokens"] <= 100_000
    assert 999_900 < levels["input-tokens"] <= 1_000_000


def test_rate_gate_hook_pauses_the_gate_for_a_retried_429_only() -> None:
    fake = FakeTime()
    gate = fake.gate()
    hook = RateGateHook(gate)
    request = Request(system="", messages=(Message.user("hi"),))

    def failed(status: int, retry_in: float | None, retry_after: float | None = None) -> RequestOutcome:
        error = TransientModelError(str(status), status=status, retry_after=retry_after)
        return RequestOutcome(request, error=error, retry_in=retry_in)

    async def main() -> None:
        await hook.after_request("a", failed(529, 2.0, 2.0))  # overloaded is not a rate limit
        await hook.after_request("a", failed(429, None, 1.0))  # the final failure: nobody retries
        await hook.after_request("a", failed(429, 3.0))  # no retry-after: nothing to honour
        assert gate.stats.pauses == 0
        await hook.after_request("a", failed(429, 3.0, 1.0))
        assert gate.stats.pauses == 1
        started = fake.now
        await hook.before_request("b", request)  # a sibling waits the server's 1 s, not a's 3 s
        assert fake.now - started == pytest.approx(1.0)

    fake.run(main())


def test_hook_settle_outside_the_agent_task_settles_against_max_tokens() -> None:
    fake = FakeTime()
    gate = fake.gate(RateLimits(output_tokens_per_minute=10_000))
    hook = gated(gate, 1000)
    fake.run(hook(Request(system="", messages=(Message.user("hi"),))))
    hook.settle(response(100))  # not in a task: no reservation known; the hook's max_tokens is
    assert gate.available()["output-tokens"] == 9900
    unknown = gated(gate)
    unknown.settle(response(100, headers={"output-tokens-remaining": "5000"}))  # only the headers count
    assert gate.available()["output-tokens"] == 5000


# --------------------------------------------------------------------------------------------
# Real time


def test_real_sleep_spaces_requests() -> None:
    # 600 rpm = 10 a second.  The server says 10 are left: 10 go at once, the other 15 take 1.5 s.
    gate = RateGate(RateLimits(requests_per_minute=600))
    gate.learn({"anthropic-ratelimit-requests-remaining": "10"})
    order: list[int] = []

    async def one(i: int) -> None:
        await gate.acquire(0)
        order.append(i)

    async def main() -> float:
        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(25)))
        return time.monotonic() - started

    elapsed = asyncio.run(main())
    assert 1.4 <= elapsed < 2.0
    assert order == list(range(25))
    assert gate.stats.admitted == 25 and gate.stats.waited == 15


@pytest.mark.parametrize(
    ("error", "siblings_wait"),
    [
        (TransientModelError("429", status=429, retry_after=0.2), 0.2),  # the server's word, no more
        (TransientModelError("429 without retry-after", status=429), 0.0),
        (TransientModelError("overloaded", status=529, retry_after=0.2), 0.0),  # not a rate limit
        (TransientModelError("stream cut"), 0.0),
    ],
)
def test_a_refused_agent_pauses_its_siblings_only_for_the_servers_retry_after(
    error: TransientModelError, siblings_wait: float
) -> None:
    gate = RateGate()
    hook = RateGateHook(gate)
    request = Request(system="s", messages=(Message.user("hi"),))

    async def scenario() -> float:
        # The refused agent's own backoff (retry_in) is 5 s: its siblings must not wait for it.
        await hook.after_request("refused", RequestOutcome(request, error=error, retry_in=5.0))
        start = time.monotonic()
        await gate.acquire(10)
        return time.monotonic() - start

    waited = asyncio.run(scenario())
    assert siblings_wait <= waited < siblings_wait + 0.15


def test_without_known_limits_bare_429s_teach_the_rate_the_server_lets_through() -> None:
    fake = FakeTime()
    gate = fake.gate()

    async def main() -> list[float | None]:
        burst = [await gate.acquire(10) for _ in range(40)]  # no limit known: all admitted at once
        fake.now = T0 + 0.1
        gate.refused()  # nothing admitted since has got through: nothing to learn yet
        learned: list[float | None] = [gate.probed_rpm]
        fake.now = T0 + 0.2
        for admitted in burst:  # the burst's answers say nothing of the rate: it came before
            gate.settle(0, response(), admitted_at=admitted)
        gate.refused()
        learned.append(gate.probed_rpm)
        for second in range(1, 11):  # then the server lets one a second through
            fake.now = T0 + 0.1 + second
            gate.settle(0, response(), admitted_at=fake.now - 0.2)
        gate.refused()  # 10 successes in the 10 s since the first refusal, plus the margin
        learned.append(gate.probed_rpm)
        started = fake.now
        await gate.acquire(10)  # the bucket starts empty, as the server's is after a refusal
        learned.append(fake.now - started)
        gate.settle(0, response())  # each success adds one request a minute back
        learned.append(gate.probed_rpm)
        return learned

    nothing, early, measured, waited, grown = fake.run(main())
    assert nothing is None and early is None
    assert measured == pytest.approx(10 / 10.0 * 60 * MARGIN, rel=0.01)
    assert waited == pytest.approx(60 / measured, rel=0.01)
    assert grown == pytest.approx(measured + 1, rel=0.01)
    configured = fake.gate(RateLimits(requests_per_minute=50))
    configured.refused()
    assert configured.probed_rpm is None  # a known limit is not second-guessed


def test_a_429_whose_headers_show_room_everywhere_pauses_no_sibling() -> None:
    gate = RateGate()
    room = {"requests-limit": "1000", "requests-remaining": "900", "output-tokens-remaining": "5000"}
    spent = {**room, "output-tokens-remaining": "0"}
    assert not gate.pause_for(TransientModelError("429", status=429, retry_after=1, rate_limits=room))
    assert gate.limits.requests_per_minute == 1000  # learned all the same
    assert gate.pause_for(TransientModelError("429", status=429, retry_after=1, rate_limits=spent))
    assert gate.pause_for(TransientModelError("429", status=429, retry_after=1))  # nothing to tell
    assert gate.stats.pauses == 2


def test_a_429_without_retry_after_pauses_until_the_spent_dimensions_reset_or_paces_by_its_bucket() -> None:
    fake = FakeTime()
    reset = (fake.wall() + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    spent = {"requests-remaining": "0", "requests-reset": reset}
    gate = fake.gate()  # no limit known: the reset is all there is to go by
    assert gate.pause_for(TransientModelError("429", status=429, rate_limits=spent))

    async def first() -> float:
        await gate.acquire(0)
        return fake.now - T0

    assert fake.run(first()) == pytest.approx(30)
    # With the limit known, the 429's remaining is taken as current (not aged by its reset):
    # the next request waits for one request's refill, 1 s at 60 a minute, not the whole reset.
    fake, limited = FakeTime(), {**spent, "requests-limit": "60"}
    gate = fake.gate()
    limited["requests-reset"] = (fake.wall() + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert gate.pause_for(TransientModelError("429", status=429, rate_limits=limited))  # its bucket waits
    assert gate.stats.pauses == 0

    async def second() -> float:
        await gate.acquire(0)
        return fake.now - T0

    assert fake.run(second()) == pytest.approx(1.0)


def test_a_bare_429_queues_the_agent_again_at_once_once_the_gate_paces() -> None:
    fake = FakeTime()
    gate = fake.gate()
    hook = RateGateHook(gate)
    request = Request(system="s", messages=(Message.user("hi"),))
    bare = RequestOutcome(request, error=TransientModelError("429", status=429), retry_in=4.0)

    async def main() -> list[float | None]:
        waits = [await hook.after_request("a", bare)]  # nothing learned yet: the agent's own backoff
        for second in range(1, 5):  # then three successes a second apart
            fake.now = T0 + second
            gate.settle(0, response())
        waits.append(await hook.after_request("a", bare))  # the gate's queue spaces it now
        told = TransientModelError("429", status=429, retry_after=2.0)
        waits.append(await hook.after_request("a", RequestOutcome(request, error=told, retry_in=2.0)))
        return waits

    assert fake.run(main()) == [None, 0.0, None]
