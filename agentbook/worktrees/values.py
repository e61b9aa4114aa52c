"""What the worktree API hands out: checkouts, finish outcomes, merge reports, and its error.

Plain frozen values, so that the scheduler (`agentbook.scheduler.run`) can keep them on its
agent records and the batch flow can report them, without touching git.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["MergeConflict", "MergeReport", "Outcome", "Worktree", "WorktreeError"]


class WorktreeError(RuntimeError):
    """A git command failed; the message holds the command and what git said."""


@dataclass(frozen=True)
class Worktree:
    """An agent's checkout: `path` has `branch` checked out, started at commit `base`."""

    task: str
    branch: str
    path: Path
    base: str


@dataclass(frozen=True)
class Outcome:
    """What `Worktrees.finish` did with a worktree.

    `commit` is the branch's tip when it has moved past the base (normally the one commit
    `finish` made; the agent's own commits count too), else None.  The stats compare that tip
    with the base.  `kept` says whether the folder at `path` still exists.
    """

    task: str
    branch: str
    commit: str | None
    files_changed: int
    insertions: int
    deletions: int
    kept: bool
    path: Path


@dataclass(frozen=True)
class MergeConflict:
    """The merge of `branch` stopped on conflicts in `files` (paths relative to the repository).

    Not a plan's `agentbook.plans.Conflict` (two tasks of one phase that may touch the same
    files): this one is git's, found when the branches are merged.
    """

    branch: str
    files: list[str]


@dataclass(frozen=True)
class MergeReport:
    """Branches merged into `into`, in order, up to the first conflict; `head` is `into`'s tip."""

    merged: list[str]
    conflict: MergeConflict | None
    into: str
    head: str

    @property
    def ok(self) -> bool:
        """Whether every branch was merged."""
        return self.conflict is None
