"""The git parts of the Bash sandbox: what of a repository a sandboxed command may see and change.

* A git **worktree** (the root's `.git` is a file) on the agent's branch: of the main repository's
  `.git`, the shared parts are read-only (`HEAD`, `config`, `hooks`, `refs`, `packed-refs`, `info`,
  `objects`), the worktree's own `worktrees/<name>` folder is writable, and the folder of its
  branch's ref is a private copy for the call (`agentbook.tools._gitrefs`): the branch moves
  where the copy says after the call, and nothing else of it is kept, so no branch is added and
  no sibling's is touched.  New objects go to a private object folder of the call's own (made in
  the system's temporary folder, bound into the box at the same path, the shared store an
  alternate), which `settle` imports into the shared store after the call, each object checked
  against its name, and then removes: so a command can add objects but never change or delete
  one.  `settle` also keeps the worktree on its branch and the branch a plain ref, so git run
  outside later commits nowhere else.  Everything the box left in the writable admin folder is
  opened as what it claims to be or not at all: no link followed, no FIFO waited on.
* A **checkout** (the root's `.git` is a folder), and any repository nested in the root: its
  `.git` read-only as a whole (git status, diff and log work; commits are for worktrees).  Their
  config and hooks could otherwise run code outside the box the next time the user runs git.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from agentbook.tools._gitrefs import RefView

__all__ = ["GitBox", "nested_repositories"]

_SHARED = ("HEAD", "config", "packed-refs", "info", "hooks", "refs", "objects")
_FIXED = ("commondir", "gitdir", "config.worktree")  # of the worktree's admin folder: read-only
_SCAN_DEPTH, _SCAN_LIMIT = 3, 2000  # nested repositories: how deep and how many folders to look
# What settle opens of what the box left: never through a link, never blocking (a FIFO), a folder
# only as a folder.
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
_FOLDER = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY
_KINDS = (b"blob", b"tree", b"commit", b"tag")
_CHUNK = 1 << 20  # how much of a loose object settle reads, or inflates, at a time
_SKIPPED = (OSError, subprocess.TimeoutExpired)  # a pack git refuses, or takes too long on: left out


def _ro(path: Path) -> list[str]:
    return ["--ro-bind-try", str(path), str(path)]


def _rw(path: Path) -> list[str]:
    return ["--bind-try", str(path), str(path)]


@dataclass(frozen=True)
class GitBox:
    """A worktree's git, as one sandboxed call sees it; `of` finds it, `args` binds it, `settle`
    checks what the call left and removes its private object folder."""

    dotgit: Path
    admin: Path
    common: Path
    ref: str | None
    """The agent's branch (`refs/heads/...`), writable; `None`: no ref may change."""
    private: Path
    """This call's own object folder, made on the host outside anything the box can rename (the
    system's temporary folder) and bound into the box at the same path: the box can fill it but
    never swap it for a link, and no other call shares it."""

    @classmethod
    def of(cls, root: Path, branch: str | None) -> GitBox | None:
        """The worktree at `root` (its `.git` a file naming an admin folder), else `None`; a new
        private object folder is made for it, which `settle` removes."""
        dotgit = root / ".git"
        try:
            text = dotgit.read_text().strip() if dotgit.is_file() else ""
            if not text.startswith("gitdir:"):
                return None
            admin = Path(os.path.realpath(root / text.removeprefix("gitdir:").strip()))
            common = Path(os.path.realpath(admin / (admin / "commondir").read_text().strip()))
        except (OSError, UnicodeDecodeError):
            return None
        private = Path(tempfile.mkdtemp(prefix="agentbook-objects-"))
        return cls(dotgit, admin, common, f"refs/heads/{branch}" if branch else None, private)

    def view(self) -> RefView | None:
        """A private view of the folder of the agent's branch for one call (`None`: no branch)."""
        return RefView.make(self.admin, self.common, self.ref) if self.ref is not None else None

    def args(self, view: RefView | None) -> list[str]:
        """bwrap's binds and variables for this worktree's git, the branch's folder `view`'s (to
        come after the box's own `/tmp`, where the private object folder is mounted)."""
        args = [a for name in _SHARED for a in _ro(self.common / name)]
        # The worktree's own config (read when extensions.worktreeConfig is on: sparse worktrees)
        # is read-only, made empty first so that the box cannot create it: git on the host reads it.
        config = self.admin / "config.worktree"
        with contextlib.suppress(FileExistsError, OSError):
            config.touch(exist_ok=False)
        args += _rw(self.admin) + [a for name in _FIXED for a in _ro(self.admin / name)] + _ro(self.dotgit)
        args += ["--bind", str(self.private), str(self.private)]
        args += ["--setenv", "GIT_OBJECT_DIRECTORY", str(self.private)]
        args += ["--setenv", "GIT_ALTERNATE_OBJECT_DIRECTORIES", str(self.common / "objects")]
        return args + (view.args() if view is not None else [])

    def settle(self, view: RefView | None) -> None:
        """After a call: the new objects into the shared store (checked), the branch where `view`
        says (see `agentbook.tools._gitrefs`), and, whatever failed before, the private object
        folder and the view removed and the worktree back on its branch."""
        try:
            self._import()
            if view is not None:
                view.settle()  # after the import: the branch may only name commits the store holds
        finally:
            _remove(self.private)
            if view is not None:
                shutil.rmtree(view.place, ignore_errors=True)
            _drop_odd_entries(self.admin)
            self._keep_on_branch()

    def _import(self) -> None:
        """The loose objects and packs of the private folder (`xx/NAME`, `pack/*.pack`) into the
        shared store; nothing else of it is looked at, and nothing is followed or waited for."""
        try:
            top = os.open(self.private, _FOLDER)
        except OSError:
            return
        try:
            for sub in sorted(os.listdir(top)):
                if len(sub) == 2 or sub == "pack":
                    with contextlib.suppress(OSError):
                        self._import_folder(top, sub)
        finally:
            os.close(top)

    def _import_folder(self, top: int, sub: str) -> None:
        folder = os.open(sub, _FOLDER, dir_fd=top)
        try:
            for name in sorted(os.listdir(folder)):
                if sub == "pack" and name.endswith(".pack"):
                    # git checks every object of the pack
                    with contextlib.suppress(*_SKIPPED), _open_plain(name, folder) as pack:
                        subprocess.run(self._git("unpack-objects", "-q"), stdin=pack, check=False,
                                       capture_output=True, timeout=300)  # fmt: skip
                elif sub != "pack" and len(name) in (38, 62):
                    _import_loose(name, folder, self.common / "objects" / sub / name)
        finally:
            os.close(folder)

    def _keep_on_branch(self) -> None:
        """The worktree's `HEAD` back on the agent's branch when it names another (or is no plain
        file: a link to another HEAD, a FIFO): rewritten by replacing it, never through it."""
        if self.ref is None:
            return
        head = self.admin / "HEAD"
        try:
            with _open_plain(head.name, None, head.parent) as file:
                text = file.read(4096).decode(errors="replace").strip()
        except OSError:
            text = "ref: (not a plain file)"
        if text.startswith("ref:") and text != f"ref: {self.ref}":  # detached is fine; another branch is not
            with contextlib.suppress(OSError):
                _replace(head, f"ref: {self.ref}\n".encode())

    def _git(self, *args: str) -> list[str]:
        return ["git", f"--git-dir={self.common}", *args]


