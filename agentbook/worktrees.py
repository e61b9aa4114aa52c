"""Git worktrees for agents: one isolated checkout and branch per agent, then commit, merge, publish.

Who uses it: the scheduler, when a task asks for `isolation="worktree"` (Claude Code's
`isolation: worktree`).  It creates a worktree per agent, confines the agent's tools to it
(`ToolContext(root=worktree.path)`), finishes it when the agent ends, and `batch` merges or
publishes the branches that came out.

Layout.  In run `r`, task `t` works on branch `agentbook/r/t`, checked out at `<root>/r/t`
(`root` defaults to `<repo>/.agentbook/worktrees`).  Every worktree of a run starts from the same
commit: `base` is resolved once, when the `Worktrees` is made.

The user's checkout is never touched.  Nothing runs `checkout`, `reset`, `stash` or `merge` in
it (merges run in a temporary worktree), so its HEAD, index and working files stay as they were.
What does change is shared metadata: branches, `.git/worktrees/`, `extensions.worktreeConfig` in
`.git/config` when `sparse` is used (git's sparse-checkout needs it), and, when the worktrees or
patches live inside the checkout and nothing ignores them yet, one line in `.git/info/exclude`,
so that `git status` in the checkout stays the same.

Concurrency.  Every method may be called from many threads at once (`asyncio.to_thread`
included).  Git commands that write shared state (`worktree add/lock/unlock/remove/prune`,
creating and deleting branches, config) hold one lock per repository in this process.  Checking
files out, copying and deleting them, committing in a worktree (it has its own index) and merging
run outside it, so agents do not wait for each other's disk work.  Another process's git can
still hold one of git's lock files: a command that fails on one is retried a few times.

Errors.  `ValueError` when the caller asked for something wrong (not a repository, a base that
does not resolve, a bad name, a branch that exists or does not); `WorktreeError` when git fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import git

__all__ = ["Conflict", "MergeReport", "Outcome", "Worktree", "WorktreeError", "Worktrees"]

AUTHOR_NAME = "agentbook"
AUTHOR_EMAIL = "agentbook@localhost"
BRANCH_PREFIX = "agentbook"
STATE_DIR = ".agentbook"  # under the repository: worktrees (by default) and patches
INCLUDE_FILE = ".worktreeinclude"
RACY_MARGIN_S = 0.02

# Run and task names become a branch component and a folder name: a conservative subset of what
# git allows, so that neither ever needs quoting, and `.merge-*` folders cannot clash with tasks.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Git's messages when one of its lock files is held by someone else.
_LOCK_BUSY = re.compile(r"\.lock'?: File exists|could not lock config file")
_LOCK_RETRIES = 5
_LOCK_BACKOFF_S = 0.05
# Never prompt (a credential prompt would hang a notebook kernel), and never take optional locks,
# so read-only commands in the user's checkout cannot rewrite its index.
_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
# No automatic gc from our merges: it packs refs and prunes while other agents commit.
_NO_GC = ("-c", "gc.auto=0", "-c", "maintenance.auto=false")

_repo_locks: dict[Path, threading.Lock] = {}
_repo_locks_guard = threading.Lock()


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
class Conflict:
    """The merge of `branch` stopped on conflicts in `files` (paths relative to the repository)."""

    branch: str
    files: list[str]


@dataclass(frozen=True)
class MergeReport:
    """Branches merged into `into`, in order, up to the first conflict; `head` is `into`'s tip."""

    merged: list[str]
    conflict: Conflict | None
    into: str
    head: str

    @property
    def ok(self) -> bool:
        """Whether every branch was merged."""
        return self.conflict is None


class _Result(NamedTuple):
    status: int
    out: bytes
    err: str


class _Listed(NamedTuple):
    path: Path
    branch: str | None  # "refs/heads/...", None when detached


