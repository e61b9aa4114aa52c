"""Merging agents' branches into one branch, in a temporary worktree (`Worktrees.merge`).

The merges never run in the user's checkout: a scratch worktree `<root>/<run>/.merge-*` checks
out the target branch, takes the branches one by one as merge commits, stops at the first
conflict (aborting that merge), and is removed again.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from agentbook.worktrees.gitcmd import NO_GC, git_error, list_worktrees, nul_paths, out_text, run_git
from agentbook.worktrees.repo import RunRepo
from agentbook.worktrees.values import MergeConflict, MergeReport

__all__ = ["merge_branches"]


def merge_branches(repo: RunRepo, branches: Sequence[str], into: str) -> MergeReport:
    """Merge `branches` into `into` up to the first conflict; see `Worktrees.merge`."""
    into = repo.check_branch_name(into)
    for branch in branches:
        repo.check_branch_exists(branch)
    for entry in list_worktrees(repo.repo):
        if entry.branch == f"refs/heads/{into}":
            raise ValueError(f"branch {into!r} is checked out at {entry.path}; merge into another branch")
    scratch = _merge_worktree(repo, into)
    try:
        merged: list[str] = []
        conflict = None
        for branch in branches:
            conflict = _merge_one(repo, scratch, branch)
            if conflict is not None:
                break
            merged.append(branch)
        head = out_text(run_git(scratch, "rev-parse", "HEAD"))
    finally:
        repo.remove(scratch)
    return MergeReport(merged=merged, conflict=conflict, into=into, head=head)


def _merge_worktree(repo: RunRepo, into: str) -> Path:
    """A temporary worktree (`<root>/<run>/.merge-*`) with `into` checked out (made at the base
    if it does not exist yet)."""
    with repo.lock:
        repo.hide(repo.state_dir_of(repo.root))
        exists = run_git(repo.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{into}", check=False)
        if exists.status:
            run_git(repo.repo, "branch", "--no-track", into, repo.base)
        repo.run_folder().mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".merge-", dir=repo.run_folder()))
        reason = f"agentbook run {repo.run}: merge into {into}"
        added = run_git(
            repo.repo, "worktree", "add", "--no-checkout", "--lock", "--reason", reason,
            str(scratch), into, check=False,
        )  # fmt: skip
        if added.status:
            scratch.rmdir()
            raise git_error(("worktree", "add", str(scratch), into), added)
    try:
        run_git(scratch, "reset", "--hard", "--quiet", "--no-recurse-submodules")
    except BaseException:
        repo.remove(scratch)
        raise
    return scratch


def _merge_one(repo: RunRepo, scratch: Path, branch: str) -> MergeConflict | None:
    merge = ("merge", "--no-ff", "--no-edit", "--no-verify", branch)
    result = run_git(scratch, *NO_GC, *repo.identity, *merge, check=False)
    if result.status == 0:
        return None
    files = nul_paths(run_git(scratch, "diff", "--name-only", "--diff-filter=U", "-z").out)
    if not files:  # it failed for another reason than conflicts
        raise git_error(merge, result)
    run_git(scratch, "merge", "--abort")
    return MergeConflict(branch=branch, files=files)
