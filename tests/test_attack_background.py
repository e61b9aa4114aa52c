"""Adversarial review of background sub-agents (`run_in_background`, `<task-notification>`,
`TaskOutput`, `TaskStop`, `Agent(resume=id)`, the idle coordinator's slot), through the real SDK
on the local fake Messages API (`agentbook.testing.FakeAnthropic`).

The fake's handler runs on the server's connection threads, so a reply may wait there on a
`threading.Event` (never on the agents' event loop) to order what the agents do.  The nine
findings of the review (slots of blocking chains, cancels while idle, max_turns, children the run
did not wait for, a child cancelled before it ran, TaskOutput of a resumed child, children after
a restart) are fixed; each is a plain test now, beside what held from the start.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import first_prompt, texts

from agentbook.events import Notified
from agentbook.messages import ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.restore import load_run
from agentbook.scheduler.run import Run
from agentbook.scheduler.transcripts import read_transcript
from agentbook.testing import FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-ant-test-attack-background-0123456789"
ID = re.compile(r"agentId: (a[0-9a-f]{16})")
ECHO = ToolUseBlock("Bash", {"command": "echo hi"})
Script = Reply | Callable[[FakeRequest], Reply]


@pytest.fixture(autouse=True)
def gates() -> None:
    reset_gates()


def turn_of(request: FakeRequest) -> int:
    return sum(1 for m in request.json["messages"] if m["role"] == "assistant")


def bg(prompt: str, **more: Any) -> ToolUseBlock:
    return ToolUseBlock("Agent", {"description": prompt, "prompt": prompt, "run_in_background": True, **more})


def blocking(prompt: str) -> ToolUseBlock:
    return ToolUseBlock("Agent", {"description": prompt, "prompt": prompt})


class Scripts:
    """Each agent's replies by its first prompt and its turn (the last one repeated); a script
    step may be a callable of the request (run on the server's thread: it may wait there)."""

    def __init__(self, scripts: dict[str, list[Script]]) -> None:
        self.scripts = scripts
        self.lock = threading.Lock()
        self.seen: list[tuple[str, int, float]] = []  # (prompt, turn, time served)

    def __call__(self, request: FakeRequest) -> Reply:
        prompt, turn = first_prompt(request), turn_of(request)
        steps = self.scripts[prompt]
        step = steps[min(turn, len(steps) - 1)]
        reply = step(request) if callable(step) else step
        with self.lock:
            self.seen.append((prompt, turn, time.monotonic()))
        return reply

    def served(self, prompt: str, turn: int) -> bool:
        with self.lock:
            return any(p == prompt and t == turn for p, t, _ in self.seen)


def start(fake: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tasks: Any = None,
          **options: Any) -> Run:  # fmt: skip
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    options.setdefault("interactive", False)
    options.setdefault("permission_mode", "bypassPermissions")
    return run_parallel(tasks or {"lead": "go"}, model="haiku", cwd=tmp_path, run_dir=tmp_path / "run",
                        **options)  # fmt: skip


def until(check: Callable[[], Any], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return bool(check())


def stop(run: Run) -> None:
    """End whatever still runs (a finding left it running), before the fake server stops."""
    run.cancel()
    with contextlib.suppress(Exception):
        run.wait(timeout=10)


def child(run: Run, prompt: str) -> Any:
    """The sub-agent of `run` whose prompt is `prompt` (`None` while there is none)."""
    return next((r for r in list(run.records.values()) if r.task.prompt == prompt and r.parent), None)


def state_of(run: Run, prompt: str) -> str | None:
    record = child(run, prompt)
    return record.state if record is not None else None


def lead_requests(fake: FakeAnthropic, prompt: str = "go") -> list[FakeRequest]:
    return [r for r in fake.message_requests if first_prompt(r) == prompt]


def waiting_on(event: threading.Event, reply: Reply, timeout: float = 8.0) -> Callable[[FakeRequest], Reply]:
    def step(request: FakeRequest) -> Reply:
        event.wait(timeout)
        return reply

    return step


# ---- slots: the concurrency cap and an idle coordinator


def test_a_blocking_child_waiting_for_its_background_grandchild_does_not_deadlock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = Scripts({
        "go": [MessageReply([blocking("c")]), MessageReply("lead done")],
        "c": [MessageReply([bg("g")]), MessageReply("c waiting"), MessageReply("c got g")],
        "g": [MessageReply("g answer")],
    })  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch, concurrency=1, max_depth=2)
        try:
            run.wait(timeout=5)
        finally:
            stop(run)
    assert run.status["lead"] == "done" and child(run, "c").text == "c got g"


def test_taskoutput_beside_a_blocking_agent_call_keeps_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, inflight, peak = threading.Lock(), [0], [0]

    def working(answer: str) -> Callable[[FakeRequest], Reply]:
        def step(request: FakeRequest) -> Reply:
            with lock:
                inflight[0] += 1
                peak[0] = max(peak[0], inflight[0])
            time.sleep(0.4)  # the server thread's work: overlap is what is measured
            with lock:
                inflight[0] -= 1
            return MessageReply(answer)

        return step

    def second(request: FakeRequest) -> Reply:
        (b1,) = ID.findall(texts(request))
        return MessageReply([ToolUseBlock("TaskOutput", {"task_id": b1, "timeout": 5000}), blocking("b2")])

    scripts = Scripts({"go": [MessageReply([bg("b1")]), second, MessageReply("done")],
                       "b1": [working("one")], "b2": [working("two")]})  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch, concurrency=1)
        run.wait(timeout=9)
    assert run.status["lead"] == "done"
    assert peak[0] == 1, f"{peak[0]} agents worked at once under concurrency=1"


