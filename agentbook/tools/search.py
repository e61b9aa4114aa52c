"""Walking the tree below a search path, for Glob, and the search path itself, for Glob and Grep.

`Glob` (`agentbook.tools.glob`) walks with `walk_files`: below the search path, never into VCS
metadata (`.git` and friends) or through directory symlinks (which avoids loops and escapes),
skipping file symlinks whose target leaves the root.  `Grep` (`agentbook.tools.grep`) leaves the
walk to ripgrep, told to skip the same VCS directories (`SKIP_DIRS`, Claude Code's list) and to
follow no symlink at all.  Paths are printed relative to the root (`ToolContext.display`): shorter
than Claude Code's absolute paths and accepted by every other tool just the same.

A deviation from Claude Code worth knowing: Glob does not honour `.gitignore` (Grep does, as
ripgrep does); hidden files are listed by both.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from agentbook.tools.base import ToolContext, ToolError

__all__ = ["SKIP_DIRS", "WalkTooBig", "newest_first", "search_dir", "walk_files"]

SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".bzr", ".jj", ".sl"})


class WalkTooBig(Exception):
    """A walk met more directory entries than its budget allowed."""


def walk_files(
    base: Path, ctx: ToolContext, max_depth: int | None = None, budget: int | None = None
) -> Iterator[tuple[str, str]]:
    """Regular files below `base` as (path relative to `base` with `/`, absolute path), depth first
    in name order, skipping VCS dirs, directory symlinks and file links whose target leaves the root.

    `max_depth` (1 = only `base`'s own entries) prunes the walk when the pattern cannot go deeper.
    `budget` bounds the directory entries looked at: past it the walk raises `WalkTooBig`.  Strings
    and `os.scandir`'s cached file types, not `Path` objects and a stat per name: a walk is most
    of a Glob's cost.  Unreadable directories are skipped, as `os.walk` does.
    """
    seen = 0
    stack: list[tuple[str, str, int]] = [(os.fspath(base), "", 1)]
    while stack:
        top, prefix, depth = stack.pop()
        entries: list[os.DirEntry[str]] = []
        try:
            with os.scandir(top) as listing:
                for entry in listing:  # counted as read: one huge directory stops the walk early
                    seen += 1
                    if budget is not None and seen > budget:
                        raise WalkTooBig
                    entries.append(entry)
        except OSError:
            continue
        entries.sort(key=_name)
        subdirs: list[os.DirEntry[str]] = []
        for entry in entries:
            if _is_dir(entry):
                subdirs.append(entry)
            elif _is_inside_regular_file(entry, ctx):
                yield prefix + entry.name, entry.path
        if max_depth is None or depth < max_depth:
            for entry in reversed(subdirs):  # reversed onto the stack: visited in name order
                if entry.name not in SKIP_DIRS and not entry.is_symlink():
                    stack.append((entry.path, f"{prefix}{entry.name}/", depth + 1))


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows a symlink, as os.walk sorts names
    except OSError:
        return False


def _is_inside_regular_file(entry: os.DirEntry[str], ctx: ToolContext) -> bool:
    try:
        if not entry.is_symlink():
            return entry.is_file()
        ctx.resolve(entry.path)
        return entry.is_file()
    except (OSError, ToolError):
        return False


def newest_first(paths: Iterable[str]) -> list[str]:
    """Absolute paths, most recently modified first (then by name)."""
    return [p for _, p in sorted((-_mtime(p), p) for p in paths)]


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def search_dir(ctx: ToolContext, path: str | None) -> Path:
    """The resolved file or directory to search: `path` if given, else the root."""
    if path is None:
        return ctx.root
    resolved = ctx.resolve(path)
    if not resolved.exists():
        raise ToolError(f"Path does not exist: {path}")
    return resolved
