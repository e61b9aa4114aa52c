"""Fork sub-agents and the conversation's cache breakpoint (issue 13, point 2), through the real SDK
on the local fake Messages API that follows the caching rules (`agentbook.testing.caching`): a
fork child's first request repeats its caller's last request and reads its cached prefix, for
less than a fresh child given the same context pays."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from support import first_prompt, texts

from agentbook.costs import cost_usd
from agentbook.models.anthropic import MAX_BREAKPOINTS, _mark_last_turn
from agentbook.scheduler.forking import FORK_PLACEHOLDER
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.transcripts import read_transcript
from agentbook.specs import AgentFileError, load_agent_file
from agentbook.testing import FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock
from agentbook.testing.caching import CachingHandler

KEY = "sk-ant-test-fork-0123456789abcdef"
NOTES = "\n".join(f"Note {i}: the parser of module {i} reads its input line by line." for i in range(300))


@pytest.fixture(autouse=True)
def gates() -> None:
    reset_gates()


def is_fork(request: FakeRequest) -> bool:
    return "You are a fork" in texts(request)


class Lead:
    """The lead reads the notes, then asks for a fork (and reads again beside it), then for a
    fresh child given the same notes in its prompt.  `fork_calls` asks the fork to try the
    Agent tool itself (past the depth limit)."""

    def __init__(self, fork_calls_agent: bool = False, kind: str = "fork") -> None:
        self.fork_calls_agent, self.kind = fork_calls_agent, kind
        self.lock = threading.Lock()
        self.fork_requests: list[FakeRequest] = []

    def __call__(self, request: FakeRequest) -> Reply:
        if is_fork(request):
            with self.lock:
                self.fork_requests.append(request)
            if self.fork_calls_agent and len(self.fork_requests) == 1:
                return MessageReply([ToolUseBlock("Agent", {"description": "deeper", "prompt": "go deeper"})])
            return MessageReply("fork: module 7 reads line by line")
        if first_prompt(request).startswith("Fresh child"):
            return MessageReply("fresh: module 7 reads line by line")
        turn = sum(1 for m in request.json["messages"] if m["role"] == "assistant")
        if turn == 0:
            return MessageReply([ToolUseBlock("Read", {"file_path": "notes.txt"})])
        if turn == 1:
            fork = {"description": "seven", "prompt": "What does module 7 do?", "subagent_type": self.kind}
            again = ToolUseBlock("Read", {"file_path": "notes.txt"})
            return MessageReply([ToolUseBlock("Agent", fork), again])
        if turn == 2:
            fresh = {"description": "fresh seven", "prompt": f"Fresh child. {NOTES}\nWhat does module 7 do?"}
            return MessageReply([ToolUseBlock("Agent", fresh)])
        return MessageReply("all done")


def run_lead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lead: Lead, **options: Any
) -> tuple[Any, CachingHandler, Any]:
    (tmp_path / "notes.txt").write_text(NOTES)
    handler = CachingHandler(lead, min_tokens=256)
    with FakeAnthropic(handler, api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        run = run_parallel({"lead": "coordinate"}, model="haiku", cwd=tmp_path, run_dir=tmp_path / "run",
                           interactive=False, permission_mode="bypassPermissions", **options)  # fmt: skip
        run.wait(timeout=60)
    return run, handler, fake


def without_marks(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_marks(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [without_marks(v) for v in value]
    return value


def test_a_fork_reads_its_callers_cached_prefix_and_costs_less_than_a_fresh_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = Lead()
    run, handler, fake = run_lead(tmp_path, monkeypatch, lead)
    assert run.records["lead"].state == "done" and run.results["lead"] == "all done"
    children = {r.task.prompt.split(".")[0]: r for r in run.records.values() if r.parent == "lead"}
    fork, fresh = children["What does module 7 do?"], children["Fresh child"]
    assert (fork.state, fresh.state) == ("done", "done")
    # The fork's first request is the lead's second one, then the response that asked for it and
    # the placeholders and directive: the same tools, system prompt and model.
    lead_second = next(r for r in fake.message_requests if not is_fork(r) and len(r.json["messages"]) == 3)
    forked = lead.fork_requests[0].json
    for key in ("tools", "system", "model", "max_tokens"):
        assert forked[key] == lead_second.json[key], key
    assert without_marks(forked["messages"][:3]) == without_marks(lead_second.json["messages"])
    answered = forked["messages"][4]["content"]
    assert [b.get("content") for b in answered[:2]] == [FORK_PLACEHOLDER] * 2
    # It read the lead's cached prefix (the lead's second request wrote it) ...
    outcome = {o.request_index: o for o in handler.outcomes}[lead.fork_requests[0].index]
    assert outcome.read_tokens > 1000
    calls = run.calls_df.set_index("agent")
    assert int(calls.loc[fork.name, "cache_read_input_tokens"]) == outcome.read_tokens
    # ... and so cost less than the fresh child that was given the same notes.
    fork_cost = cost_usd(fork.calls[0].usage, fork.model)
    fresh_cost = cost_usd(fresh.calls[0].usage, fresh.model)
    assert fork_cost is not None and fresh_cost is not None
    assert fork_cost < 0.5 * fresh_cost
    # The lead's own turns read the conversation's breakpoint of the turn before.
    mine = {r.index for r in fake.message_requests if first_prompt(r) == "coordinate" and not is_fork(r)}
    lead_reads = [o.read_tokens for o in handler.outcomes if o.request_index in mine]
    assert lead_reads[0] == 0 and all(r > 0 for r in lead_reads[1:])
    # The fork's transcript holds what it inherited, so a resume goes on from all of it.
    inherited = read_transcript(fork.transcript).messages
    assert inherited[0].text == "coordinate" and inherited[-1].text == "fork: module 7 reads line by line"
    assert len(inherited) == 6


def test_a_fork_keeps_the_agent_tool_for_the_cache_but_it_refuses_past_the_depth_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = Lead(fork_calls_agent=True)
    run, _, _ = run_lead(tmp_path, monkeypatch, lead)
    fork = next(r for r in run.records.values() if r.parent == "lead" and "module 7 do?" in r.task.prompt)
    assert fork.state == "done" and fork.depth == 1
    assert not [r for r in run.records.values() if r.parent == fork.name]  # no grandchild started
    refused = lead.fork_requests[1].json["messages"][-1]["content"][0]
    assert refused["is_error"] is True and "max_depth" in refused["content"]


def test_an_agent_file_with_context_fork_starts_forks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "helper.md"
    path.write_text("---\nname: helper\ndescription: helps\ncontext: fork\n---\nBe brief.\n")
    lead = Lead(kind="helper")
    run, _, _ = run_lead(tmp_path, monkeypatch, lead, agents={"helper": load_agent_file(path)})
    child = next(r for r in run.records.values() if r.parent == "lead" and "module 7 do?" in r.task.prompt)
    assert child.state == "done" and child.task.agent is None  # wired as its caller, not as `helper`
    directive = lead.fork_requests[0].json["messages"][-1]["content"][-1]["text"]
    assert directive.endswith("Be brief.\n\nWhat does module 7 do?")
    path.write_text("---\nname: helper\ndescription: helps\ncontext: spoon\n---\n")
    with pytest.raises(AgentFileError, match="context 'spoon' is not 'fork'"):
        load_agent_file(path)


def test_the_conversation_breakpoint_keeps_within_the_apis_four() -> None:
    marked = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    result = {"type": "tool_result", "tool_use_id": "t", "content": "z"}
    messages = [{"role": "user", "content": [dict(marked), dict(marked)]},
                {"role": "assistant", "content": [{"type": "text", "text": "y"}]},
                {"role": "user", "content": [result]}]  # fmt: skip
    _mark_last_turn(messages, used=1)
    assert messages[-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    again = [dict(m, content=[dict(b) for b in m["content"]]) for m in messages]
    again[-1]["content"][-1].pop("cache_control")
    _mark_last_turn(again, used=2)  # four taken already: none added
    assert "cache_control" not in again[-1]["content"][-1] and MAX_BREAKPOINTS == 4
