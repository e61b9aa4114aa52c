"""Running git for the worktree modules, and reading what it prints.

Every git command of `agentbook.worktrees` goes through `run_git`: through GitPython's runner,
never prompting, never taking optional locks, and retried while another process holds one of
git's lock files.  The readers turn its `-z` and porcelain output into paths, diff stats and the
list of worktrees; `repo_lock` is the one lock per repository that commands writing shared state
hold.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import git

from agentbook.worktrees.values import WorktreeError

__all__ = [
    "NO_GC",
    "DiffStats",
    "GitResult",
    "Listed",
    "git_error",
    "list_worktrees",
    "nul_paths",
    "numstat",
    "open_repo",
    "out_text",
    "repo_lock",
    "run_git",
]

# Git's messages when one of its lock files is held by someone else.
_LOCK_BUSY = re.compile(r"\.lock'?: File exists|could not lock config file")
_LOCK_RETRIES = 5
_LOCK_BACKOFF_S = 0.05
# Never prompt (a credential prompt would hang a notebook kernel), and never take optional locks,
# so read-only commands in the user's checkout cannot rewrite its index.
_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
# Every git agentbook runs ignores what an agent could have left to run code on the host: a
# filesystem monitor or hooks in a repository it made inside its worktree (a gitlink, which
# status-like commands enter), submodules.  `-c` outranks every config file and reaches the git
# processes git itself starts.
_SAFE = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "diff.ignoreSubmodules=all",
         "-c", "submodule.recurse=false", "-c", "status.submoduleSummary=false")  # fmt: skip
# No automatic gc from our merges: it packs refs and prunes while other agents commit.
NO_GC = ("-c", "gc.auto=0", "-c", "maintenance.auto=false")

_repo_locks: dict[Path, RepoLock] = {}
_repo_locks_guard = threading.Lock()


class GitResult(NamedTuple):
    status: int
    out: bytes
    err: str


class Listed(NamedTuple):
    path: Path
    branch: str | None  # "refs/heads/...", None when detached


class DiffStats(NamedTuple):
    files: int
    insertions: int
    deletions: int


def run_git(cwd: Path, *args: str, check: bool = True) -> GitResult:
    """Run `git args` in `cwd` through GitPython; retry while another process holds a git lock.

    With `check`, a non-zero exit raises `WorktreeError`; without, the caller reads `status`.
    """
    command = [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *_SAFE, *args]
    for attempt in range(_LOCK_RETRIES + 1):
        status, out, err = git.Git(cwd).execute(
            command, with_extended_output=True, with_exceptions=False, stdout_as_string=False,
            strip_newline_in_stdout=False, env=_ENV,
        )  # fmt: skip
        result = GitResult(int(status), bytes(out or b""), str(err or ""))
        busy = _LOCK_BUSY.search(result.err) is not None
        if result.status == 0 or not busy or attempt == _LOCK_RETRIES:
            break
        time.sleep(_LOCK_BACKOFF_S * 2**attempt)
    if check and result.status != 0:
        raise git_error(args, result)
    return result


def git_error(args: Sequence[str], result: GitResult) -> WorktreeError:
    return WorktreeError(f"`git {' '.join(args)}` failed (exit {result.status}): {result.err.strip()}")


def out_text(result: GitResult) -> str:
    return result.out.decode("utf-8", "surrogateescape").strip()


def nul_paths(out: bytes) -> list[str]:
    """NUL-separated paths (`-z` output, never quoted) as file-system strings."""
    return [os.fsdecode(raw) for raw in out.split(b"\0") if raw]


def numstat(out: bytes) -> DiffStats:
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
    return DiffStats(files, insertions, deletions)


def list_worktrees(repo: Path) -> list[Listed]:
    """The repository's worktrees, from `git worktree list --porcelain -z`."""
    entries = []
    for record in run_git(repo, "worktree", "list", "--porcelain", "-z").out.split(b"\0\0"):
        fields: dict[str, str] = {}
        for field in record.split(b"\0"):
            key, _, value = os.fsdecode(field).partition(" ")
            fields[key] = value
        if "worktree" in fields:
            entries.append(Listed(Path(os.path.realpath(fields["worktree"])), fields.get("branch")))
    return entries


def open_repo(path: str | Path) -> tuple[Path, Path]:
    """The checkout's top folder and the repository's common git dir, both real paths."""
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ValueError(f"{path} is not a git repository (nor inside one)") from None
    with repo:
        if repo.bare or repo.working_tree_dir is None:
            raise ValueError(f"{path} is a bare repository; agents' worktrees need one with a checkout")
        return Path(os.path.realpath(repo.working_tree_dir)), Path(os.path.realpath(repo.common_dir))


class RepoLock:
    """A repository's lock, for this process's threads and for other processes too (a Dask
    cluster's workers on one machine, two notebooks): git's own locks make a second `git
    worktree add` at the same moment fail instead of wait."""

    def __init__(self, common_dir: Path) -> None:
        self._threads = threading.Lock()
        self._dir = common_dir
        self._fd: int | None = None

    def __enter__(self) -> RepoLock:
        self._threads.acquire()
        try:  # a flock on the git dir itself: no lock file appears in the user's repository
            self._fd = os.open(self._dir, os.O_RDONLY)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError:  # a git dir we cannot open: this process's threads only
            self._fd = None
        return self

    def __exit__(self, *exc: object) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # which lets go of the flock
        self._threads.release()


def repo_lock(common_dir: Path) -> RepoLock:
    """One lock per repository (keyed by its real git dir, shared by all its worktrees)."""
    with _repo_locks_guard:
        return _repo_locks.setdefault(common_dir, RepoLock(common_dir))
