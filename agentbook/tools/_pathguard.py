"""The path guard of unsandboxed Bash (`sandbox=False`): the words of a command that name a
path outside the root refuse it before it runs (see `agentbook.tools.shell`).

It catches the model's mistakes, not an attack: variables, substitutions, `cd` without an argument
or a program opening paths by itself get through.  Only the sandbox confines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from agentbook.tools._shellwords import command_words
from agentbook.tools.base import ToolContext, ToolError

__all__ = ["ALLOWED_DEVICES", "check_command_paths"]

ALLOWED_DEVICES = frozenset(
    {"/dev/null", "/dev/zero", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/random", "/dev/urandom"}
)


def check_command_paths(command: str, ctx: ToolContext, env: dict[str, str]) -> None:
    """Raise `ToolError` if a word of `command` names a path outside the root (see module doc)."""
    home = env.get("HOME", "")
    path_dirs = _real_path_dirs(env.get("PATH", ""))
    for word, command_position in command_words(command):
        for candidate in _candidates(word):
            if not _allowed(candidate, command_position, ctx, home, path_dirs):
                raise ToolError(
                    f"command refused: {candidate!r} is outside the agent's root {ctx.root} (nothing was "
                    "run). Use paths inside the root; if this word is not a path, rephrase it so it does "
                    "not start with '/', '~' or contain '..'."
                )


def _candidates(word: str) -> Iterator[str]:
    """The strings inside `word` that may be paths: itself and what follows an `=`."""
    yield word.strip("`")
    if "=" in word:
        yield word.split("=", 1)[1].strip("`")


def _allowed(
    candidate: str, command_position: bool, ctx: ToolContext, home: str, path_dirs: set[str]
) -> bool:
    if not candidate:
        return True
    if candidate.startswith("~"):
        expanded = _expand_tilde(candidate, home)
        if expanded is None:
            return False
        candidate = expanded
    if candidate.startswith("/") and os.path.normpath(candidate) in ALLOWED_DEVICES:
        return True
    try:
        real = Path(os.path.realpath(ctx.root / candidate))  # an absolute candidate replaces the root
    except (OSError, ValueError):
        return False
    if real == ctx.root or ctx.root in real.parents:
        return True
    if not command_position:
        return False
    if candidate.startswith("/"):
        return os.path.realpath(os.path.dirname(candidate)) in path_dirs and _is_executable(real)
    # A relative command name leading out is a symlink, typically a venv's bin/python.
    return _is_executable(real)


def _expand_tilde(word: str, home: str) -> str | None:
    user, sep, rest = word[1:].partition("/")
    if not user:
        return home + sep + rest if home else None
    expanded = os.path.expanduser(word)
    return None if expanded == word else expanded


def _real_path_dirs(path_var: str) -> set[str]:
    return {os.path.realpath(d) for d in path_var.split(os.pathsep) if d}


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
