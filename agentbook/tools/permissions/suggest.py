"""The rule "always allow" adds: what Claude Code would add to approve a call like this for good.

`policy.Permissions.suggest_rule` and `allow_always` call here: Bash gets a prefix rule of its
program and sub-command (`Bash(npm test *)`) or an exact rule, Edit and Write a rule for the one
file, other tools their bare name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from agentbook.tools.permissions.bash import Segment, segment_matches
from agentbook.tools.permissions.call import Call
from agentbook.tools.permissions.paths import inside
from agentbook.tools.permissions.rules import Rule

__all__ = ["suggest_bash", "suggest_edit"]

# Programs whose second word names what they do (`git commit`, `npm test`): "always allow" keeps it.
_SUBCOMMAND_PROGRAMS = frozenset(
    {"git", "npm", "pnpm", "yarn", "bun", "cargo", "go", "docker", "kubectl", "pip", "pip3", "uv",
     "poetry", "make", "gh", "brew", "apt", "apt-get", "dotnet", "mvn", "gradle", "bundle",
     "terraform", "helm", "conda", "deno", "rustup", "just", "hatch", "pdm", "tox", "nox"}
)  # fmt: skip
_RUNNERS = frozenset({"run", "exec"})  # `npm run build`, `uv run pytest`: the script is the point
_PROGRAM = re.compile(r"[A-Za-z0-9_./+-]+\Z")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]*\Z")


def suggest_bash(call: Call, allowed_by: Callable[[Segment], Rule | None]) -> Rule:
    """A prefix rule for the first subcommand no rule allows yet (`allowed_by` says which rule
    allows one), or an exact rule when a prefix rule could not allow it."""
    if not call.segments:
        raise ValueError("cannot suggest an allow rule for an empty Bash command")
    pending = [s for s in call.segments if allowed_by(s) is None]
    segment = (pending or list(call.segments))[0]
    form = segment.strict_forms[-1]
    prefix = _command_prefix(form)
    if prefix is not None:
        rule = Rule("Bash", prefix + " *")
        if segment_matches(prefix + " *", segment, for_allow=True):
            return rule
    return Rule("Bash", form.replace("*", "\\*"))


def _command_prefix(command: str) -> str | None:
    """The leading words naming what `command` runs, or None when its first word is unusual."""
    words = [*command.split(), ""]  # the sentinel spares length checks

    def plain(i: int) -> bool:
        return i < len(words) and _WORD.match(words[i]) is not None

    if not _PROGRAM.match(words[0]) or "=" in words[0]:
        return None
    length = 1
    if words[0] in ("python", "python3") and words[1] == "-m" and plain(2):
        length = 3
    elif words[0] in _SUBCOMMAND_PROGRAMS and plain(1):
        length = 3 if words[1] in _RUNNERS and plain(2) else 2
    return " ".join(words[:length])


def suggest_edit(call: Call) -> Rule:
    """`Edit(./path)` for the one file (absolute `//path` outside the root)."""
    target = call.target
    if target is None:
        raise ValueError(f"cannot suggest an allow rule for {call.tool} without a file path")
    if target.real == call.root:
        raise ValueError(f"cannot suggest an allow rule for {call.tool} of the root itself")
    if inside(target.real, call.root):
        return Rule("Edit", "./" + _escape_glob(os.path.relpath(target.real, call.root)))
    return Rule("Edit", "/" + _escape_glob(target.real))


def _escape_glob(path: str) -> str:
    """`path` as a gitignore pattern matching only itself."""
    return re.sub(r"([*?\[\\])", r"\\\1", path)