def test_under_a_cap_of_one_a_coordinator_blocks_in_taskoutput_on_three_children_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, inflight, peak = threading.Lock(), [0], [0]

    def working(answer: str) -> Callable[[FakeRequest], Reply]:
        def step(request: FakeRequest) -> Reply:
            with lock:
                inflight[0] += 1
                peak[0] = max(peak[0], inflight[0])
            time.sleep(0.1)
            with lock:
                inflight[0] -= 1
            return MessageReply(answer)

        return step

    def read(n: int) -> Callable[[FakeRequest], Reply]:
        return lambda request: MessageReply(
            [ToolUseBlock("TaskOutput", {"task_id": ID.findall(texts(request))[n], "timeout": 5000})]
        )

    scripts = Scripts({"go": [MessageReply([bg("k1"), bg("k2"), bg("k3")]), read(0), read(1), read(2),
                              MessageReply("all read")],
                       **{f"k{i}": [working(f"answer {i}")] for i in (1, 2, 3)}})  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch, concurrency=1)
        run.wait(timeout=9)
        last = lead_requests(fake)[-1]
    assert run.status == {"lead": "done", "lead/1-k1": "done", "lead/2-k2": "done", "lead/3-k3": "done"}
    assert peak[0] == 1
    for i in (1, 2, 3):
        assert f"answer {i}" in texts(last)


def test_cancelling_an_idle_coordinator_under_a_full_cap_is_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = Scripts({
        "go": [MessageReply([bg("c")]), MessageReply("waiting")],
        "other": [MessageReply("other done", delay=6)],
        "c": [MessageReply("c done", delay=6)],
    })  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch, {"lead": "go", "other": "other"}, concurrency=1)
        try:
            # the lead went idle (its answer "waiting"), and "other" took the slot it freed
            assert until(lambda: len(lead_requests(fake, "other")) == 1)
            assert until(lambda: run.records["lead"].text == "waiting")
            run.cancel("lead")
            ended = until(lambda: run.records["lead"].state == "cancelled", timeout=2)
            state = run.records["lead"].state
        finally:
            stop(run)
    assert ended, f"the cancelled lead is still {state} after 2 s"


