"""One run's place in one repository: its names, folders, lock and identity, and removing a worktree.

`RunRepo` is what every worktree operation (create, finish, merge, publish, cleanup) shares: the
checkout and its git dir, the run's base commit, where its worktrees go (`<root>/<run>/<task>`)
and how its branches are named (`agentbook/<run>/<task>`), the per-repository lock, the author
identity to fall back on, and the folders already hidden from `git status`.  `Worktrees` makes one
and passes it to the operation modules.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from agentbook.worktrees.gitcmd import RepoLock, open_repo, out_text, repo_lock, run_git
from agentbook.worktrees.values import Worktree

__all__ = [
    "AUTHOR_EMAIL",
    "AUTHOR_NAME",
    "BRANCH_PREFIX",
    "STATE_DIR",
    "RunRepo",
    "check_name",
    "empty_worktree",
    "in_cone",
    "rmdir_if_empty",
]

AUTHOR_NAME = "agentbook"
AUTHOR_EMAIL = "agentbook@localhost"
BRANCH_PREFIX = "agentbook"
STATE_DIR = ".agentbook"  # under the repository: worktrees (by default) and patches

# Run and task names become a branch component and a folder name: a conservative subset of what
# git allows, so that neither ever needs quoting, and `.merge-*` folders cannot clash with tasks.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class RunRepo:
    """Run `run`'s view of the repository at (or above) `repo`; see `Worktrees` for the arguments.

    `ValueError` for a bad run name, a folder that is not a checkout, a base that does not
    resolve, a root at or above the repository, or bad sparse directories.
    """

    def __init__(
        self, repo: str | Path, run: str, *, base: str, root: str | Path | None, sparse: Sequence[str] | None
    ) -> None:
        self.run = check_name("run", run)
        self.repo, self.common_dir = open_repo(repo)
        self.base = self._resolve_base(base)
        self.root = self._resolve_root(root)
        self.sparse = _sparse_dirs(sparse)
        self.lock: RepoLock = repo_lock(self.common_dir)
        self.identity = self._fallback_identity()
        self._hidden: set[Path] = set()

    # ---- names

    def branch(self, task: str) -> str:
        return f"{BRANCH_PREFIX}/{self.run}/{task}"

    def worktree(self, task: str) -> Worktree:
        """Where task `task`'s worktree goes (nothing is created); `ValueError` for a bad name."""
        task = check_name("task", task)
        return Worktree(task=task, branch=self.branch(task), path=self.run_folder() / task, base=self.base)

    def run_folder(self) -> Path:
        """`<root>/<run>`; `ValueError` when something there is no plain folder (a link made by an
        agent whose folder holds the root would send worktrees and merges elsewhere)."""
        folder = self.root / self.run
        if os.path.lexists(folder) and (folder.is_symlink() or not folder.is_dir()):
            raise ValueError(f"{folder} is not a plain folder: refusing to put worktrees through it")
        return folder

    def reason(self, task: str) -> str:
        """Why the worktree is locked, as `git worktree list` shows it."""
        return f"agentbook run {self.run}: {task}"

    def check_ours(self, tree: Worktree) -> None:
        if tree.branch != self.branch(tree.task) or tree.path != self.root / self.run / tree.task:
            raise ValueError(f"worktree {tree.path} ({tree.branch}) does not belong to run {self.run!r}")

    def check_branch_name(self, name: str) -> str:
        checked = run_git(self.repo, "check-ref-format", "--branch", name, check=False)
        # `--branch` also expands `@{-1}` and the like: a name must stand for itself.
        if name.startswith("-") or checked.status != 0 or out_text(checked) != name:
            raise ValueError(f"{name!r} is not a valid branch name")
        return name

    def tip(self, branch: str) -> str | None:
        found = run_git(self.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
        return out_text(found) if found.status == 0 else None

    def ignores(self, folder: Path) -> bool:
        rel = Path(os.path.realpath(folder)).relative_to(self.repo).as_posix()
        return rel != "." and run_git(self.repo, "check-ignore", "-q", f"{rel}/", check=False).status == 0

    def branches(self) -> list[str]:
        """The run's branches that exist (`agentbook/<run>/...`), sorted."""
        found = run_git(
            self.repo, "for-each-ref", "--format=%(refname:short)", f"refs/heads/{self.branch('')}"
        )
        return sorted(out_text(found).split())

    def has_commit(self, sha: str) -> bool:
        found = run_git(self.repo, "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}", check=False)
        return not sha.startswith("-") and found.status == 0

    def check_branch_exists(self, branch: str) -> None:
        found = run_git(self.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
        if found.status != 0:
            raise ValueError(f"branch {branch!r} does not exist in {self.repo}")

    # ---- the checkout's state

    def state_dir_of(self, path: Path) -> Path:
        """The folder to hide for `path`: all of `.agentbook/` when `path` is inside it."""
        state = self.repo / STATE_DIR
        return state if state in path.parents else path

    def hide(self, folder: Path) -> None:
        """Make git ignore `folder`, if it lies in the user's checkout, so `git status` stays the same.

        Nothing is written when something ignores it already (this repository's `.gitignore`
        ignores `.agentbook/`); else one line goes to `.git/info/exclude`, which, unlike
        `.gitignore`, is not a file of the checkout.  Call with the lock held.
        """
        if folder in self._hidden or self.repo not in folder.parents:
            return
        rel = folder.relative_to(self.repo).as_posix()
        if run_git(self.repo, "check-ignore", "--quiet", f"{rel}/", check=False).status != 0:
            exclude = self.common_dir / "info" / "exclude"
            exclude.parent.mkdir(parents=True, exist_ok=True)
            text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
            separator = "" if not text or text.endswith("\n") else "\n"
            line = f"# agentbook's worktrees and patches\n/{rel}/\n"
            exclude.write_text(f"{text}{separator}{line}", encoding="utf-8")
        self._hidden.add(folder)

    def remove(self, path: Path, *, delete_branch: str | None = None) -> None:
        """Remove the worktree at `path` (and then `delete_branch`), whatever its state or lock."""
        if path.is_dir():
            empty_worktree(path)  # deleting files is slow: outside the lock
        with self.lock:
            run_git(self.repo, "worktree", "remove", "--force", "--force", str(path))
            if delete_branch is not None:
                run_git(self.repo, "branch", "--delete", "--force", delete_branch)
            rmdir_if_empty(self.root / self.run)

    # ---- resolved once, when made

    def _resolve_base(self, base: str) -> str:
        found = run_git(self.repo, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", check=False)
        if base.startswith("-") or found.status != 0:
            hint = " (an empty repository needs a first commit)" if base == "HEAD" else ""
            raise ValueError(f"base {base!r} does not resolve to a commit in {self.repo}{hint}")
        return out_text(found)

    def _resolve_root(self, root: str | Path | None) -> Path:
        chosen = self.repo / STATE_DIR / "worktrees" if root is None else self.repo / Path(root).expanduser()
        resolved = Path(os.path.realpath(chosen))
        if resolved == self.repo or resolved in self.repo.parents:
            raise ValueError(f"root {resolved} must not be the repository or above it")
        return resolved

    def _fallback_identity(self) -> tuple[str, ...]:
        """`-c` options naming agentbook as the author, unless git's config names someone."""
        found = run_git(self.repo, "config", "--get-regexp", r"^user\.(name|email)$", check=False)
        keys = {line.split(" ", 1)[0].lower() for line in out_text(found).splitlines()}
        if {"user.name", "user.email"} <= keys:
            return ()
        return ("-c", f"user.name={AUTHOR_NAME}", "-c", f"user.email={AUTHOR_EMAIL}")


def check_name(kind: str, name: str) -> str:
    """`name` if it can be a branch component and a folder name; else `ValueError` saying why."""
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


def in_cone(rel: str, sparse: tuple[str, ...]) -> bool:
    """Whether a cone-mode sparse checkout of `sparse` includes the file `rel` (all do without one)."""
    if not sparse or "/" not in rel:
        return True
    return any(rel.startswith(f"{d}/") for d in sparse)


def empty_worktree(path: Path) -> None:
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


def rmdir_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty, or gone already
        path.rmdir()
