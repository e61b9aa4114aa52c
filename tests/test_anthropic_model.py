"""AnthropicModel: the real AsyncAnthropic over HTTP against a local fake Messages API."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentbook.agent.loop import run_agent
from agentbook.costs import ALIASES
from agentbook.messages import Message, Request, Text, Thinking, ToolSchema, ToolUse
from agentbook.models import (
    AnthropicModel,
    ModelError,
    OfflineModel,
    TransientModelError,
    default_model,
    get_model,
)
from agentbook.models.anthropic import AGENTS_PER_CLIENT
from agentbook.models.retry import RetryPolicy
from agentbook.scheduler.transcripts import TranscriptWriter, read_transcript
from agentbook.testing import (
    ConnectionReset,
    ErrorReply,
    FakeAnthropic,
    MessageReply,
    ReplyUsage,
    ScriptedHandler,
    StreamCut,
    StreamError,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
)
from agentbook.tools import ToolContext, tools_named

KEY = "sk-ant-test-0123456789abcdef"
TOOL = ToolSchema("Read", "read a file", {"type": "object", "properties": {"file_path": {"type": "string"}}})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(ScriptedHandler(), api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield fake


def script(server: FakeAnthropic, *replies: object) -> None:
    assert isinstance(server.handler, ScriptedHandler)
    server.handler.push(*replies)  # type: ignore[arg-type]


def ask(model: AnthropicModel, text: str = "hi") -> object:
    request = Request(system="Be brief.", messages=(Message.user(text),), tools=(TOOL,), max_tokens=100)

    async def once() -> object:
        try:
            return await model.respond(request)
        finally:
            await model.aclose()

    return asyncio.run(once())


def run_closing(model: AnthropicModel, **kwargs: object) -> object:
    """`run_agent` on `model`, closing its client before the event loop ends."""

    async def once() -> object:
        try:
            return await run_agent(model=model, **kwargs)  # type: ignore[arg-type]
        finally:
            await model.aclose()

    return asyncio.run(once())


@pytest.mark.parametrize("stream", [True, False])
def test_text_tool_use_usage_and_request_id_round_trip(server: FakeAnthropic, stream: bool) -> None:
    usage = ReplyUsage(
        input_tokens=11,
        output_tokens=7,
        cache_read_input_tokens=300,
        ephemeral_5m_input_tokens=40,
        ephemeral_1h_input_tokens=60,
    )
    blocks = [
        TextBlock("Let me look."),
        ToolUseBlock("Read", {"file_path": "a.py", "n": [1, 2]}, id="toolu_9"),
    ]
    script(server, MessageReply(blocks, usage=usage))
    response = ask(AnthropicModel("sonnet", stream=stream))
    assert response.content == (
        Text("Let me look."),
        ToolUse("toolu_9", "Read", {"file_path": "a.py", "n": [1, 2]}),
    )
    assert response.stop_reason == "tool_use"
    assert response.model == ALIASES["sonnet"]
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)
    assert response.usage.cache_creation_input_tokens == 100
    assert (response.usage.ephemeral_5m_input_tokens, response.usage.ephemeral_1h_input_tokens) == (40, 60)
    assert response.usage.cache_read_input_tokens == 300 and not response.usage.estimated
    assert response.request_id and response.request_id.startswith("req_")
    limits = response.rate_limits
    assert int(limits["requests-limit"]) > 0 and "input-tokens-remaining" in limits
    sent = server.message_requests[-1]
    assert sent.json["model"] == ALIASES["sonnet"] and sent.json["system"] == "Be brief."
    assert sent.json["tools"][0]["name"] == "Read" and sent.stream is stream
    assert sent.api_key == KEY


@pytest.mark.parametrize("stream", [True, False])
def test_thinking_and_several_blocks_are_assembled_in_order(server: FakeAnthropic, stream: bool) -> None:
    blocks = [
        ThinkingBlock("First the tests, then the fix.", signature="sig-42"),
        TextBlock("Two reads:"),
        ToolUseBlock("Read", {"file_path": "a.py"}, id="toolu_1"),
        ToolUseBlock("Read", {"file_path": "b.py"}, id="toolu_2"),
    ]
    script(server, MessageReply(blocks))
    response = ask(AnthropicModel("opus", stream=stream))
    assert response.content == (
        Thinking("First the tests, then the fix.", "sig-42"),
        Text("Two reads:"),
        ToolUse("toolu_1", "Read", {"file_path": "a.py"}),
        ToolUse("toolu_2", "Read", {"file_path": "b.py"}),
    )


def test_agents_keep_their_client_so_connections_serve_few_agents(server: FakeAnthropic) -> None:
    # 20 agents x 4 calls at once.  Each agent keeps one pooled client, a client serves at most
    # AGENTS_PER_CLIENT agents, so agents that share a connection (directly or through others)
    # form groups no bigger than that; calls spread round-robin over the clients would instead
    # tie every agent to every other through the connections.
    agents, calls = 20, 4
    script(server, *[MessageReply("ok", delay=0.05)] * (agents * calls))
    model = AnthropicModel("haiku")

    async def agent(i: int) -> None:
        for _ in range(calls):
            await model.respond(Request(system="", messages=(Message.user(f"agent {i}"),), max_tokens=10))

    async def main() -> None:
        await asyncio.gather(*(agent(i) for i in range(agents)))
        await model.aclose()

    asyncio.run(main())
    requests = server.message_requests
    assert len(requests) == agents * calls
    group = {("a", i): ("a", i) for i in range(agents)}  # union-find over agents and connections

    def find(node: tuple[str, int]) -> tuple[str, int]:
        group.setdefault(node, node)
        while group[node] != node:
            node = group[node]
        return node

    for r in requests:
        i = int(r.messages[0]["content"][0]["text"].removeprefix("agent "))
        group[find(("a", i))] = find(("c", r.connection))
    sizes = Counter(find(("a", i)) for i in range(agents))
    assert max(sizes.values()) <= AGENTS_PER_CLIENT
    assert len(sizes) >= agents // AGENTS_PER_CLIENT
    assert len({r.connection for r in requests}) <= agents


def test_a_tool_call_cut_short_by_max_tokens_keeps_the_input_it_has(server: FakeAnthropic) -> None:
    # The answer hit max_tokens inside a Write's JSON: the call carries what arrived (here the
    # path, not the content), as the SDK's own accumulator would, instead of failing the agent.
    block = ToolUseBlock("Write", {"file_path": "a.py", "content": "x" * 500}, id="toolu_1", cut_at=40)
    script(server, MessageReply([block], stop_reason="max_tokens"))
    response = ask(AnthropicModel("haiku", stream=True))
    assert response.stop_reason == "max_tokens"
    assert response.content == (ToolUse("toolu_1", "Write", {"file_path": "a.py"}),)


def test_aliases_map_to_full_ids_and_ids_pass_through() -> None:
    assert AnthropicModel("opus").name == ALIASES["opus"]
    assert AnthropicModel("claude-opus-4-5-20251101").name == "claude-opus-4-5-20251101"
    assert KEY not in repr(AnthropicModel("haiku", api_key=KEY))


@pytest.mark.parametrize(
    ("reply", "status", "kind", "stream"),
    [
        (ErrorReply(429, retry_after=3), 429, "rate limited (rate_limit_error), HTTP 429: ", "auto"),
        (ErrorReply(529), 529, "overloaded (overloaded_error), HTTP 529: ", "auto"),
        (ErrorReply(500), 500, "API error (api_error), HTTP 500: ", True),
        (ConnectionReset(), None, "connection reset (", "auto"),
        (StreamCut(after_deltas=1), None, "stream cut after ", True),
        (StreamCut(after_deltas=1), None, "response cut after ", "auto"),
        # The HTTP body ends properly, but the message does not: never a truncated answer.
        (StreamCut(after_deltas=1, clean=True), None, "ended before message_stop", True),
        (
            StreamError("overloaded_error"),
            None,
            "overloaded (overloaded_error), in-stream error event: ",
            True,
        ),
    ],
)
def test_retryable_failures_become_transient_errors(
    server: FakeAnthropic, reply: object, status: int | None, kind: str, stream: bool | str
) -> None:
    script(server, reply)
    with pytest.raises(TransientModelError) as caught:
        ask(AnthropicModel("haiku", stream=stream))  # type: ignore[arg-type]
    assert kind in str(caught.value)
    if status is not None:
        assert caught.value.status == status
    if status == 429:
        assert caught.value.retry_after == 3.0
    assert len(server.message_requests) == 1  # the SDK itself did not retry


def test_a_bad_request_is_final(server: FakeAnthropic) -> None:
    script(server, ErrorReply(400, message="messages: field required"))
    with pytest.raises(ModelError) as caught:
        ask(AnthropicModel("haiku"))
    assert not isinstance(caught.value, TransientModelError)
    assert "invalid_request_error" in str(caught.value) and caught.value.status == 400


def test_wrong_key_is_an_authentication_error(server: FakeAnthropic) -> None:
    with pytest.raises(ModelError, match="401"):
        ask(AnthropicModel("haiku", api_key="sk-wrong-key-123456"))


def test_the_loop_retries_429_honouring_retry_after(server: FakeAnthropic, tmp_path: Path) -> None:
    script(server, ErrorReply(429, retry_after=0.5), ErrorReply(529), MessageReply("done"))
    policy = RetryPolicy(max_attempts=4, base_s=0.01, cap_s=0.02)
    result = run_closing(
        AnthropicModel("haiku"), name="a", prompt="go", tools=[], ctx=ToolContext(tmp_path), retry=policy
    )
    assert result.state == "done" and result.text == "done"
    times = [r.received_at for r in server.message_requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.5


def test_an_agent_on_the_real_sdk_uses_tools_and_writes_its_transcript(
    server: FakeAnthropic, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("alpha\nbeta\n")
    script(
        server,
        MessageReply(
            [ToolUseBlock("Read", {"file_path": "notes.txt"}, id="toolu_1")],
            usage=ReplyUsage(100, 20, ephemeral_5m_input_tokens=2000),
        ),
        MessageReply("notes.txt has two lines.", usage=ReplyUsage(150, 9, cache_read_input_tokens=2000)),
    )
    path = tmp_path / "run" / "s.jsonl"
    writer = TranscriptWriter(path, session_id="s")
    result = run_closing(
        AnthropicModel("sonnet"),
        name="a",
        prompt="What is in notes.txt?",
        tools=tools_named(["Read"]),
        ctx=ToolContext(tmp_path),
        emit=writer,
    )
    assert result.state == "done" and result.text == "notes.txt has two lines."
    tool_result = server.message_requests[1].messages[-1]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result["tool_use_id"] == "toolu_1"
    assert "alpha" in tool_result["content"] and not tool_result.get("is_error")
    back = read_transcript(path)
    assert back.usage == result.usage
    assert (
        back.usage.input_tokens,
        back.usage.cache_creation_input_tokens,
        back.usage.cache_read_input_tokens,
    ) == (
        250,
        2000,
        2000,
    )
    assert [c.request_id for c in back.calls] == [
        r.headers.get("request-id") or c.request_id
        for r, c in zip(server.message_requests, back.calls, strict=True)
    ]
    assert KEY not in path.read_text()


def test_default_model_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(default_model(), OfflineModel)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AGENTBOOK_MODEL", "haiku")
    chosen = default_model()
    assert isinstance(chosen, AnthropicModel) and chosen.name == ALIASES["haiku"]
    assert "Anthropic" in chosen.description
    assert isinstance(get_model("offline"), OfflineModel)
    with pytest.raises(TypeError):
        get_model(42)  # type: ignore[arg-type]


def test_by_default_only_an_answer_that_may_take_over_ten_minutes_is_streamed(server: FakeAnthropic) -> None:
    def sent(model: AnthropicModel, max_tokens: int) -> bool:
        script(server, MessageReply("ok"))
        request = Request(system="s", messages=(Message.user("hi"),), max_tokens=max_tokens)

        async def once() -> None:
            try:
                await model.respond(request)
            finally:
                await model.aclose()

        asyncio.run(once())
        return server.message_requests[-1].stream

    # The SDK's rule: an hour per 128,000 tokens, so over 21,333; Opus 4 at most 8,192 unstreamed.
    assert not sent(AnthropicModel("sonnet"), 21_333) and sent(AnthropicModel("sonnet"), 21_334)
    assert sent(AnthropicModel("claude-opus-4-20250514"), 8_193)
    assert sent(AnthropicModel("sonnet", stream=True), 100)
    assert not sent(AnthropicModel("sonnet", stream=False), 64_000)
    with pytest.raises(ValueError, match="stream must be True, False or 'auto'"):
        AnthropicModel("sonnet", stream="yes")  # type: ignore[arg-type]
