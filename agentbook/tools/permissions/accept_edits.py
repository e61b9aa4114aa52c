"""acceptEdits' Bash auto-approval: the few filesystem commands it runs without asking.

`policy.Permissions` asks `accept_edits_command` when acceptEdits mode meets a Bash command no
rule decided.  Deliberately narrow, because the paths are judged before the command runs; the
conditions are listed for users in docs/permissions.md ("acceptEdits").
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from collections.abc import Sequence

from agentbook.tools._hardlinks import shared_inode
from agentbook.tools.permissions.bash import Segment
from agentbook.tools.permissions.paths import PROTECTED_DIRS, protected

__all__ = ["ACCEPT_EDITS_COMMANDS", "accept_edits_command"]

# The filesystem commands acceptEdits runs without asking when every path they name is inside the
# root (Claude Code lists mkdir, touch, rm, rmdir, mv, cp and sed; sed is left out: its scripts
# can run commands and write anywhere), with the options each may take: only flags without a
# value, so that every other word is a path we check (`cp -text x` is `-t ext`: refused).
_MOVE_OPTIONS = frozenset({"--force", "--no-clobber", "--no-target-directory", "--update", "--verbose"})
ACCEPT_EDITS_COMMANDS: dict[str, tuple[str, frozenset[str]]] = {
    "mkdir": ("pv", frozenset({"--parents", "--verbose"})),
    "touch": ("acm", frozenset({"--no-create"})),
    "rm": ("dfirRv", frozenset({"--dir", "--force", "--recursive", "--verbose"})),
    "rmdir": ("pv", frozenset({"--parents", "--verbose", "--ignore-fail-on-non-empty"})),
    "mv": ("finTuv", _MOVE_OPTIONS),
    "cp": ("finTuv", _MOVE_OPTIONS),
}
# Commands that write where their last path names a directory: `cp x dir` writes `dir/x`.
_INTO_DIRECTORY = frozenset({"mv", "cp"})
# Plain words: ASCII letters, digits, quotes and a few harmless marks; no redirection, expansion,
# glob, escape, comment or control character (bash and shlex would split `\r` differently).
_PLAIN = re.compile(r"[A-Za-z0-9 \t_./,:=+@%'\"-]+")


def accept_edits_command(command: str, segments: Sequence[Segment], root: str) -> str | None:
    """The command's name when acceptEdits runs this Bash command without asking, else None.

    One subcommand of `ACCEPT_EDITS_COMMANDS` in plain words (no wrapper, redirection, expansion,
    glob, escape or comment) with flags that take no value, whose every operand is a relative path
    without `..` and without a symbolic link anywhere along it (so the path is what it says, inside
    the root, before and after the command runs), not the root itself, and not protected.
    `mv`/`cp` take one source (the path written in a directory destination is checked too),
    nothing written may be a hard link, and no tree removed or moved may hold a protected directory.
    """
    parsed = _parse(_plain_words(command, segments))
    if parsed is None:
        return None
    name, flags, operands = parsed
    targets = _targets(name, flags, operands, root)
    if not all(_plain_path(target, root) for target in targets):
        return None
    paths = [os.path.join(root, t) for t in targets]
    written = paths if name == "touch" else paths[1:] if name == "cp" else []
    if any(_shared_inode(p) for p in written):
        return None  # a hard link: writing it writes the file wherever its other names are
    recursive = name == "rm" and bool(flags & {"r", "R", "--recursive"})
    moved = paths if recursive else paths[:1] if name == "mv" else []
    if any(_holds_protected(p) for p in moved):
        return None  # deleting or moving a tree that holds a .git (a nested repository, say)
    return name


def _plain_words(command: str, segments: Sequence[Segment]) -> list[str]:
    """The words of a command made of one plain subcommand, else []."""
    if len(segments) != 1 or segments[0].substituted or not _PLAIN.fullmatch(segments[0].text):
        return []
    if not _PLAIN.fullmatch(command.strip()):
        return []  # the segment came out plain, but the whole command must be (`((rm a #)); x`)
    try:
        return shlex.split(segments[0].text)
    except ValueError:
        return []


def _parse(words: list[str]) -> tuple[str, set[str], list[str]] | None:
    """(command, flags, operands) when `words` run an acceptEdits command with allowed flags."""
    if len(words) < 2 or words[0] not in ACCEPT_EDITS_COMMANDS:
        return None
    name = words[0]
    short, long = ACCEPT_EDITS_COMMANDS[name]
    operands: list[str] = []
    flags: set[str] = set()
    options = True
    for word in words[1:]:
        if options and word == "--":
            options = False
        elif options and word.startswith("--"):
            if word not in long:
                return None
            flags.add(word)
        elif options and word.startswith("-") and word != "-":
            if not set(word[1:]) <= set(short):
                return None
            flags.update(word[1:])
        else:
            operands.append(word)
    if not operands or (name in _INTO_DIRECTORY and len(operands) != 2):
        return None
    return name, flags, operands


def _targets(name: str, flags: set[str], operands: list[str], root: str) -> list[str]:
    """Every path the command touches, relative to the root: its operands, the parents `rmdir -p`
    removes, and the path `mv`/`cp` write inside a directory destination."""
    targets = list(operands)
    if name == "rmdir" and flags & {"p", "--parents"}:  # removes each parent named as well
        targets += ["/".join(t.split("/")[:n]) for t in operands for n in range(1, t.count("/") + 1)]
    if name in _INTO_DIRECTORY and os.path.isdir(os.path.join(root, operands[1])):
        targets.append(f"{operands[1].rstrip('/')}/{os.path.basename(operands[0].rstrip('/'))}")
    return targets


def _plain_path(path: str, root: str) -> bool:
    """Whether `path` is relative, without `..` or `-`, names something below `root` (not the
    root), is not protected, and no existing part of it is a symbolic link."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") or path == "-" or not parts or ".." in parts:
        return False
    if protected(os.path.join(root, *parts), root):
        return False
    here = root
    for part in parts:
        here = os.path.join(here, part)
        try:
            if stat.S_ISLNK(os.lstat(here).st_mode):
                return False
        except FileNotFoundError:
            return True  # the rest does not exist yet: nothing further can be a link
        except OSError:
            return False
    return True


def _shared_inode(path: str) -> bool:
    """Whether `path` is a file with other hard links (which may be outside the root)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return shared_inode(info)


def _holds_protected(path: str, limit: int = 2000) -> bool:
    """Whether the tree at `path` (links not followed) holds a protected directory; a tree of more
    than `limit` entries counts as holding one, so that the check stays cheap."""
    pending, seen = [path], 0
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                for entry in listing:
                    seen += 1
                    if seen > limit or entry.name.casefold() in PROTECTED_DIRS:
                        return True
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
        except NotADirectoryError:
            return False
        except FileNotFoundError:
            continue
        except OSError:
            return True  # unreadable: it may hold one
    return False
