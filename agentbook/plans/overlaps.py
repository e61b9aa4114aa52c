"""Whether two tasks' declared `files` patterns can name a common path (`Plan.conflicts`).

Patterns are globs relative to the root (`*` within a folder, `**` across folders), and a pattern
also covers everything under what it names, as a git pathspec does.  Two globs are compared
segment by segment; within one name the check is approximate and errs towards reporting.  Kept
apart from the rest of plans so that one glob engine can take its place later.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from functools import cache

# The names stay private-looking, as they were in plans.py, until one shared glob engine replaces them.
__all__ = ["_overlap"]

_GLOB = re.compile(r"[*?\[]")


def _segments(pattern: str) -> tuple[str, ...]:
    """A pattern's path segments; a trailing `**` makes it cover what lies under what it names."""
    parts = [p for p in pattern.strip().replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or parts[-1] != "**":
        parts.append("**")
    return tuple(parts)


def _is_glob(pattern: str) -> bool:
    return _GLOB.search(pattern) is not None


def _names_meet(a: str, b: str) -> bool:
    """Whether two glob names (no `/`) can match one name: exact when either is literal, else
    approximate (compatible literal heads and tails), erring towards yes."""
    if a == b or fnmatchcase(a, b) or fnmatchcase(b, a):
        return True
    if not (_is_glob(a) and _is_glob(b)):
        return False
    head_a, head_b = _GLOB.split(a, 1)[0], _GLOB.split(b, 1)[0]
    tail_a, tail_b = re.split(r".*[*?\]]", a, maxsplit=1)[-1], re.split(r".*[*?\]]", b, maxsplit=1)[-1]
    heads_fit = head_a.startswith(head_b) or head_b.startswith(head_a)
    return heads_fit and (tail_a.endswith(tail_b) or tail_b.endswith(tail_a))


def _paths_meet(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two segment patterns can match one path: `**` takes any number of segments."""

    @cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "**":
            return meet(i + 1, j) or (j < len(b) and meet(i, j + 1))
        if j < len(b) and b[j] == "**":
            return meet(i, j + 1) or (i < len(a) and meet(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        return _names_meet(a[i], b[j]) and meet(i + 1, j + 1)

    return meet(0, 0)


def _overlap(p: str, q: str) -> str | None:
    """Where two declared patterns overlap (the narrower path, or `p & q`), or `None`."""
    a, b = _segments(p), _segments(q)
    if not _paths_meet(a, b):
        return None
    if a == b:
        return p
    literal = [x for x in (p, q) if not _is_glob(x)]
    if len(literal) == 2:
        return max(literal, key=lambda x: len(_segments(x)))  # the file inside the folder
    return literal[0] if literal else f"{p} & {q}"
