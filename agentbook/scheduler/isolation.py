"""Worktree isolation of a run: each agent's worktree from its start to its commit, and the run's
merge, publish and cleanup of their branches.

An agent gets `<repo>/.agentbook/worktrees/<run>/<agent>` on branch `agentbook/<run>/<agent>`.
A resumed agent works in the same worktree again, whatever became of it: kept (it failed),
removed after its commit (it was done), or removed by hand (its branch is checked out again).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from agentbook.scheduler.records import AgentRecord
from agentbook.worktrees import MergeReport, Worktree, Worktrees

__all__ = ["Isolation", "WorktreeActions", "branch_part"]


def branch_part(name: str) -> str:
    """An agent name as a branch component (sub-agent names hold '/', and others may hold more)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:100] or "agent"


class Isolation:
    """The worktrees of one run in the repository `repo`, from `base`."""

    def __init__(self, repo: Path, run: str, base: str) -> None:
        self.worktrees = Worktrees(repo, run, base=base)

    def open(self, record: AgentRecord) -> Worktree:
        """The agent's worktree: a new one, or the one it worked in before (see the module
        docstring).  Runs git: call it in a thread."""
        tree = self.worktrees.revive(branch_part(record.name))
        record.branch, record.worktree = tree.branch, tree.path
        return tree

    def finish(self, record: AgentRecord, tree: Worktree, ok: bool) -> None:
        """Commit what the agent left on its branch; an agent that did not finish keeps its folder."""
        message = f"agentbook: {record.task.name} ({record.state})\n\n{record.task.prompt[:2000]}"
        outcome = self.worktrees.finish(tree, message=message, failed=not ok)
        record.commit = outcome.commit
        record.files_changed, record.insertions, record.deletions = (
            outcome.files_changed, outcome.insertions, outcome.deletions,
        )  # fmt: skip
        record.worktree = outcome.path if outcome.kept else None
        if outcome.commit is None and not outcome.kept:
            record.branch = None  # nothing to keep: the branch was deleted with its worktree

    def cleanup(self, records: Iterable[AgentRecord]) -> list[Path]:
        removed = self.worktrees.cleanup()
        for record in records:
            if record.worktree in removed:
                record.worktree = None
        return removed

    def merge(
        self, records: Mapping[str, AgentRecord], into: str, names: Iterable[str] | None
    ) -> MergeReport:
        """Merge the committed branches of the agents `names` (default: all) into `into`."""
        chosen = set(records) if names is None else set(names)
        unknown = chosen - set(records)
        if unknown:
            raise KeyError(f"no agent(s) {sorted(unknown)} in run {self.worktrees.run}")
        branches = [r.branch for r in records.values() if r.name in chosen and r.branch and r.commit]
        return self.worktrees.merge(branches, into)

    def publish(self, records: Iterable[AgentRecord]) -> dict[str, str]:
        return {
            r.name: self.worktrees.publish(r.branch, title=f"agentbook: {r.name}", body=r.text[:5000])
            for r in records
            if r.branch and r.commit
        }


class WorktreeActions:
    """What a run offers over its agents' worktrees (a part of `Run`): it needs `name`, `records`
    and `isolation`."""

    name: str
    records: dict[str, AgentRecord]
    isolation: Isolation | None

    def cleanup(self) -> list[Path]:
        """Remove the worktrees this run still has (failed agents keep theirs until now)."""
        return self.isolation.cleanup(self.records.values()) if self.isolation else []

    def merge(self, into: str, names: Iterable[str] | None = None) -> MergeReport:
        """Merge the agents' branches that have commits (of the agents `names`, default all),
        one by one, into the branch `into` (made from the run's base if missing), stopping at the
        first conflict with a report.  The user's own checkout is never touched."""
        return self._isolation("merge").merge(self.records, into, names)

    def publish(self) -> dict[str, str]:
        """Each committed branch as a pull request (`gh`, when it and a remote exist) or a patch file."""
        return self._isolation("publish").publish(self.records.values())

    def _isolation(self, action: str) -> Isolation:
        if self.isolation is None:
            raise RuntimeError(f"run {self.name} used no worktrees: nothing to {action}")
        return self.isolation