def test_taskstop_of_a_child_waiting_for_a_grandchild_is_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g_asked = threading.Event()
    times: dict[str, float] = {}

    def g_reply(request: FakeRequest) -> Reply:
        g_asked.set()
        return MessageReply("g done", delay=5)

    def lead_stop(request: FakeRequest) -> Reply:
        g_asked.wait(8)
        (c_id,) = ID.findall(texts(request))
        times["stop"] = time.monotonic()
        return MessageReply([ToolUseBlock("TaskStop", {"task_id": c_id})])

    def lead_after(request: FakeRequest) -> Reply:
        times["after"] = time.monotonic()
        return MessageReply("stopped")

    scripts = Scripts({
        "go": [MessageReply([bg("c")]), lead_stop, lead_after, MessageReply("end")],
        "c": [MessageReply([bg("g")]), MessageReply("c waiting")],
        "g": [g_reply],
    })  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch, concurrency=2, max_depth=2)
        try:
            run.wait(timeout=9)
        finally:
            stop(run)
    assert times["after"] - times["stop"] < 2.5, f"TaskStop took {times['after'] - times['stop']:.1f} s"
    assert state_of(run, "c") == "cancelled" and state_of(run, "g") == "cancelled"


def test_taskoutput_blocking_when_the_coordinator_is_cancelled_ends_both_promptly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read(request: FakeRequest) -> Reply:
        (c_id,) = ID.findall(texts(request))
        return MessageReply([ToolUseBlock("TaskOutput", {"task_id": c_id, "timeout": 600_000})])

    scripts = Scripts({"go": [MessageReply([bg("c")]), read], "c": [MessageReply("late", delay=30)]})
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch, concurrency=1)
        try:
            assert until(lambda: len(lead_requests(fake)) == 2 and len(lead_requests(fake, "c")) == 1)
            t0 = time.monotonic()
            run.cancel("lead")
            run.wait(timeout=3)
            elapsed = time.monotonic() - t0
        finally:
            stop(run)
    assert run.status == {"lead": "cancelled", "lead/1-c": "cancelled"} and elapsed < 2


def test_after_a_cancel_while_idle_the_slots_are_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lead is cancelled while idle under concurrency=1; then two agents resumed at once must
    # still run one at a time (no slot leaked or doubled).
    lock, inflight, peak = threading.Lock(), [0], [0]

    def working(request: FakeRequest) -> Reply:
        with lock:
            inflight[0] += 1
            peak[0] = max(peak[0], inflight[0])
        time.sleep(0.3)
        with lock:
            inflight[0] -= 1
        return MessageReply("again")

    resumed = threading.Event()
    scripts = Scripts({
        "go": [MessageReply([bg("c")]), MessageReply("waiting"),
               lambda r: working(r) if resumed.is_set() else MessageReply("x")],
        "c": [lambda r: working(r) if resumed.is_set() else MessageReply("late", delay=30)],
    })  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch, concurrency=1)
        try:
            assert until(lambda: run.records["lead"].text == "waiting" and len(lead_requests(fake, "c")) == 1)
            run.cancel("lead")
            run.wait(timeout=5)
            resumed.set()
            run.resume("lead", prompt="again")
            run.resume("lead/1-c", prompt="again")
            run.wait(timeout=8)
        finally:
            stop(run)
    assert run.status == {"lead": "done", "lead/1-c": "done"}
    assert peak[0] == 1


# ---- ends: max_turns, partial and failed coordinators, cancelled children


def test_a_coordinator_at_max_turns_keeps_its_childrens_work_for_a_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No turn is left to answer a notification: it once waited for one, then ended partial and
    # killed the other child.  Now it waits for every child (their work is kept), ends partial,
    # and its history holds both notifications, which a resume answers.
    scripts = Scripts({
        "go": [MessageReply([bg("c1"), bg("c2")]), MessageReply("waiting"), MessageReply("both read")],
        "c1": [MessageReply("c1 done", delay=0.2)],
        "c2": [MessageReply("c2 done", delay=0.6)],
    })  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch, max_turns=2)
        run.wait(timeout=10)
        assert run.status == {"lead": "partial", "lead/1-c1": "done", "lead/2-c2": "done"}
        run.resume("lead").wait(timeout=10)
        last = lead_requests(fake, "go")[-1]
    assert run.status["lead"] == "done" and run.results["lead"] == "both read"
    assert texts(last).count("<task-notification>") == 2


