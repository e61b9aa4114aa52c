"""Path rules (`Read(...)`, `Edit(...)`, ...) and Claude Code's protected directories.

`rules.Rule` asks here whether a path specifier matches a call's target; `decide` and
`accept_edits` ask whether a path is inside the root or protected.  Specifiers follow gitignore
(the one glob engine, `_globs.gitignore_regex`); their bases and matching are specified for users
in docs/permissions.md ("Path rules").
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentbook.tools._globs import gitignore_regex
from agentbook.tools.permissions.call import Target

__all__ = ["PROTECTED_DIRS", "inside", "path_pattern", "protected", "rule_matches"]

# Claude Code's protected directories: writes there are never auto-approved by a mode.
PROTECTED_DIRS = frozenset({".git", ".claude", ".vscode", ".idea"})
_CLAUDE_EXEMPT = frozenset({"commands", "agents", "skills"})
_EXEMPT_TAILS = tuple((name,) for name in _CLAUDE_EXEMPT)


@dataclass(frozen=True)
class _PathPattern:
    base: Literal["absolute", "home", "root"]
    up: int  # leading `..` segments: the base is that many directories higher
    regex: re.Pattern[str]


@functools.lru_cache(maxsize=1024)
def path_pattern(spec: str) -> _PathPattern:
    """Compile a path specifier: its base (`//`, `~/`, `/`, `./` or none) and a gitignore regex."""
    base: Literal["absolute", "home", "root"] = "root"
    rest, anchored = spec, True
    if spec.startswith("//"):
        base, rest = "absolute", spec[2:]
    elif spec == "~" or spec.startswith("~/"):
        base, rest = "home", spec[2:]
    elif spec == "." or spec.startswith("./"):
        while rest.startswith("./"):
            rest = rest[2:]
        rest = "" if rest == "." else rest
    elif spec.startswith("/"):
        rest = spec[1:]
    else:
        # gitignore: a pattern with no `/` but a trailing one matches at any depth.
        anchored = "/" in rest.rstrip("/")
    rest = rest.rstrip("/")
    up = 0
    while rest == ".." or rest.startswith("../"):
        up, rest = up + 1, rest[3:]
    # A pattern matching a directory covers everything inside it, as in gitignore (`below`).
    body = gitignore_regex(rest, anchored=anchored, below=True) if rest else ".*"
    return _PathPattern(base, up, re.compile(body, re.DOTALL))


def rule_matches(spec: str, target: Target | None, root: str, *, for_allow: bool) -> bool:
    """Whether the path specifier `spec` matches `target` for an agent confined to `root`."""
    if target is None:
        return False
    pattern = path_pattern(spec)
    base = {"absolute": "/", "home": os.path.realpath(os.path.expanduser("~")), "root": root}
    base_dir = os.path.normpath(os.path.join(base[pattern.base], *([".."] * pattern.up)))
    return any(_matches_below(pattern.regex, base_dir, f) for f in target.forms(for_allow=for_allow))


def _matches_below(regex: re.Pattern[str], base: str, path: str) -> bool:
    """Whether `path`, taken relative to `base`, matches; paths outside `base` never do."""
    if path == base:
        rel = ""
    elif path.startswith(base.rstrip("/") + "/"):
        rel = path[len(base.rstrip("/")) + 1 :]
    else:
        return False
    return regex.fullmatch(rel) is not None


def inside(path: str, root: str) -> bool:
    """Whether the resolved `path` is `root` or below it."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def protected(path: str, root: str) -> bool:
    """Whether `path` lies in one of Claude Code's protected directories.

    Inside the root only the part below it counts: the root itself may well live in
    `.claude/worktrees/`, where Claude Code puts its worktrees.
    """
    below = os.path.relpath(path, root) if inside(path, root) else path
    parts = Path(below).parts
    for i, part in enumerate(parts):
        # Case-folded: `.GIT` is `.git` on the case-insensitive filesystems of macOS and Windows.
        folded = part.casefold()
        tail = tuple(parts[i + 1 : i + 2])  # the exemption's names exactly: `COMMANDS` is not one
        if folded in PROTECTED_DIRS and not (folded == ".claude" and tail in _EXEMPT_TAILS):
            return True
    return False
