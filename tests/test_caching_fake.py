"""The fake API's prompt-caching emulation, driven by the real `anthropic.AsyncAnthropic` client.

What these pin down is what the cost analysis relies on: a cache entry is readable only once the
response that wrote it has begun, so concurrent cold requests all pay the write and a warmed
fan-out pays it once; short prefixes are never cached; entries expire unless read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anthropic
import pytest

from agentbook.testing import FakeAnthropic, MessageReply, estimate_input_tokens
from agentbook.testing.caching import CachingHandler

T = TypeVar("T")
MODEL = "claude-test-1"
# About 1,500 tokens by the fake's estimate (4 characters a token): above the 1,024 minimum.
LONG = "You are a careful code reviewer. " * 190
SHORT = "Be brief."


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


def system(text: str, ttl: str | None = None) -> list[dict[str, Any]]:
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl is not None:
        control["ttl"] = ttl
    return [{"type": "text", "text": text, "cache_control": control}]


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def ask(
    server: FakeAnthropic,
    system_blocks: list[dict[str, Any]],
    question: str = "hi",
    **extra: Any,
) -> anthropic.types.Message:
    async with anthropic.AsyncAnthropic(api_key="test", base_url=server.base_url, max_retries=0) as client:
        message: anthropic.types.Message = await client.messages.create(
            model=MODEL, max_tokens=100, system=system_blocks, messages=user(question), **extra
        )
        return message


def writes_5m(message: anthropic.types.Message) -> int:
    assert message.usage.cache_creation is not None
    return message.usage.cache_creation.ephemeral_5m_input_tokens


def slow(delay: float) -> Callable[[Any], MessageReply]:
    """A base handler whose responses begin `delay` seconds after the request arrives."""
    return lambda request: MessageReply("ok", delay=delay)


def prefix_tokens(text: str) -> int:
    return estimate_input_tokens({"system": [{"type": "text", "text": text}]})


def test_a_single_request_writes_its_prefix() -> None:
    handler = CachingHandler(slow(0.0))
    with FakeAnthropic(handler) as server:
        message = run(lambda: ask(server, system(LONG)))
        (request,) = server.message_requests
    usage = message.usage
    assert writes_5m(message) == prefix_tokens(LONG) >= 1024
    assert usage.cache_creation_input_tokens == writes_5m(message)
    assert usage.cache_read_input_tokens == 0
    assert request.body is not None
    total = estimate_input_tokens(request.body)
    assert usage.input_tokens == total - prefix_tokens(LONG) > 0
    assert handler.stats.writes == 1 and handler.stats.reads == 0 and handler.stats.misses == 1


def test_a_second_request_after_the_first_began_reads() -> None:
    handler = CachingHandler(slow(0.0))

    async def two() -> tuple[anthropic.types.Message, anthropic.types.Message]:
        first = await ask(server, system(LONG), "first question")
        second = await ask(server, system(LONG), "a different second question")
        return first, second

    with FakeAnthropic(handler) as server:
        first, second = run(two)
    assert writes_5m(first) == prefix_tokens(LONG)
    assert second.usage.cache_read_input_tokens == prefix_tokens(LONG)
    assert writes_5m(second) == 0 and second.usage.cache_creation_input_tokens == 0
    assert handler.stats == handler.stats.__class__(
        requests=2,
        writes=1,
        reads=1,
        misses=1,
        write_tokens=prefix_tokens(LONG),
        read_tokens=prefix_tokens(LONG),
    )


def test_a_streamed_reply_reports_the_cache_fields() -> None:
    handler = CachingHandler(slow(0.0))

    async def go() -> anthropic.types.Message:
        await ask(server, system(LONG))
        async with (
            anthropic.AsyncAnthropic(api_key="test", base_url=server.base_url, max_retries=0) as client,
            client.messages.stream(model=MODEL, max_tokens=100, system=system(LONG), messages=user("x")) as s,
        ):
            message: anthropic.types.Message = await s.get_final_message()
            return message

    with FakeAnthropic(handler) as server:
        message = run(go)
    assert message.usage.cache_read_input_tokens == prefix_tokens(LONG)


def test_concurrent_cold_requests_all_pay_the_write() -> None:
    # Each response begins 0.5 s after its request: all ten arrive before any has begun.
    handler = CachingHandler(slow(0.5))

    async def fan_out() -> list[anthropic.types.Message]:
        return await asyncio.gather(*(ask(server, system(LONG), f"unit {i}") for i in range(10)))

    with FakeAnthropic(handler) as server:
        messages = run(fan_out)
    assert [writes_5m(m) for m in messages] == [prefix_tokens(LONG)] * 10
    assert all(m.usage.cache_read_input_tokens == 0 for m in messages)
    assert handler.stats.writes == 10 and handler.stats.reads == 0 and handler.stats.misses == 10


def test_a_warmed_fan_out_writes_once_and_reads_nine_times() -> None:
    handler = CachingHandler(slow(0.2))

    async def warm_then_fan_out() -> tuple[anthropic.types.Message, list[anthropic.types.Message]]:
        warm = await ask(server, system(LONG), "warm the cache")  # its response has begun (and ended)
        rest = await asyncio.gather(*(ask(server, system(LONG), f"unit {i}") for i in range(9)))
        return warm, rest

    with FakeAnthropic(handler) as server:
        warm, rest = run(warm_then_fan_out)
    assert writes_5m(warm) == prefix_tokens(LONG)
    assert [m.usage.cache_read_input_tokens for m in rest] == [prefix_tokens(LONG)] * 9
    assert all(m.usage.cache_creation_input_tokens == 0 for m in rest)
    assert handler.stats.writes == 1 and handler.stats.reads == 9


def test_a_prefix_under_the_minimum_is_never_cached() -> None:
    handler = CachingHandler(slow(0.0))

    async def twice() -> list[anthropic.types.Message]:
        return [await ask(server, system(SHORT)), await ask(server, system(SHORT))]

    with FakeAnthropic(handler) as server:
        messages = run(twice)
        bodies = [r.body for r in server.message_requests]
    for message, body in zip(messages, bodies, strict=True):
        assert message.usage.cache_creation_input_tokens == 0
        assert message.usage.cache_read_input_tokens == 0
        assert body is not None and message.usage.input_tokens == estimate_input_tokens(body)
    assert handler.stats.writes == 0 and handler.stats.reads == 0
    assert handler.stats.misses == 0 and handler.stats.too_short == 2


def test_min_tokens_is_the_threshold() -> None:
    handler = CachingHandler(slow(0.0), min_tokens=prefix_tokens(LONG) + 1)
    with FakeAnthropic(handler) as server:
        message = run(lambda: ask(server, system(LONG)))
    assert message.usage.cache_creation_input_tokens == 0 and handler.stats.too_short == 1


def test_different_prefixes_do_not_share_entries() -> None:
    handler = CachingHandler(slow(0.0))
    other = LONG.replace("careful", "thorough")

    async def go() -> list[anthropic.types.Message]:
        return [await ask(server, system(LONG)), await ask(server, system(other))]

    with FakeAnthropic(handler) as server:
        first, second = run(go)
    assert writes_5m(first) == prefix_tokens(LONG) and writes_5m(second) == prefix_tokens(other)
    assert second.usage.cache_read_input_tokens == 0
    assert handler.stats.writes == 2 and handler.stats.reads == 0


def test_the_model_is_part_of_the_prefix() -> None:
    handler = CachingHandler(slow(0.0))

    async def two_models() -> list[anthropic.types.Message]:
        async with anthropic.AsyncAnthropic(api_key="test", base_url=server.base_url, max_retries=0) as c:
            return [
                await c.messages.create(model=model, max_tokens=10, system=system(LONG), messages=user("hi"))
                for model in ("claude-test-1", "claude-test-2")
            ]

    with FakeAnthropic(handler) as server:
        _, second = run(two_models)
    assert second.usage.cache_read_input_tokens == 0 and handler.stats.writes == 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_ttl_unless_read() -> None:
    clock = FakeClock()
    handler = CachingHandler(slow(0.0), clock=clock)

    def read_tokens(server: FakeAnthropic) -> int:
        return run(lambda: ask(server, system(LONG))).usage.cache_read_input_tokens

    with FakeAnthropic(handler) as server:
        assert read_tokens(server) == 0  # written at t=1000, expires at 1300
        clock.now = 1299.0
        assert read_tokens(server) > 0  # read: refreshed to expire at 1599
        clock.now = 1598.0
        assert read_tokens(server) > 0  # still alive thanks to the read at 1299
        clock.now = 1898.5
        assert read_tokens(server) == 0  # 300.5 s after the last read: expired, written again
    assert handler.stats.writes == 2 and handler.stats.reads == 2


def test_one_hour_entries_are_billed_and_kept_as_such() -> None:
    clock = FakeClock()
    handler = CachingHandler(slow(0.0), clock=clock)
    with FakeAnthropic(handler) as server:
        first = run(lambda: ask(server, system(LONG, ttl="1h")))
        clock.now += 3000.0  # past 5 minutes, within the hour
        second = run(lambda: ask(server, system(LONG, ttl="1h")))
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == prefix_tokens(LONG)
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == 0
    assert second.usage.cache_read_input_tokens == prefix_tokens(LONG)


def test_a_moving_breakpoint_reads_the_earlier_prefix_and_writes_the_rest() -> None:
    """A conversation whose breakpoint moves to its newest message each turn: the API finds the
    previous turn's entry by looking back from the new breakpoint."""
    handler = CachingHandler(slow(0.0))
    turn1 = [
        {"role": "user", "content": [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]}
    ]
    turn2 = [
        {"role": "user", "content": [{"type": "text", "text": LONG}]},
        {"role": "assistant", "content": [{"type": "text", "text": "noted"}]},
        {
            "role": "user",
            "content": [{"type": "text", "text": "more " * 50, "cache_control": {"type": "ephemeral"}}],
        },
    ]

    async def go() -> list[anthropic.types.Message]:
        out = []
        async with anthropic.AsyncAnthropic(api_key="test", base_url=server.base_url, max_retries=0) as c:
            for messages in (turn1, turn2):
                out.append(await c.messages.create(model=MODEL, max_tokens=10, messages=messages))
        return out

    with FakeAnthropic(handler) as server:
        first, second = run(go)
        bodies = [r.body for r in server.message_requests]
    assert bodies[1] is not None
    assert second.usage.cache_read_input_tokens == writes_5m(first) > 0
    assert writes_5m(second) > 0
    total = estimate_input_tokens(bodies[1])
    assert second.usage.cache_read_input_tokens + writes_5m(second) + second.usage.input_tokens == total