def test_children_of_an_ended_coordinator_have_ended_when_wait_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "started"
    sleeper = ToolUseBlock("Bash", {"command": f"touch {marker}; sleep 30"})

    def read(request: FakeRequest) -> Reply:
        until(marker.exists, 8)
        (c_id,) = ID.findall(texts(request))
        return MessageReply([ToolUseBlock("TaskOutput", {"task_id": c_id, "block": False})])

    scripts = Scripts(
        {"go": [MessageReply([bg("c")]), read], "c": [MessageReply([sleeper]), MessageReply("x")]}
    )
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch, max_turns=2)
        try:
            run.wait(timeout=9)
            states = dict(run.status)
            saved = json.loads((tmp_path / "run" / "run.json").read_text())
        finally:
            stop(run)
    assert states == {"lead": "partial", "lead/1-c": "cancelled"}, states
    assert "running" not in json.dumps(saved), saved


def test_a_child_launched_in_the_last_turn_ends_cancelled_not_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = Scripts({"go": [MessageReply([bg("c")])], "c": [MessageReply("c done")]})
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch, max_turns=1)
        try:
            run.wait(timeout=5)
            until(lambda: state_of(run, "c") not in ("pending", "running"), timeout=2)
        finally:
            stop(run)
    assert run.status == {"lead": "partial", "lead/1-c": "cancelled"}, run.status


def test_a_failed_coordinator_cancels_its_running_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.testing import ErrorReply

    scripts = Scripts({"go": [MessageReply([bg("c")]), ErrorReply(400, message="lead broke")],
                       "c": [MessageReply("late", delay=30)]})  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch)
        try:
            run.wait(timeout=5)
            assert until(lambda: state_of(run, "c") == "cancelled", timeout=3)
        finally:
            stop(run)
    assert run.records["lead"].state == "failed"


# ---- notifications: exactly once, in the right message, to the right parent


def test_many_children_ending_at_once_are_each_notified_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 8
    barrier = threading.Barrier(n, timeout=8)

    def together(answer: str) -> Callable[[FakeRequest], Reply]:
        def step(request: FakeRequest) -> Reply:
            barrier.wait()
            return MessageReply(answer)

        return step

    scripts = Scripts({"go": [MessageReply([bg(f"k{i}") for i in range(n)]), MessageReply("waiting"),
                              MessageReply("noted")],
                       **{f"k{i}": [together(f"answer {i}")] for i in range(n)}})  # fmt: skip
    events: list[Notified] = []
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch)
        run.on_event(lambda e: events.append(e) if isinstance(e, Notified) else None)
        run.wait(timeout=9)
        last = lead_requests(fake)[-1]
    assert run.status["lead"] == "done"
    ids = [r.agent_id for r in run.records.values() if r.parent == "lead"]
    assert len(ids) == n
    for agent_id in ids:
        assert texts(last).count(f"<task-id>{agent_id}</task-id>") == 1
    delivered = [t for e in events for t in e.texts]
    assert sorted(re.findall(r"<task-id>(a[0-9a-f]+)</task-id>", "".join(delivered))) == sorted(ids)
    # and the transcript reads back with each notification once
    back = read_transcript(run.records["lead"].transcript)
    dumped = json.dumps([m.to_api() for m in back.messages])
    assert all(dumped.count(f"<task-id>{i}</task-id>") == 1 for i in ids)
    roles = [m.role for m in back.messages]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles  # alternating


def test_a_notification_arriving_in_a_paused_turn_waits_for_the_next_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder: dict[str, Run] = {}

    def paused(request: FakeRequest) -> Reply:
        return MessageReply("thinking...", stop_reason="pause_turn")

    def after_pause(request: FakeRequest) -> Reply:
        return MessageReply([ToolUseBlock("Glob", {"pattern": "*.nothing"})])

    def lead_pause(request: FakeRequest) -> Reply:
        until(lambda: "run" in holder and state_of(holder["run"], "c") == "done", 8)  # in the inbox now
        return paused(request)

    scripts = Scripts({"go": [MessageReply([bg("c")]), lead_pause, after_pause, MessageReply("done")],
                       "c": [MessageReply("c done")]})  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = holder["run"] = start(fake, tmp_path, monkeypatch)
        run.wait(timeout=9)
        requests = lead_requests(fake)
    assert run.status == {"lead": "done", "lead/1-c": "done"}
    for request in requests:
        messages = request.json["messages"]
        if messages[-1]["role"] == "assistant":  # continuing the paused turn: sent as it was
            assert "<task-notification>" not in json.dumps(messages[-1])
    assert any(r.json["messages"][-1]["role"] == "assistant" for r in requests)  # a paused turn went on
    assert texts(requests[-1]).count("<task-notification>") == 1


