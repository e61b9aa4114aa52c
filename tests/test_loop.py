"""The agent loop, driven by ScriptedModel and small test tools."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from agentbook.agent.loop import run_agent
from agentbook.events import AgentEnded, AgentEvent, AgentStarted, ToolFinished, ToolStarted, TurnCompleted
from agentbook.messages import Text, ToolResult, ToolUse, Usage
from agentbook.models import ScriptedModel, TransientModelError
from agentbook.models.retry import RetryPolicy
from agentbook.tools.base import ToolContext, ToolError


class Echo:
    name = "Echo"
    description = "echo the text back"
    input_schema: dict[str, Any] = {"type": "object", "properties": {"text": {"type": "string"}}}

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        if input.get("text") == "bad":
            raise ToolError("bad text")
        if input.get("text") == "crash":
            raise RuntimeError("disk on fire")
        return f"echo: {input['text']}"


class Sleep:
    name = "Sleep"
    description = "sleep"
    input_schema: dict[str, Any] = {"type": "object"}

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        await asyncio.sleep(float(input["s"]))
        return "slept"


def run(model: ScriptedModel, tmp_path: Path, **kwargs: Any) -> tuple[Any, list[AgentEvent]]:
    events: list[AgentEvent] = []
    kwargs.setdefault("tools", [Echo(), Sleep()])
    result = asyncio.run(
        run_agent(
            "a1",
            kwargs.pop("prompt", "hi"),
            model=model,
            ctx=ToolContext(tmp_path),
            emit=events.append,
            **kwargs,
        )
    )
    return result, events


def test_turns_until_end_turn_with_usage_and_events(tmp_path: Path) -> None:
    model = ScriptedModel([ToolUse("t1", "Echo", {"text": "x"}), "all done"])
    result, events = run(model, tmp_path)
    assert result.state == "done" and result.text == "all done" and result.turns == 2
    assert result.usage.input_tokens == sum(
        e.response.usage.input_tokens for e in events if isinstance(e, TurnCompleted)
    )
    assert result.usage.input_tokens > 0 and result.usage.estimated
    kinds = [e.kind for e in events]
    assert kinds == [
        "agent_started",
        "turn",
        "tool_started",
        "tool_finished",
        "tool_results",
        "turn",
        "agent_ended",
    ]
    # The model saw the tool result on its second request.
    second = model.requests[1].messages[-1]
    assert second.content == (ToolResult("t1", "echo: x"),)
    assert isinstance(events[0], AgentStarted) and events[0].prompt.text == "hi"


def test_tool_error_goes_back_to_the_model_and_the_agent_goes_on(tmp_path: Path) -> None:
    model = ScriptedModel([[ToolUse("t1", "Echo", {"text": "bad"}), ToolUse("t2", "Nope", {})], "recovered"])
    result, _ = run(model, tmp_path)
    assert result.state == "done"
    results = model.requests[1].messages[-1].content
    assert all(isinstance(r, ToolResult) and r.is_error for r in results)
    assert "bad text" in results[0].content and "unknown tool 'Nope'" in results[1].content


def test_harness_error_ends_the_agent_with_a_reason(tmp_path: Path) -> None:
    model = ScriptedModel([ToolUse("t1", "Echo", {"text": "crash"}), "never"])
    result, events = run(model, tmp_path)
    assert result.state == "failed"
    assert result.error == "RuntimeError: disk on fire"
    assert isinstance(events[-1], AgentEnded) and events[-1].state == "failed"


def test_tool_calls_of_one_response_run_concurrently(tmp_path: Path) -> None:
    calls = [ToolUse(f"t{i}", "Sleep", {"s": 0.3}) for i in range(5)]
    model = ScriptedModel([calls, "ok"])
    started = time.monotonic()
    result, events = run(model, tmp_path)
    assert result.state == "done"
    assert time.monotonic() - started < 1.0  # five 0.3 s sleeps, run one after another, take 1.5 s
    assert sum(isinstance(e, ToolStarted) for e in events) == 5
    assert sum(isinstance(e, ToolFinished) for e in events) == 5


def test_max_turns_gives_a_partial_result_that_can_be_continued(tmp_path: Path) -> None:
    model = ScriptedModel(
        [ToolUse("t1", "Echo", {"text": "1"}), ToolUse("t2", "Echo", {"text": "2"}), "finished"]
    )
    first, _ = run(model, tmp_path, max_turns=1)
    assert first.state == "partial" and first.turns == 1 and "max_turns=1" in (first.error or "")
    assert first.messages[-1].role == "user"  # the tool result is kept, ready for the next turn
    second, events = run(model, tmp_path, prompt=None, history=first.messages, max_turns=5)
    assert second.state == "done" and second.text == "finished" and second.turns == 2
    assert isinstance(events[0], AgentStarted) and events[0].resumed
    # Continuing repeated no tool call: each ran once.
    ran = [e.call.id for e in events if isinstance(e, ToolStarted)]
    assert ran == ["t2"]


def test_transient_model_errors_are_retried_then_give_up(tmp_path: Path) -> None:
    policy = RetryPolicy(max_attempts=3, base_s=0.001, cap_s=0.001)
    model = ScriptedModel([TransientModelError("529 overloaded"), "fine"])
    result, _ = run(model, tmp_path, retry=policy)
    assert result.state == "done" and len(model.requests) == 2
    model = ScriptedModel([TransientModelError("500", status=500)] * 3)
    result, _ = run(model, tmp_path, retry=policy)
    assert result.state == "failed" and "gave up after 3 attempts" in (result.error or "")


def test_retry_delay_honours_retry_after_and_is_bounded() -> None:
    policy = RetryPolicy(base_s=1, cap_s=8)
    assert all(0 <= policy.delay(n, None) <= min(8, 2 ** (n - 1)) for n in range(1, 10) for _ in range(50))
    assert all(policy.delay(1, 5.0) >= 5.0 for _ in range(50))


def test_cancel_marks_the_agent_cancelled(tmp_path: Path) -> None:
    events: list[AgentEvent] = []
    model = ScriptedModel([ToolUse("t1", "Sleep", {"s": 30}), "never"])

    async def main() -> None:
        task = asyncio.create_task(
            run_agent("a1", "go", model=model, tools=[Sleep()], ctx=ToolContext(tmp_path), emit=events.append)
        )
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert isinstance(events[-1], AgentEnded) and events[-1].state == "cancelled"


def test_usage_adds_every_field() -> None:
    a = Usage(1, 2, 11, 4, 5, 6)
    assert a + a == Usage(2, 4, 22, 8, 10, 12)
    assert Usage.from_api(a.to_api()) == a
    # A split that does not account for every write is not written (readers would trust it).
    assert "cache_creation" not in Usage(cache_creation_input_tokens=9).to_api()
    assert Text("x") != Text("y")
