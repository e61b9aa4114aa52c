"""Agent teams (issue 13, point 4), through the real SDK on the local fake Messages API: a lead and
three teammates complete a task list with dependencies, claiming tasks in a race, each message
reaching its recipient once; a team cancelled mid-task goes on after `Team.load` with the tasks
as they were."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import REPO, first_prompt

import agentbook as ab
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.transcripts import read_transcript
from agentbook.testing import ErrorReply, FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock

KEY = "sk-ant-test-teams-0123456789abcdef"
TASKS = [
    {"subject": "schema", "description": "the tables"},
    {"subject": "api", "description": "the endpoints", "blocked_by": ["schema"]},
    {"subject": "ui", "blocked_by": ["api"]},
    "docs",
]


@pytest.fixture(autouse=True)
def gates() -> None:
    reset_gates()


class Members:
    """The fake model of every member, by who it is (its first message) and what it was told
    last: a teammate claims what it is told is available, completes it and tells the lead; after
    a restart it looks at the list and finishes what it owns.  `slow` tasks take 30 s to finish."""

    def __init__(self, slow: frozenset[str] = frozenset()) -> None:
        self.slow, self.lock, self.claims = slow, threading.Lock(), []

    def __call__(self, request: FakeRequest) -> Reply:
        me = re.match(r"You are (\w+)", first_prompt(request))
        assert me is not None, first_prompt(request)[:80]
        last = json.dumps(request.json["messages"][-1]["content"])
        if me[1] == "lead":
            done = "Every task is completed" in last
            return MessageReply("final: the team finished" if done else "waiting for the team")
        return self.teammate(me[1], last)

    def teammate(self, me: str, last: str) -> Reply:
        if "Go on with the team" in last:
            return MessageReply([ToolUseBlock("TaskList", {})])
        mine = re.search(rf"#(\d+) \[in_progress\] (\w+) \(owner: {me}\)", last)
        claimed = re.search(r"Updated task #(\d+): status in_progress", last)
        if mine or claimed:
            task = (mine or claimed)[1]  # type: ignore[index]
            told = {"to": "lead", "message": f"{me} completed #{task}"}
            finish = [ToolUseBlock("TaskUpdate", {"taskId": task, "status": "completed"}),
                      ToolUseBlock("SendMessage", told)]  # fmt: skip
            return MessageReply(finish, delay=30 if task in self.slow else 0)
        free = re.search(r"A task is available: #(\d+)", last)
        if free:
            with self.lock:
                self.claims.append((me, free[1]))
            return MessageReply([ToolUseBlock("TaskUpdate", {"taskId": free[1], "status": "in_progress"})])
        return MessageReply(f"{me}: nothing to do")


@contextlib.contextmanager
def serve(monkeypatch: pytest.MonkeyPatch, handler: Any) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(handler, api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield fake


def team(tmp_path: Path, teammates: int = 3) -> ab.Team:
    roles = {name: f"builds what is asked ({name})" for name in ["alice", "bob", "carol"][:teammates]}
    return ab.Team("Build the feature with your team.", roles, TASKS, model="haiku", cwd=tmp_path,
                   run_dir=tmp_path / "run", interactive=False, max_turns=40)  # fmt: skip


def test_a_lead_and_three_teammates_complete_a_task_list_with_dependencies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = Members()
    with serve(monkeypatch, handler):
        started = team(tmp_path).start()
        assert started.run is not None and not started.run.done  # start() returned at once
        started.wait(timeout=60)
    run = started.run
    assert run.status == {"lead": "done", "alice": "done", "bob": "done", "carol": "done"}
    assert run.results["lead"] == "final: the team finished"
    tasks = {t.subject: t for t in started.tasks}
    assert {t.status for t in tasks.values()} == {"completed"}
    assert {t.owner for t in tasks.values()} <= {"alice", "bob", "carol"}
    # The blocked tasks were offered only once their blockers were completed, so they were
    # claimed in order; racing teammates claimed some tasks at once, and each has one owner.
    claimed = [task for _, task in handler.claims]
    assert claimed.index(tasks["api"].id) > claimed.index(tasks["schema"].id)
    assert claimed.index(tasks["ui"].id) > claimed.index(tasks["api"].id)
    assert len(handler.claims) > len(TASKS)  # races happened: losers were told it is taken
    # Every teammate's message reached the lead once, in its conversation.
    said = json.dumps([m.to_api() for m in read_transcript(run.records["lead"].transcript).messages])
    for task in tasks.values():
        assert said.count(f"{task.owner} completed #{task.id}") == 1
    assert '<teammate-message teammate_id=\\"' in said
    # The list and the mailbox are in the run folder.
    assert json.loads((run.run_dir / "team" / "tasks.json").read_text())
    assert len((run.run_dir / "team" / "mailbox.jsonl").read_text().splitlines()) >= len(TASKS)


def test_a_team_cancelled_mid_task_goes_on_after_load_with_the_tasks_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = Members(slow=frozenset({"2"}))
    with serve(monkeypatch, handler):
        first = team(tmp_path, teammates=2).start()
        deadline = time.monotonic() + 30
        while not any(t.subject == "api" and t.status == "in_progress" for t in first.tasks):
            assert time.monotonic() < deadline, first.tasks
            time.sleep(0.05)
        assert first.run is not None
        first.run.cancel()
        first.run.wait(timeout=30)
    before = {t.subject: (t.status, t.owner) for t in first.tasks}
    assert before["schema"][0] == "completed" and before["api"][0] == "in_progress"

    handler = Members()  # api is quick now
    with serve(monkeypatch, handler):
        again = ab.Team.load(tmp_path / "run", interactive=False)
        assert {t.subject: (t.status, t.owner) for t in again.tasks} == before
        again.resume(max_turns=40).wait(timeout=60)
    assert again.run is not None and again.run.records["lead"].state == "done"
    after = {t.subject: t for t in again.tasks}
    assert {t.status for t in after.values()} == {"completed"}
    assert after["api"].owner == before["api"][1]  # its owner finished it after the restart
    assert "schema" not in {s for _, s in handler.claims}  # nothing done twice


@pytest.mark.parametrize(
    ("lead", "teammates", "tasks", "message"),
    [
        ("", {"a": "x"}, [], "instructions"),
        ("go", {}, [], "needs teammates"),
        ("go", {"a b": "x"}, [], "must be letters"),
        ("go", {"lead": "x"}, [], "lead's name"),
        ("go", {"a": ""}, [], "needs a role"),
        ("go", {"a": "x"}, [{"title": "t"}], "task 1"),
        ("go", {"a": "x"}, [{"subject": "t", "owner": "a"}], "unknown field"),
        ("go", {"a": "x"}, [{"subject": "t", "blocked_by": ["nope"]}], "names no earlier task"),
        ("go", {"a": "x"}, ["t", {"subject": "u", "blocked_by": [2]}], "blocked_by 2 names no earlier"),
        ("go", {"a": "x"}, "one task", "must be a list"),
    ],
)
def test_a_bad_team_is_named_and_starts_nothing(
    tmp_path: Path, lead: str, teammates: dict[str, str], tasks: list[Any], message: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        ab.Team(lead, teammates, tasks, model="offline", run_dir=tmp_path / "run").start()
    assert not (tmp_path / "run").exists()


def test_bad_run_options_and_a_used_run_folder_create_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="max_turns"):
        ab.Team("go", {"a": "x"}, ["t"], model="offline", run_dir=tmp_path / "run", max_turns="many").start()
    assert not (tmp_path / "run").exists()
    ab.Team("go", {"a": "x"}, ["t"], model="offline", cwd=tmp_path, run_dir=tmp_path / "run").start().wait(30)
    listed = (tmp_path / "run" / "team" / "tasks.json").read_text()
    with pytest.raises(FileExistsError, match=r"Team\.load"):
        ab.Team("go", {"a": "x"}, ["t"], model="offline", cwd=tmp_path, run_dir=tmp_path / "run").start()
    assert (tmp_path / "run" / "team" / "tasks.json").read_text() == listed


def test_an_offline_team_that_takes_no_task_ends_without_spinning(tmp_path: Path) -> None:
    """The offline model never calls a task tool: each teammate is offered the tasks once, the
    lead is told the team is quiet, answers, and the team ends (no turns burnt on re-offers)."""
    roles = {"alice": "reads code", "bob": "writes docs"}
    quiet = ab.Team("Plan the work.", roles, ["one", "two"], model="offline", cwd=tmp_path,
                    run_dir=tmp_path / "run", interactive=False).start()  # fmt: skip
    quiet.wait(timeout=60)
    assert quiet.run is not None and set(quiet.run.status.values()) == {"done"}
    told = {name: json.dumps([m.to_api() for m in read_transcript(r.transcript).messages])
            for name, r in quiet.run.records.items()}  # fmt: skip
    assert told["alice"].count("A task is available") == told["bob"].count("A task is available") == 1
    assert told["lead"].count("Every teammate is idle") == 1
    assert {t.status for t in quiet.tasks} == {"pending"}


def test_a_teammate_that_fails_does_not_keep_the_lead_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody takes a task and carol fails: the team is quiet without her, so the lead is told,
    answers, and the team ends (a lead waiting for carol to go idle would wait forever)."""

    def handler(request: FakeRequest) -> Reply:
        if first_prompt(request).startswith("You are carol"):
            return ErrorReply(400, message="carol's requests are refused")
        return MessageReply("nothing I will take")

    with serve(monkeypatch, handler):
        started = team(tmp_path).start().wait(timeout=60)
    assert started.run is not None
    assert started.run.status == {"lead": "done", "alice": "done", "bob": "done", "carol": "failed"}
    assert {t.status for t in started.tasks} == {"pending"}