def test_a_notification_arriving_while_the_parent_waits_for_permission_follows_the_tool_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = Scripts({"go": [MessageReply([bg("c")]), MessageReply([ECHO]), MessageReply("done")],
                       "c": [MessageReply("c done")]})  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch, interactive=True, permission_mode="default")
        try:
            assert until(lambda: bool(run.pending) and state_of(run, "c") == "done")
            run.pending[0].approve()
            run.wait(timeout=8)
        finally:
            stop(run)
        after = lead_requests(fake)[2]
    last = after.json["messages"][-1]
    assert last["role"] == "user"
    kinds = [b["type"] for b in last["content"]]
    assert kinds == ["tool_result", "text"] and "<task-notification>" in last["content"][1]["text"]


def test_taskstop_of_a_child_waiting_for_permission_withdraws_its_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder: dict[str, Run] = {}

    def stop_it(request: FakeRequest) -> Reply:
        until(lambda: "run" in holder and bool(holder["run"].pending), 8)
        (c_id,) = ID.findall(texts(request))
        return MessageReply([ToolUseBlock("TaskStop", {"task_id": c_id})])

    scripts = Scripts({"go": [MessageReply([bg("c")]), stop_it, MessageReply("stopped it")],
                       "c": [MessageReply([ECHO]), MessageReply("x")]})  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = holder["run"] = start(fake, tmp_path, monkeypatch, interactive=True, permission_mode="default")
        try:
            run.wait(timeout=8)
        finally:
            stop(run)
        last = lead_requests(fake)[-1]
    assert run.status == {"lead": "done", "lead/1-c": "cancelled"} and run.pending == []
    assert "Stopped agent" in texts(last) and "<status>killed</status>" in texts(last)


def test_grandchildren_notify_their_own_parent_and_are_stopped_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    states: dict[str, str] = {}
    holder: dict[str, Run] = {}

    def stop_c(request: FakeRequest) -> Reply:
        until(lambda: "run" in holder and any(r.task.prompt == "g2" and r.state == "running"
                                             for r in holder["run"].records.values()), 8)  # fmt: skip
        until(lambda: getattr(child(holder["run"], "c"), "text", "") == "c waiting", 8)
        (c_id,) = ID.findall(texts(request))
        return MessageReply([ToolUseBlock("TaskStop", {"task_id": c_id})])

    def look(request: FakeRequest) -> Reply:
        states.update({r.task.prompt: r.state for r in holder["run"].records.values()})
        return MessageReply("done")

    scripts = Scripts({
        "go": [MessageReply([bg("c")]), stop_c, look, MessageReply("done")],
        "c": [MessageReply([bg("g1"), bg("g2")]), MessageReply("c waiting"), MessageReply("c more")],
        "g1": [MessageReply("g1 done")],
        "g2": [MessageReply("g2 late", delay=30)],
    })  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = holder["run"] = start(fake, tmp_path, monkeypatch, max_depth=2)
        try:
            run.wait(timeout=9)
        finally:
            stop(run)
        lead_seen = json.dumps([r.json["messages"] for r in lead_requests(fake)])
        c_seen = json.dumps([r.json["messages"] for r in lead_requests(fake, "c")])
    g1 = child(run, "g1")
    assert g1.parent == child(run, "c").name and g1.depth == 2
    assert f"<task-id>{g1.agent_id}</task-id>" in c_seen and g1.agent_id not in lead_seen
    assert states["c"] == "cancelled" and states["g2"] == "cancelled", states


# ---- resume


