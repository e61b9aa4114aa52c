"""Background sub-agents (issue 13, point 1), through the real SDK on the local fake Messages API:
a coordinator launches children with `run_in_background`, keeps working, receives their
`<task-notification>`s, reads one with `TaskOutput`, stops one with `TaskStop`, resumes a
failed one, and ends only when it ends a turn with no child running."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support import first_prompt, texts

from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.transcripts import read_transcript
from agentbook.specs import AgentSpec
from agentbook.testing import ErrorReply, FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock

KEY = "sk-ant-test-background-0123456789"
ID = re.compile(r"agentId: (a[0-9a-f]{16})")


@pytest.fixture(autouse=True)
def gates() -> None:
    reset_gates()


def agent(prompt: str, description: str, **more: Any) -> ToolUseBlock:
    return ToolUseBlock("Agent", {"description": description, "prompt": prompt, "run_in_background": True,
                                  **more})  # fmt: skip


class Coordinator:
    """The fake API's answers: the lead's script by its turn, and each child's by its prompt."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.three_calls = 0
        self.lead_while_two_runs = 0
        self.two_started = threading.Event()
        self.two_done = False

    def __call__(self, request: FakeRequest) -> Reply:
        prompt = first_prompt(request)
        if prompt == "child one":
            return MessageReply("one done", delay=0.3)
        if prompt == "child two":
            self.two_started.set()
            return MessageReply("two done (never: stopped first)", delay=30)
        if prompt == "child three":
            with self.lock:
                self.three_calls += 1
                first = self.three_calls == 1
            return ErrorReply(400, message="child three broke") if first else MessageReply("three done")
        return self.lead(request)

    def lead(self, request: FakeRequest) -> Reply:
        turn = sum(1 for m in request.json["messages"] if m["role"] == "assistant")
        if self.two_started.is_set() and not self.two_done:
            self.lead_while_two_runs += 1
        ids = ID.findall(texts(request))
        if turn == 0:
            return MessageReply(
                [agent("child one", "one"), agent("child two", "two"), agent("child three", "three")]
            )
        if turn == 1:
            return MessageReply([ToolUseBlock("TaskOutput", {"task_id": ids[0], "timeout": 10_000})])
        if turn == 2:
            return MessageReply([ToolUseBlock("TaskStop", {"task_id": ids[1]})])
        if turn == 3:
            self.two_done = True
            failed = "child three broke" in texts(request)
            assert failed, "the failed child's notification came before the resume"
            resume = {"description": "three again", "prompt": "try again", "resume": ids[2]}
            return MessageReply([ToolUseBlock("Agent", resume)])
        return MessageReply("all done")