class _Stats(NamedTuple):
    files: int
    insertions: int
    deletions: int


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
        self.run = _check_name("run", run)
        self.repo, self._common_dir = _open_repo(repo)
        self.base = self._resolve_base(base)
        self.root = self._root(root)
        self.sparse = _sparse_dirs(sparse)
        self._lock = _repo_lock(self._common_dir)
        self._refreshers: dict[Path, threading.Timer] = {}
        self._identity = self._fallback_identity()
        self._hidden: set[Path] = set()

    # ----------------------------------------------------------------------------------- create

    def create(self, task: str) -> Worktree:
        """Check out a new branch `agentbook/<run>/<task>` at the base in `<root>/<run>/<task>`.

        The worktree stays locked (`git worktree list` shows why) until `finish`.  Ignored files
        the repository's `.worktreeinclude` lists are copied in from the user's checkout.
        `ValueError` if the task name is invalid or its branch or folder already exists.
        """
        tree = self._worktree(task)
        with self._lock:
            self._hide(self._state_dir_of(self.root))
            self._add(tree)
        try:
            # The checkout itself writes every file: the slow part, so outside the lock.
            _git(tree.path, "reset", "--hard", "--quiet", "--no-recurse-submodules")
            self._copy_included(tree.path)
        except BaseException:
            self._discard(tree)
            raise
        self._schedule_refresh(tree.path)
        return tree

    def _schedule_refresh(self, path: Path) -> None:
        """Refresh the new worktree's index once a new second has begun after its checkout.

        A fresh checkout writes its files and its index within the same second, so git treats
        every entry as "racily clean" and re-reads every file at the first `git add` (in
        `finish`).  Refreshing a little later, while the agent works, records the stat data as
        trustworthy, so `finish` only looks at what changed.  It changes no content: a file
        modified meanwhile stays modified.  Best effort: a failure (the worktree gone, the index
        locked by the agent's own git command) leaves the slow path, which is still correct.
        """
        # Just past the next whole second: git compares whole-second timestamps, so an index
        # written in a later second than every checked-out file trusts them by stat.
        timer = threading.Timer(1.0 - time.time() % 1.0 + RACY_MARGIN_S, _refresh_index, (path,))
        timer.daemon = True
        self._refreshers[path] = timer
        timer.start()

    def _stop_refresh(self, path: Path) -> None:
        timer = self._refreshers.pop(path, None)
        if timer is not None:
            timer.cancel()
            timer.join()  # a refresh that started holds the index lock: let it end first

    def reopen(self, task: str) -> Worktree:
        """The kept worktree of `task` (a failed agent's), locked again for an agent resuming in it.

        Its `base` is this run's base.  `ValueError` if the task has no worktree in this run.
        """
        tree = self._worktree(task)
        found = (
            entry.path == tree.path and entry.branch == f"refs/heads/{tree.branch}"
            for entry in _listed(self.repo)
        )
        if not any(found) or not tree.path.is_dir():
            raise ValueError(
                f"task {tree.task!r} of run {self.run!r} has no worktree to reopen at {tree.path}"
            )
        with self._lock:
            locked = _git(
                self.repo,
                "worktree",
                "lock",
                "--reason",
                self._reason(tree.task),
                str(tree.path),
                check=False,
            )
        if locked.status != 0 and "already locked" not in locked.err:
            raise _failure(("worktree", "lock", str(tree.path)), locked)
        return tree

    def revive(self, task: str) -> Worktree:
        """The worktree of `task` for an agent resuming in it, whatever became of it: the kept
        folder (as `reopen`), else its branch checked out again in a new folder (the folder was
        removed after a commit, or by hand), else a new worktree from the base (the branch was
        deleted because the agent changed nothing)."""
        tree = self._worktree(task)
        if tree.path.is_dir():
            return self.reopen(task)
        found = _git(self.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{tree.branch}", check=False)
        if found.status != 0:
            return self.create(task)
        with self._lock:
            self._hide(self._state_dir_of(self.root))
            # A folder removed by hand leaves its (locked) registration behind: drop it first.
            _git(self.repo, "worktree", "unlock", str(tree.path), check=False)
            _git(self.repo, "worktree", "prune")
            added = _git(
                self.repo, "worktree", "add", "--no-checkout", "--lock", "--reason", self._reason(tree.task),
                str(tree.path), tree.branch, check=False,
            )  # fmt: skip
            if added.status != 0:
                raise _failure(("worktree", "add", str(tree.path), tree.branch), added)
            if self.sparse:
                _git(tree.path, "sparse-checkout", "set", "--cone", *self.sparse)
        _git(tree.path, "reset", "--hard", "--quiet", "--no-recurse-submodules")
        self._copy_included(tree.path)
        self._schedule_refresh(tree.path)
        return tree

    def _worktree(self, task: str) -> Worktree:
        task = _check_name("task", task)
        return Worktree(
            task=task, branch=self._branch(task), path=self.root / self.run / task, base=self.base
        )

    def _reason(self, task: str) -> str:
        return f"agentbook run {self.run}: {task}"

    def _add(self, tree: Worktree) -> None:
        reason = self._reason(tree.task)
        added = _git(
            self.repo, "worktree", "add", "--no-checkout", "--lock", "--reason", reason,
            "-b", tree.branch, str(tree.path), self.base, check=False,
        )  # fmt: skip
        if added.status != 0:
            if "already exists" in added.err:
                raise ValueError(f"cannot create the worktree of task {tree.task!r}: {added.err.strip()}")
            raise _failure(("worktree", "add", str(tree.path)), added)
        if self.sparse:
            # With an empty index (no checkout yet) this only writes the patterns and config; the
            # `reset --hard` that follows checks out just the cone.
            _git(tree.path, "sparse-checkout", "set", "--cone", *self.sparse)

    def _discard(self, tree: Worktree) -> None:
        """Undo a `create` that failed half-way; errors are ignored, the original one matters."""
        with self._lock:
            _git(self.repo, "worktree", "remove", "--force", "--force", str(tree.path), check=False)
            _git(self.repo, "branch", "--delete", "--force", tree.branch, check=False)

    def _copy_included(self, dest: Path) -> None:
        for rel in self._included_files():
            target = dest / rel
            if os.path.lexists(target) or not _in_cone(rel, self.sparse):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.repo / rel, target, follow_symlinks=False)

    def _included_files(self) -> list[str]:
        """Files of the user's checkout that `.worktreeinclude` lists AND git ignores.

        Claude Code's rule: tracked files come with the checkout anyway, and untracked files
        that git does not ignore are the user's work in progress, not build inputs.
        """
        include = self.repo / INCLUDE_FILE
        if not include.is_file():
            return []
        others = ("ls-files", "-z", "--others", "--ignored")
        listed = _paths(_git(self.repo, *others, f"--exclude-from={include}").out)
        if not listed:
            return []
        ignored = set(_paths(_git(self.repo, *others, "--exclude-standard").out))
        ours = [self.repo / STATE_DIR, self.root]  # never copy worktrees or patches into worktrees
        return [
            rel for rel in listed if rel in ignored and not any(d in (self.repo / rel).parents for d in ours)
        ]

    # ----------------------------------------------------------------------------------- finish

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
        self._check_ours(worktree)
        if not worktree.path.is_dir():
            raise ValueError(f"worktree {worktree.path} does not exist: finished or removed already")
        self._stop_refresh(worktree.path)
        head, stats = self._commit_all(worktree, self._message(worktree.task, message))
        commit = head if head != worktree.base else None
        if failed:
            with self._lock:
                unlocked = _git(self.repo, "worktree", "unlock", str(worktree.path), check=False)
            if unlocked.status != 0 and "is not locked" not in unlocked.err:  # finished before
                raise _failure(("worktree", "unlock", str(worktree.path)), unlocked)
        else:
            self._remove(worktree.path, delete_branch=worktree.branch if commit is None else None)
        return Outcome(
            task=worktree.task, branch=worktree.branch, commit=commit, files_changed=stats.files,
            insertions=stats.insertions, deletions=stats.deletions, kept=failed, path=worktree.path,
        )  # fmt: skip

    def _commit_all(self, tree: Worktree, message: str) -> tuple[str, _Stats]:
        """Stage and commit everything; the branch tip afterwards and its diff stats against the base."""
        # `--sparse` stages files the agent wrote outside the cone too, instead of refusing them.
        _git(tree.path, "add", "--all", *(["--sparse"] if self.sparse else []))
        stats = _numstat(_git(tree.path, "diff", "--cached", "--numstat", "-z", tree.base).out)
        head = self._head(tree)
        if head == tree.base:
            staged = stats.files > 0
        else:  # the agent committed by itself: compare the index with its last commit instead
            staged = _git(tree.path, "diff", "--cached", "--quiet", check=False).status != 0
        if staged:
            head = self._commit_index(tree.path, head, message)
        return head, stats

    def _commit_index(self, path: Path, parent: str, message: str) -> str:
        """Commit the index of the worktree at `path` on top of `parent`; the new commit's sha.

        Plumbing rather than `git commit`, which would first collect a full status (every file,
        every untracked folder) to learn whether there is anything to commit, which is known
        here already: on a fresh checkout that costs more than the commit itself.
        """
        tree = _text(_git(path, "write-tree"))
        commit = _text(_git(path, *self._identity, "commit-tree", tree, "-p", parent, "-m", message))
        # Through HEAD, so that both HEAD's and the branch's reflogs record it, as `git commit` does;
        # the old value makes it fail rather than overwrite a commit the agent made meanwhile.
        _git(path, "update-ref", "-m", f"commit: {message.splitlines()[0]}", "HEAD", commit, parent)
        return commit

    def _head(self, tree: Worktree) -> str:
        """The worktree's HEAD commit; `WorktreeError` if the agent moved HEAD off its branch."""
        sha, ref = _text(_git(tree.path, "rev-parse", "HEAD", "--symbolic-full-name", "HEAD")).split()
        if ref != f"refs/heads/{tree.branch}":
            where = "a detached commit" if ref == "HEAD" else ref
            raise WorktreeError(
                f"the agent moved HEAD of {tree.path} off {tree.branch} (to {where}); "
                "nothing was committed, the worktree is left as it is"
            )
        return sha

    def _message(self, task: str, message: str) -> str:
        message = message.strip() or f"agentbook run {self.run}: {task}"
        # The name as a word of its own: task "fix" is not named by "fix-login".
        named = re.search(rf"(?<![\w.-]){re.escape(task)}(?![\w-])", message) is not None
        return message if named else f"{task}: {message}"

    def _remove(self, path: Path, *, delete_branch: str | None = None) -> None:
        """Remove the worktree at `path` (and then `delete_branch`), whatever its state or lock."""
        if path.is_dir():
            _empty_worktree(path)  # deleting files is slow: outside the lock
        with self._lock:
            _git(self.repo, "worktree", "remove", "--force", "--force", str(path))
            if delete_branch is not None:
                _git(self.repo, "branch", "--delete", "--force", delete_branch)
            _rmdir_if_empty(self.root / self.run)

    # ---------------------------------------------------------------------------------- cleanup

    def cleanup(self) -> list[Path]:
        """Remove every remaining worktree of this run, whatever its state; return their paths.

        Only worktrees in `<root>/<run>/` count: one the user made elsewhere, even on a branch of
        the run, is not touched.  Uncommitted work in them is lost.  Branches of the run that
        never moved past the base (and are not checked out elsewhere) are deleted; branches with
        commits are kept.  Works from a new `Worktrees` too (after a kernel restart): it reads
        what exists from git, not from memory.
        """
        for path in list(self._refreshers):
            self._stop_refresh(path)
        run_dir = self.root / self.run
        mine = [entry.path for entry in _listed(self.repo) if run_dir in entry.path.parents]
        for path in mine:
            if path.is_dir():
                _empty_worktree(path)
        with self._lock:
            for path in mine:
                _git(self.repo, "worktree", "remove", "--force", "--force", str(path))
            _git(self.repo, "worktree", "prune")
            self._delete_unmoved_branches()
            _rmdir_if_empty(self.root / self.run)
        return mine

    def _delete_unmoved_branches(self) -> None:
        pattern = f"refs/heads/{self._branch('')}"
        refs = _text(_git(self.repo, "for-each-ref", "--format=%(objectname) %(refname)", pattern))
        checked_out = {entry.branch for entry in _listed(self.repo)}
        unmoved = [
            ref.removeprefix("refs/heads/")
            for sha, ref in (line.split(" ", 1) for line in refs.splitlines())
            if sha == self.base and ref not in checked_out
        ]
        if unmoved:
            _git(self.repo, "branch", "--delete", "--force", *unmoved)

    # ------------------------------------------------------------------------------------ merge

    def merge(self, branches: Sequence[str], into: str) -> MergeReport:
        """Merge `branches`, one by one, into branch `into` (created at the base if missing).

        The merges run in a temporary worktree, never in the user's checkout, each as a merge
        commit ("Merge branch '<branch>' into <into>").  At the first conflict the merge is
        aborted and the report names the branch and the conflicting files; `into` stays at the
        last good merge.  `ValueError` if a branch does not exist or `into` is checked out
        somewhere (merging into it would leave that checkout out of date).
        """
        into = self._check_branch_name(into)
        for branch in branches:
            self._check_branch_exists(branch)
        for entry in _listed(self.repo):
            if entry.branch == f"refs/heads/{into}":
                raise ValueError(f"branch {into!r} is checked out at {entry.path}; merge into another branch")
        scratch = self._merge_worktree(into)
        try:
            merged: list[str] = []
            conflict = None
            for branch in branches:
                conflict = self._merge_one(scratch, branch)
                if conflict is not None:
                    break
                merged.append(branch)
            head = _text(_git(scratch, "rev-parse", "HEAD"))
        finally:
            self._remove(scratch)
        return MergeReport(merged=merged, conflict=conflict, into=into, head=head)

    def _merge_worktree(self, into: str) -> Path:
        """A temporary worktree (`<root>/<run>/.merge-*`) with `into` checked out."""
        with self._lock:
            self._hide(self._state_dir_of(self.root))
            if _git(self.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{into}", check=False).status:
                _git(self.repo, "branch", "--no-track", into, self.base)
            (self.root / self.run).mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".merge-", dir=self.root / self.run))
            reason = f"agentbook run {self.run}: merge into {into}"
            added = _git(
                self.repo, "worktree", "add", "--no-checkout", "--lock", "--reason", reason,
                str(scratch), into, check=False,
            )  # fmt: skip
            if added.status:
                scratch.rmdir()
                raise _failure(("worktree", "add", str(scratch), into), added)
        try:
            _git(scratch, "reset", "--hard", "--quiet", "--no-recurse-submodules")
        except BaseException:
            self._remove(scratch)
            raise
        return scratch

    def _merge_one(self, scratch: Path, branch: str) -> Conflict | None:
        merge = ("merge", "--no-ff", "--no-edit", "--no-verify", branch)
        result = _git(scratch, *_NO_GC, *self._identity, *merge, check=False)
        if result.status == 0:
            return None
        files = _paths(_git(scratch, "diff", "--name-only", "--diff-filter=U", "-z").out)
        if not files:  # it failed for another reason than conflicts
            raise _failure(merge, result)
        _git(scratch, "merge", "--abort")
        return Conflict(branch=branch, files=files)

    # ---------------------------------------------------------------------------------- publish

    def publish(self, branch: str, *, title: str, body: str) -> str:
        """Offer `branch` for review; return a pull request's URL or a patch file's path.

        With `gh` on PATH and a remote (`origin`, else the first one), the branch is pushed and
        `gh pr create` opens a pull request against the remote's default branch.  Otherwise
        `git format-patch base..branch` goes to `<repo>/.agentbook/patches/<run>/<task>.patch`
        (apply it with `git am`), with `title` and `body` beside it in `<task>.md`.
        `ValueError` if the branch does not exist or has no commits past the base.
        """
        self._check_branch_exists(branch)
        ahead = int(_text(_git(self.repo, "rev-list", "--count", f"{self.base}..refs/heads/{branch}")))
        if ahead == 0:
            raise ValueError(
                f"branch {branch!r} has no commits past the base {self.base[:12]}: nothing to do"
            )
        gh = shutil.which("gh")
        remote = self._remote()
        if gh is not None and remote is not None:
            return self._pull_request(gh, remote, branch, title, body)
        return str(self._write_patch(branch, title, body))

    def _remote(self) -> str | None:
        names = _text(_git(self.repo, "remote")).split()
        return "origin" if "origin" in names else next(iter(names), None)

    def _pull_request(self, gh: str, remote: str, branch: str, title: str, body: str) -> str:
        _git(self.repo, "push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}")
        created = subprocess.run(
            [gh, "pr", "create", "--head", branch, "--title", title, "--body", body],
            cwd=self.repo, capture_output=True, text=True, check=False, timeout=300,
            env={**os.environ, "GH_PROMPT_DISABLED": "1"},
        )  # fmt: skip
        if created.returncode != 0:
            raise WorktreeError(f"gh pr create failed (exit {created.returncode}): {created.stderr.strip()}")
        lines = created.stdout.strip().splitlines()
        if not lines:
            raise WorktreeError("gh pr create printed no pull request URL")
        return lines[-1]  # gh prints the new pull request's URL last

    def _write_patch(self, branch: str, title: str, body: str) -> Path:
        prefix = self._branch("")
        name = branch.removeprefix(prefix) if branch.startswith(prefix) else branch
        target = self.repo / STATE_DIR / "patches" / self.run / f"{name.replace('/', '-')}.patch"
        with self._lock:
            self._hide(self.repo / STATE_DIR)
        patch = _git(self.repo, "format-patch", "--stdout", f"{self.base}..refs/heads/{branch}").out
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(patch)
        target.with_suffix(".md").write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
        return target

    # ---------------------------------------------------------------------------------- helpers

    def _branch(self, task: str) -> str:
        return f"{BRANCH_PREFIX}/{self.run}/{task}"

    def _check_ours(self, tree: Worktree) -> None:
        if tree.branch != self._branch(tree.task) or tree.path != self.root / self.run / tree.task:
            raise ValueError(f"worktree {tree.path} ({tree.branch}) does not belong to run {self.run!r}")

    def _check_branch_name(self, name: str) -> str:
        checked = _git(self.repo, "check-ref-format", "--branch", name, check=False)
        # `--branch` also expands `@{-1}` and the like: a name must stand for itself.
        if name.startswith("-") or checked.status != 0 or _text(checked) != name:
            raise ValueError(f"{name!r} is not a valid branch name")
        return name

    def _check_branch_exists(self, branch: str) -> None:
        found = _git(self.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
        if found.status != 0:
            raise ValueError(f"branch {branch!r} does not exist in {self.repo}")

    def _resolve_base(self, base: str) -> str:
        found = _git(self.repo, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", check=False)
        if base.startswith("-") or found.status != 0:
            hint = " (an empty repository needs a first commit)" if base == "HEAD" else ""
            raise ValueError(f"base {base!r} does not resolve to a commit in {self.repo}{hint}")
        return _text(found)

    def _root(self, root: str | Path | None) -> Path:
        chosen = self.repo / STATE_DIR / "worktrees" if root is None else self.repo / Path(root).expanduser()
        resolved = Path(os.path.realpath(chosen))
        if resolved == self.repo or resolved in self.repo.parents:
            raise ValueError(f"root {resolved} must not be the repository or above it")
        return resolved

    def _fallback_identity(self) -> tuple[str, ...]:
        """`-c` options naming agentbook as the author, unless git's config names someone."""
        found = _git(self.repo, "config", "--get-regexp", r"^user\.(name|email)$", check=False)
        keys = {line.split(" ", 1)[0].lower() for line in _text(found).splitlines()}
        if {"user.name", "user.email"} <= keys:
            return ()
        return ("-c", f"user.name={AUTHOR_NAME}", "-c", f"user.email={AUTHOR_EMAIL}")

    def _state_dir_of(self, path: Path) -> Path:
        """The folder to hide for `path`: all of `.agentbook/` when `path` is inside it."""
        state = self.repo / STATE_DIR
        return state if state in path.parents else path

    def _hide(self, folder: Path) -> None:
        """Make git ignore `folder`, if it lies in the user's checkout, so `git status` stays the same.

        Nothing is written when something ignores it already (this repository's `.gitignore`
        ignores `.agentbook/`); else one line goes to `.git/info/exclude`, which, unlike
        `.gitignore`, is not a file of the checkout.  Call with the lock held.
        """
        if folder in self._hidden or self.repo not in folder.parents:
            return
        rel = folder.relative_to(self.repo).as_posix()
        if _git(self.repo, "check-ignore", "--quiet", f"{rel}/", check=False).status != 0:
            exclude = self._common_dir / "info" / "exclude"
            exclude.parent.mkdir(parents=True, exist_ok=True)
            text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
            separator = "" if not text or text.endswith("\n") else "\n"
            line = f"# agentbook's worktrees and patches\n/{rel}/\n"
            exclude.write_text(f"{text}{separator}{line}", encoding="utf-8")
        self._hidden.add(folder)


# -------------------------------------------------------------------------------- module helpers


def _refresh_index(path: Path) -> None:
    """`git update-index --refresh` in `path`, ignoring every failure (see `_schedule_refresh`)."""
    with contextlib.suppress(Exception):
        if path.is_dir():
            _git(path, "update-index", "-q", "--refresh", check=False)


def _git(cwd: Path, *args: str, check: bool = True) -> _Result:
    """Run `git args` in `cwd` through GitPython; retry while another process holds a git lock.

    With `check`, a non-zero exit raises `WorktreeError`; without, the caller reads `status`.
    """
    command = [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *args]
    for attempt in range(_LOCK_RETRIES + 1):
        status, out, err = git.Git(cwd).execute(
            command, with_extended_output=True, with_exceptions=False, stdout_as_string=False,
            strip_newline_in_stdout=False, env=_ENV,
        )  # fmt: skip
        result = _Result(int(status), bytes(out or b""), str(err or ""))
        busy = _LOCK_BUSY.search(result.err) is not None
        if result.status == 0 or not busy or attempt == _LOCK_RETRIES:
            break
        time.sleep(_LOCK_BACKOFF_S * 2**attempt)
    if check and result.status != 0:
        raise _failure(args, result)
    return result


def _failure(args: Sequence[str], result: _Result) -> WorktreeError:
    return WorktreeError(f"`git {' '.join(args)}` failed (exit {result.status}): {result.err.strip()}")


def _text(result: _Result) -> str:
    return result.out.decode("utf-8", "surrogateescape").strip()


def _paths(out: bytes) -> list[str]:
    """NUL-separated paths (`-z` output, never quoted) as file-system strings."""
    return [os.fsdecode(raw) for raw in out.split(b"\0") if raw]


def _numstat(out: bytes) -> _Stats:
    """Files, insertions and deletions from `git diff --numstat -z` (binary files count 0 lines)."""
    fields = out.split(b"\0")
    files = insertions = deletions = 0
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if not entry:
            continue
        added, deleted, path = entry.split(b"\t", 2)
        if not path:  # a rename: the old and the new path follow as fields of their own
            i += 2
        files += 1
        insertions += int(added) if added != b"-" else 0
        deletions += int(deleted) if deleted != b"-" else 0
    return _Stats(files, insertions, deletions)


def _listed(repo: Path) -> list[_Listed]:
    """The repository's worktrees, from `git worktree list --porcelain -z`."""
    entries = []
    for record in _git(repo, "worktree", "list", "--porcelain", "-z").out.split(b"\0\0"):
        fields: dict[str, str] = {}
        for field in record.split(b"\0"):
            key, _, value = os.fsdecode(field).partition(" ")
            fields[key] = value
        if "worktree" in fields:
            entries.append(_Listed(Path(os.path.realpath(fields["worktree"])), fields.get("branch")))
    return entries


def _open_repo(path: str | Path) -> tuple[Path, Path]:
    """The checkout's top folder and the repository's common git dir, both real paths."""
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ValueError(f"{path} is not a git repository (nor inside one)") from None
    with repo:
        if repo.bare or repo.working_tree_dir is None:
            raise ValueError(f"{path} is a bare repository; agents' worktrees need one with a checkout")
        return Path(os.path.realpath(repo.working_tree_dir)), Path(os.path.realpath(repo.common_dir))


def _repo_lock(common_dir: Path) -> threading.Lock:
    """One lock per repository (keyed by its real git dir, shared by all its worktrees)."""
    with _repo_locks_guard:
        return _repo_locks.setdefault(common_dir, threading.Lock())


def _check_name(kind: str, name: str) -> str:
    if not _NAME.fullmatch(name) or ".." in name or name.endswith((".lock", ".")):
        raise ValueError(
            f"{kind} name {name!r} is not usable as a branch component and folder name: use 1-100 "
            "letters, digits, '.', '_' or '-', starting with a letter or digit, without '..', "
            "not ending in '.' or '.lock'"
        )
    return name


def _sparse_dirs(sparse: Sequence[str] | None) -> tuple[str, ...]:
    if sparse is None:
        return ()
    if isinstance(sparse, str):
        raise ValueError("sparse must be a sequence of directories, not one string")
    dirs = tuple(PurePosixPath(d.strip("/")).as_posix() for d in sparse)
    if not dirs:
        raise ValueError("sparse needs at least one directory (None checks out everything)")
    for d in dirs:
        if d in ("", ".") or d.startswith("-") or ".." in PurePosixPath(d).parts:
            raise ValueError(f"sparse directory {d!r} must be a folder inside the repository")
    return dirs


def _in_cone(rel: str, sparse: tuple[str, ...]) -> bool:
    """Whether a cone-mode sparse checkout of `sparse` includes the file `rel` (all do without one)."""
    if not sparse or "/" not in rel:
        return True
    return any(rel.startswith(f"{d}/") for d in sparse)


def _empty_worktree(path: Path) -> None:
    """Delete everything in the worktree at `path` but its `.git` file, best effort.

    What is left (the `.git` file that `git worktree remove` needs to recognise the worktree,
    and anything that would not go) is for `git worktree remove --force` to deal with.
    """
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name == ".git":
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _rmdir_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty, or gone already
        path.rmdir()