def test_agent_resume_refuses_a_running_child_another_agents_child_and_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder: dict[str, Run] = {}

    def resumes(request: FakeRequest) -> Reply:
        run = holder["run"]
        until(lambda: state_of(run, "b-child") == "done", 8)
        mine = ID.findall(texts(request))[0]
        theirs = child(run, "b-child").agent_id
        me = run.records["a"].agent_id
        calls = [
            ToolUseBlock("Agent", {"description": "r", "prompt": "more", "resume": i})
            for i in (mine, theirs, me)
        ]
        return MessageReply(calls)

    scripts = Scripts({
        "a": [MessageReply([bg("a-child")]), resumes, MessageReply("a done")],
        "b": [MessageReply([bg("b-child")]), MessageReply("b done")],
        "a-child": [MessageReply("late", delay=2)],
        "b-child": [MessageReply("b-child done")],
    })  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = holder["run"] = start(fake, tmp_path, monkeypatch, {"a": "a", "b": "b"})
        try:
            run.wait(timeout=9)
        finally:
            stop(run)
        results = lead_requests(fake, "a")[2].json["messages"][-1]["content"]
    tool_results = [r for r in results if r["type"] == "tool_result"]
    assert [r.get("is_error") for r in tool_results] == [True, True, True]
    assert "running" in json.dumps(tool_results[0])
    assert "of yours to resume" in json.dumps(tool_results[1]) and "of yours" in json.dumps(tool_results[2])
    assert child(run, "b-child").text == "b-child done"  # another's child was not touched


def test_agent_resume_of_a_done_child_continues_its_conversation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def again(request: FakeRequest) -> Reply:
        (c_id,) = set(ID.findall(texts(request)))
        call = {"description": "c again", "prompt": "second", "resume": c_id, "run_in_background": True}
        return MessageReply([ToolUseBlock("Agent", call)])

    scripts = Scripts({"go": [MessageReply([bg("c")]), MessageReply("waiting"), again,
                              MessageReply("waiting 2"), MessageReply("all done")],
                       "c": [MessageReply("first answer"), MessageReply("second answer")]})  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch)
        run.wait(timeout=9)
        c_requests = lead_requests(fake, "c")
        last = lead_requests(fake)[-1]
    assert run.status == {"lead": "done", "lead/1-c": "done"} and child(run, "c").text == "second answer"
    assert "first answer" in texts(c_requests[-1]) and "second" in texts(c_requests[-1])
    assert texts(last).count("<task-notification>") == 2 and "second answer" in texts(last)


def test_taskoutput_of_a_child_the_user_resumed_says_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder: dict[str, Run] = {}
    hold = threading.Event()

    def check(request: FakeRequest) -> Reply:
        run = holder["run"]
        run.resume(child(run, "c").name, prompt="more")
        until(lambda: state_of(run, "c") == "running", 8)
        (c_id,) = set(ID.findall(texts(request)))
        return MessageReply([ToolUseBlock("TaskOutput", {"task_id": c_id, "block": False})])

    def after(request: FakeRequest) -> Reply:
        hold.set()
        return MessageReply("done")

    scripts = Scripts({"go": [MessageReply([bg("c")]), MessageReply("waiting"), check, after],
                       "c": [MessageReply("first"), waiting_on(hold, MessageReply("second"))]})  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = holder["run"] = start(fake, tmp_path, monkeypatch)
        try:
            run.wait(timeout=9)
        finally:
            hold.set()
            stop(run)
        result = lead_requests(fake)[3].json["messages"][-1]["content"][0]
    assert "<status>running</status>" in json.dumps(result), result


# ---- restart


KILLED = """
import os, sys, time, pathlib
from agentbook.scheduler.launch import run_parallel
from agentbook.testing import FakeAnthropic, MessageReply, ToolUseBlock
run_dir = pathlib.Path(sys.argv[1])
def bg(p):
    return ToolUseBlock("Agent", {"description": p, "prompt": p, "run_in_background": True})
def handler(request):
    content = request.json["messages"][0]["content"]
    prompt = content if isinstance(content, str) else content[-1].get("text", "")
    turn = sum(1 for m in request.json["messages"] if m["role"] == "assistant")
    if prompt == "c1":
        return MessageReply("c1 answer")
    if prompt == "c2":
        return MessageReply("c2 never", delay=60)
    lead = [MessageReply([bg("c1"), bg("c2")]), MessageReply("waiting"), MessageReply("one arrived")]
    return lead[min(turn, 2)]
fake = FakeAnthropic(handler).start()
os.environ["ANTHROPIC_BASE_URL"] = fake.base_url
os.environ["ANTHROPIC_API_KEY"] = "sk-ant-test-killed"
run = run_parallel({"lead": "go"}, model="haiku", run_dir=run_dir, interactive=False,
                   permission_mode="bypassPermissions")
run.wait(60)
"""


