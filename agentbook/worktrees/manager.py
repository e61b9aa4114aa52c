"""`Worktrees`: the one object the scheduler and the batch flow use for agents' git worktrees.

Its methods keep their contracts here and leave the work to one module per job: `create`
(making and reopening), `finish` (committing an agent's work), `merge`, `publish` and `cleanup`,
all over one shared `RunRepo` (names, folders, lock, identity).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from agentbook.worktrees.cleanup import cleanup_run
from agentbook.worktrees.create import IndexRefresher, create_worktree, reopen_worktree, revive_worktree
from agentbook.worktrees.finish import finish_worktree
from agentbook.worktrees.merge import merge_branches
from agentbook.worktrees.publish import publish_branch
from agentbook.worktrees.repo import RunRepo
from agentbook.worktrees.values import MergeReport, Outcome, Worktree

__all__ = ["Worktrees"]


class Worktrees:
    """The worktrees of one run of agents in one repository.

    `repo` is a git checkout or a folder inside one.  `base` (a commit-ish, default HEAD) is
    resolved to a commit now.  `root` (default `<repo>/.agentbook/worktrees`; relative paths are
    relative to the repository) holds the worktrees, in `<root>/<run>/<task>`.  With `sparse`,
    worktrees check out only those directories (cone mode: files at the top level come too).
    """

    def __init__(
        self,
        repo: str | Path,
        run: str,
        *,
        base: str = "HEAD",
        root: str | Path | None = None,
        sparse: Sequence[str] | None = None,
    ) -> None:
        self._repo = RunRepo(repo, run, base=base, root=root, sparse=sparse)
        self._refresher = IndexRefresher()

    @property
    def run(self) -> str:
        """The run's name: a component of every branch and folder of it."""
        return self._repo.run

    @property
    def repo(self) -> Path:
        """The checkout's top folder (a real path)."""
        return self._repo.repo

    @property
    def base(self) -> str:
        """The commit every worktree of the run starts from."""
        return self._repo.base

    @property
    def root(self) -> Path:
        """The folder holding the worktrees, in `<root>/<run>/<task>` (a real path)."""
        return self._repo.root

    @property
    def sparse(self) -> tuple[str, ...]:
        """The directories a sparse checkout takes; empty when worktrees check out everything."""
        return self._repo.sparse

    def branch(self, task: str) -> str:
        """The branch task `task` works on in this run (`agentbook/<run>/<task>`)."""
        return self._repo.worktree(task).branch

    def tip(self, branch: str) -> str | None:
        """The commit `branch` names; `None` when it does not exist."""
        return self._repo.tip(branch)

    def ignores(self, folder: Path) -> bool:
        """Whether git ignores `folder`, a folder of the checkout (files there are never committed)."""
        return self._repo.ignores(folder)

    def branches(self) -> list[str]:
        """The branches of this run that exist in the repository, sorted (an earlier run of the
        same name may have left some)."""
        return self._repo.branches()

    def create(self, task: str) -> Worktree:
        """Check out a new branch `agentbook/<run>/<task>` at the base in `<root>/<run>/<task>`.

        The worktree stays locked (`git worktree list` shows why) until `finish`.  Ignored files
        the repository's `.worktreeinclude` lists are copied in from the user's checkout.
        `ValueError` if the task name is invalid or its branch or folder already exists.
        """
        tree = create_worktree(self._repo, task)
        self._refresher.schedule(tree.path)
        return tree

    def reopen(self, task: str) -> Worktree:
        """The kept worktree of `task` (a failed agent's), locked again for an agent resuming in it.

        Its `base` is this run's base.  `ValueError` if the task has no worktree in this run.
        """
        return reopen_worktree(self._repo, task)

    def revive(self, task: str, commit: str | None = None) -> Worktree:
        """The worktree of `task` for an agent resuming in it, whatever became of it: the kept
        folder (as `reopen`), else its branch checked out again in a new folder (the folder was
        removed after a commit, or by hand), else its branch made again at `commit` (the last
        commit recorded for it: the user deleted the branch), else a new worktree from the base
        (the agent changed nothing, so its branch was deleted, or it never had one).

        `ValueError` when `commit` is given but no longer exists: the agent's work is gone, and
        starting it again from the base would contradict its conversation.
        """
        if self._repo.worktree(task).path.is_dir():
            return self.reopen(task)
        tree = revive_worktree(self._repo, task)
        if tree is not None:
            self._refresher.schedule(tree.path)
            return tree
        if commit is not None and not self._repo.has_commit(commit):
            raise ValueError(
                f"branch {self._repo.branch(task)!r} was deleted and its last commit {commit[:12]} "
                "is gone too: the agent's work cannot be restored"
            )
        tree = create_worktree(self._repo, task, commit)
        self._refresher.schedule(tree.path)
        return tree

    def finish(self, worktree: Worktree, *, message: str, failed: bool = False) -> Outcome:
        """Commit everything in `worktree` on its branch, unlock it, and remove it unless `failed`.

        Every change is committed, new files included and ignored files excluded, with
        `message` (prefixed with the task name unless it names the task already), hooks skipped
        (the branch records what the agent left; checks belong to review).  The author is git's
        configured user, else "agentbook <agentbook@localhost>".  Then:

        * failed: the folder is kept, unlocked, for inspection (its work is on the branch too,
          so a later `cleanup` loses nothing); `finish` may be called on it again, after a
          resumed agent has done more;
        * no change since the base: the folder and the branch are removed;
        * otherwise: the folder is removed and the branch kept.
        """
        self._repo.check_ours(worktree)
        if not worktree.path.is_dir():
            raise ValueError(f"worktree {worktree.path} does not exist: finished or removed already")
        self._refresher.stop(worktree.path)
        return finish_worktree(self._repo, worktree, message=message, failed=failed)

    def cleanup(self, keep: Collection[Path] = ()) -> list[Path]:
        """Remove every remaining worktree of this run but those in `keep`, whatever its state;
        return their paths.

        Only worktrees in `<root>/<run>/` count: one the user made elsewhere, even on a branch of
        the run, is not touched.  Uncommitted work in them is lost.  Branches of the run that
        never moved past the base (and are not checked out elsewhere) are deleted; branches with
        commits are kept.  Works from a new `Worktrees` too (after a kernel restart): it reads
        what exists from git, not from memory.
        """
        self._refresher.stop_all()
        return cleanup_run(self._repo, keep)

    def merge(self, branches: Sequence[str], into: str) -> MergeReport:
        """Merge `branches`, one by one, into branch `into` (created at the base if missing).

        The merges run in a temporary worktree, never in the user's checkout, each as a merge
        commit ("Merge branch '<branch>' into <into>").  At the first conflict the merge is
        aborted and the report names the branch and the conflicting files; `into` stays at the
        last good merge.  `ValueError` if a branch does not exist or `into` is checked out
        somewhere (merging into it would leave that checkout out of date).
        """
        return merge_branches(self._repo, branches, into)

    def publish(self, branch: str, *, title: str, body: str) -> str:
        """Offer `branch` for review; return a pull request's URL or a patch file's path.

        With `gh` on PATH and a remote (`origin`, else the first one), the branch is pushed and
        `gh pr create` opens a pull request against the remote's default branch.  Otherwise
        `git format-patch base..branch` goes to `<repo>/.agentbook/patches/<run>/<task>.patch`
        (apply it with `git am`), with `title` and `body` beside it in `<task>.md`.
        `ValueError` if the branch does not exist or has no commits past the base.
        """
        return publish_branch(self._repo, branch, title=title, body=body)
