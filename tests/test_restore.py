"""A run continues whole: after a kill and `load_run` in a new process, and in the same process.

Real git repositories and worktrees; the real Anthropic SDK over HTTP against the local fake
Messages API, whose request log shows what the resumed agent really sent.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO, git, new_repo

from agentbook.costs import ALIASES
from agentbook.messages import ToolResult, ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.restore import load_run
from agentbook.testing import FakeAnthropic, MessageReply, ScriptedHandler, ToolUseBlock

KEY = "sk-ant-test-restore-0123456789"
CHILD = """
import sys, time
import agentbook as ab
run = ab.run_parallel(
    {"unit": "write out.txt"}, cwd=sys.argv[1], run_dir=sys.argv[2], model="haiku",
    isolation="worktree", permission_mode="acceptEdits", tools=["Read", "Write", "Bash"],
    system="You are the unit agent.", max_tokens=1000,
)
run.wait()
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    reset_gates()
    yield new_repo(tmp_path / "repo", monkeypatch, {"app.py": "print('hi')\n"})


def _wait_for(condition: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_kill_then_load_run_resumes_with_the_whole_config_in_its_worktree(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = ScriptedHandler(
        [
            MessageReply([ToolUseBlock("Write", {"file_path": "out.txt", "content": "hi\n"})]),
            MessageReply("never sent: the process is killed first", delay=30),
            MessageReply([ToolUseBlock("Bash", {"command": "mkdir made"})]),
            MessageReply("done after the restart"),
        ]
    )
    run_dir = tmp_path / "run"
    with FakeAnthropic(handler, api_key=KEY) as fake:
        env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": fake.base_url,
               "PYTHONPATH": str(REPO)}  # fmt: skip
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(repo), str(run_dir)], env=env)
        try:
            _wait_for(lambda: len(fake.requests) >= 2, "the child's second request")
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        run = load_run(run_dir, interactive=False)
        record = run.records["unit"]
        assert record.state == "failed" and "no end record" in (record.error or "")
        worktree = record.worktree
        assert worktree is not None and (worktree / "out.txt").read_text() == "hi\n"
        run.resume("unit").wait(timeout=30)
        resumed = [r.json for r in fake.requests[2:]]
    assert run.status == {"unit": "done"} and run.results["unit"] == "done after the restart"
    for body in resumed:
        assert body["model"] == ALIASES["haiku"] and body["max_tokens"] == 1000
        assert [t["name"] for t in body["tools"]] == ["Read", "Write", "Bash"]
        assert "You are the unit agent." in json.dumps(body["system"])
    mkdir_result = resumed[1]["messages"][-1]["content"][0]
    assert mkdir_result["type"] == "tool_result" and not mkdir_result.get("is_error")  # acceptEdits kept
    branch = record.branch
    assert branch is not None and git(repo, "show", f"{branch}:out.txt") == "hi"
    assert not (repo / "out.txt").exists() and not (repo / "made").exists()  # the user's checkout
    assert git(repo, "status", "--porcelain") == ""


def test_a_done_worktree_agent_resumes_in_the_same_process(repo: Path) -> None:
    model = ScriptedModel(
        [
            ToolUse("w1", "Write", {"file_path": "a.txt", "content": "a\n"}),
            "wrote a",
            ToolUse("w2", "Write", {"file_path": "b.txt", "content": "b\n"}),
            "wrote b",
        ]
    )
    run = run_parallel({"t": "write a"}, cwd=repo, model=model, isolation="worktree", interactive=False)
    run.wait(timeout=20)
    record = run.records["t"]
    assert run.status == {"t": "done"} and record.worktree is None and record.commit is not None
    first = record.commit
    run.resume("t", prompt="now write b").wait(timeout=20)
    assert run.status == {"t": "done"} and run.results["t"] == "wrote b"
    assert record.branch is not None and record.commit != first
    assert (
        git(repo, "show", f"{record.branch}:a.txt") == "a"
        and git(repo, "show", f"{record.branch}:b.txt") == "b"
    )
    assert git(repo, "rev-list", "--count", f"main..{record.branch}") == "2"


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "no-sandbox"])
def test_a_headless_default_mode_worktree_run_commits_its_writes_and_counts_denials(
    repo: Path, caplog: pytest.LogCaptureFixture, sandbox: bool
) -> None:
    model = ScriptedModel(
        [
            [ToolUse("w1", "Write", {"file_path": "new.txt", "content": "new\n"}),
             ToolUse("b1", "Bash", {"command": "touch other.txt"})],
            "wrote it",
        ]
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="agentbook"):
        run = run_parallel(
            {"t": "write"}, cwd=repo, model=model, isolation="worktree", interactive=False, sandbox=sandbox
        )
        run.wait(timeout=20)
    record = run.records["t"]
    results = [b for b in model.requests[1].messages[-1].content if isinstance(b, ToolResult)]
    # Write is allowed in the worktree; Bash too when sandboxed, else it follows the mode (asks: denied).
    assert [r.is_error for r in results] == [False, not sandbox]
    assert record.files_changed == (2 if sandbox else 1)
    assert git(repo, "show", f"{record.branch}:new.txt") == "new"
    assert not (repo / "new.txt").exists() and not (repo / "other.txt").exists()
    assert git(repo, "status", "--porcelain") == ""
    assert record.denials == (0 if sandbox else 1) and int(run.df.loc["t", "denials"]) == record.denials
    if not sandbox:
        assert any("1 denied (t: 1)" in r.getMessage() for r in caplog.records)