@pytest.fixture
def killed(tmp_path: Path) -> Path:
    """A run killed (SIGKILL) while its lead waits for c2, after c1's notification reached it."""
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(run_dir)], env=env, cwd=tmp_path)

    def lead_waits() -> bool:
        return any("one arrived" in p.read_text() for p in run_dir.glob("*/subagents/*.jsonl"))

    try:
        assert until(lead_waits, 9), "the lead never took c1's notification"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return run_dir


def loaded(run_dir: Path, steps: list[Any]) -> tuple[Run, ScriptedModel]:
    model = ScriptedModel(steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_run(run_dir, model=model, interactive=False, permission_mode="bypassPermissions"), model


def test_after_a_kill_the_delivered_notification_stays_and_a_resumed_lead_does_not_wait(killed: Path) -> None:
    run, _ = loaded(killed, ["resumed answer"])
    lead, c1, c2 = run.records["lead"], child(run, "c1"), child(run, "c2")
    assert (lead.state, c1.state, c2.state) == ("failed", "done", "failed")
    back = json.dumps([m.to_api() for m in read_transcript(lead.transcript).messages])
    assert f"<task-id>{c1.agent_id}</task-id>" in back
    run.resume("lead", prompt="go on")
    run.wait(timeout=5)  # it does not wait for c2, gone with the process
    assert run.records["lead"].state == "done" and run.records["lead"].text == "resumed answer"


def test_after_a_kill_a_resumed_lead_learns_what_became_of_its_child(killed: Path) -> None:
    c2_id = ""

    def read(request: Any) -> ToolUse:
        return ToolUse("t1", "TaskOutput", {"task_id": c2_id, "block": False})

    run, model = loaded(killed, [])
    c2_id = child(run, "c2").agent_id
    model.add(lambda request: model.reply(request, (read(request),)), "after")
    run.resume("lead", prompt="go on")
    run.wait(timeout=5)
    first, second = (json.dumps([m.to_api() for m in r.messages]) for r in model.requests)
    told = f"<task-id>{c2_id}</task-id>" in first
    answered = "no background agent" not in second and "<status>failed</status>" in second
    assert told and answered, (told, second[-400:])


# ---- transcripts, secrets, frames, the board


def test_a_secret_in_a_childs_answer_is_redacted_from_the_parents_transcript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = Scripts({"go": [MessageReply([bg("c")]), MessageReply("waiting"), MessageReply("done")],
                       "c": [MessageReply(f"the key is {KEY}")]})  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch)
        run.wait(timeout=9)
    assert run.status["lead"] == "done"
    text = run.records["lead"].transcript.read_text()
    assert "<task-notification>" in text and KEY not in text
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path


def test_frames_and_the_transcript_view_take_a_run_with_notifications(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.analysis.tool_frames import tool_calls_frame
    from agentbook.notebook.conversation import transcript_html

    scripts = Scripts({"go": [MessageReply([bg("c")]), MessageReply("waiting"), MessageReply("done")],
                       "c": [MessageReply("c done")]})  # fmt: skip
    with FakeAnthropic(scripts, api_key=KEY) as fake:
        run = start(fake, tmp_path, monkeypatch)
        run.wait(timeout=9)
    assert set(run.df.index if run.df.index.name == "name" else run.df["name"]) == {"lead", "lead/1-c"}
    assert len(run.calls_df) == 4
    tool_calls_frame(run)
    html = transcript_html(run.records["lead"].transcript)
    assert "task-notification" in html or "task-id" in html
    # every transcript line has Claude Code's fields, so ccusage-style readers take it
    for line in run.records["lead"].transcript.read_text().splitlines():
        record = json.loads(line)
        assert {"type", "uuid", "sessionId", "timestamp", "isSidechain"} <= set(record)
        if record["type"] == "user":
            assert record["message"]["role"] == "user"
