"""Adversarial tests of agent teams and fork sub-agents (attack 13): a start that fails or
meets an existing team, secrets sent through the mailbox, a team member's fork, corrupt team
files, bad recipients, a cancel while members wait, forks at the depth limit."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import first_prompt, texts

import agentbook as ab
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.testing import FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock
from agentbook.tools.team_tasks import TaskBoard

KEY = "sk-ant-test-attack-0123456789abcdef"


@pytest.fixture(autouse=True)
def gates() -> None:
    reset_gates()


@contextlib.contextmanager
def serve(monkeypatch: pytest.MonkeyPatch, handler: Any) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(handler, api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield fake


def offline_team(tmp_path: Path, **options: Any) -> ab.Team:
    return ab.Team("Plan the work.", {"alice": "reads code"}, ["one", "two"], model="offline",
                   cwd=tmp_path, run_dir=tmp_path / "run", interactive=False, **options)  # fmt: skip


def member(request: FakeRequest) -> str:
    me = re.match(r"You are (\w+)", first_prompt(request))
    return me[1] if me else ""


def turn(request: FakeRequest) -> int:
    return sum(1 for m in request.json["messages"] if m["role"] == "assistant")


def is_fork(request: FakeRequest) -> bool:
    return "You are a fork" in texts(request)


# --- findings ------------------------------------------------------------------------------------


def test_a_start_that_fails_leaves_no_task_list_behind_to_duplicate(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="bogus"):
        offline_team(tmp_path, bogus=1).start()
    assert not (tmp_path / "run" / "team" / "tasks.json").exists()
    again = offline_team(tmp_path).start().wait(timeout=30)
    assert [t.subject for t in again.tasks] == ["one", "two"]  # today: one, two, one, two


def test_a_second_start_on_a_teams_run_dir_leaves_that_team_as_it_was(tmp_path: Path) -> None:
    offline_team(tmp_path).start().wait(timeout=30)
    board = tmp_path / "run" / "team" / "tasks.json"
    before = board.read_bytes()
    with pytest.raises(FileExistsError, match="holds a run or a team already"):
        offline_team(tmp_path).start()
    assert board.read_bytes() == before
    assert [t.subject for t in ab.Team.load(tmp_path / "run").tasks] == ["one", "two"]


def secret_sender(request: FakeRequest) -> Reply:
    if member(request) == "alice" and turn(request) == 0:
        return MessageReply([ToolUseBlock("SendMessage", {"to": "lead", "message": f"the key is {KEY}"})])
    return MessageReply("idle")


def test_a_message_holding_the_api_key_is_redacted_in_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(monkeypatch, secret_sender):
        team = ab.Team("Lead.", {"alice": "works"}, ["one"], model="haiku", cwd=tmp_path,
                       run_dir=tmp_path / "run", interactive=False, max_turns=10).start()  # fmt: skip
        team.wait(timeout=30)
    assert team.run is not None and set(team.run.status.values()) == {"done"}
    leaked = [
        p for p in (tmp_path / "run").rglob("*") if p.is_file() and KEY in p.read_text(errors="replace")
    ]
    assert leaked == []  # today: team/mailbox.jsonl


def forking_member(requests: list[FakeRequest]) -> Any:
    def handler(request: FakeRequest) -> Reply:
        requests.append(request)
        if is_fork(request):
            return MessageReply("fork done")
        if member(request) == "alice" and turn(request) == 0:
            fork = {"description": "part", "prompt": "do part one", "subagent_type": "fork"}
            return MessageReply([ToolUseBlock("Agent", fork)])
        return MessageReply("idle")

    return handler


def test_a_team_members_fork_repeats_its_callers_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests: list[FakeRequest] = []
    with serve(monkeypatch, forking_member(requests)):
        team = ab.Team("Lead.", {"alice": "works"}, ["one"], model="haiku", cwd=tmp_path,
                       run_dir=tmp_path / "run", interactive=False, max_turns=10).start()  # fmt: skip
        team.wait(timeout=30)
    assert team.run is not None and team.run.records["alice"].state == "done"
    caller = next(r for r in requests if member(r) == "alice" and not is_fork(r))
    fork = next(r for r in requests if is_fork(r))
    # forking.py: the child is wired as its caller, so its first request repeats the caller's.
    assert [t["name"] for t in fork.json["tools"]] == [t["name"] for t in caller.json["tools"]]


# --- regression tests (no bug found) -------------------------------------------------------------


def finished_team(tmp_path: Path) -> Path:
    offline_team(tmp_path).start().wait(timeout=30)
    return tmp_path / "run"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("tasks.json", '{"version": 1, "tasks": [', "tasks.json is not a readable task list"),
        ("tasks.json", '{"version": 1, "tasks": [], "next_id": "x"}', "tasks.json is not a readable"),
        ("mailbox.jsonl", '{"kind": "sent", "messages": []}\n', "mailbox.jsonl, line 1"),
        ("mailbox.jsonl", "not json\n{}\n", "mailbox.jsonl, line 1"),
    ],
)
def test_team_load_on_a_corrupt_team_file_names_it_and_changes_nothing(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    run_dir = finished_team(tmp_path)
    (run_dir / "team" / name).write_text(text)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=re.escape(message)):
        ab.Team.load(run_dir)
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def bad_recipients(request: FakeRequest) -> Reply:
    if member(request) == "alice" and turn(request) == 0:
        return MessageReply([ToolUseBlock("SendMessage", {"to": "alice", "message": "me"}),
                             ToolUseBlock("SendMessage", {"to": "zed", "message": "who"}),
                             ToolUseBlock("TaskUpdate", {"taskId": "1", "owner": "zed"})])  # fmt: skip
    return MessageReply("idle")


def test_messages_to_oneself_or_a_stranger_are_tool_errors_not_crashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(monkeypatch, bad_recipients) as fake:
        team = ab.Team("Lead.", {"alice": "works"}, ["one"], model="haiku", cwd=tmp_path,
                       run_dir=tmp_path / "run", interactive=False, max_turns=10).start()  # fmt: skip
        team.wait(timeout=30)
    assert team.run is not None and set(team.run.status.values()) == {"done"}
    answered = next(r for r in fake.message_requests if member(r) == "alice" and turn(r) == 1)
    results = answered.json["messages"][-1]["content"]
    assert [b.get("is_error") for b in results] == [True, True, True]
    assert "yourself" in json.dumps(results) and "unknown recipient 'zed'" in json.dumps(results)
    assert team.mailbox is not None and team.mailbox.messages() == []
    assert [t.owner for t in team.tasks] == [None]


def slow_teammate(request: FakeRequest) -> Reply:
    if member(request) == "alice":
        return MessageReply("still thinking", delay=30)
    return MessageReply("waiting for alice")


def test_a_cancel_while_the_lead_waits_and_a_teammate_works_ends_the_team(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(monkeypatch, slow_teammate) as fake:
        team = ab.Team("Lead.", {"alice": "works"}, ["one"], model="haiku", cwd=tmp_path,
                       run_dir=tmp_path / "run", interactive=False, max_turns=10).start()  # fmt: skip
        assert team.run is not None
        with contextlib.suppress(TimeoutError):
            team.run.wait(timeout=1)  # the lead is waiting for alice, alice mid-request
        assert any(member(r) == "lead" for r in fake.message_requests)
        team.run.cancel()
        team.run.wait(timeout=10)
    assert team.run.done and set(team.run.status.values()) <= {"cancelled", "done"}
    assert team.run.status["alice"] == "cancelled"


def test_a_stop_before_anyone_waits_still_ends_the_team(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(monkeypatch, lambda request: MessageReply("nothing", delay=0.5)):
        team = ab.Team("Lead.", {"alice": "works"}, ["one"], model="haiku", cwd=tmp_path,
                       run_dir=tmp_path / "run", interactive=False, max_turns=10).start()  # fmt: skip
        team.stop()  # nobody has ended a turn yet: the run's loop was never seen
        team.wait(timeout=10)
    assert team.run is not None and set(team.run.status.values()) == {"done"}
    team.stop()  # after the end too: no error


def test_no_agent_tool_at_max_depth_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(monkeypatch, lambda request: MessageReply("done")) as fake:
        run = run_parallel({"solo": "go"}, model="haiku", cwd=tmp_path, run_dir=tmp_path / "run",
                           interactive=False, max_depth=0)  # fmt: skip
        run.wait(timeout=30)
    assert run.status == {"solo": "done"}
    assert "Agent" not in [t["name"] for t in fake.message_requests[0].json["tools"]]


def test_a_task_holding_the_api_key_is_redacted_in_the_task_list_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    board = TaskBoard(tmp_path / "tasks.json")
    task = board.create(f"use {KEY}", f"the key is {KEY}")
    board.update(task.id, by="lead", description=f"still {KEY}", active_form=f"using {KEY}")
    assert KEY not in (tmp_path / "tasks.json").read_text() and KEY not in repr(board.list())
