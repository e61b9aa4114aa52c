"""The fake Messages API, driven by the real `anthropic.AsyncAnthropic` client over HTTP.

These tests pin down both the fake's wire format (the SDK must parse it like the real API's)
and what the SDK does with each fault, which is what the agent loop's retry code relies on:

* 429 -> `RateLimitError`; 529 -> `OverloadedError` (a subclass of `InternalServerError`);
  500 -> `InternalServerError`;
* connection reset, or a non-streaming body cut short -> `APIConnectionError`;
* a stream cut mid-message -> `httpx2.RemoteProtocolError`, raw, *not* an `anthropic.APIError`;
* an SSE `event: error` -> a plain `APIStatusError` with status 200 and `type` from the event.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anthropic
import httpx2
import pytest

from agentbook.testing import (
    ConnectionReset,
    ErrorReply,
    FakeAnthropic,
    FakeRequest,
    FakeServerError,
    MessageReply,
    Reply,
    ReplyUsage,
    ReportedRateLimits,
    ScriptedHandler,
    StreamCut,
    StreamError,
    TextBlock,
    ToolUseBlock,
    estimate_input_tokens,
    faults,
)

T = TypeVar("T")
MODEL = "claude-test-1"
HI: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hi"}]


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


def client(server: FakeAnthropic, max_retries: int = 0) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="test-key", base_url=server.base_url, max_retries=max_retries)


async def create(
    server: FakeAnthropic, max_retries: int = 0, messages: list[anthropic.types.MessageParam] = HI
) -> anthropic.types.Message:
    async with client(server, max_retries) as c:
        return await c.messages.create(model=MODEL, max_tokens=100, messages=messages)


async def stream(
    server: FakeAnthropic, max_retries: int = 0, messages: list[anthropic.types.MessageParam] = HI
) -> anthropic.types.Message:
    async with (
        client(server, max_retries) as c,
        c.messages.stream(model=MODEL, max_tokens=100, messages=messages) as s,
    ):
        message: anthropic.types.Message = await s.get_final_message()
        assert s.request_id is not None and s.request_id.startswith("req_")
        return message


CALLS = {"create": create, "stream": stream}
both_modes = pytest.mark.parametrize("mode", ["create", "stream"])


# -- round trips


@both_modes
def test_text_round_trip(mode: str) -> None:
    with FakeAnthropic() as server:
        message = run(lambda: CALLS[mode](server))
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text == "ok"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.model == MODEL  # echoed
    assert message.id.startswith("msg_")
    (request,) = server.requests
    assert request.method == "POST" and request.path == "/v1/messages"
    assert request.stream is (mode == "stream")
    assert request.body is not None and request.body["messages"] == HI
    assert message.usage.input_tokens == estimate_input_tokens(request.body)
    if mode == "create":
        assert message._request_id is not None and message._request_id.startswith("req_")


def test_stream_sends_text_in_several_deltas_with_the_api_event_order() -> None:
    text = "The quick brown fox jumps over the lazy dog."

    async def go() -> tuple[list[str], list[str]]:
        chunks: list[str] = []
        kinds: list[str] = []
        async with (
            client(server) as c,
            c.messages.stream(model=MODEL, max_tokens=100, messages=HI) as s,
        ):
            async for event in s:
                kinds.append(event.type)
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    chunks.append(event.delta.text)
        return chunks, kinds

    with FakeAnthropic(lambda r: MessageReply(text)) as server:
        chunks, kinds = run(go)
    assert len(chunks) > 1 and "".join(chunks) == text
    raw = [k for k in kinds if k not in ("text", "input_json")]  # the SDK's derived events
    assert raw == ["message_start", "content_block_start"] + ["content_block_delta"] * len(chunks) + [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_sse_wire_format() -> None:
    """Raw bytes, as the real API frames them: chunked, `event:`/`data:` pairs, a ping."""

    async def go() -> httpx2.Response:
        async with httpx2.AsyncClient(base_url=server.base_url) as http:
            body = {"model": MODEL, "max_tokens": 10, "messages": HI, "stream": True}
            return await http.post("/v1/messages", json=body)

    with FakeAnthropic() as server:
        response = run(go)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    names = [
        line.removeprefix("event: ") for line in response.text.splitlines() if line.startswith("event: ")
    ]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert '"usage":{"input_tokens"' in response.text and '"output_tokens":1' in response.text


@both_modes
def test_tool_use_round_trip(mode: str) -> None:
    script = ScriptedHandler(
        [
            MessageReply(
                [TextBlock("Let me look."), ToolUseBlock("get_weather", {"city": "Paris", "days": [1, 2]})]
            ),
            MessageReply("It is sunny."),
        ]
    )

    async def go() -> tuple[anthropic.types.Message, anthropic.types.Message]:
        first = await CALLS[mode](server)
        tool_use = first.content[1]
        assert tool_use.type == "tool_use"
        messages: list[anthropic.types.MessageParam] = [
            *HI,
            {"role": "assistant", "content": first.to_param()["content"]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny, 25C"}],
            },
        ]
        return first, await CALLS[mode](server, messages=messages)

    with FakeAnthropic(script) as server:
        first, second = run(go)
    tool_use = first.content[1]
    assert tool_use.type == "tool_use"
    assert tool_use.name == "get_weather" and tool_use.input == {"city": "Paris", "days": [1, 2]}
    assert tool_use.id.startswith("toolu_")
    assert first.stop_reason == "tool_use"
    assert second.content[0].type == "text" and second.content[0].text == "It is sunny."
    sent = server.requests[1].messages
    assert sent[1]["content"][1]["id"] == tool_use.id
    assert sent[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": tool_use.id,
        "content": "sunny, 25C",
    }


@both_modes
def test_usage_with_cache_fields(mode: str) -> None:
    usage = ReplyUsage(
        input_tokens=12,
        output_tokens=34,
        cache_read_input_tokens=1000,
        ephemeral_5m_input_tokens=200,
        ephemeral_1h_input_tokens=50,
    )
    with FakeAnthropic(lambda r: MessageReply("cached", usage=usage)) as server:
        message = run(lambda: CALLS[mode](server))
    u = message.usage
    assert (u.input_tokens, u.output_tokens) == (12, 34)
    assert (u.cache_read_input_tokens, u.cache_creation_input_tokens) == (1000, 250)
    assert u.cache_creation is not None
    assert (u.cache_creation.ephemeral_5m_input_tokens, u.cache_creation.ephemeral_1h_input_tokens) == (
        200,
        50,
    )


def test_estimated_usage_and_explicit_stop_reason() -> None:
    reply = MessageReply("x" * 40, stop_reason="max_tokens", stop_sequence=None, model="claude-other")
    with FakeAnthropic(lambda r: reply) as server:
        message = run(lambda: create(server))
    assert message.usage.output_tokens == 10  # ceil(40 / 4)
    assert message.stop_reason == "max_tokens" and message.model == "claude-other"
    assert message.usage.cache_read_input_tokens == 0 and message.usage.cache_creation_input_tokens == 0


# -- errors and faults


def test_rate_limit_without_retries_raises_with_retry_after() -> None:
    with (
        FakeAnthropic(lambda r: ErrorReply(429, retry_after=0.2)) as server,
        pytest.raises(anthropic.RateLimitError) as caught,
    ):
        run(lambda: create(server))
    err = caught.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "0.2"
    assert err.type == "rate_limit_error"
    assert isinstance(err.body, dict) and err.body["type"] == "error"
    assert err.request_id is not None and err.request_id.startswith("req_")
    assert err.body["request_id"] == err.request_id
    assert len(server.requests) == 1


def test_rate_limit_retry_honours_a_short_retry_after() -> None:
    # anthropic 2.14 sleeps for any positive retry-after exactly (no floor, no jitter); without
    # the header it would back off 0.375-0.5 s, so a shorter gap shows the header was used.
    script = ScriptedHandler([ErrorReply(429, retry_after=0.2), MessageReply("after the wait")])
    with FakeAnthropic(script) as server:
        message = run(lambda: create(server, max_retries=2))
    assert message.content[0].type == "text" and message.content[0].text == "after the wait"
    first, second = server.requests
    assert 0.2 <= second.received_at - first.received_at < 0.37
    assert second.headers["x-stainless-retry-count"] == "1"


def test_retry_after_ms_takes_precedence() -> None:
    script = ScriptedHandler(
        [ErrorReply(429, retry_after=5, headers={"retry-after-ms": "50"}), MessageReply("ok")]
    )
    with FakeAnthropic(script) as server:
        run(lambda: create(server, max_retries=1))
    first, second = server.requests
    assert 0.05 <= second.received_at - first.received_at < 0.3


def test_overloaded_is_an_internal_server_error() -> None:
    with (
        FakeAnthropic(lambda r: ErrorReply(529)) as server,
        pytest.raises(anthropic.OverloadedError) as caught,
    ):
        run(lambda: create(server))
    assert isinstance(caught.value, anthropic.InternalServerError)
    assert caught.value.status_code == 529 and caught.value.type == "overloaded_error"


def test_api_error_500() -> None:
    with (
        FakeAnthropic(lambda r: ErrorReply(500)) as server,
        pytest.raises(anthropic.InternalServerError) as caught,
    ):
        run(lambda: create(server))
    assert not isinstance(caught.value, anthropic.OverloadedError)
    assert caught.value.status_code == 500 and caught.value.type == "api_error"


@both_modes
def test_connection_reset_is_a_connection_error(mode: str) -> None:
    with (
        FakeAnthropic(lambda r: ConnectionReset()) as server,
        pytest.raises(anthropic.APIConnectionError) as caught,
    ):
        run(lambda: CALLS[mode](server))
    assert not isinstance(caught.value, anthropic.APITimeoutError)
    assert isinstance(caught.value.__cause__, httpx2.TransportError)


def test_connection_reset_is_retried() -> None:
    with FakeAnthropic(ScriptedHandler([ConnectionReset(), MessageReply("second try")])) as server:
        message = run(lambda: create(server, max_retries=1))
    assert message.content[0].type == "text" and message.content[0].text == "second try"
    assert len(server.requests) == 2


def test_stream_cut_raises_the_transport_error_not_an_api_error() -> None:
    received: list[str] = []

    async def go() -> None:
        async with client(server) as c, c.messages.stream(model=MODEL, max_tokens=100, messages=HI) as s:
            async for text in s.text_stream:
                received.append(text)

    with (
        FakeAnthropic(lambda r: StreamCut(after_deltas=2)) as server,
        pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read") as caught,
    ):
        run(go)
    assert not isinstance(caught.value, anthropic.APIError)
    assert len(received) == 2  # the deltas before the cut did arrive


def test_stream_cut_of_a_json_body_is_a_connection_error() -> None:
    with (
        FakeAnthropic(lambda r: StreamCut()) as server,
        pytest.raises(anthropic.APIConnectionError) as caught,
    ):
        run(lambda: create(server))
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)


def test_in_stream_error_event() -> None:
    with FakeAnthropic(lambda r: StreamError()) as server, pytest.raises(anthropic.APIStatusError) as caught:
        run(lambda: stream(server))
    err = caught.value
    # The HTTP status was 200, so the SDK's status mapping gives the base class.
    assert type(err) is anthropic.APIStatusError and err.status_code == 200
    assert err.type == "overloaded_error"
    assert err.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def test_stream_error_on_a_json_request_is_an_http_error() -> None:
    with FakeAnthropic(lambda r: StreamError()) as server, pytest.raises(anthropic.OverloadedError):
        run(lambda: create(server))


def test_scripted_handler_runs_out_with_a_clear_500() -> None:
    script = ScriptedHandler([MessageReply("only one")])
    with FakeAnthropic(script) as server:
        run(lambda: create(server))
        with pytest.raises(anthropic.InternalServerError, match="ScriptedHandler ran out of replies"):
            run(lambda: create(server))
    assert script.remaining == 0


def test_handler_exception_is_a_500_and_fails_the_with_block() -> None:
    def broken(request: FakeRequest) -> Reply:
        raise ValueError("boom")

    with (
        pytest.raises(FakeServerError, match="boom"),
        FakeAnthropic(broken) as server,
        pytest.raises(anthropic.InternalServerError, match="ValueError: boom"),
    ):
        run(lambda: create(server))
    assert len(server.handler_errors) == 1


def test_faults_are_deterministic_per_seed_and_index() -> None:
    def fates(seed: int, rate: float) -> list[str]:
        injector = faults(rate, seed)
        out: list[str] = []
        for i in range(200):
            request = FakeRequest(i, "POST", "/v1/messages", "", {}, {"stream": True}, b"", 0.0)
            out.append(type(injector(request)).__name__)
        assert len(injector.injected) == sum(name != "MessageReply" for name in out)
        return out

    assert fates(7, 0.3) == fates(7, 0.3)
    assert fates(7, 0.3) != fates(8, 0.3)
    injected = sum(name != "MessageReply" for name in fates(7, 0.3))
    assert 30 < injected < 90
    assert set(fates(7, 1.0)) == {"ErrorReply", "ConnectionReset", "StreamCut"}
    assert set(fates(7, 0.0)) == {"MessageReply"}


def test_faults_end_to_end_with_sdk_retries() -> None:
    injector = faults(0.5, seed=3, kinds=["rate_limit"], retry_after=0.01)

    async def go() -> list[anthropic.types.Message]:
        async with client(server, max_retries=10) as c:
            return [await c.messages.create(model=MODEL, max_tokens=10, messages=HI) for _ in range(8)]

    with FakeAnthropic(injector) as server:
        messages = run(go)
    assert all(m.content[0].type == "text" and m.content[0].text == "ok" for m in messages)
    assert injector.injected and {fault.kind for fault in injector.injected} == {"rate_limit"}
    assert len(server.requests) == 8 + len(injector.injected)


# -- other endpoints, headers, concurrency


def test_count_tokens_is_a_deterministic_estimate() -> None:
    script = ScriptedHandler()
    tools: list[anthropic.types.ToolParam] = [
        {"name": "t", "description": "d", "input_schema": {"type": "object", "properties": {}}}
    ]

    async def go() -> list[int]:
        async with client(server) as c:
            counts = []
            for _ in range(2):
                result = await c.messages.count_tokens(
                    model=MODEL, messages=HI, system="be brief", tools=tools
                )
                counts.append(result.input_tokens)
            return counts

    with FakeAnthropic(script) as server:
        counts = run(go)
    expected = estimate_input_tokens({"system": "be brief", "messages": HI, "tools": tools})
    assert counts == [expected, expected] and expected > 10
    assert server.requests[0].path == "/v1/messages/count_tokens"
    assert server.message_requests == []


def test_api_key_is_sent_and_checked() -> None:
    # anthropic 2.x sends `api_key=` as `Authorization: Bearer ...`, not as `x-api-key`.
    with FakeAnthropic(api_key="test-key") as server:
        run(lambda: create(server))

        async def wrong_key() -> None:
            async with anthropic.AsyncAnthropic(api_key="nope", base_url=server.base_url, max_retries=0) as c:
                await c.messages.create(model=MODEL, max_tokens=10, messages=HI)

        with pytest.raises(anthropic.AuthenticationError):
            run(wrong_key)
    first = server.requests[0]
    assert first.api_key == "test-key"
    assert first.headers["authorization"] == "Bearer test-key" and "x-api-key" not in first.headers
    assert first.headers["anthropic-version"]


def test_x_api_key_header_is_recognised() -> None:
    async def go() -> None:
        async with anthropic.AsyncAnthropic(
            api_key=None, auth_token=None, base_url=server.base_url, default_headers={"x-api-key": "k2"}
        ) as c:
            await c.messages.create(model=MODEL, max_tokens=10, messages=HI)

    with FakeAnthropic(api_key="k2") as server:
        run(go)
    assert server.requests[0].headers["x-api-key"] == "k2"


def test_rate_limit_headers() -> None:
    limits = ReportedRateLimits(requests=50, input_tokens=10_000, output_tokens=5_000)

    async def go() -> list[httpx2.Headers]:
        async with client(server) as c:
            out = []
            for _ in range(2):
                raw = await c.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=HI)
                out.append(raw.headers)
            return out

    with FakeAnthropic(rate_limits=limits) as server:
        first, second = run(go)
    for kind, limit in (("requests", 50), ("input-tokens", 10_000), ("output-tokens", 5_000)):
        assert first[f"anthropic-ratelimit-{kind}-limit"] == str(limit)
        assert int(second[f"anthropic-ratelimit-{kind}-remaining"]) < int(
            first[f"anthropic-ratelimit-{kind}-remaining"]
        )
        assert first[f"anthropic-ratelimit-{kind}-reset"].endswith("Z")
    assert first["anthropic-ratelimit-requests-remaining"] == "49"
    assert first["request-id"] != second["request-id"]


def test_bad_requests_get_api_errors() -> None:
    async def go() -> list[httpx2.Response]:
        async with httpx2.AsyncClient(base_url=server.base_url) as http:
            return [
                await http.post("/v1/messages", json={"model": MODEL, "messages": HI}),  # no max_tokens
                await http.post("/v1/messages", content=b"not json"),
                await http.post("/v1/elsewhere", json={}),
                await http.get("/v1/models"),
            ]

    with FakeAnthropic(ScriptedHandler()) as server:
        missing, garbage, elsewhere, get = run(go)
    assert missing.status_code == 400 and missing.json()["error"]["message"] == "max_tokens: Field required"
    assert garbage.status_code == 400 and garbage.json()["error"]["type"] == "invalid_request_error"
    assert elsewhere.status_code == 404 and elsewhere.json()["error"]["type"] == "not_found_error"
    assert get.status_code == 404
    assert missing.json()["request_id"] == missing.headers["request-id"]
    assert [(r.method, r.path) for r in server.requests][-2:] == [
        ("POST", "/v1/elsewhere"),
        ("GET", "/v1/models"),
    ]
    assert [r.index for r in server.requests] == [0, 1, 2, 3]


def test_delay_before_answering() -> None:
    with FakeAnthropic(lambda r: MessageReply(delay=0.2)) as server:
        started = time.monotonic()
        run(lambda: create(server))
    assert time.monotonic() - started >= 0.2


def test_hundred_concurrent_requests() -> None:
    # No reply is sent until all 100 requests are inside the server: that only completes if the
    # server holds 100 connections open at once (a timing-free proof of concurrency).
    barrier = threading.Barrier(100, timeout=10)

    def handler(request: FakeRequest) -> Reply:
        barrier.wait()
        return MessageReply(f"a:{request.messages[0]['content']}")

    async def go() -> list[anthropic.types.Message]:
        async with client(server) as c:
            return await asyncio.gather(
                *(
                    c.messages.create(
                        model=MODEL, max_tokens=10, messages=[{"role": "user", "content": f"q{i}"}]
                    )
                    for i in range(100)
                )
            )

    with FakeAnthropic(handler) as server:
        messages = run(go)
    texts = [m.content[0].text for m in messages if m.content[0].type == "text"]
    assert texts == [f"a:q{i}" for i in range(100)]
    assert len({m.id for m in messages}) == 100
    assert sorted(r.index for r in server.requests) == list(range(100))


def test_stop_interrupts_a_delayed_reply_and_is_quick() -> None:
    server = FakeAnthropic(lambda r: MessageReply(delay=30)).start()

    async def go() -> None:
        task = asyncio.create_task(create(server))
        while not server.requests:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await asyncio.to_thread(server.stop)
        assert time.monotonic() - started < 1.0
        with pytest.raises(anthropic.APIConnectionError):
            await task

    run(go)
