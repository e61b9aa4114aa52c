"""Adversarial review of issue 10: a worktree agent killed with SIGKILL, then `load_run(...).resume`
in a new process, must go on with its whole configuration."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import git, new_repo

from agentbook.messages import ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.restore import load_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    reset_gates()
    yield new_repo(tmp_path / "repo", monkeypatch, {"app.py": "print('hi')\n"})


SCRIPT = """
import pathlib, sys, time
from agentbook.messages import ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.specs import AgentSpec
from agentbook.tools.permissions import Permissions
repo, run_dir, marker = map(pathlib.Path, sys.argv[1:4])
def hang(request):
    marker.write_text("x")
    time.sleep(120)
    raise RuntimeError("never")
steps = [ToolUse("w1", "Write", {"file_path": "first.txt", "content": "1\\n"}), hang,
         ToolUse("w2", "Write", {"file_path": "spec.txt", "content": "1\\n"}), hang]
agents = {"rev": AgentSpec("rev", prompt="You are rev, in {root}.", description="d",
                           tools=("Read", "Write", "Glob"), permission_mode="acceptEdits")}
run = run_parallel({"unit": "do the unit", "spec": {"prompt": "do it", "agent": "rev"}},
                   model=ScriptedModel(steps), cwd=repo, run_dir=run_dir, isolation="worktree",
                   permission_mode="acceptEdits", tools=["Read", "Write"], system="SYSTEM-X {root}",
                   max_tokens=1000, concurrency=1, max_result_tokens=300, agents=agents,
                   permissions=Permissions(deny=["Write(secret.txt)"]), interactive=False)
run.wait(300)
"""


def killed_run(repo: Path, tmp_path: Path) -> Path:
    """A run of two worktree agents, SIGKILLed while its second agent waits on the model."""
    run_dir = tmp_path / "run"
    marker = tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(repo), str(run_dir), str(marker)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the first agent never reached its second request"
        time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return run_dir


def test_a_killed_worktree_agent_resumes_with_its_whole_configuration(repo: Path, tmp_path: Path) -> None:
    run_dir = killed_run(repo, tmp_path)
    model = ScriptedModel([ToolUse("w3", "Write", {"file_path": "second.txt", "content": "2\n"}), "done now"])
    run = load_run(run_dir, model=model, interactive=False)
    name = next(n for n, r in run.records.items() if r.state == "failed")
    record = run.records[name]
    tree = record.worktree
    assert tree is not None and tree.is_dir()
    run.resume(name, prompt="go on").wait(timeout=60)
    assert run.records[name].state == "done", run.records[name].error
    request = model.requests[0]
    tools = sorted(t.name for t in request.tools)
    if name == "unit":
        assert tools == ["Read", "Write"]
        assert request.system.startswith("SYSTEM-X ") and str(tree) in request.system
    else:
        assert tools == ["Glob", "Read", "Write"]
        assert request.system.startswith("You are rev")
    assert "300 tokens" in request.system  # max_result_tokens
    assert request.max_tokens == 1000
    # Its Write went to its own worktree (acceptEdits), and was committed on its branch.
    assert not (repo / "second.txt").exists()
    branch = run.records[name].branch
    assert branch and git(repo, "show", f"{branch}:second.txt") == "2"
    assert run.permissions.deny and str(run.permissions.deny[0]) == "Write(secret.txt)"


def test_a_killed_run_whose_worktree_was_removed_by_hand_resumes_in_a_new_one(
    repo: Path, tmp_path: Path
) -> None:
    import shutil

    run_dir = killed_run(repo, tmp_path)
    model = ScriptedModel(["done now"])
    run = load_run(run_dir, model=model, interactive=False)
    name = next(n for n, r in run.records.items() if r.state == "failed")
    tree = run.records[name].worktree
    assert tree is not None
    shutil.rmtree(tree)
    run.resume(name).wait(timeout=60)
    assert run.records[name].state == "done", run.records[name].error
    assert not (repo / "first.txt").exists()


def test_an_agent_killed_before_it_started_resumes_as_its_agent_with_its_task(
    repo: Path, tmp_path: Path
) -> None:
    run_dir = killed_run(repo, tmp_path)
    model = ScriptedModel(["done now"])
    run = load_run(run_dir, model=model, interactive=False)
    assert run.records["spec"].state == "failed"  # concurrency=1: it was still waiting
    run.resume("spec", prompt="please finish").wait(timeout=60)
    assert run.records["spec"].state == "done", run.records["spec"].error
    request = model.requests[0]
    assert sorted(t.name for t in request.tools) == ["Glob", "Read", "Write"]
    assert request.system.startswith("You are rev")
    # It never saw its task: with no history, the resume prompt replaced the task's prompt.
    texts = [m.text for m in request.messages if m.role == "user"]
    assert any("do it" in t for t in texts), texts
