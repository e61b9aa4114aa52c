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

__all__ = ["LinkScan", "linked_out", "shared_inode"]


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


@dataclass(frozen=True)
class _Folder:
    ino: int
    mtime_ns: int
    folders: tuple[str, ...]
    shared: tuple[str, ...]
    """Its files that had more than one name when it was listed."""


class LinkScan:
    """`linked_out` of one tree, walked again at each call, listing again only the folders that
    changed since (or lately).

    A name comes into a folder only by changing the folder's mtime, so a folder whose inode and
    mtime are as when it was listed holds the same names: only its subfolders are looked at again
    (one `lstat` each) and its files that had several names.  A file of the tree that had one
    name when listed and is linked to from outside later is not listed: its content was the
    tree's.  A folder changed less than `SETTLED_NS` before a walk is listed again at the next
    one: timestamps are coarse, so a name added in the same tick as the listing would not show."""

    SETTLED_NS = 2_000_000_000

    def __init__(self, root: Path, skip: Collection[Path] = ()) -> None:
        self.root, self.skip = os.fspath(root), {os.fspath(p) for p in skip}
        self._folders: dict[str, _Folder] = {}
        self._lock = threading.Lock()

    def __call__(self) -> list[str]:
        """The files of the tree with a name the walk did not see, as `linked_out` says, and the
        folders it could not list (to be masked as a whole)."""
        with self._lock:
            settled = time.time_ns() - self.SETTLED_NS
            kept: dict[str, _Folder] = {}
            names: dict[tuple[int, int], list[str]] = {}
            links: dict[tuple[int, int], int] = {}
            pending, unlisted = [self.root], []
            while pending:
                path = pending.pop()
                try:
                    info = os.lstat(path)
                    folder = self._folders.get(path)
                    if folder is None or (folder.ino, folder.mtime_ns) != (info.st_ino, info.st_mtime_ns):
                        folder = self._list(path, info)
                except (FileNotFoundError, NotADirectoryError):  # gone meanwhile
                    continue
                except OSError:  # unreadable here: the agent, its owner too, could chmod it and look
                    unlisted.append(path)
                    continue
                if info.st_mtime_ns < settled:
                    kept[path] = folder
                pending += folder.folders
                for file in folder.shared:
                    _note(file, names, links)
            self._folders = kept
        return unlisted + [path for key, paths in names.items() if len(paths) < links[key] for path in paths]

    def _list(self, path: str, info: os.stat_result) -> _Folder:
        folders, shared = [], []
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.path not in self.skip:
                        folders.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        if shared_inode(entry.stat(follow_symlinks=False)):
                            shared.append(entry.path)
        return _Folder(info.st_ino, info.st_mtime_ns, tuple(folders), tuple(shared))


def _note(path: str, names: dict[tuple[int, int], list[str]], links: dict[tuple[int, int], int]) -> None:
    try:
        info = os.lstat(path)
    except OSError:
        return
    if shared_inode(info):
        key = (info.st_dev, info.st_ino)
        names.setdefault(key, []).append(path)
        links[key] = info.st_nlink
