"""Making an agent's worktree, and reopening a kept one for an agent that resumes in it.

`Worktrees.create` and `Worktrees.reopen` come here.  A worktree is added locked, with no
checkout, under the repository lock; the checkout itself (the slow part) and the copying of the
files `.worktreeinclude` lists run outside it.  `IndexRefresher` then refreshes the new index a
moment later, so that committing at the end does not re-read every file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from pathlib import Path

from agentbook.worktrees.gitcmd import git_error, list_worktrees, nul_paths, run_git
from agentbook.worktrees.repo import STATE_DIR, RunRepo, in_cone
from agentbook.worktrees.values import Worktree

__all__ = [
    "INCLUDE_FILE",
    "RACY_MARGIN_S",
    "IndexRefresher",
    "create_worktree",
    "reopen_worktree",
    "revive_worktree",
]

INCLUDE_FILE = ".worktreeinclude"
RACY_MARGIN_S = 0.02


def create_worktree(repo: RunRepo, task: str, start: str | None = None) -> Worktree:
    """Check out a new branch for `task` at `start` (default: the base) in its folder, locked;
    see `Worktrees.create`."""
    tree = repo.worktree(task)
    with repo.lock:
        repo.hide(repo.state_dir_of(repo.root))
        _add(repo, tree, start or repo.base)
    try:
        # The checkout itself writes every file: the slow part, so outside the lock.
        run_git(tree.path, "reset", "--hard", "--quiet", "--no-recurse-submodules")
        _copy_included(repo, tree.path)
    except BaseException:
        _discard(repo, tree)
        raise
    return tree


def reopen_worktree(repo: RunRepo, task: str) -> Worktree:
    """The kept worktree of `task`, locked again; `ValueError` if the run has none for it."""
    tree = repo.worktree(task)
    found = (
        entry.path == tree.path and entry.branch == f"refs/heads/{tree.branch}"
        for entry in list_worktrees(repo.repo)
    )
    if not any(found) or not tree.path.is_dir():
        raise ValueError(f"task {tree.task!r} of run {repo.run!r} has no worktree to reopen at {tree.path}")
    with repo.lock:
        locked = run_git(
            repo.repo, "worktree", "lock", "--reason", repo.reason(tree.task), str(tree.path), check=False
        )
    if locked.status != 0 and "already locked" not in locked.err:
        raise git_error(("worktree", "lock", str(tree.path)), locked)
    return tree


def revive_worktree(repo: RunRepo, task: str) -> Worktree | None:
    """`task`'s branch checked out again in a new folder, or `None` when the branch is gone; see
    `Worktrees.revive`."""
    tree = repo.worktree(task)
    found = run_git(repo.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{tree.branch}", check=False)
    if found.status != 0:
        return None
    with repo.lock:
        repo.hide(repo.state_dir_of(repo.root))
        # A folder removed by hand leaves its (locked) registration behind: drop it first.
        run_git(repo.repo, "worktree", "unlock", str(tree.path), check=False)
        run_git(repo.repo, "worktree", "prune")
        added = run_git(
            repo.repo, "worktree", "add", "--no-checkout", "--lock", "--reason", repo.reason(tree.task),
            str(tree.path), tree.branch, check=False,
        )  # fmt: skip
        if added.status != 0:
            raise git_error(("worktree", "add", str(tree.path), tree.branch), added)
        if repo.sparse:
            run_git(tree.path, "sparse-checkout", "set", "--cone", *repo.sparse)
    run_git(tree.path, "reset", "--hard", "--quiet", "--no-recurse-submodules")
    _copy_included(repo, tree.path)
    return tree


def _add(repo: RunRepo, tree: Worktree, start: str) -> None:
    reason = repo.reason(tree.task)
    added = run_git(
        repo.repo, "worktree", "add", "--no-checkout", "--lock", "--reason", reason,
        "-b", tree.branch, str(tree.path), start, check=False,
    )  # fmt: skip
    if added.status != 0:
        if "already exists" in added.err:
            raise ValueError(f"cannot create the worktree of task {tree.task!r}: {added.err.strip()}")
        raise git_error(("worktree", "add", str(tree.path)), added)
    if repo.sparse:
        # With an empty index (no checkout yet) this only writes the patterns and config; the
        # `reset --hard` that follows checks out just the cone.
        run_git(tree.path, "sparse-checkout", "set", "--cone", *repo.sparse)


def _discard(repo: RunRepo, tree: Worktree) -> None:
    """Undo a `create` that failed half-way; errors are ignored, the original one matters."""
    with repo.lock:
        run_git(repo.repo, "worktree", "remove", "--force", "--force", str(tree.path), check=False)
        run_git(repo.repo, "branch", "--delete", "--force", tree.branch, check=False)


def _copy_included(repo: RunRepo, dest: Path) -> None:
    real = Path(os.path.realpath(dest))
    for rel in _included_files(repo):
        target = dest / rel
        if os.path.lexists(target) or not in_cone(rel, repo.sparse):
            continue
        # Not through a link of the branch (an agent's commit can make `conf` one to anywhere).
        if Path(os.path.realpath(target.parent)) != real / Path(rel).parent:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo.repo / rel, target, follow_symlinks=False)


def _included_files(repo: RunRepo) -> list[str]:
    """Files of the user's checkout that `.worktreeinclude` lists AND git ignores.

    Claude Code's rule: tracked files come with the checkout anyway, and untracked files
    that git does not ignore are the user's work in progress, not build inputs.
    """
    include = repo.repo / INCLUDE_FILE
    if not include.is_file():
        return []
    others = ("ls-files", "-z", "--others", "--ignored")
    listed = nul_paths(run_git(repo.repo, *others, f"--exclude-from={include}").out)
    if not listed:
        return []
    ignored = set(nul_paths(run_git(repo.repo, *others, "--exclude-standard").out))
    ours = [repo.repo / STATE_DIR, repo.root]  # never copy worktrees or patches into worktrees
    return [rel for rel in listed if rel in ignored and not any(d in (repo.repo / rel).parents for d in ours)]


class IndexRefresher:
    """Refreshes new worktrees' indexes once a new second has begun after their checkout.

    A fresh checkout writes its files and its index within the same second, so git treats
    every entry as "racily clean" and re-reads every file at the first `git add` (in
    `finish`).  Refreshing a little later, while the agent works, records the stat data as
    trustworthy, so `finish` only looks at what changed.  It changes no content: a file
    modified meanwhile stays modified.  Best effort: a failure (the worktree gone, the index
    locked by the agent's own git command) leaves the slow path, which is still correct.
    """

    def __init__(self) -> None:
        self._timers: dict[Path, threading.Timer] = {}

    def schedule(self, path: Path) -> None:
        # Just past the next whole second: git compares whole-second timestamps, so an index
        # written in a later second than every checked-out file trusts them by stat.
        timer = threading.Timer(1.0 - time.time() % 1.0 + RACY_MARGIN_S, _refresh_index, (path,))
        timer.daemon = True
        self._timers[path] = timer
        timer.start()

    def stop(self, path: Path) -> None:
        timer = self._timers.pop(path, None)
        if timer is not None:
            timer.cancel()
            timer.join()  # a refresh that started holds the index lock: let it end first

    def stop_all(self) -> None:
        for path in list(self._timers):
            self.stop(path)


def _refresh_index(path: Path) -> None:
    """`git update-index --refresh` in `path`, ignoring every failure (see `IndexRefresher`)."""
    with contextlib.suppress(Exception):
        if path.is_dir():
            run_git(path, "update-index", "-q", "--refresh", check=False)