def test_a_coordinator_monitors_stops_and_resumes_background_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = Coordinator()
    with FakeAnthropic(handler, api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        started = time.monotonic()
        run = run_parallel({"lead": "coordinate"}, model="haiku", cwd=tmp_path, run_dir=tmp_path / "run",
                           interactive=False, permission_mode="bypassPermissions")  # fmt: skip
        run.wait(timeout=60)
        lead_requests = [r for r in fake.message_requests if first_prompt(r) == "coordinate"]
    assert time.monotonic() - started < 20  # the stopped child's 30 s reply was never waited for
    assert run.records["lead"].state == "done" and run.results["lead"] == "all done"
    children = {r.task.prompt: r for r in run.records.values() if r.parent == "lead"}
    assert {p: r.state for p, r in children.items()} == {
        "child one": "done",
        "child two": "cancelled",
        "child three": "done",
    }
    assert children["child three"].text == "three done" and handler.three_calls == 2
    assert handler.lead_while_two_runs >= 2  # it kept working while a child ran
    # TaskOutput's answer, and the three notifications, reached the lead's requests.
    seen = json.dumps([r.json["messages"] for r in lead_requests])
    assert "<status>completed</status>" in seen and "one done" in seen
    for child, status in (("child one", "completed"), ("child two", "killed"), ("child three", "failed")):
        note = f"<task-id>{children[child].agent_id}</task-id>\\n<status>{status}</status>"
        assert note in seen, (child, status)
    # Each child's transcript is a sidechain of the run's session, and reads back whole.
    for record in children.values():
        lines = [json.loads(x) for x in record.transcript.read_text().splitlines()]
        assert all(x["isSidechain"] and x["sessionId"] == run.session_id for x in lines)
    lead = read_transcript(run.records["lead"].transcript)
    assert sum("<task-notification>" in json.dumps(m.to_api()) for m in lead.messages) >= 2
    assert KEY not in json.dumps([r.json for r in fake.message_requests])


def lead_and_children(lead: list[Reply], children: dict[str, Reply], **options: Any) -> Any:
    """A fake API: the lead's replies by its turn, each child's (by prompt) every time."""

    def handler(request: FakeRequest) -> Reply:
        prompt = first_prompt(request)
        if prompt in children:
            return children[prompt]
        turn = sum(1 for m in request.json["messages"] if m["role"] == "assistant")
        return lead[min(turn, len(lead) - 1)]

    return FakeAnthropic(handler, api_key=KEY)


def start(fake: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any) -> Any:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    return run_parallel({"lead": "go"}, model="haiku", cwd=tmp_path, run_dir=tmp_path / "run",
                        interactive=False, **options)  # fmt: skip


def background(prompt: str) -> ToolUseBlock:
    return agent(prompt, prompt)


def test_a_coordinator_that_ends_its_turn_waits_for_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lead's second answer says it is done while both children run: it does not end; each
    # notification starts a turn, and it ends with a turn that has no child running.
    lead = [MessageReply([background("c1"), background("c2")]), MessageReply("launched both"),
            MessageReply("one arrived"), MessageReply("both arrived")]  # fmt: skip
    children = {"c1": MessageReply("first", delay=0.5), "c2": MessageReply("second", delay=1.0)}
    with lead_and_children(lead, children) as fake:
        run = start(fake, tmp_path, monkeypatch)
        time.sleep(0.3)
        assert run.records["lead"].state == "running" and run.records["lead"].text == "launched both"
        run.wait(timeout=20)
        last = [r for r in fake.message_requests if first_prompt(r) == "go"][-1]
    assert run.records["lead"].state == "done" and run.results["lead"] == "both arrived"
    assert texts(last).count("<task-notification>") == 2


def test_under_a_concurrency_of_one_a_waiting_coordinator_lets_its_children_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = [MessageReply([background("c")]), MessageReply("waiting"), MessageReply("got it")]
    with lead_and_children(lead, {"c": MessageReply("child answer")}) as fake:
        run = start(fake, tmp_path, monkeypatch, concurrency=1)
        run.wait(timeout=20)
    assert run.status == {"lead": "done", "lead/1-c": "done"} and run.results["lead"] == "got it"


def test_cancelling_the_coordinator_cancels_its_background_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = [MessageReply([background("c")]), MessageReply("waiting", delay=30)]
    with lead_and_children(lead, {"c": MessageReply("too late", delay=30)}) as fake:
        run = start(fake, tmp_path, monkeypatch)
        deadline = time.monotonic() + 10
        while len(fake.message_requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        run.cancel("lead")
        run.wait(timeout=10)
    assert run.status == {"lead": "cancelled", "lead/1-c": "cancelled"}


def test_an_agent_type_marked_background_runs_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = AgentSpec("bg", description="runs behind", background=True)
    call = ToolUseBlock("Agent", {"description": "c", "prompt": "c", "subagent_type": "bg"})
    lead = [MessageReply([call]), MessageReply("launched"), MessageReply("done with it")]
    with lead_and_children(lead, {"c": MessageReply("child answer", delay=0.3)}) as fake:
        run = start(fake, tmp_path, monkeypatch, agents={"bg": spec})
        run.wait(timeout=20)
        second = [r for r in fake.message_requests if first_prompt(r) == "go"][1]
    assert "Async agent launched" in texts(second)
    assert run.results["lead"] == "done with it"


def test_task_tools_refuse_unknown_ids_and_bad_timeouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = [
        ToolUseBlock("TaskOutput", {"task_id": "a0000000000000000"}),
        ToolUseBlock("TaskOutput", {"task_id": "x", "timeout": 10**9}),
        ToolUseBlock("TaskStop", {"task_id": "nope"}),
        ToolUseBlock("Agent", {"description": "r", "prompt": "p", "resume": "nope"}),
    ]
    with lead_and_children([MessageReply(calls), MessageReply("ok")], {}) as fake:
        run = start(fake, tmp_path, monkeypatch)
        run.wait(timeout=20)
        results = fake.message_requests[1].json["messages"][-1]["content"]
    assert all(r["is_error"] for r in results)
    assert "no background agent 'a0000000000000000'" in json.dumps(results[0])
    assert "timeout must be 0 to 600000" in json.dumps(results[1])
    assert "no background agent 'nope'" in json.dumps(results[2])
    assert "no sub-agent 'nope' of yours to resume" in json.dumps(results[3])
