"""The tool call being judged, analysed once however many rules look at it.

`rules.Rule`, `policy.Permissions` and `decide` read a call through `Call`: the tool's canonical
name, the agent's resolved root, the Bash command and its subcommands, the path a file tool acts
on (as written and resolved), the sub-agent type an Agent call asks for.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbook.specs import EDIT_TOOLS, TOOL_RENAMES
from agentbook.tools._globs import has_magic
from agentbook.tools.permissions.bash import Segment, blind_segments, command_segments

__all__ = ["COORDINATION_TOOLS", "DEFAULT_SUBAGENT", "PATH_TOOLS", "READ_ONLY_TOOLS", "Call", "Target"]

READ_ONLY_TOOLS = frozenset({"Read", "Glob", "Grep"})
# Tools that start, read or stop the caller's own sub-agents, or change its team's task list
# and mailbox, and touch no file: judged as reads (each child's own calls are judged by its
# permissions).
COORDINATION_TOOLS = frozenset(
    {"Agent", "TaskOutput", "TaskStop", "TaskCreate", "TaskList", "TaskGet", "TaskUpdate", "SendMessage"}
)
PATH_TOOLS = READ_ONLY_TOOLS | EDIT_TOOLS
DEFAULT_SUBAGENT = "general-purpose"


@dataclass(frozen=True)
class Target:
    """The path a file tool acts on: as written (normalised) and resolved."""

    written: str
    real: str

    def forms(self, *, for_allow: bool) -> tuple[str, ...]:
        """The paths a rule is matched against: allow rules see only the resolved one."""
        return (self.real,) if for_allow else (self.written, self.real)


def _real_root(root: str) -> str:
    # An agent's root is fixed while it runs and every call it makes is checked against it: one
    # realpath per root, not one per call (targets inside it are still resolved every time).  A
    # relative root depends on the working directory, so it is resolved every time.
    return _real_absolute_root(root) if os.path.isabs(root) else os.path.realpath(root)


@functools.lru_cache(maxsize=256)
def _real_absolute_root(root: str) -> str:
    return os.path.realpath(root)


class Call:
    """A tool call, analysed once however many rules look at it."""

    def __init__(self, tool: str, input: Mapping[str, Any], root: Path) -> None:
        self.tool = TOOL_RENAMES.get(tool, tool)
        self.input = input
        self.root = _real_root(os.fspath(root))

    @functools.cached_property
    def command(self) -> str:
        value = self.input.get("command")
        return value.strip() if isinstance(value, str) else ""

    @functools.cached_property
    def segments(self) -> tuple[Segment, ...]:
        return command_segments(self.command)

    @functools.cached_property
    def blind_segments(self) -> tuple[Segment, ...]:
        """The command cut at every separator, quotes and escapes ignored: a second reading for
        when the scanner's differs from bash's."""
        return blind_segments(self.command)

    @functools.cached_property
    def target(self) -> Target | None:
        text = _target_text(self.tool, self.input)
        if not text or "\x00" in text:
            return None
        path = os.path.join(self.root, os.path.expanduser(text))
        return Target(os.path.normpath(path), os.path.realpath(path))

    @property
    def subagent_type(self) -> str:
        value = self.input.get("subagent_type")
        return value if isinstance(value, str) and value else DEFAULT_SUBAGENT


def _target_text(tool: str, input: Mapping[str, Any]) -> str | None:
    """The path `tool` acts on, relative to the root or absolute; None when there is none."""
    path = input.get("path")
    search_dir = path if isinstance(path, str) and path else "."
    if tool == "Grep":
        return search_dir
    if tool == "Glob":
        pattern = input.get("pattern")
        if not isinstance(pattern, str):
            return search_dir
        return os.path.join(search_dir, _literal_head(pattern))
    value = input.get("file_path") if tool in PATH_TOOLS else None
    return value if isinstance(value, str) else None


def _literal_head(pattern: str) -> str:
    """The leading directories of a glob pattern before its first wildcard (all of it if none)."""
    segments = pattern.split("/")
    for i, seg in enumerate(segments):
        if has_magic(seg):
            return "/".join(segments[:i]) or ("/" if pattern.startswith("/") else "")
    return pattern
