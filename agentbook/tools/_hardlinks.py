"""Hard links: the one way out of the agent's root that resolving paths cannot see.

A second name of a file may lie outside the root, and both names are one file: reading it reads
the outside file, writing it writes there.  `shared_inode` is the one test every tool applies (Write
and Edit refuse such a file, Read and Grep say so, acceptEdits asks); `linked_out` finds the files
of a tree that the Bash sandbox masks, so that no command reaches their inode (`LinkScan` for
each call of an agent, without listing again what did not change).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PATH_LIMIT", "LinkScan", "Walk", "linked_out", "shared_inode"]


def shared_inode(info: os.stat_result) -> bool:
    """Whether `info` (of a path, links not followed, or of a descriptor) is a regular file with
    more than one name.  Directories always have several links and symbolic links are resolved
    by the tools first, so only regular files count."""
    return stat.S_ISREG(info.st_mode) and info.st_nlink > 1


def linked_out(root: Path, skip: Collection[Path] = ()) -> list[str]:
    """The regular files below `root` (links not followed, the folders in `skip` not entered) that
    have a name the walk did not see (another name of each may be outside the tree), and the
    folders it could not list.  A file whose
    every name is in the tree (the agent's own `ln a b`) is not listed.  One walk: `LinkScan`
    walks again cheaply."""
    return LinkScan(root, skip)()


PATH_LIMIT = 3800
"""The longest path (bytes) the walk lists below and names as a mask: bwrap prefixes the paths it
mounts on (`/newroot`) and the kernel refuses paths past `PATH_MAX` (4096).  A folder whose
subfolder would be longer is masked as a whole: what lies below it cannot be named by bwrap, but
could still be opened by a command relative to a folder it holds, so it must not be reachable."""


@dataclass(frozen=True)
class _Folder:
    ino: int
    ctime_ns: int
    folders: tuple[str, ...]
    shared: tuple[str, ...]
    """Its files that had more than one name when it was listed."""
    gits: tuple[str, ...]
    """Its entries named `.git` that are folders or regular files (never a symbolic link)."""
    deep: bool
    """Whether a path of its subfolders, shared files or `.git` entries is past `PATH_LIMIT`."""


@dataclass(frozen=True)
class Walk:
    """What one `LinkScan.walk` found: the paths to mask and the `.git` entries of the tree."""

    masks: list[str]
    """Files with a name the walk did not see, and folders it could not list or name a child of."""
    gits: list[str]
    """Every `.git` folder or regular file below the root, at any depth (the skipped included)."""


class LinkScan:
    """`linked_out` of one tree, walked again at each call, listing again only the folders that
    changed since (or lately).

    A name comes into (or leaves) a folder only by changing the folder's ctime, which no command
    can set (it can set the mtime back, with `utime`, and that too changes the ctime): so a
    folder whose inode and ctime are as when it was listed holds the same names, and only its
    subfolders are looked at again (one `lstat` each) and its files that had several names.  A
    file of the tree that had one name when listed and is linked to from outside later is not
    listed: its content was the tree's.  A folder changed less than `SETTLED_NS` before a walk is
    listed again at the next one: timestamps are coarse, so a name added in the same tick as the
    listing would not show.  `skip` folders (by inode, wherever they are moved) are not entered."""

    SETTLED_NS = 2_000_000_000

    def __init__(self, root: Path, skip: Collection[Path] = ()) -> None:
        self.root = os.fspath(root)
        self.skip = {(s.st_dev, s.st_ino) for s in _stats(skip)}
        self._folders: dict[str, _Folder] = {}
        self._lock = threading.Lock()

    def __call__(self) -> list[str]:
        """The files of the tree with a name the walk did not see, as `linked_out` says, and the
        folders it could not list (to be masked as a whole)."""
        return self.walk().masks

    def walk(self) -> Walk:
        """The masks and `.git` entries of the tree as it is now (see the class)."""
        with self._lock:
            settled = time.time_ns() - self.SETTLED_NS
            kept: dict[str, _Folder] = {}
            names: dict[tuple[int, int], list[str]] = {}
            links: dict[tuple[int, int], int] = {}
            pending, unlisted, gits = [self.root], set[str](), list[str]()
            while pending:
                path = pending.pop()
                try:
                    info = os.lstat(path)
                    if (info.st_dev, info.st_ino) in self.skip:
                        continue
                    folder = self._folders.get(path)
                    if folder is None or (folder.ino, folder.ctime_ns) != (info.st_ino, info.st_ctime_ns):
                        folder = self._list(path, info)
                except (FileNotFoundError, NotADirectoryError):  # gone meanwhile
                    continue
                except OSError:  # unreadable here: the agent, its owner too, could chmod it and look
                    unlisted.add(path)
                    continue
                if info.st_ctime_ns < settled:
                    kept[path] = folder
                if folder.deep:  # a name in it too long to mount on: the folder instead, as a whole
                    unlisted.add(path)
                    continue
                pending += folder.folders
                gits += folder.gits
                for file in folder.shared:
                    _note(file, names, links)
            self._folders = kept
        shared = [path for key, paths in names.items() if len(paths) < links[key] for path in paths]
        return Walk(_outermost(unlisted, shared), _outermost(unlisted, gits, keep=False))

    def _list(self, path: str, info: os.stat_result) -> _Folder:
        folders, shared, gits = [], [], []
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                    if entry.name == ".git":
                        gits.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    if entry.name == ".git":
                        gits.append(entry.path)
                    with contextlib.suppress(OSError):
                        if shared_inode(entry.stat(follow_symlinks=False)):
                            shared.append(entry.path)
        deep = any(len(os.fsencode(p)) > PATH_LIMIT for p in (*folders, *shared, *gits))
        return _Folder(info.st_ino, info.st_ctime_ns, tuple(folders), tuple(shared), tuple(gits), deep)


def _stats(paths: Collection[Path]) -> list[os.stat_result]:
    found = []
    for path in paths:
        with contextlib.suppress(OSError):
            found.append(os.lstat(path))
    return found


def _outermost(masked: set[str], paths: list[str], keep: bool = True) -> list[str]:
    """`paths` without those inside a folder of `masked` (an empty read-only folder there: nothing
    can be mounted inside it), led by `masked` itself when `keep`."""
    inside = tuple(m.rstrip("/") + "/" for m in masked)
    rest = [p for p in paths if not p.startswith(inside) and p not in masked]
    folders = [m for m in sorted(masked) if not any(m.startswith(o) for o in inside if o != m + "/")]
    return folders + rest if keep else rest


def _note(path: str, names: dict[tuple[int, int], list[str]], links: dict[tuple[int, int], int]) -> None:
    try:
        info = os.lstat(path)
    except OSError:
        return
    if shared_inode(info):
        key = (info.st_dev, info.st_ino)
        names.setdefault(key, []).append(path)
        links[key] = info.st_nlink
