"""Removing what is left of a run's worktrees (`Worktrees.cleanup`, `Run.cleanup`).

It reads what exists from git, not from memory, so a `Worktrees` made after a kernel restart
cleans up as well as the one that made the worktrees.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from agentbook.worktrees.gitcmd import list_worktrees, out_text, run_git
from agentbook.worktrees.repo import RunRepo, empty_worktree, rmdir_if_empty

__all__ = ["cleanup_run"]


def cleanup_run(repo: RunRepo, keep: Collection[Path] = ()) -> list[Path]:
    """Remove every worktree under `<root>/<run>/` but `keep`, and the run's unmoved branches;
    their paths."""
    run_dir = repo.root / repo.run
    mine = [e.path for e in list_worktrees(repo.repo) if run_dir in e.path.parents and e.path not in keep]
    for path in mine:
        if path.is_dir():
            empty_worktree(path)  # deleting files is slow: outside the lock
    with repo.lock:
        for path in mine:
            run_git(repo.repo, "worktree", "remove", "--force", "--force", str(path))
        run_git(repo.repo, "worktree", "prune")
        _delete_unmoved_branches(repo)
        rmdir_if_empty(run_dir)
    return mine


def _delete_unmoved_branches(repo: RunRepo) -> None:
    """Delete the run's branches still at the base and not checked out anywhere."""
    pattern = f"refs/heads/{repo.branch('')}"
    refs = out_text(run_git(repo.repo, "for-each-ref", "--format=%(objectname) %(refname)", pattern))
    checked_out = {entry.branch for entry in list_worktrees(repo.repo)}
    unmoved = [
        ref.removeprefix("refs/heads/")
        for sha, ref in (line.split(" ", 1) for line in refs.splitlines())
        if sha == repo.base and ref not in checked_out
    ]
    if unmoved:
        run_git(repo.repo, "branch", "--delete", "--force", *unmoved)