def _drop_odd_entries(admin: Path) -> None:
    """Remove from the worktree's admin folder whatever the box left there that is no plain file
    or folder (a link as `logs/HEAD`: the host's next `update-ref` would append through it to any
    file; a FIFO): git makes and replaces those files itself, never needs such entries."""
    for folder, dirs, files in os.walk(admin):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                mode = os.lstat(path).st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    os.unlink(path)


def _open_plain(name: str, dir_fd: int | None, folder: Path | None = None) -> BinaryIO:
    """`name` (in the folder open as `dir_fd`, or in `folder`) opened for reading when it is a
    regular file; `OSError` otherwise.  A link is refused (read through, it would import another
    repository's objects, or any file git can parse), and so is a FIFO or a device (it would block
    settle, and agentbook's exit, forever)."""
    fd = os.open(folder / name if folder is not None else name, _FILE, dir_fd=dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{name}: not a regular file")
    return os.fdopen(fd, "rb")


def _import_loose(name: str, dir_fd: int, target: Path) -> None:
    """Copy one loose object (`name` in the folder open as `dir_fd`) into the shared store at
    `target` if its content matches its name, a chunk at a time (an object may be larger than
    memory).  Another call importing the same object meanwhile is no failure: both write the
    same bytes, each through its own temporary file."""
    if target.exists():
        return
    with contextlib.suppress(OSError, zlib.error), _open_plain(name, dir_fd) as source:  # a link, a FIFO...
        target.parent.mkdir(exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".agentbook-")
        try:
            with os.fdopen(fd, "wb") as copy:
                matches = _copy_checked(source, copy, target.parent.name + name)
            if matches:
                os.chmod(temporary, 0o444)
                os.replace(temporary, target)
        finally:
            with contextlib.suppress(OSError):  # renamed: already gone
                os.unlink(temporary)


def _copy_checked(source: BinaryIO, copy: BinaryIO, oid: str) -> bool:
    """`source` copied to `copy`; whether it is one zlib stream of `KIND SIZE\\0BODY` (a git
    object kind, `SIZE` the body's length) whose hash is `oid`.  Memory stays at a chunk or two,
    however far the stream inflates."""
    inflate = zlib.decompressobj()
    digest = (hashlib.sha1 if len(oid) == 40 else hashlib.sha256)()
    head, length = b"", 0
    while chunk := source.read(_CHUNK):
        copy.write(chunk)
        while chunk:
            data = inflate.decompress(chunk, _CHUNK)
            chunk = inflate.unconsumed_tail
            digest.update(data)
            length += len(data)
            head += data[: max(0, 64 - len(head))]
    header, found, _ = head.partition(b"\0")
    kind, _, size = header.partition(b" ")
    if not (inflate.eof and found and not inflate.unused_data) or kind not in _KINDS:
        return False
    return size == str(length - len(header) - 1).encode() and digest.hexdigest() == oid


def _replace(target: Path, data: bytes, mode: int = 0o644) -> None:
    """`target` made to hold `data`: a new file (a unique name beside it) renamed over it, so
    whatever `target` was (a link included) is replaced, not written through."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".agentbook-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _remove(folder: Path) -> None:
    """`folder` and all the box put in it, links not followed (`shutil.rmtree` opens by
    descriptor); nesting too deep for its recursion is left to `rm -rf`."""
    try:
        shutil.rmtree(folder, ignore_errors=True)
    except RecursionError:
        subprocess.run(["rm", "-rf", "--", str(folder)], check=False, capture_output=True, timeout=300)


def nested_repositories(root: Path) -> list[Path]:
    """The `.git` folders and files at most `_SCAN_DEPTH` folders below `root` (its own
    included, when it is a folder), looking at no more than `_SCAN_LIMIT` folders."""
    found: list[Path] = []
    seen, level = 0, [root]
    for depth in range(_SCAN_DEPTH + 1):
        below: list[Path] = []
        for folder in level:
            seen += 1
            if seen > _SCAN_LIMIT:
                return found
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.name == ".git" and not (depth == 0 and entry.is_file(follow_symlinks=False)):
                    found.append(Path(entry.path))
                elif entry.is_dir(follow_symlinks=False) and depth < _SCAN_DEPTH:
                    below.append(Path(entry.path))
        level = below
    return found
