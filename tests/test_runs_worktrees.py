"""Runs with `isolation="worktree"`: one git worktree and branch per agent, the user's checkout
never touched, commits, diff stats in `run.df`, escapes refused, merge and cleanup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import git, new_repo

from agentbook.messages import Message, Request, Response, Text, ToolResult, ToolUse, Usage
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.tools.permissions import Permissions


class Writer:
    """`write PATH TEXT` asks for one Write, then reports how it went."""

    name = "scripted"
    description = "writes one file"

    async def aclose(self) -> None:
        return None

    async def respond(self, request: Request) -> Response:
        prompt = request.messages[0].text
        _, path, text = prompt.split(" ", 2)
        last = request.messages[-1].content
        results = [b for b in last if isinstance(b, ToolResult)]
        blocks: tuple[Any, ...]
        if not results:
            blocks = (ToolUse("w1", "Write", {"file_path": path, "content": text + "\n"}),)
        else:
            blocks = (Text(f"error: {results[0].content}" if results[0].is_error else f"wrote {path}"),)
        stop = "tool_use" if isinstance(blocks[0], ToolUse) else "end_turn"
        return Response(f"m{len(request.messages)}", "scripted", blocks, stop, Usage(10, 5))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    reset_gates()
    path = new_repo(tmp_path / "repo", monkeypatch, {"app.py": "print('hi')\n"})
    (path / "app.py").write_text("print('user edit in progress')\n")  # the user's own dirty work
    (path / "notes.txt").write_text("untracked\n")
    yield path


def test_each_agent_works_in_its_own_worktree_and_branch(repo: Path, tmp_path: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    status = git(repo, "status", "--porcelain")
    run = run_parallel(
        {"docs": "write README.md docs", "code": "write lib.py x=1", "escape": "write ../outside.txt nope"},
        model=Writer(),
        cwd=repo,
        run_dir=tmp_path / "run",
        isolation="worktree",
        permission_mode="acceptEdits",
        interactive=False,
    )
    run.wait(timeout=60)
    assert set(run.status.values()) == {"done"}
    df = run.df
    assert df.loc["docs", "branch"] == f"agentbook/{run.name}/docs"
    assert (df.loc["docs", "files_changed"], df.loc["docs", "insertions"]) == (1, 1)
    # The escape was refused and nothing was written outside.
    assert "outside" in run.results["escape"] and run.results["escape"].startswith("error:")
    assert not (tmp_path / "outside.txt").exists() and not (repo.parent / "outside.txt").exists()
    assert pd_is_na(df.loc["escape", "branch"]) or df.loc["escape", "files_changed"] == 0
    # Commits name their task; the user's checkout is untouched.
    assert "docs" in git(repo, "log", "-1", "--format=%s", f"agentbook/{run.name}/docs")
    assert git(repo, "show", f"agentbook/{run.name}/code:lib.py") == "x=1"
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == status
    assert (repo / "app.py").read_text() == "print('user edit in progress')\n"
    # Merge the branches into an integration branch, then clean up.
    report = run.merge(into="integration")
    assert report.conflict is None and len(report.merged) == 2
    assert set(git(repo, "ls-tree", "--name-only", "integration").split()) == {
        "README.md",
        "app.py",
        "lib.py",
    }
    run.cleanup()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == status


class RootWriter(Writer):
    """A `Writer` whose paths may name `{root}`, the root its system prompt gives (`ROOT=...`)."""

    async def respond(self, request: Request) -> Response:
        root = request.system.removeprefix("ROOT=")
        first = request.messages[0]
        text = first.text.replace("{root}", root)
        request = Request(request.system, (Message.user(text), *request.messages[1:]), request.tools)
        return await super().respond(request)


def test_worktree_agents_are_judged_in_their_own_worktree(repo: Path, tmp_path: Path) -> None:
    # Rules and acceptEdits' "inside the root" apply to the agent's worktree, where its tools work:
    # a deny rule holds however the agent names the file, and a write to the worktree is inside.
    run = run_parallel(
        {
            "absolute": "write {root}/secrets/key.txt k1",
            "relative": "write secrets/key.txt k2",
            "allowed": "write {root}/docs/a.md ok",
        },
        model=RootWriter(),
        cwd=repo,
        run_dir=tmp_path / "run",
        system="ROOT={root}",
        isolation="worktree",
        permissions=Permissions(deny=["Edit(secrets/**)"], mode="acceptEdits"),
        interactive=False,
    )
    run.wait(timeout=60)
    assert "Permission denied" in run.results["absolute"]
    assert "Permission denied" in run.results["relative"]
    assert run.results["allowed"].startswith("wrote ")
    assert git(repo, "show", f"agentbook/{run.name}/allowed:docs/a.md") == "ok"


def pd_is_na(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_worktree_isolation_needs_a_repository(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="git"):
        run_parallel(
            {"a": "write x y"}, model=Writer(), cwd=tmp_path, run_dir=tmp_path / "run", isolation="worktree"
        )
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="isolation must be"):
        run_parallel({"a": "x"}, model=Writer(), cwd=tmp_path, isolation="docker")
