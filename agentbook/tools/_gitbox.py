"""The git parts of the Bash sandbox: what of a repository a sandboxed command may see and change.

* A git **worktree** (the root's `.git` is a file) on the agent's branch: of the main repository's
  `.git`, the shared parts are read-only (`HEAD`, `config`, `hooks`, `refs`, `packed-refs`, `info`,
  `objects`), the worktree's own `worktrees/<name>` folder is writable, and the folder of its
  branch's ref is a private copy for the call (`agentbook.tools._gitrefs`): the branch moves
  where the copy says after the call, and nothing else of it is kept, so no branch is added and
  no sibling's is touched.  New objects go to a private object folder
  (`worktrees/<name>/sandbox-objects`, the shared store an alternate), which `settle` imports
  into the shared store after the call, each object checked against its name: so a command can
  add objects but never change or delete one.  `settle` also keeps the worktree on its branch and
  the branch a plain ref, so git run outside later commits nowhere else.
* A **checkout** (the root's `.git` is a folder), and any repository nested in the root: its
  `.git` read-only as a whole (git status, diff and log work; commits are for worktrees).  Their
  config and hooks could otherwise run code outside the box the next time the user runs git.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from agentbook.tools._gitrefs import RefView

__all__ = ["GitBox", "nested_repositories"]

PRIVATE_OBJECTS = "sandbox-objects"
_SHARED = ("HEAD", "config", "packed-refs", "info", "hooks", "refs", "objects")
_SCAN_DEPTH, _SCAN_LIMIT = 3, 2000  # nested repositories: how deep and how many folders to look


def _ro(path: Path) -> list[str]:
    return ["--ro-bind-try", str(path), str(path)]


def _rw(path: Path) -> list[str]:
    return ["--bind-try", str(path), str(path)]


@dataclass(frozen=True)
class GitBox:
    """A worktree's git, as its sandbox sees it; `of` finds it, `args` binds it, `settle` checks it."""

    dotgit: Path
    admin: Path
    common: Path
    ref: str | None
    """The agent's branch (`refs/heads/...`), writable; `None`: no ref may change."""

    @classmethod
    def of(cls, root: Path, branch: str | None) -> GitBox | None:
        """The worktree at `root` (its `.git` a file naming an admin folder), else `None`."""
        dotgit = root / ".git"
        try:
            text = dotgit.read_text().strip() if dotgit.is_file() else ""
            if not text.startswith("gitdir:"):
                return None
            admin = Path(os.path.realpath(root / text.removeprefix("gitdir:").strip()))
            common = Path(os.path.realpath(admin / (admin / "commondir").read_text().strip()))
        except (OSError, UnicodeDecodeError):
            return None
        return cls(dotgit, admin, common, f"refs/heads/{branch}" if branch else None)

    @property
    def private(self) -> Path:
        return self.admin / PRIVATE_OBJECTS

    def view(self) -> RefView | None:
        """A private view of the folder of the agent's branch for one call (`None`: no branch)."""
        return RefView.make(self.admin, self.common, self.ref) if self.ref is not None else None

    def args(self, view: RefView | None) -> list[str]:
        """bwrap's binds and variables for this worktree's git, the branch's folder `view`'s."""
        self.private.mkdir(exist_ok=True)
        args = [a for name in _SHARED for a in _ro(self.common / name)]
        args += (
            _rw(self.admin) + _ro(self.admin / "commondir") + _ro(self.admin / "gitdir") + _ro(self.dotgit)
        )
        args += ["--setenv", "GIT_OBJECT_DIRECTORY", str(self.private)]
        args += ["--setenv", "GIT_ALTERNATE_OBJECT_DIRECTORIES", str(self.common / "objects")]
        return args + (view.args() if view is not None else [])

    def settle(self, view: RefView | None) -> None:
        """After a call: the new objects into the shared store (checked), the branch where `view`
        says (see `agentbook.tools._gitrefs`), the worktree back on its branch."""
        for path in _files(self.private):
            if path.is_symlink():
                pass
            elif path.parent.name == "pack" and path.suffix == ".pack":
                with contextlib.suppress(OSError), _open_plain(path) as pack:  # git checks every object
                    subprocess.run(self._git("unpack-objects", "-q"), stdin=pack, check=False,
                                   capture_output=True, timeout=300)  # fmt: skip
            elif len(path.parent.name) == 2 and len(path.name) in (38, 62):
                _import_loose(path, self.common / "objects" / path.parent.name / path.name)
            path.unlink(missing_ok=True)
        if view is not None:
            view.settle()  # after the import: the branch may only name commits the store holds
        head = self.admin / "HEAD"
        text = head.read_text(errors="replace").strip() if head.exists() else ""
        if self.ref is not None and text.startswith("ref:") and text != f"ref: {self.ref}":
            head.write_text(f"ref: {self.ref}\n")  # detached is fine; another branch is not

    def _git(self, *args: str) -> list[str]:
        return ["git", f"--git-dir={self.common}", *args]


def _files(folder: Path) -> Iterator[Path]:
    for dirpath, _, names in os.walk(folder):
        yield from (Path(dirpath, n) for n in sorted(names))


def _open_plain(path: Path) -> BinaryIO:
    """`path` opened for reading, refusing a symbolic link: reading through one the agent left
    would import another repository's objects (or any file git can parse)."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def _import_loose(source: Path, target: Path) -> None:
    """Copy one loose object into the shared store if its content matches its name."""
    if target.exists():
        return
    try:
        with _open_plain(source) as file:
            raw = file.read()
    except OSError:  # a link, or gone
        return
    try:
        data = zlib.decompress(raw)
    except zlib.error:
        return
    header, _, body = data.partition(b"\0")
    kind, _, size = header.partition(b" ")
    digest = (hashlib.sha1 if len(source.name) == 38 else hashlib.sha256)(data).hexdigest()
    name = source.parent.name + source.name
    if kind not in (b"blob", b"tree", b"commit", b"tag") or size != str(len(body)).encode() or digest != name:
        return
    target.parent.mkdir(exist_ok=True)
    temporary = target.with_name(f"tmp_obj_{os.getpid()}_{target.name}")
    temporary.write_bytes(raw)
    temporary.chmod(0o444)
    os.replace(temporary, target)


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
