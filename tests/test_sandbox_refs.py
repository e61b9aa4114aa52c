"""A worktree agent's branch folder in the sandbox (`agentbook.tools._gitrefs`): each call sees a
private copy, its own branch moves where the copy says, and nothing else of it is kept, even while
siblings are created, commit and are deleted beside it."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from support import git, new_repo

from agentbook.tools import Bash, ToolContext
from agentbook.tools.sandbox import Sandbox, unavailable_reason

pytestmark = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"no sandbox: {unavailable_reason()}"
)


def refs(repo: Path) -> dict[str, str]:
    """Every ref as git on the host reads it; broken ones fail the test."""
    done = subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname) %(symref)"],
                          cwd=repo, capture_output=True, text=True, check=True)  # fmt: skip
    assert done.stderr == "", done.stderr
    return {line.split(" ")[0]: line.split(" ", 1)[1].strip() for line in done.stdout.splitlines()}


async def bash(root: Path, branch: str, command: str) -> str:
    ctx = ToolContext(root=root, sandbox=Sandbox(root, branch=branch))
    return await Bash().run({"command": command, "timeout": 60_000}, ctx)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with the worktree `wa` on agentbook/r/a and a sibling branch agentbook/r/b."""
    repo = new_repo(tmp_path / "repo", monkeypatch, {"a.txt": "a\n"})
    git(repo, "worktree", "add", "-q", "-b", "agentbook/r/a", str(tmp_path / "wa"))
    git(repo, "branch", "agentbook/r/b")
    return repo


ADD_REFS = (
    "git commit -q --allow-empty -m mine; git branch agentbook/r/evil 2>&1; git tag evil 2>&1; "
    "git update-ref refs/heads/agentbook/r/sub/evil HEAD 2>&1; git checkout -q -b agentbook/r/evil2 2>&1; "
    "git branch -f agentbook/r/b HEAD 2>&1; git update-ref -d refs/heads/agentbook/r/b 2>&1; "
    'echo "$(git rev-parse HEAD)" > "$(git rev-parse --git-path refs/heads/agentbook/r/evil3)"; '
    "git branch --list 'agentbook/*'"
)


def test_a_command_moves_its_branch_and_adds_or_changes_no_other(repo: Path, tmp_path: Path) -> None:
    before = refs(repo)
    out = asyncio.run(bash(tmp_path / "wa", "agentbook/r/a", ADD_REFS))
    assert "agentbook/r/evil" in out  # in the box, git did make them: in its own copy
    after = refs(repo)
    assert set(after) == set(before), after
    assert after["refs/heads/agentbook/r/b"] == before["refs/heads/agentbook/r/b"]
    assert git(repo, "log", "-1", "--format=%s", "agentbook/r/a") == "mine"
    assert git(repo, "reflog", "-1", "--format=%gs", "agentbook/r/a") == "commit: mine"
    assert git(tmp_path / "wa", "symbolic-ref", "HEAD") == "refs/heads/agentbook/r/a"
    assert list((repo / ".git/worktrees/wa/sandbox-views").iterdir()) == []


MINE = '"$(git rev-parse --git-path refs/heads/agentbook/r/a)"'  # in the box: the view's copy


@pytest.mark.parametrize(
    ("command", "moved"),
    [
        (f"ln -sf /etc/hostname {MINE}", False),
        (f"rm {MINE}", False),
        (f'echo "$(git rev-parse HEAD | tr 0-9a-f 1-9a-f0)" > {MINE}', False),
        (f'git commit -q --allow-empty -m x; echo "ref: refs/heads/main" > {MINE}', False),
        ("git commit -q --allow-empty -m x; git symbolic-ref refs/heads/agentbook/r/a refs/heads/b", False),
        ("git commit -q --allow-empty -m x", True),
    ],
    ids=["link-out", "deleted", "no-such-commit", "written-symbolic", "symbolic-ref", "commit"],
)
def test_only_a_commit_of_the_store_moves_the_branch(
    repo: Path, tmp_path: Path, command: str, moved: bool
) -> None:
    start = git(repo, "rev-parse", "agentbook/r/a")
    asyncio.run(bash(tmp_path / "wa", "agentbook/r/a", command))
    after = refs(repo)["refs/heads/agentbook/r/a"]
    assert not after.endswith("refs/") and " " not in after  # still a plain ref
    assert (after != start) == moved, after
    if moved:
        assert git(repo, "log", "-1", "--format=%s", "agentbook/r/a") == "x"


CHURN = (
    "for i in $(seq 1 40); do git commit -q --allow-empty -m a-$i; git branch agentbook/r/evil-$i; "
    "git branch -f agentbook/r/b HEAD 2>/dev/null; sleep 0.02; done; git log -1 --format=%s"
)


async def sibling(repo: Path, tmp_path: Path, n: int) -> str:
    """A sibling made as agentbook makes one (`git worktree add -b`), committing in its own box."""
    path, branch = tmp_path / f"s{n}", f"agentbook/r/s{n}"
    await asyncio.to_thread(git, repo, "worktree", "add", "-q", "-b", branch, str(path))
    return await bash(path, branch, f"git commit -q --allow-empty -m s{n}-done; git log -1 --format=%s")


async def race(repo: Path, tmp_path: Path) -> tuple[str, list[str]]:
    churn = asyncio.ensure_future(bash(tmp_path / "wa", "agentbook/r/a", CHURN))
    await asyncio.sleep(0.2)
    done = []
    for n in range(6):  # one after the other, each while the churn runs
        done.append(await sibling(repo, tmp_path, n))
        if n == 2:  # a finished sibling, removed as agentbook removes one: worktree and branch
            await asyncio.to_thread(git, repo, "worktree", "remove", "--force", str(tmp_path / "s2"))
            await asyncio.to_thread(git, repo, "branch", "-D", "agentbook/r/s2")
    return await churn, done


def test_siblings_created_committing_and_deleted_meanwhile_are_left_as_they_are(
    repo: Path, tmp_path: Path
) -> None:
    b = git(repo, "rev-parse", "agentbook/r/b")
    churned, siblings = asyncio.run(race(repo, tmp_path))
    assert churned.endswith("a-40"), churned
    assert siblings == [f"s{n}-done" for n in range(6)], siblings
    after = refs(repo)
    expected = {"refs/heads/main", "refs/heads/agentbook/r/a", "refs/heads/agentbook/r/b"}
    assert set(after) == expected | {f"refs/heads/agentbook/r/s{n}" for n in (0, 1, 3, 4, 5)}, after
    assert all(
        git(repo, "log", "-1", "--format=%s", f"agentbook/r/s{n}") == f"s{n}-done" for n in (0, 1, 3, 4, 5)
    )
    assert git(repo, "log", "-1", "--format=%s", "agentbook/r/a") == "a-40"
    assert after["refs/heads/agentbook/r/b"] == b


def test_parallel_calls_of_one_agent_each_get_a_view(repo: Path, tmp_path: Path) -> None:
    async def both() -> list[str]:
        listing = 'ls "$(git rev-parse --git-path refs/heads/agentbook/r)"'
        calls = [
            bash(tmp_path / "wa", "agentbook/r/a", f"git branch agentbook/r/x{i}; {listing}")
            for i in range(2)
        ]
        return await asyncio.gather(*calls)

    outs = asyncio.run(both())
    assert all("a" in o.split() and "b" in o.split() for o in outs), outs
    assert set(refs(repo)) == {"refs/heads/main", "refs/heads/agentbook/r/a", "refs/heads/agentbook/r/b"}
    assert list((repo / ".git/worktrees/wa/sandbox-views").iterdir()) == []
