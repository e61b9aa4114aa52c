"""Opening a path of an agent's root without following a link on the way: the file tools check a
path (`ToolContext.resolve`) and then open it, and a Bash call of the same agent, running at the
same time, could swap a folder on that path for a link to anywhere in between.

`open_beneath` walks from a descriptor of the root, one name at a time, each opened with
`O_NOFOLLOW` (folders with `O_DIRECTORY`): a link anywhere on the path, made since the check,
fails the open instead of being followed.  The root itself is the agent's box, not a path in it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["open_beneath"]

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_beneath(root: Path, path: Path, flags: int, *, make_folders: bool = False) -> int:
    """A descriptor of `path` (a real path inside `root`, or `root` itself, as `resolve` gave it)
    opened with `flags` (plus `O_NOFOLLOW | O_NONBLOCK`: never a link, never waiting on a FIFO); missing
    folders on the way are made when `make_folders`.  `OSError` (`ELOOP`, `ENOTDIR`, ...) when a
    link or anything unexpected stands on the path now."""
    parts = path.relative_to(root).parts
    if not parts:
        return os.open(root, flags | os.O_CLOEXEC)
    folder = os.open(root, _FOLDER)
    try:
        for name in parts[:-1]:
            if make_folders:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=folder)
            inner = os.open(name, _FOLDER, dir_fd=folder)
            os.close(folder)
            folder = inner
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666, dir_fd=folder)
    finally:
        os.close(folder)
