"""What of the agent's root is bound read-only again over it, by descriptor: the `.git` of each
repository in it, and the folders on `PATH` that lie in it (agentbook and the user run their
programs unsandboxed later).

A bind by path follows a symbolic link a concurrent call put there meanwhile (binding, say, a home
folder into the box), so each is bound from a descriptor opened without following links
(`--ro-bind-fd`).  A mounted folder cannot be renamed or removed from inside the box, but its
parent can be renamed, and the folder made again empty beside it: so a `PATH` folder inside the
root is protected by binding read-only the root's own child that holds it (`.venv` for
`.venv/bin`, its libraries included), and one not made yet by a private empty folder at that
child (what the call puts there is dropped with the box; the host keeps an empty folder).  A
symbolic link on the way (`env -> .venv`) cannot be mounted on at all: it is noted and put back
after the call if the call changed it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Pins", "pin"]

_PATH_FD = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Pins:
    """bwrap arguments and the descriptors they name (keep their numbers in the child, then
    `close`), and the links inside the root to `restore` after the call."""

    args: list[str] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    def bind(self, path: str) -> None:
        """`path` bound read-only from a descriptor, when it is a folder or a regular file now."""
        try:
            fd = os.open(path, _PATH_FD)
        except OSError:
            return
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            os.close(fd)  # a link swapped in, a FIFO: not bound (a folder in it: then not there)
            return
        self.fds.append(fd)
        self.args += ["--ro-bind-fd", str(fd), path]

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()

    def restore(self) -> None:
        """Each noted link as it was: one the call re-pointed or replaced is put back (what
        replaced it, a folder say, is kept beside it as `NAME.moved-by-agent-XXXX`)."""
        for path, target in self.links:
            with contextlib.suppress(OSError):
                if os.readlink(path) == target:
                    continue
            with contextlib.suppress(OSError):
                _put_link(path, target)


def pin(root: Path, gits: Iterable[str], path_entries: Sequence[str]) -> Pins:
    """The pins of one call in `root` (a real path): `gits` (the walk's `.git` entries) and the
    `PATH` entries (as written) inside it."""
    pins = Pins()
    for git in gits:
        pins.bind(git)
    tops: list[str] = []
    for entry in _through(root, tuple(path_entries)):
        pins.links += _links_on(root, Path(entry))
        top = _top(root, Path(os.path.realpath(entry)))
        if top is not None and top not in tops:
            tops.append(top)
    for top in tops:
        if os.path.lexists(top):
            pins.bind(top)
        else:  # not made yet: a private folder (dropped with the box), so nothing made there stays
            pins.args += ["--tmpfs", top]
    return pins


@functools.lru_cache(maxsize=64)
def _through(root: Path, entries: tuple[str, ...]) -> tuple[str, ...]:
    """The absolute `entries` (normalized) whose resolution goes through `root`, looked at once
    per root: one whose path, links followed, lies wholly outside the root is the host's, which
    no command can change, so it stays outside."""
    found = []
    for entry in entries:
        if entry and os.path.isabs(entry):
            written = Path(os.path.normpath(entry))
            if written == root or root in written.parents or _links_on(root, written, touched=True):
                found.append(str(written))
    return tuple(dict.fromkeys(found))


def _top(root: Path, real: Path) -> str | None:
    """The child of `root` that holds `real`, or `None` when `real` is not below `root`."""
    if root not in real.parents:
        return None
    return str(root / real.relative_to(root).parts[0])


def _links_on(root: Path, written: Path, touched: bool = False) -> list[tuple[str, str]]:
    """The symbolic links inside `root` on the way to `written` (each with its target), followed
    as the kernel would; stops at the first missing part.  With `touched`: also a link outside
    the root that leads into it (so the list is empty only when the way never enters the root)."""
    found: list[tuple[str, str]] = []
    pending, path, hops = list(written.parts[1:]), Path("/"), 0
    while pending and hops < 40:
        path = path / pending.pop(0)
        if not os.path.islink(path):
            if not os.path.exists(path):
                break
            continue
        target, hops = os.readlink(path), hops + 1
        resolved = Path(os.path.normpath(path.parent / target))
        if root in path.parents or (touched and (resolved == root or root in resolved.parents)):
            found.append((str(path), target))
        pending, path = [*resolved.parts[1:], *pending], Path("/")
    return found


def _put_link(path: str, target: str) -> None:
    """A link to `target` renamed over `path` (a folder there first moved aside)."""
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f".agentbook-link-{secrets.token_hex(8)}")
    os.symlink(target, temporary)  # refuses an existing name: nothing is written through
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            os.rename(path, os.path.join(folder, f"{name}.moved-by-agent-{secrets.token_hex(4)}"))
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
