"""The folder of a worktree agent's branch, as one sandboxed call sees it: a private copy.

Git writes a ref through a lock file beside it (`<ref>.lock`, then renamed over the ref), so in
the box the folder of the agent's branch (`refs/heads/agentbook/<run>/`) must be writable.  The
real folder would let a command add branches there (`git branch agentbook/<run>/evil`), so each
call gets a copy of it instead, and of its reflog folder, mounted over the real ones: the loose
refs of the agent's siblings (copies: what the box does to them is dropped) and its own.  After
the call `RefView.settle` reads the agent's branch from the copy and, when it names a commit of
the shared store, moves the real branch there with `git update-ref` against the value it had
when the call started (git's own lock, so a race with anyone else's git is git's to settle);
everything else in the copy is dropped.  The box never writes the real folder, so a sibling
created meanwhile (`git worktree add -b`) or committing through its own view is never touched.

A call that changes the branch while another call of the same agent does loses its move (the
compare fails); its objects are kept.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["VIEWS", "RefView"]

VIEWS = "sandbox-views"
"""The folder, in the worktree's admin folder, that holds each running call's view."""
_OID = re.compile(rb"[0-9a-f]{40}|[0-9a-f]{64}")
_REF_NAME = re.compile(rb"refs/[A-Za-z0-9._/-]+")
_REFLOG = "agentbook: Bash in the sandbox"


@dataclass(frozen=True)
class RefView:
    """One call's private copy of the folder of `ref` (`refs/heads/...`) of the repository at
    `common`, kept in `place`; `before` is the branch's commit when the call started ("" if none)."""

    common: Path
    ref: str
    place: Path
    before: str

    @classmethod
    def make(cls, admin: Path, common: Path, ref: str) -> RefView:
        """A new view in `admin`'s `VIEWS` folder, holding copies of the folder's loose refs and of
        the branch's reflog; the real folders are made if missing (the mounts need them)."""
        views = admin / VIEWS
        views.mkdir(exist_ok=True)
        place = Path(tempfile.mkdtemp(dir=views))
        for real in (common / os.path.dirname(ref), common / "logs" / os.path.dirname(ref)):
            real.mkdir(parents=True, exist_ok=True)
        # The siblings' refs, to be seen in the box; one renamed or deleted meanwhile is left out.
        with contextlib.suppress(shutil.Error):
            shutil.copytree(common / os.path.dirname(ref), place / "refs", symlinks=True,
                            ignore=shutil.ignore_patterns("*.lock"), dirs_exist_ok=True)  # fmt: skip
        (place / "logs").mkdir()
        log = common / "logs" / ref
        if log.is_file() and not log.is_symlink():
            shutil.copyfile(log, place / "logs" / os.path.basename(ref))
        return cls(common, ref, place, _commit(common, _loose(common / ref) or ref.encode()))

    def args(self) -> list[str]:
        """bwrap's mounts: the views read-only where they lie (a command cannot swap its view
        folder for a link before `settle` reads it), this one over the real folders."""
        folder = os.path.dirname(self.ref)
        views = str(self.place.parent)
        return ["--ro-bind", views, views,
                "--bind", str(self.place / "refs"), str(self.common / folder),
                "--bind", str(self.place / "logs"), str(self.common / "logs" / folder)]  # fmt: skip

    def settle(self) -> None:
        """The real branch moved to where the view's copy points, if that is a commit of the shared
        store (so: after its objects are imported); the view removed.  A symbolic ref counts as the
        commit it names; a missing or broken one, or one whose history lacks an object of the store
        (`_complete`), leaves the branch as it was."""
        try:
            self._move()
        except subprocess.TimeoutExpired:  # git hung on what the box made: the branch stays
            pass
        finally:
            shutil.rmtree(self.place, ignore_errors=True)

    def _move(self) -> None:
        """The real branch moved (compared with `before`) where the view's copy says, if allowed."""
        name = os.path.basename(self.ref)
        value = _loose(self.place / "refs" / name)
        after = _commit(self.common, value) if value else ""
        if after and after != self.before and _complete(self.common, after):
            message = _last_message(self.place / "logs" / name, after) or _REFLOG
            old = [self.before] if self.before else []
            subprocess.run(_git(self.common, "update-ref", "-m", message, self.ref, after, *old),
                           capture_output=True, check=False, timeout=60)  # fmt: skip


def _loose(path: Path) -> bytes:
    """What the loose ref at `path` holds, when it is a regular file (links not followed): an object
    name or a ref name (from `ref: NAME`), else b""."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b""
    with open(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > 512:  # a FIFO, a device, a made-up giant
            return b""
        text = file.read().strip()
    if text.startswith(b"ref:"):
        target = text.removeprefix(b"ref:").strip()
        return target if _REF_NAME.fullmatch(target) else b""
    return text if _OID.fullmatch(text) else b""


def _commit(common: Path, name: bytes) -> str:
    """The commit `name` (an object name or a ref name checked by `_loose`) is in the shared store,
    or ""."""
    if not name:
        return ""
    done = subprocess.run(_git(common, "rev-parse", "-q", "--verify", name.decode() + "^{commit}"),
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else ""


def _complete(common: Path, commit: str) -> bool:
    """Whether every object `commit` reaches (trees, blobs, parents) is in the shared store: the
    walk stops at what the repository's refs already reach, so only the call's new history is
    read.  A branch on a commit whose tree is missing would break the user's `fsck`, `gc`, clone
    and checkout of it."""
    done = subprocess.run(_git(common, "rev-list", "--objects", "--missing=error", "--quiet", commit,
                               "--not", "--all"), capture_output=True, check=False, timeout=300)  # fmt: skip
    return done.returncode == 0


def _last_message(log: Path, after: str) -> str:
    """The message of the reflog's last entry when it records the move to `after` (what git in
    the box wrote, `commit: ...`), on one line; else ""."""
    try:
        with open(os.open(log, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as file:
            file.seek(max(0, os.fstat(file.fileno()).st_size - 4096))
            last = file.read().rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("utf-8", "replace")
    except OSError:
        return ""
    names, _, message = last.partition("\t")
    fields = names.split(" ")
    # No control character: git would cut the message at a newline, and a NUL cannot be passed as
    # an argument at all (subprocess raises ValueError).
    message = "".join(c if c.isprintable() else " " for c in message).strip()
    return message[:300] if len(fields) > 1 and fields[1] == after else ""


def _git(common: Path, *args: str) -> list[str]:
    return ["git", f"--git-dir={common}", *args]
