"""Adversarial review of issue 10: a worktree agent in the `default` mode may Edit/Write inside its
own worktree without asking -- and nowhere else, never `.git`, and deny rules still win."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import git

from agentbook.events import AgentEvent, ToolDenied
from agentbook.messages import ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.tools.permissions import Permissions


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    reset_gates()
    for key, value in {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "app.py").write_text("print('hi')\n")
    (tmp_path / "outside").mkdir()
    (path / "link").symlink_to(tmp_path / "outside")  # a tracked symlink out of the checkout
    git(path, "add", ".")
    git(path, "commit", "-qm", "start")
    yield path


def w(call: str, path: str) -> ToolUse:
    return ToolUse(call, "Write", {"file_path": path, "content": "x\n"})


def test_default_mode_worktree_agent_edits_only_its_worktree(repo: Path, tmp_path: Path) -> None:
    gitdir_file = "gitdir: " + str(repo / ".git") + "\n"
    calls = [
        w("in", "inside.txt"),
        w("up", "../../../../app.py"),
        w("abs", str(repo / "app.py")),
        w("link", "link/escaped.txt"),
        ToolUse("git", "Write", {"file_path": ".git", "content": gitdir_file}),
        ToolUse("GIT", "Write", {"file_path": ".GIT", "content": gitdir_file}),
        w("hook", ".git/hooks/pre-commit"),
        w("denied", "secret.txt"),
        ToolUse("bash", "Bash", {"command": "echo hi > bash.txt"}),  # sandboxed: allowed, in the worktree
    ]
    model = ScriptedModel([calls, "finished"])
    denied: list[str] = []

    def seen(event: AgentEvent) -> None:
        if isinstance(event, ToolDenied):
            denied.append(event.call.id)

    run = run_parallel(
        {"t": "edit"},
        model=model,
        cwd=repo,
        isolation="worktree",
        permissions=Permissions(deny=["Write(secret.txt)"]),
        run_dir=tmp_path / "run",
        interactive=False,
        on_event=seen,
    )
    run.wait(timeout=60)
    record = run.records["t"]
    assert record.state == "done", record.error
    assert sorted(denied) == sorted(c.id for c in calls if c.id not in ("in", "bash"))
    assert record.denials == len(calls) - 2
    assert git(repo, "show", f"{record.branch}:inside.txt") == "x"
    assert git(repo, "show", f"{record.branch}:bash.txt") == "hi" and not (repo / "bash.txt").exists()
    assert (repo / "app.py").read_text() == "print('hi')\n"
    assert not (tmp_path / "outside" / "escaped.txt").exists()
    assert git(repo, "rev-parse", "main") == git(repo, "rev-parse", "HEAD")
    assert git(repo, "log", "--oneline", "main").count("\n") == 0  # nothing committed on main


def test_a_sub_agent_of_a_worktree_agent_may_edit_the_worktree_too(repo: Path, tmp_path: Path) -> None:
    # The sub-agent works in its parent's worktree (its root), in the default mode, but without
    # the worktree allowance: its every Write asks and, headless, is denied.
    spawn = ToolUse("s1", "Agent", {"description": "write it", "prompt": "write child.txt"})
    model = ScriptedModel([spawn, w("c1", "child.txt"), "child done", "parent done"])
    run = run_parallel(
        {"t": "delegate"},
        model=model,
        cwd=repo,
        isolation="worktree",
        run_dir=tmp_path / "run",
        interactive=False,
    )
    run.wait(timeout=60)
    children = [r for r in run.records.values() if r.parent == "t"]
    assert len(children) == 1
    assert children[0].denials == 0, "the sub-agent's Write in its parent's worktree was denied"
    assert git(repo, "show", f"{run.records['t'].branch}:child.txt") == "x"


def test_denied_calls_show_in_run_df_and_on_the_board(tmp_path: Path) -> None:
    # Issue 10 asks for a `denials` column in run.df and a count on the board's row; only
    # AgentRecord.denials and the end-of-run log line have it.
    from agentbook.notebook.render import render_html, render_text

    bash = ToolUse("b1", "Bash", {"command": "echo hi"})
    run = run_parallel(
        {"t": "run it"}, model=ScriptedModel([bash, "ok"]), run_dir=tmp_path / "run", interactive=False
    )
    run.wait(timeout=20)
    assert run.records["t"].denials == 1
    df = run.df
    assert "denials" in df.columns
    assert df.loc["t", "denials"] == 1
    assert "denied" in render_text(run) or "denials" in render_text(run)
    assert "denied" in render_html(run) or "denials" in render_html(run)
