"""Parallel runs: fan-out on the background loop, cancel, resume, reload, coordinator,
permissions and hooks, driven by deterministic models."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support import processes_with

from agentbook.agent.hooks import Hooks
from agentbook.events import AgentEvent
from agentbook.messages import Request, Response, Text, ToolResult, ToolUse, Usage
from agentbook.models import ScriptedModel
from agentbook.scheduler.asking import PermissionRequest
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.restore import load_run
from agentbook.scheduler.run import Run
from agentbook.scheduler.transcripts import read_transcript
from agentbook.specs import AgentSpec, Task
from agentbook.tools.permissions import Permissions


@pytest.fixture(autouse=True)
def fresh_gates() -> None:
    reset_gates()


class RoleModel:
    """Answers by what the conversation is about, so concurrent agents can share it.

    The first user message decides: `bash:CMD` runs CMD once then answers `ran`; `sleep:S`
    sleeps S seconds in the model and answers; `spawn:N` asks for N sub-agents in one turn, then
    joins their answers; anything else is answered `echo: <prompt>`.
    """

    name = "scripted"
    description = "role model for tests"

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.lock = threading.Lock()

    async def aclose(self) -> None:
        return None

    async def respond(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
        prompt = next(m.text for m in request.messages if m.role == "user" and m.text)
        last = request.messages[-1]
        results = [b for b in last.content if isinstance(b, ToolResult)]
        turn = sum(m.role == "assistant" for m in request.messages)
        blocks: tuple[Any, ...]
        if prompt.startswith("bash:") and not results and turn == 0:
            blocks = (ToolUse(f"t-{id(request)}", "Bash", {"command": prompt[5:]}),)
        elif prompt.startswith("spawn:") and not results:
            n = int(prompt[6:])
            blocks = tuple(
                ToolUse(f"s{i}", "Agent", {"description": f"child {i}", "prompt": f"sleep:0.3 child {i}"})
                for i in range(n)
            )
        elif prompt.startswith("sleep:"):
            await asyncio.sleep(float(prompt[6:].split()[0]))
            blocks = (Text(f"slept for {prompt}"),)
        elif results:
            blocks = (Text("joined: " + " | ".join(r.content for r in results)),)
        else:
            blocks = (Text(f"echo: {prompt}"),)
        stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
        return Response(f"msg_{id(request)}_{turn}", "scripted", blocks, stop, Usage(100, 10))


def start(tasks: Any, tmp_path: Path, **kwargs: Any) -> Run:
    kwargs.setdefault("model", RoleModel())
    kwargs.setdefault("interactive", False)
    return run_parallel(tasks, cwd=tmp_path, run_dir=tmp_path / "run", **kwargs)


def test_fan_out_returns_at_once_and_collects_results(tmp_path: Path) -> None:
    started = time.monotonic()
    run = start({f"t{i}": f"sleep:0.5 task {i}" for i in range(10)}, tmp_path)
    assert time.monotonic() - started < 0.3  # returned before any agent could finish
    assert not run.done
    run.wait(timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0  # ten 0.5 s agents in parallel, not 5 s in a row
    assert run.status == {f"t{i}": "done" for i in range(10)}
    assert run.results["t3"] == "slept for sleep:0.5 task 3"
    df = run.df
    assert list(df.index) == [f"t{i}" for i in range(10)]
    assert (df["input_tokens"] == 100).all() and (df["turns"] == 1).all()
    assert {
        "output_tokens",
        "cache_read_input_tokens",
        "cost_usd",
        "start",
        "end",
        "duration_s",
        "error",
    } <= set(df)
    assert (df["duration_s"] >= 0.5).all()
    assert len(run.calls_df) == 10 and set(run.calls_df["agent"]) == set(df.index)
    manifest = json.loads((run.run_dir / "run.json").read_text())
    assert set(manifest["agents"]) == set(run.records)
    assert (run.run_dir / f"{run.session_id}.jsonl").is_file()


def test_a_blocking_caller_does_not_stop_the_agents(tmp_path: Path) -> None:
    run = start({f"t{i}": f"sleep:0.2 {i}" for i in range(5)}, tmp_path)
    time.sleep(1.0)  # the caller blocks, as a cell running time.sleep does
    assert run.done and set(run.status.values()) == {"done"}


def test_concurrency_cap_is_respected(tmp_path: Path) -> None:
    running: list[int] = []
    peak = [0]

    def count(event: AgentEvent) -> None:
        if event.kind == "agent_started":
            running.append(1)
            peak[0] = max(peak[0], len(running))
        elif event.kind == "agent_ended":
            running.pop()

    run = start({f"t{i}": f"sleep:0.1 {i}" for i in range(8)}, tmp_path, concurrency=3, on_event=count)
    run.wait(timeout=10)
    assert peak[0] == 3


def test_await_and_events_from_another_loop(tmp_path: Path) -> None:
    async def main() -> tuple[list[str], list[str]]:
        run = start({"a": "sleep:0.2 a", "b": "sleep:0.3 b"}, tmp_path)
        kinds = [event.kind async for event in run.events()]
        await run
        return kinds, list(run.status.values())

    kinds, states = asyncio.run(main())
    assert kinds.count("agent_ended") == 2 and kinds.count("turn") == 2
    assert states == ["done", "done"]


def test_cancel_stops_agents_and_their_bash_trees_within_a_second(tmp_path: Path) -> None:
    ended: list[str] = []
    marker = f"{os.getpid() % 1000}.{time.time_ns() % 10**6}"  # sleep's argument names our processes
    run = start(
        {f"t{i}": f"bash:touch started{i}; sleep 6{marker} & sleep 6{marker}" for i in range(3)},
        tmp_path,
        permission_mode="bypassPermissions",
        on_end=lambda r: ended.append(r.name),
    )
    deadline = time.monotonic() + 10
    while not all((tmp_path / f"started{i}").exists() for i in range(3)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(processes_with(marker)) >= 6  # each agent: its shell and two sleeps
    cancelled_at = time.monotonic()
    run.cancel()
    run.wait(timeout=5)
    assert time.monotonic() - cancelled_at < 1.0
    assert set(run.status.values()) == {"cancelled"} and sorted(ended) == ["t0", "t1", "t2"]
    assert processes_with(marker) == []
    for record in run.records.values():
        back = read_transcript(record.transcript)
        assert back.bad_lines == 0 and back.end["state"] == "cancelled"


def test_cancel_one_agent_leaves_its_siblings(tmp_path: Path) -> None:
    run = start({"slow": "sleep:30 s", "quick": "sleep:0.2 q"}, tmp_path)
    time.sleep(0.1)
    run.cancel("slow")
    run.wait(timeout=5)
    assert run.status == {"slow": "cancelled", "quick": "done"}
    with pytest.raises(KeyError, match="no agent 'nope'"):
        run.cancel("nope")


def test_max_turns_then_resume_without_repeating_tool_calls(tmp_path: Path) -> None:
    script = ScriptedModel(
        [
            ToolUse("c1", "Bash", {"command": "echo one >> calls.log"}),
            ToolUse("c2", "Bash", {"command": "echo two >> calls.log"}),
            "finished",
        ]
    )
    run = start({"worker": "go"}, tmp_path, model=script, max_turns=1, permission_mode="bypassPermissions")
    run.wait(timeout=10)
    assert run.status == {"worker": "partial"}
    run.resume("worker", max_turns=5).wait(timeout=10)
    assert run.status == {"worker": "done"} and run.results["worker"] == "finished"
    assert (tmp_path / "calls.log").read_text().splitlines() == ["one", "two"]
    assert run.records["worker"].turns == 3
    # The resumed conversation is the same one: the second request carried the first tool result.
    assert any(
        isinstance(b, ToolResult) and b.tool_use_id == "c1" for b in script.requests[1].messages[-1].content
    )


def test_a_failing_permission_check_denies_the_call_and_the_agent_goes_on(tmp_path: Path) -> None:
    class Broken(Permissions):
        def decide(self, tool: str, input: Any, root: Path) -> Any:
            raise IndexError("a bug in the rules engine")

    script = ScriptedModel([ToolUse("c1", "Bash", {"command": "echo hi > out.txt"}), "carried on"])
    run = start({"worker": "go"}, tmp_path, model=script, permissions=Broken())
    run.wait(timeout=10)
    assert run.status == {"worker": "done"} and run.results["worker"] == "carried on"
    assert not (tmp_path / "out.txt").exists()
    result = script.requests[1].messages[-1].content[0]
    assert isinstance(result, ToolResult) and result.is_error
    assert "Permission check failed (IndexError)" in result.content


def test_a_reloaded_run_shows_the_same_state_and_resumes(tmp_path: Path) -> None:
    script = ScriptedModel([ToolUse("c1", "Read", {"file_path": "notes.txt"}), "read it"])
    (tmp_path / "notes.txt").write_text("hello\n")
    run = start({"reader": "read notes", "other": "x"}, tmp_path, model=script, max_turns=1)
    run.wait(timeout=10)
    status = run.status
    loaded = load_run(run.run_dir, model=ScriptedModel(["done after reload"]), interactive=False)
    assert loaded.status == status
    assert loaded.records["reader"].usage == run.records["reader"].usage
    assert len(loaded.calls_df) == len(run.calls_df)
    loaded.resume("reader").wait(timeout=10)
    assert loaded.status["reader"] == "done" and loaded.results["reader"] == "done after reload"
    with pytest.raises(FileNotFoundError, match="not an agentbook run folder"):
        load_run(tmp_path)


def test_a_crashed_agent_reloads_as_failed_and_can_resume(tmp_path: Path) -> None:
    script = ScriptedModel(["first"])
    run = start({"a": "go"}, tmp_path, model=script)
    run.wait(timeout=10)
    transcript = run.records["a"].transcript
    lines = transcript.read_text().splitlines()
    transcript.write_text("\n".join(lines[:-1]) + "\n")  # as if the process died before the end line
    loaded = load_run(run.run_dir, model=ScriptedModel(["second"]), interactive=False)
    assert loaded.status == {"a": "failed"} and "no end record" in (loaded.records["a"].error or "")
    loaded.resume("a", prompt="again").wait(timeout=10)
    assert loaded.results["a"] == "second"


def test_one_failure_does_not_stop_siblings_and_is_logged(tmp_path: Path) -> None:
    class Flaky(RoleModel):
        async def respond(self, request: Request) -> Response:
            if "explode" in request.messages[0].text:
                raise RuntimeError("model adapter bug")
            return await super().respond(request)

    run = start({"bad": "explode", "good1": "sleep:0.2 a", "good2": "b"}, tmp_path, model=Flaky())
    run.wait(timeout=10)
    assert run.status == {"bad": "failed", "good1": "done", "good2": "done"}
    failures = run.failures
    assert list(failures["name"]) == ["bad"] and "model adapter bug" in failures["error"][0]
    log = (run.run_dir / "failures.md").read_text()
    assert "## bad" in log and "model adapter bug" in log


def test_coordinator_spawns_parallel_sidechain_subagents(tmp_path: Path) -> None:
    model = RoleModel()
    started = time.monotonic()
    run = start({"lead": "spawn:3"}, tmp_path, model=model)
    run.wait(timeout=10)
    assert time.monotonic() - started < 0.9  # three 0.3 s children at once
    assert run.status["lead"] == "done"
    children = [r for r in run.records.values() if r.parent == "lead"]
    assert len(children) == 3 and all(c.state == "done" and c.depth == 1 for c in children)
    assert run.results["lead"].startswith("joined: slept for sleep:0.3 child")
    for child in children:
        assert child.result_tokens and child.result_tokens > 0
        lines = [json.loads(x) for x in child.transcript.read_text().splitlines()]
        assert all(x["isSidechain"] and x["sessionId"] == run.session_id for x in lines)
    # Depth limit: the children were not offered the Agent tool.
    child_requests = [r for r in model.requests if r.messages[0].text.startswith("sleep:0.3 child")]
    assert child_requests and all("Agent" not in {t.name for t in r.tools} for r in child_requests)
    assert "Agent" in {t.name for t in model.requests[0].tools}
    assert len(run.df) == 4 and run.df.loc[children[0].name, "parent"] == "lead"


def test_unknown_subagent_type_is_a_tool_error(tmp_path: Path) -> None:
    script = ScriptedModel(
        [ToolUse("a1", "Agent", {"description": "x", "prompt": "y", "subagent_type": "ghost"}), "ok"]
    )
    run = start({"lead": "go"}, tmp_path, model=script)
    run.wait(timeout=10)
    result = script.requests[1].messages[-1].content[0]
    assert (
        isinstance(result, ToolResult)
        and result.is_error
        and "unknown subagent_type 'ghost'" in result.content
    )


def test_headless_ask_is_denied_with_a_clear_error_and_the_agent_goes_on(tmp_path: Path) -> None:
    script = ScriptedModel(
        [ToolUse("e1", "Write", {"file_path": "x.txt", "content": "x"}), "gave up on writing"]
    )
    run = start({"w": "write"}, tmp_path, model=script)
    run.wait(timeout=10)
    result = script.requests[1].messages[-1].content[0]
    assert isinstance(result, ToolResult) and result.is_error and "headless" in result.content
    assert run.status == {"w": "done"} and not (tmp_path / "x.txt").exists()


def test_ask_waits_for_approve_deny_and_always(tmp_path: Path) -> None:
    script = ScriptedModel(
        [
            ToolUse("w1", "Write", {"file_path": "a.txt", "content": "a"}),
            ToolUse("w2", "Write", {"file_path": "b.txt", "content": "b"}),
            ToolUse("w3", "Bash", {"command": "echo hi > c.txt"}),
            ToolUse("w4", "Bash", {"command": "echo hi > c.txt"}),
            "done",
        ]
    )
    run = start({"w": "write files"}, tmp_path, model=script, interactive=True)

    def request_for(call_id: str) -> PermissionRequest:
        deadline = time.monotonic() + 5
        while not (run.pending and run.pending[0].call.id == call_id):
            assert time.monotonic() < deadline, f"no permission request for {call_id}"
            time.sleep(0.02)
        assert run.status["w"] == "waiting"
        return run.pending[0]

    request_for("w1").approve()
    request_for("w2").deny()
    request_for("w3").approve_always()
    run.wait(timeout=10)  # w4 runs the same command: allowed by the rule just added
    assert run.status == {"w": "done"}
    assert (
        (tmp_path / "a.txt").exists() and not (tmp_path / "b.txt").exists() and (tmp_path / "c.txt").exists()
    )
    denied = script.requests[2].messages[-1].content[0]
    assert isinstance(denied, ToolResult) and denied.is_error and "denied" in denied.content


def test_permission_rules_and_modes_apply(tmp_path: Path) -> None:
    from agentbook.tools.permissions import Permissions

    script = ScriptedModel(
        [
            [
                ToolUse("b1", "Bash", {"command": "rm -rf data"}),
                ToolUse("b2", "Bash", {"command": "echo ok > ok.txt"}),
            ],
            "end",
        ]
    )
    rules = Permissions(allow=["Bash(echo *)"], deny=["Bash(rm *)"])
    run = start({"b": "go"}, tmp_path, model=script, permissions=rules)
    run.wait(timeout=10)
    rm, echo = script.requests[1].messages[-1].content
    assert isinstance(rm, ToolResult) and rm.is_error and "denied" in rm.content.lower()
    assert isinstance(echo, ToolResult) and not echo.is_error and (tmp_path / "ok.txt").exists()


def test_agent_spec_permission_mode_and_tools(tmp_path: Path) -> None:
    script = ScriptedModel([ToolUse("w1", "Write", {"file_path": "a.txt", "content": "a"}), "ok"])
    spec = AgentSpec("editor", prompt="You edit.", tools=("Write", "Read"), permission_mode="acceptEdits")
    run = start([Task("e", "edit", agent="editor")], tmp_path, model=script, agents={"editor": spec})
    run.wait(timeout=10)
    assert (tmp_path / "a.txt").read_text() == "a"
    assert script.requests[0].system == "You edit."
    assert [t.name for t in script.requests[0].tools] == ["Read", "Write"]


def test_hooks_see_and_can_deny_tool_calls(tmp_path: Path) -> None:
    seen: list[str] = []

    async def no_secrets(agent: str, call: ToolUse) -> str | None:
        return "reading .env is not allowed" if call.input.get("file_path") == ".env" else None

    hooks = Hooks(
        pre_tool=[no_secrets],
        post_tool=[lambda agent, call, result: seen.append(f"post {call.id} {result.is_error}")],
        on_start=[lambda agent: seen.append(f"start {agent}")],
        on_end=[lambda agent, result: seen.append(f"end {agent} {result.state}")],
    )
    (tmp_path / ".env").write_text("KEY=1")
    (tmp_path / "ok.txt").write_text("fine")
    script = ScriptedModel(
        [[ToolUse("r1", "Read", {"file_path": ".env"}), ToolUse("r2", "Read", {"file_path": "ok.txt"})], "ok"]
    )
    run = start({"h": "go"}, tmp_path, model=script, hooks=hooks)
    run.wait(timeout=10)
    blocked, fine = script.requests[1].messages[-1].content
    assert (
        isinstance(blocked, ToolResult)
        and blocked.is_error
        and "reading .env is not allowed" in blocked.content
    )
    assert isinstance(fine, ToolResult) and "fine" in fine.content
    assert seen[0] == "start h" and seen[-1] == "end h done"
    assert sorted(seen[1:3]) == ["post r1 True", "post r2 False"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tasks": {"a b": "x"}}, "must be letters"),
        ({"tasks": {"a": ""}}, "empty prompt"),
        ({"tasks": {"a": {"prompt": "x", "agnet": "y"}}}, "unknown key"),
        ({"tasks": {"a": {"prompt": "x", "agent": "ghost"}}}, "names agent 'ghost'"),
        ({"tasks": {"a": "x"}, "concurrency": 0}, "concurrency must be at least 1"),
        ({"tasks": {"a": "x"}, "tools": ["Read", "Teleport"]}, "Teleport"),
        ({"tasks": {}}, "no tasks"),
    ],
)
def test_bad_input_starts_nothing(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    tasks = kwargs.pop("tasks")
    with pytest.raises(ValueError, match=message):
        start(tasks, tmp_path, **kwargs)
    assert not (tmp_path / "run").exists()


def test_a_run_gates_tool_calls_with_its_hooks_then_its_permissions(tmp_path: Path) -> None:
    from agentbook.events import ToolDenied
    from agentbook.tools.permissions import Permissions

    asked: list[str] = []

    def no_env(agent: str, call: ToolUse) -> str | None:
        asked.append(call.id)
        return "no .env" if ".env" in call.input.get("command", "") else None

    script = ScriptedModel(
        [
            [
                ToolUse("b1", "Bash", {"command": "rm .env"}),  # the hook denies it first
                ToolUse("b2", "Bash", {"command": "rm data"}),  # the hook lets it by; the rules deny it
            ],
            "end",
        ]
    )
    denials: list[ToolDenied] = []
    run = start(
        {"g": "go"},
        tmp_path,
        model=script,
        hooks=Hooks(pre_tool=[no_env]),
        permissions=Permissions(deny=["Bash(rm *)"]),
        on_event=lambda event: denials.append(event) if isinstance(event, ToolDenied) else None,
    )
    run.wait(timeout=10)
    hook, rules = script.requests[1].messages[-1].content
    assert (
        isinstance(hook, ToolResult)
        and hook.content == "<tool_use_error>Blocked by a hook: no .env</tool_use_error>"
    )
    assert isinstance(rules, ToolResult) and rules.is_error and "Permission denied" in rules.content
    assert sorted(asked) == ["b1", "b2"]
    assert sorted((d.call.id, d.reason.split(":")[0]) for d in denials) == [
        ("b1", "Blocked by a hook"),
        ("b2", "Permission denied"),
    ]


def test_wait_returns_the_summary_and_raise_for_failures_names_every_failed_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import agentbook as ab

    monkeypatch.setenv("SERVICE_TOKEN", "tok-summary-secret-0042")

    def boom(request: object) -> object:
        raise RuntimeError("quota gone for tok-summary-secret-0042")

    model = ScriptedModel([boom, boom, "fine"])
    run = run_parallel({"a": "x", "b": "y", "c": "z"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run",
                       interactive=False, concurrency=1)  # fmt: skip
    summary = run.wait(timeout=20)
    assert isinstance(summary, ab.RunSummary) and summary.states == {"done": 1, "failed": 2}
    assert set(summary.failures) == {"a", "b"} and summary.cost_usd == 0.0
    text = str(summary)
    assert text.startswith("run run: 1 done, 2 failed; 0 denied, 0 API retries, $0.0000")
    assert "a failed: RuntimeError: quota gone for [REDACTED]" in text and "tok-summary" not in text
    # Headless, the same text reaches stderr once: one warning (shown where logging is not set up).
    said = [r for r in caplog.records if r.name == "agentbook" and r.getMessage().startswith("run run:")]
    assert [(r.levelname, r.getMessage()) for r in said] == [("WARNING", text)]
    with pytest.raises(ab.RunFailed, match=r"run run: 2 agents failed: a: .*; b: ") as raised:
        run.raise_for_failures()
    assert set(raised.value.failures) == {"a", "b"}

    fine = run_parallel({"d": "x"}, model=ScriptedModel(["ok"]), cwd=tmp_path, run_dir=tmp_path / "r2",
                        interactive=False)  # fmt: skip
    fine.wait(timeout=20)
    fine.raise_for_failures()  # nothing failed: nothing raised
