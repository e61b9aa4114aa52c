"""Attacks on the Bash sandbox, review round 4: host-side git and file operations on what agents
left: a plain-folder agent whose root (the user's checkout) holds `.agentbook/` (the worktrees of
the run's worktree agents, the patches `publish` writes), a branch's content checked out again by
`revive` and `merge` on the host, `.gitattributes` drivers.

Everything is real: real bwrap, real git, real `Worktrees` and real `Bash().run` calls through one
`Sandbox` per agent; canaries and markers only in tmp_path.  A finding is an
`xfail(strict=True, reason="OPEN: ...")` test asserting what should hold; what held is a plain test.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from support import git, new_repo
from support import sandboxed_bash as bash

from agentbook.tools.sandbox import Sandbox, unavailable_reason
from agentbook.worktrees import Worktrees
from agentbook.worktrees.values import WorktreeError

pytestmark = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"no sandbox: {unavailable_reason()}"
)

CANARY = "CANARY-OUTSIDE-4d11\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return new_repo(tmp_path / "repo", monkeypatch, {"a.txt": "a\n"})


# ---------------------------------------------------------------------------------------------
# A plain-folder agent in the user's checkout (a run mixing `isolation="worktree"` agents with
# agents working in `cwd`, or a plain agent while a failed agent's worktree is kept): the default
# worktree root `<repo>/.agentbook/worktrees` and the patches folder are inside its root.


def test_a_plain_agent_cannot_point_a_worktree_at_its_own_git_dir(repo: Path, tmp_path: Path) -> None:
    trees = Worktrees(repo, "r")
    tree = trees.create("t")
    plain = Sandbox(repo)  # the user's checkout, as a cwd agent of the same run has it
    marker = tmp_path / "PWNED-gitfile"
    wt = tree.path.relative_to(repo)
    out = bash(plain, (
        f"set -e; mv {wt} {wt}.old; mkdir -p {wt} evil; git init -q --bare evil; "
        "git -C evil config core.bare false; "
        f"git -C evil config filter.x.clean 'touch {marker}; cat'; "
        f'echo "gitdir: $PWD/evil" > {wt}/.git; echo "* filter=x" > {wt}/.gitattributes; '
        f"echo b > {wt}/b.txt; echo done"
    ))  # fmt: skip
    assert out.endswith("done"), out
    with contextlib.suppress(WorktreeError):  # it fails later (the base is no object there): too late
        trees.finish(tree, message="t")
    assert not marker.exists(), "the host's git ran a filter from a git dir the box made"


def test_publish_writes_no_patch_through_a_link_in_the_checkout(repo: Path, tmp_path: Path) -> None:
    trees = Worktrees(repo, "r")
    tree = trees.create("t")
    (tree.path / "a.txt").write_text("changed\n")
    outcome = trees.finish(tree, message="t")
    assert outcome.commit is not None
    victim = tmp_path / "bashrc"
    victim.write_text(CANARY)
    plain = Sandbox(repo)
    link = f"mkdir -p .agentbook/patches/r && ln -s {victim} .agentbook/patches/r/t.patch; echo ok"
    out = bash(plain, link)
    assert out.endswith("ok"), out
    trees.publish(tree.branch, title="t", body="b")
    assert victim.read_text() == CANARY, "publish wrote the patch through the box's link"


def test_a_plain_agent_cannot_send_a_later_worktree_outside(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plain = Sandbox(repo)
    out = bash(plain, f"mkdir -p .agentbook/worktrees && ln -s {elsewhere} .agentbook/worktrees/r2; echo ok")
    assert out.endswith("ok"), out
    trees = Worktrees(repo, "r2")
    with contextlib.suppress(ValueError, WorktreeError):  # refusing is fine
        trees.create("t")
    assert list(elsewhere.iterdir()) == [], "a worktree was written outside the checkout"


# ---------------------------------------------------------------------------------------------
# A worktree agent's own branch, checked out again on the host


def test_revive_copies_no_included_file_through_a_link_of_the_branch(repo: Path, tmp_path: Path) -> None:
    (repo / ".gitignore").write_text("conf/secret.env\n")
    (repo / ".worktreeinclude").write_text("conf/secret.env\n")
    git(repo, "add", ".gitignore", ".worktreeinclude")
    git(repo, "commit", "-qm", "include")
    (repo / "conf").mkdir()
    (repo / "conf" / "secret.env").write_text("TOKEN=1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    trees = Worktrees(repo, "r")
    tree = trees.create("t")
    assert (tree.path / "conf" / "secret.env").is_file()
    agent = Sandbox(tree.path, branch=tree.branch)
    out = bash(agent, f"rm -rf conf && ln -s {outside} conf && git add -A && git commit -qm link && echo ok")
    assert out.endswith("ok"), out
    trees.finish(tree, message="t")  # removed: the branch has a commit
    trees.revive("t")  # the agent resumed: its branch checked out again, the includes copied
    assert list(outside.iterdir()) == [], "the host copied a file through the branch's link"


def test_merging_a_link_then_a_file_below_it_writes_nothing_outside(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    trees = Worktrees(repo, "r")
    one, two = trees.create("one"), trees.create("two")
    commit = "git add d && git commit -qm x && echo ok"
    out = bash(Sandbox(one.path, branch=one.branch), f"ln -s {outside} d && {commit}")
    assert out.endswith("ok"), out
    out = bash(Sandbox(two.path, branch=two.branch), f"mkdir d && echo x > d/f && {commit}")
    assert out.endswith("ok"), out
    trees.finish(one, message="one")
    trees.finish(two, message="two")
    trees.merge([one.branch, two.branch], into="merged")
    assert list(outside.iterdir()) == []


def test_gitattributes_drivers_without_config_run_nothing_at_finish_or_merge(
    repo: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED-attributes"
    trees = Worktrees(repo, "r")
    tree = trees.create("t")
    agent = Sandbox(tree.path, branch=tree.branch)
    out = bash(agent, (
        'printf "* filter=x diff=x merge=x\\n" > .gitattributes; '
        # git reads info/attributes from the shared git dir (read-only), never the admin folder
        'd=$(git rev-parse --git-dir); mkdir -p "$d/info"; echo "* filter=lfs" > "$d/info/attributes"; '
        f"echo b > b.txt; ln -s {marker} l; echo ok"
    ))  # fmt: skip
    assert out.endswith("ok"), out
    trees.finish(tree, message="t")
    trees.merge([tree.branch], into="merged")
    assert not marker.exists()


def test_a_plain_agent_of_a_run_sees_no_state_of_agentbook_in_its_folder(repo: Path, tmp_path: Path) -> None:
    # The root of the fixes above: a plain-folder agent in a checkout whose .agentbook holds other
    # agents' worktrees and patches (and a run folder inside the checkout) sees none of it, in
    # Bash or through the file tools.
    from agentbook.messages import ToolUse
    from agentbook.models import ScriptedModel
    from agentbook.scheduler.launch import run_parallel

    trees = Worktrees(repo, "old")
    trees.create("t")
    calls = [
        ToolUse("b1", "Bash", {"command": "ls -A .agentbook .agentbook/worktrees runs 2>&1; echo listed"}),
        ToolUse("w1", "Write", {"file_path": ".agentbook/worktrees/old/t/.git", "content": "gitdir: /x\n"}),
        ToolUse("w2", "Write", {"file_path": "runs/run.json", "content": "{}\n"}),
    ]
    model = ScriptedModel([calls, "ok"])
    run = run_parallel({"p": "look"}, model=model, cwd=repo, run_dir=repo / "runs", interactive=False,
                       permission_mode="bypassPermissions")  # fmt: skip
    run.wait(timeout=30)
    results = {r.tool_use_id: r for r in model.requests[1].messages[-1].content}  # type: ignore[union-attr]
    listed = str(results["b1"].content)  # type: ignore[union-attr]
    assert "old" not in listed and "run.json" not in listed and "listed" in listed, listed
    for call in ("w1", "w2"):  # w1's .git is a protected path anyway; both are refused
        assert results[call].is_error, results[call]  # type: ignore[union-attr]
    assert "hidden" in str(results["w2"].content), results["w2"]  # type: ignore[union-attr]
    assert (trees.root / "old" / "t" / ".git").read_text().startswith("gitdir: ") and "/x" not in (
        trees.root / "old" / "t" / ".git"
    ).read_text()
    assert (repo / "runs" / "run.json").read_text() != "{}\n"
