"""Finishing an agent's worktree: commit everything it left on its branch, then unlock or remove it.

`Worktrees.finish` comes here once the agent has ended (the scheduler calls it for every worktree
agent).  The commit is made with plumbing (`write-tree`, `commit-tree`, `update-ref`) rather than
`git commit`, hooks skipped: the branch records what the agent left; checks belong to review.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from agentbook.worktrees.gitcmd import DiffStats, git_error, numstat, out_text, run_git
from agentbook.worktrees.repo import RunRepo
from agentbook.worktrees.values import Outcome, Worktree, WorktreeError

__all__ = ["commit_message", "finish_worktree"]


def finish_worktree(repo: RunRepo, worktree: Worktree, *, message: str, failed: bool) -> Outcome:
    """Commit, then keep (unlocked, when `failed`) or remove the worktree; see `Worktrees.finish`."""
    head, stats = _commit_all(repo, worktree, commit_message(repo.run, worktree.task, message))
    commit = head if head != worktree.base else None
    if failed:
        with repo.lock:
            unlocked = run_git(repo.repo, "worktree", "unlock", str(worktree.path), check=False)
        if unlocked.status != 0 and "is not locked" not in unlocked.err:  # finished before
            raise git_error(("worktree", "unlock", str(worktree.path)), unlocked)
    else:
        repo.remove(worktree.path, delete_branch=worktree.branch if commit is None else None)
    return Outcome(
        task=worktree.task, branch=worktree.branch, commit=commit, files_changed=stats.files,
        insertions=stats.insertions, deletions=stats.deletions, kept=failed, path=worktree.path,
    )  # fmt: skip


def commit_message(run: str, task: str, message: str) -> str:
    """`message` (a default when blank), prefixed with the task name unless it names the task."""
    message = message.strip() or f"agentbook run {run}: {task}"
    # The name as a word of its own: task "fix" is not named by "fix-login".
    named = re.search(rf"(?<![\w.-]){re.escape(task)}(?![\w-])", message) is not None
    return message if named else f"{task}: {message}"


def _commit_all(repo: RunRepo, tree: Worktree, message: str) -> tuple[str, DiffStats]:
    """Stage and commit everything; the branch tip afterwards and its diff stats against the base."""
    _check_is_worktree(repo, tree)
    # `--sparse` stages files the agent wrote outside the cone too, instead of refusing them.
    run_git(tree.path, "add", "--all", *(["--sparse"] if repo.sparse else []))
    stats = numstat(run_git(tree.path, "diff", "--cached", "--numstat", "-z", tree.base).out)
    head = _head(tree)
    if head == tree.base:
        staged = stats.files > 0
    else:  # the agent committed by itself: compare the index with its last commit instead
        staged = run_git(tree.path, "diff", "--cached", "--quiet", check=False).status != 0
    if staged:
        head = _commit_index(repo, tree.path, head, message)
    return head, stats


def _check_is_worktree(repo: RunRepo, tree: Worktree) -> None:
    """`WorktreeError` unless `tree.path` is still the top of one of the repository's worktrees.

    A folder made again after its worktree was removed (an agent's Write) lies in the user's
    checkout, where `git add` would stage the user's own files; a `.git` file pointed at a git
    folder someone else made would have the host's git run that folder's config (filters)."""
    try:
        text = (tree.path / ".git").read_text(encoding="utf-8").strip()
        admin = Path(os.path.realpath(tree.path / text.removeprefix("gitdir:").strip()))
        back = (admin / "gitdir").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        text, admin, back = "", Path("/"), ""
    ours = text.startswith("gitdir:") and admin.parent == repo.common_dir / "worktrees"
    if not ours or Path(os.path.realpath(back)) != tree.path / ".git":
        raise WorktreeError(f"{tree.path} is no longer a worktree of {repo.repo} (removed, or its .git "
                            "pointed elsewhere, while its agent worked?): nothing was committed")  # fmt: skip
    top = run_git(tree.path, "rev-parse", "--show-toplevel", check=False)
    if top.status != 0 or Path(out_text(top)) != tree.path:
        raise WorktreeError(f"{tree.path} is no longer a worktree: nothing was committed")


def _commit_index(repo: RunRepo, path: Path, parent: str, message: str) -> str:
    """Commit the index of the worktree at `path` on top of `parent`; the new commit's sha.

    Plumbing rather than `git commit`, which would first collect a full status (every file,
    every untracked folder) to learn whether there is anything to commit, which is known
    here already: on a fresh checkout that costs more than the commit itself.
    """
    tree = out_text(run_git(path, "write-tree"))
    commit = out_text(run_git(path, *repo.identity, "commit-tree", tree, "-p", parent, "-m", message))
    # Through HEAD, so that both HEAD's and the branch's reflogs record it, as `git commit` does;
    # the old value makes it fail rather than overwrite a commit the agent made meanwhile.
    run_git(path, "update-ref", "-m", f"commit: {message.splitlines()[0]}", "HEAD", commit, parent)
    return commit


def _head(tree: Worktree) -> str:
    """The worktree's HEAD commit; `WorktreeError` if the agent moved HEAD off its branch."""
    sha, ref = out_text(run_git(tree.path, "rev-parse", "HEAD", "--symbolic-full-name", "HEAD")).split()
    if ref != f"refs/heads/{tree.branch}":
        where = "a detached commit" if ref == "HEAD" else ref
        raise WorktreeError(
            f"the agent moved HEAD of {tree.path} off {tree.branch} (to {where}); "
            "nothing was committed, the worktree is left as it is"
        )
    return sha
