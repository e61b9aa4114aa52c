"""Worktree isolation of a run: each agent's worktree from its start to its commit, and the run's
merge, publish and cleanup of their branches.

An agent gets `<repo>/.agentbook/worktrees/<run>/<agent>` on branch `agentbook/<run>/<agent>`.
A resumed agent works in the same worktree again, whatever became of it: kept (it failed),
removed after its commit (it was done), or removed by hand (its branch is checked out again).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

from agentbook.scheduler.records import ENDED, AgentRecord
from agentbook.scheduler.transcript_locks import being_written
from agentbook.worktrees import MergeReport, Worktree, Worktrees, check_name

__all__ = ["Isolation", "WorktreeActions", "branch_part", "open_isolation"]

_HASHED = re.compile(r"-[0-9a-f]{8}$")


def branch_part(name: str) -> str:
    """An agent name as a branch component and folder name, distinct for distinct names.

    A name git and the file system take as it is (most task names) stays as it is.  Others
    (sub-agents' names hold '/', task names may hold any letter, a sub-agent's name may pass 100
    characters) are spelled with ASCII letters, digits, '_' and '-', cut, and given 8 hex digits of
    their SHA-1, so that "é" and "ü", or "t/1-a" and "t-1-a", never share a branch; so are valid
    names that end as such a spelling does ("-" and 8 hex digits), so none is taken for another.
    """
    if not _HASHED.search(name):  # a kept name never looks like a hashed one
        with contextlib.suppress(ValueError):
            return check_name("task", name)
    spelled = re.sub(r"[^A-Za-z0-9_-]+", "-", name).lstrip("-_")[:90]
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{spelled}-{digest}" if spelled else f"agent-{digest}"


def open_isolation(repo: Path, run: str, base: str, restored: bool) -> Isolation | None:
    """The run's `Isolation`; `ValueError` when `repo` or `base` does not make one, unless the
    run is `restored` (`load_run`): then a warning, and `None` (the run loads, its worktree agents
    cannot resume, and merge, publish and cleanup refuse)."""
    try:
        return Isolation(repo, run, base)
    except ValueError as exc:
        if not restored:
            raise
        warnings.warn(f"run {run}: its worktrees cannot be used ({exc}); it loads without them", stacklevel=3)
        return None


class Isolation:
    """The worktrees of one run in the repository `repo`, from `base`."""

    def __init__(self, repo: Path, run: str, base: str) -> None:
        self.worktrees = Worktrees(repo, run, base=base)
        # A run started in a subfolder of the checkout works in that subfolder of each worktree.
        self.subdir = Path(os.path.realpath(repo)).relative_to(self.worktrees.repo)

    def open(self, record: AgentRecord) -> Worktree:
        """The agent's worktree: a new one, or the one it worked in before (see the module
        docstring).  Runs git: call it in a thread."""
        tree = self.worktrees.revive(branch_part(record.name), record.commit)
        record.branch, record.worktree = tree.branch, tree.path
        return tree

    def folder(self, tree: Worktree) -> Path:
        """Where an agent works in `tree`: the run's subfolder of it (made when the checkout has
        none: the user's folder is untracked)."""
        folder = tree.path / self.subdir
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def top(self, root: Path) -> Path | None:
        """The worktree of this run that an agent's folder `root` lies in; `None` for none."""
        runs = self.worktrees.root / self.worktrees.run
        return runs / root.relative_to(runs).parts[0] if runs in root.parents else None

    def owner(self, records: Mapping[str, AgentRecord], record: AgentRecord) -> AgentRecord | None:
        """The agent whose worktree `record` works in: itself, or the nearest ancestor whose
        folder is a worktree of this run (sub-agents work in their parent's folder); `None` for
        an agent that works in a plain folder."""
        if record.root is None or self.top(record.root) is None:
            return None
        while (parent := records.get(record.parent or "")) is not None and parent.root == record.root:
            record = parent
        return record

    def recover(self, records: Mapping[str, AgentRecord]) -> None:
        """What a lost `run.json` (or an unreadable entry of it) knew of top-level agents' worktrees,
        read from git: the branch of each (if it exists), its commit, kept folder and working
        folder; sub-agents work in their parent's folder again."""
        for record in sorted(records.values(), key=lambda r: r.depth):
            parent = records.get(record.parent or "")
            if parent is not None and record.root is None:
                record.root = parent.root
            if parent is not None or record.branch is not None:
                continue
            task = branch_part(record.name)
            branch = self.worktrees.branch(task)
            tip = self.worktrees.tip(branch)
            if tip is None:
                continue
            path = self.worktrees.root / self.worktrees.run / task
            record.branch, record.commit = branch, (tip if tip != self.worktrees.base else None)
            record.worktree = path if path.is_dir() else None
            record.root = record.root or path / self.subdir

    def check_resumable(
        self, records: Mapping[str, AgentRecord], record: AgentRecord, *, by_parent: bool = False
    ) -> None:
        """`RuntimeError` when `record` worked in an ended ancestor's worktree that is gone (the
        ancestor was done: its work was committed and the folder removed), or when another agent
        works in that worktree now (unless `by_parent`: a coordinator resuming its child in its
        own live worktree, which it commits after its children end)."""
        owner = self.owner(records, record)
        if owner is None:
            return
        gone = owner.root is not None and not owner.root.is_dir()
        if owner is not record and owner.state in ENDED and gone:
            raise RuntimeError(
                f"agent {record.name!r} worked in the worktree of {owner.name!r}, which was committed "
                f"on {owner.branch} and removed when {owner.name!r} ended; resume {owner.name!r} instead"
            )
        # One worktree, one resumed agent at a time: the first to end done would remove the
        # folder the other works in.
        others = (
            [] if by_parent else [r for r in records.values() if r is not record and r.state not in ENDED]
        )
        busy = [r.name for r in others if self.owner(records, r) is owner]
        if busy:
            raise RuntimeError(f"agent {record.name!r} works in the worktree of {owner.name!r}, where "
                               f"{', '.join(busy)} still works: resume it once they have ended")  # fmt: skip

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
        """Remove the run's worktrees but those of agents running (in this process or another:
        their transcripts are held open)."""
        records = list(records)
        running = {r.worktree for r in records if r.worktree is not None and being_written(r.transcript)}
        removed = self.worktrees.cleanup(keep=running)
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