def test_breakpoints_on_tools_and_system_split_the_write_by_ttl() -> None:
    handler = CachingHandler(slow(0.0), min_tokens=10)
    tools = [
        {"name": "Read", "description": "Read a file. " * 20, "input_schema": {"type": "object"}},
        {
            "name": "Grep",
            "description": "Search files. " * 20,
            "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
    ]
    with FakeAnthropic(handler) as server:
        message = run(lambda: ask(server, system(LONG), tools=tools))
    split = message.usage.cache_creation
    assert split is not None
    tools_tokens = estimate_input_tokens(
        {"tools": [{k: v for k, v in t.items() if k != "cache_control"} for t in tools]}
    )
    assert split.ephemeral_1h_input_tokens == tools_tokens
    assert split.ephemeral_1h_input_tokens + split.ephemeral_5m_input_tokens == estimate_input_tokens(
        {"tools": [{k: v for k, v in t.items() if k != "cache_control"} for t in tools],
         "system": [{"type": "text", "text": LONG}]}
    )  # fmt: skip


def test_errors_pass_through_and_touch_nothing() -> None:
    from agentbook.testing import ErrorReply

    handler = CachingHandler(lambda request: ErrorReply(529))
    with FakeAnthropic(handler) as server, pytest.raises(anthropic.InternalServerError):
        run(lambda: ask(server, system(LONG)))
    assert handler.stats.requests == 0 and handler.outcomes == []


def test_readability_starts_when_the_writing_response_begins() -> None:
    """Called directly with an injected clock: the entry written at t=0 by a reply delayed 0.5 s
    is not readable at t=0.4 (that request writes too) and is at t=0.6."""
    from agentbook.testing import FakeRequest

    clock = FakeClock()
    handler = CachingHandler(slow(0.5), clock=clock)
    body = {"model": MODEL, "max_tokens": 10, "system": system(LONG), "messages": user("hi")}

    def at(t: float, index: int) -> tuple[int, int]:
        clock.now = t
        request = FakeRequest(index, "POST", "/v1/messages", "", {}, body, b"", t)
        reply = handler(request)
        assert isinstance(reply, MessageReply)
        return reply.usage.cache_read_input_tokens, reply.usage.ephemeral_5m_input_tokens

    assert at(1000.0, 0) == (0, prefix_tokens(LONG))
    assert at(1000.4, 1) == (0, prefix_tokens(LONG))
    assert at(1000.6, 2) == (prefix_tokens(LONG), 0)
    assert [o.request_index for o in handler.outcomes] == [0, 1, 2]
