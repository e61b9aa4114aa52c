"""The agent loop, driven by ScriptedModel and small test tools."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from agentbook.agent.gates import RequestOutcome, ToolGate
from agentbook.agent.hooks import Hooks
from agentbook.agent.loop import run_agent
from agentbook.agent.steps import Ask, ContinuePaused, FinalAnswer, RunTools, Stop, next_step, resume_step
from agentbook.events import (
    AgentEnded,
    AgentEvent,
    AgentStarted,
    ModelRetry,
    ToolDenied,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
)
from agentbook.messages import Message, Request, Response, Text, ToolResult, ToolUse, Usage
from agentbook.models import ModelError, ScriptedModel, TransientModelError
from agentbook.models.retry import RetryPolicy
from agentbook.tools import Edit, Read, Write
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


def test_edits_of_one_response_run_alone_in_order_and_lose_no_change(tmp_path: Path) -> None:
    # Run at once, Edits of one file each read the old text, and the last write wins alone.
    lines = [f"v{i} = {i}\n" for i in range(8)]
    (tmp_path / "f.py").write_text("".join(lines))
    edits = [
        ToolUse(f"e{i}", "Edit", {"file_path": "f.py", "old_string": line, "new_string": line.upper()})
        for i, line in enumerate(lines)
    ]
    model = ScriptedModel([[*edits, ToolUse("r", "Read", {"file_path": "f.py"})], "ok"])
    result, _ = run(model, tmp_path, tools=[Edit(), Read()])
    assert result.state == "done"
    assert (tmp_path / "f.py").read_text() == "".join(line.upper() for line in lines)
    answers = model.requests[1].messages[-1].content
    assert [a.tool_use_id for a in answers] == [*(e.id for e in edits), "r"]  # in the calls' order
    assert "V7 = 7" in answers[-1].content  # the Read after the Edits saw them all


def test_calls_between_edits_run_at_once_and_each_edit_waits_for_them(tmp_path: Path) -> None:
    calls = [
        ToolUse("s1", "Sleep", {"s": 0.2}),
        ToolUse("s2", "Sleep", {"s": 0.2}),
        ToolUse("w", "Write", {"file_path": "out.txt", "content": "x"}),
        ToolUse("s3", "Sleep", {"s": 0.2}),
        ToolUse("s4", "Sleep", {"s": 0.2}),
    ]
    model = ScriptedModel([calls, "ok"])
    result, events = run(model, tmp_path, tools=[Sleep(), Write()])
    assert result.state == "done"
    order = [(e.kind, e.call.id) for e in events if isinstance(e, ToolStarted | ToolFinished)]
    started, finished = "tool_started", "tool_finished"
    assert {c for _, c in order[:2]} == {"s1", "s2"} and {k for k, _ in order[:2]} == {started}
    assert order[4:6] == [(started, "w"), (finished, "w")]
    assert {c for _, c in order[6:8]} == {"s3", "s4"} and {k for k, _ in order[6:8]} == {started}


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


# --------------------------------------------------------------------------------------------
# The decision of each turn


def reply(*blocks: Text | ToolUse, stop: str | None = None) -> Response:
    default = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
    return Response("msg_1", "scripted", blocks, stop or default, Usage())


def test_next_step_decides_every_way_a_turn_can_go() -> None:
    call = ToolUse("t1", "Echo", {"text": "x"})
    assert next_step(None, 0, 3) == Ask()
    assert next_step(None, 3, 3) == Stop("partial", "stopped after max_turns=3; resume to continue")
    # Tool calls run even on the last turn: a partial history ends with their results.
    assert next_step(reply(call), 3, 3) == RunTools((call,))
    assert next_step(reply(Text("done")), 3, 3) == FinalAnswer()
    assert next_step(reply(Text("..."), stop="pause_turn"), 1, 3) == ContinuePaused()
    assert isinstance(next_step(reply(Text("..."), stop="pause_turn"), 3, 3), Stop)
    done = ToolResult("t0", "ran before the crash")
    assert resume_step([call], [done], 3) == RunTools((call,), (done,))
    assert resume_step([], [], 0) == Stop("partial", "stopped after max_turns=0; resume to continue")


def test_a_paused_turn_is_sent_back_as_it_is(tmp_path: Path) -> None:
    model = ScriptedModel([lambda request: reply(Text("half"), stop="pause_turn"), "whole"])
    result, events = run(model, tmp_path)
    assert result.state == "done" and result.turns == 2 and result.text == "whole"
    assert model.requests[1].messages[-1].text == "half"  # no prompt added between the two
    assert [e.kind for e in events] == ["agent_started", "turn", "turn", "agent_ended"]
    model = ScriptedModel([lambda request: reply(Text("half"), stop="pause_turn")])
    result, _ = run(model, tmp_path, max_turns=1)
    assert result.state == "partial" and result.turns == 1


def test_resume_runs_only_the_calls_without_a_result_and_answers_in_order(tmp_path: Path) -> None:
    calls = (ToolUse("t1", "Echo", {"text": "1"}), ToolUse("t2", "Echo", {"text": "2"}))
    history = [Message.user("go"), Message("assistant", calls), Message("user", (ToolResult("t1", "old"),))]
    model = ScriptedModel(["finished"])
    result, events = run(model, tmp_path, prompt=None, history=history)
    assert result.state == "done"
    assert [e.call.id for e in events if isinstance(e, ToolStarted)] == ["t2"]
    assert model.requests[0].messages[-1].content == (ToolResult("t1", "old"), ToolResult("t2", "echo: 2"))


# --------------------------------------------------------------------------------------------
# Request hooks


class Recorder:
    """A request hook and tool gate that logs every call (with the events, into one list)."""

    def __init__(self, log: list[str], label: str = "", deny: str | None = None) -> None:
        self.log, self.label, self.deny = log, label, deny

    async def before_request(self, agent: str, request: Request) -> None:
        self.log.append(f"{self.label}before {len(request.messages)}")

    async def after_request(self, agent: str, outcome: RequestOutcome) -> None:
        what = "response" if outcome.response is not None else f"error {outcome.error}"
        self.log.append(f"{self.label}after {what} retry_in={outcome.retry_in}")

    async def before_tool(self, agent: str, call: ToolUse) -> str | None:
        self.log.append(f"{self.label}before_tool {call.id}")
        return self.deny if call.input.get("text") == "secret" else None

    async def after_tool(self, agent: str, call: ToolUse, result: ToolResult) -> None:
        self.log.append(f"{self.label}after_tool {call.id} {result.is_error}")


def logged_run(model: ScriptedModel, tmp_path: Path, log: list[str], **kwargs: Any) -> Any:
    def emit(event: AgentEvent) -> None:
        log.append(f"event {event.kind}")

    return asyncio.run(
        run_agent("a1", "hi", model=model, tools=[Echo()], ctx=ToolContext(tmp_path), emit=emit, **kwargs)
    )


def test_request_hooks_run_around_every_attempt_in_order(tmp_path: Path) -> None:
    log: list[str] = []
    policy = RetryPolicy(max_attempts=3, base_s=0.001, cap_s=0.001)
    model = ScriptedModel([TransientModelError("529 overloaded", status=529, retry_after=0.01), "done"])
    hooks = [Recorder(log, "1 "), Recorder(log, "2 ")]
    result = logged_run(model, tmp_path, log, retry=policy, request_hooks=hooks)
    assert result.state == "done"
    assert log == [
        "event agent_started",
        "1 before 1",
        "2 before 1",
        "1 after error 529 overloaded retry_in=0.01",  # retry-after is the floor of the wait
        "2 after error 529 overloaded retry_in=0.01",
        "event retry",
        "1 before 1",
        "2 before 1",
        "1 after response retry_in=None",
        "2 after response retry_in=None",
        "event turn",
        "event agent_ended",
    ]


def test_request_hooks_see_the_final_failure(tmp_path: Path) -> None:
    log: list[str] = []
    policy = RetryPolicy(max_attempts=2, base_s=0.001, cap_s=0.001)
    model = ScriptedModel([TransientModelError("500", status=500, retry_after=0.01)] * 2)
    result = logged_run(model, tmp_path, log, retry=policy, request_hooks=[Recorder(log)])
    assert result.state == "failed" and result.error is not None
    assert re.fullmatch(r"model error: gave up after 2 attempts over \d+\.\d s: 500", result.error)
    assert log[1:] == [
        "before 1",
        "after error 500 retry_in=0.01",
        "event retry",
        "before 1",
        "after error 500 retry_in=None",
        "event agent_ended",
    ]
    log.clear()
    model = ScriptedModel([ModelError("400 bad request", status=400)])  # not retried at all
    result = logged_run(model, tmp_path, log, request_hooks=[Recorder(log)])
    assert result.error == "model error: 400 bad request"
    assert log[1:] == ["before 1", "after error 400 bad request retry_in=None", "event agent_ended"]


def test_a_request_hook_that_raises_ends_the_agent_before_the_call(tmp_path: Path) -> None:
    class Refuse:
        async def before_request(self, agent: str, request: Request) -> None:
            raise RuntimeError("over budget")

        async def after_request(self, agent: str, outcome: RequestOutcome) -> None:
            raise AssertionError("no attempt was made")

    model = ScriptedModel(["never"])
    result, events = run(model, tmp_path, request_hooks=[Refuse()])
    assert result.state == "failed" and result.error == "RuntimeError: over budget"
    assert model.requests == [] and [e.kind for e in events] == ["agent_started", "agent_ended"]


# --------------------------------------------------------------------------------------------
# Tool gates


def test_the_first_denial_wins_and_the_model_sees_it(tmp_path: Path) -> None:
    log: list[str] = []
    gates = [Recorder(log, "1 ", deny="no secrets"), Recorder(log, "2 ", deny="never asked")]
    calls = [ToolUse("t1", "Echo", {"text": "secret"}), ToolUse("t2", "Nope", {})]
    model = ScriptedModel([calls, ToolUse("t3", "Echo", {"text": "fine"}), "done"])
    result = logged_run(model, tmp_path, log, tool_gates=gates)
    assert result.state == "done"
    # The denied call: the second gate is not asked; every gate hears how it ended.  The unknown
    # tool is refused before any gate.
    t1 = [line for line in log if "t1" in line or "tool_denied" in line]
    assert t1 == ["1 before_tool t1", "event tool_denied", "1 after_tool t1 True", "2 after_tool t1 True"]
    assert "1 before_tool t2" not in log and log.count("event tool_denied") == 1
    assert [line for line in log if "t3" in line] == [
        "1 before_tool t3",
        "2 before_tool t3",
        "1 after_tool t3 False",
        "2 after_tool t3 False",
    ]
    denied, unknown = model.requests[1].messages[-1].content
    assert isinstance(denied, ToolResult) and denied.is_error
    assert denied.content == "<tool_use_error>no secrets</tool_use_error>"
    assert isinstance(unknown, ToolResult) and unknown.is_error and "unknown tool" in unknown.content


def test_a_denied_call_never_starts_and_still_finishes_with_its_error(tmp_path: Path) -> None:
    hooks = Hooks(pre_tool=[lambda agent, call: "not today"])
    assert isinstance(hooks, ToolGate)  # the public hooks are a tool gate as they are
    model = ScriptedModel([ToolUse("t1", "Echo", {"text": "x"}), "ok"])
    result, events = run(model, tmp_path, tool_gates=[hooks])
    assert result.state == "done"
    kinds = [e.kind for e in events]
    # No "started": a resume after a crash must not think a denied call may have run.
    assert kinds[1:4] == ["turn", "tool_denied", "tool_finished"] and "tool_started" not in kinds
    denied = next(e for e in events if isinstance(e, ToolDenied))
    assert (denied.agent, denied.call.id, denied.reason) == ("a1", "t1", "not today")


def test_a_gate_that_raises_ends_the_agent(tmp_path: Path) -> None:
    class Broken:
        async def before_tool(self, agent: str, call: ToolUse) -> str | None:
            raise KeyError("rules")

        async def after_tool(self, agent: str, call: ToolUse, result: ToolResult) -> None:
            return None

    calls = [ToolUse("t1", "Echo", {"text": "x"}), ToolUse("t2", "Echo", {"text": "y"})]
    result, _ = run(ScriptedModel([calls, "never"]), tmp_path, tool_gates=[Broken()])
    assert result.state == "failed" and result.error == "KeyError: 'rules'"  # the group's first


def test_retries_stop_at_the_deadline_and_the_error_says_how_long_they_went_on(tmp_path: Path) -> None:
    policy = RetryPolicy(max_attempts=1000, base_s=0.05, cap_s=0.05, deadline_s=0.3)
    errors = [TransientModelError("529 overloaded", status=529) for _ in range(1000)]
    started = time.monotonic()
    result, _ = run(ScriptedModel(errors), tmp_path, retry=policy)
    took = time.monotonic() - started
    assert result.state == "failed" and took < 1.0
    assert re.fullmatch(
        r"model error: gave up after \d+ attempts over 0\.\d s: 529 overloaded", result.error or ""
    )
    with pytest.raises(ValueError, match="deadline_s must be a finite number"):
        RetryPolicy(deadline_s=-1)


def test_a_429_uses_no_attempt_and_only_the_deadline_bounds_it(tmp_path: Path) -> None:
    policy = RetryPolicy(max_attempts=2, base_s=0.001, cap_s=0.001, deadline_s=5)
    limited = [TransientModelError("429 rate limited", status=429) for _ in range(5)]
    model = ScriptedModel([*limited, TransientModelError("500", status=500), "fine"])
    result, events = run(model, tmp_path, retry=policy)
    assert result.state == "done" and len(model.requests) == 7
    assert [e.attempt for e in events if isinstance(e, ModelRetry)] == [1, 2, 3, 4, 5, 6]
    policy = RetryPolicy(max_attempts=None, base_s=0.01, cap_s=0.01, deadline_s=0.2)
    result, _ = run(ScriptedModel([TransientModelError("529", status=529)] * 1000), tmp_path, retry=policy)
    assert result.state == "failed" and "gave up after" in (result.error or "")
    with pytest.raises(ValueError, match="None needs a deadline_s"):
        RetryPolicy(max_attempts=None, deadline_s=None)


def test_a_request_hook_can_shorten_the_wait_before_a_retry(tmp_path: Path) -> None:
    class Paced:
        async def before_request(self, agent: str, request: Request) -> None:
            return None

        async def after_request(self, agent: str, outcome: RequestOutcome) -> float | None:
            return 0.0 if outcome.error is not None else None

    policy = RetryPolicy(base_s=30, cap_s=30)  # a 30 s backoff the hook takes away
    model = ScriptedModel([TransientModelError("429", status=429), "fine"])
    started = time.monotonic()
    result, events = run(model, tmp_path, retry=policy, request_hooks=[Paced()])
    assert result.state == "done" and time.monotonic() - started < 5
    assert [e.wait_s for e in events if isinstance(e, ModelRetry)] == [0.0]