def test_a_team_under_a_concurrency_cap_below_its_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ab.TeamError, match="concurrency=2 is less than the team's 3 members"):
        ab.Team("go", {"a": "x", "b": "y"}, model="offline", concurrency=2, run_dir=tmp_path / "run")


def in_progress(board: Path, subject: str) -> bool:
    """Whether the task list file (replaced whole on each change) has `subject` in progress."""
    tasks = json.loads(board.read_text())["tasks"] if board.is_file() else []
    return any(t["subject"] == subject and t["status"] == "in_progress" for t in tasks)


KILLED_TEAM = """
import sys
import agentbook as ab
from test_teams import TASKS
ab.Team("Build the feature with your team.", {"alice": "builds", "bob": "builds"}, TASKS, model="haiku",
        cwd=sys.argv[1], run_dir=sys.argv[2], interactive=False, max_turns=40).start().wait(timeout=120)
"""


def test_a_team_killed_mid_task_goes_on_in_a_new_process_with_the_tasks_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL of the process running the team while a task is in progress; a new `Team.load`
    (here, this process) resumes it: done tasks stay done and are not claimed again."""
    handler = Members(slow=frozenset({"2"}))
    board = tmp_path / "run" / "team" / "tasks.json"
    with serve(monkeypatch, handler):
        env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{Path(__file__).parent}"}
        command = [sys.executable, "-c", KILLED_TEAM, str(tmp_path), str(tmp_path / "run")]
        child = subprocess.Popen(command, env=env)
        try:
            deadline = time.monotonic() + 30
            while not in_progress(board, "api"):
                assert time.monotonic() < deadline and child.poll() is None
                time.sleep(0.05)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    handler = Members()
    with serve(monkeypatch, handler):
        again = ab.Team.load(tmp_path / "run", interactive=False)
        assert again.run is not None and again.run.records["lead"].state == "failed"  # interrupted
        before = {t.subject: t.status for t in again.tasks}
        assert before["schema"] == "completed" and before["api"] == "in_progress"
        again.resume(max_turns=40).wait(timeout=60)
    assert again.run.records["lead"].state == "done"
    assert {t.status for t in again.tasks} == {"completed"}
    assert "1" not in {task for _, task in handler.claims}  # schema was not done again