def test_an_outside_write_in_a_worktree_still_asks(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    model = ScriptedModel(
        [
            [ToolUse("w1", "Write", {"file_path": ".git/config", "content": "x\n"}),
             ToolUse("w2", "Write", {"file_path": str(outside), "content": "x\n"})],
            "tried",
        ]
    )  # fmt: skip
    run = run_parallel({"t": "write"}, cwd=repo, model=model, isolation="worktree", interactive=False)
    run.wait(timeout=20)
    results = [b for b in model.requests[1].messages[-1].content if isinstance(b, ToolResult)]
    assert [r.is_error for r in results] == [True, True] and not outside.exists()
    assert run.records["t"].denials == 2


def test_a_corrupt_manifest_is_named_and_the_run_rebuilt_from_its_transcripts(
    repo: Path, tmp_path: Path
) -> None:
    run = run_parallel({"a": "first", "b": "second"}, cwd=repo, model=ScriptedModel(["one", "two"]),
                       run_dir=tmp_path / "run", interactive=False)  # fmt: skip
    run.wait(timeout=20)
    (run.run_dir / "run.json").write_text('{"name": "cut', encoding="utf-8")
    with pytest.warns(UserWarning, match=r"run\.json is not JSON"):
        loaded = load_run(run.run_dir, model=ScriptedModel(["again"]), interactive=False)
    assert loaded.status == {"a": "done", "b": "done"}
    assert loaded.records["a"].task.prompt == "first" and loaded.results["b"] in ("one", "two")
    loaded.resume("a", prompt="once more").wait(timeout=20)
    assert loaded.results["a"] == "again"


def test_a_transcript_cut_inside_a_character_is_named_and_the_rest_loads(repo: Path, tmp_path: Path) -> None:
    run = run_parallel({"a": "first", "b": "second"}, cwd=repo, model=ScriptedModel(["é one", "two"]),
                       run_dir=tmp_path / "run", interactive=False)  # fmt: skip
    run.wait(timeout=20)
    path = run.records["a"].transcript
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex("é".encode()) + 1])  # the last line ends inside "é"
    with pytest.warns(UserWarning, match=rf"{path.name}: line \d+ cannot be read"):
        loaded = load_run(run.run_dir, interactive=False)
    assert loaded.status["b"] == "done" and loaded.records["a"].state == "failed"
    assert "no end record" in (loaded.records["a"].error or "")


def test_a_manifest_of_the_first_layout_still_loads(tmp_path: Path) -> None:
    run = run_parallel({"a": "first"}, cwd=tmp_path, model=ScriptedModel(["one"]), run_dir=tmp_path / "run",
                       max_turns=7, interactive=False)  # fmt: skip
    run.wait(timeout=20)
    record = run.records["a"]
    task = {"name": "a", "prompt": "first", "agent": None, "depends_on": [], "files": [], "model": None,
            "metadata": {}}  # fmt: skip
    entry = {"agent_id": record.agent_id, "depth": 0, "parent": None, "model": "scripted", "task": task}
    old = {"name": run.name, "session_id": run.session_id, "cwd": str(tmp_path), "model": None,
           "max_turns": 7, "agents": {"a": entry}}  # fmt: skip
    (run.run_dir / "run.json").write_text(json.dumps(old), encoding="utf-8")
    loaded = load_run(run.run_dir, model=ScriptedModel(["two"]), interactive=False)
    assert (
        loaded.status == {"a": "done"} and loaded.config.max_turns == 7 and loaded.cwd == tmp_path.resolve()
    )
    loaded.resume("a", prompt="again").wait(timeout=20)
    assert loaded.results["a"] == "two"
