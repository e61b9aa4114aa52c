"""Claude Code's built-in tools, by Claude Code's names: Read, Write, Edit, Glob, Grep and Bash.

`BUILTIN_TOOLS` maps each name to a ready instance (tools keep no state between calls, so one
instance serves every agent); `tools_named` picks a list of them, as an agent file's `tools:` line
does.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentbook.tools.base import Tool, ToolContext, ToolError, schema, validate_input
from agentbook.tools.files import Edit, Read, Write
from agentbook.tools.glob import Glob
from agentbook.tools.grep import Grep
from agentbook.tools.shell import Bash

BUILTIN_TOOLS: dict[str, Tool] = {
    tool.name: tool for tool in (Read(), Write(), Edit(), Glob(), Grep(), Bash())
}


def tools_named(names: Iterable[str]) -> list[Tool]:
    """The built-in tools called `names`, in that order; `ValueError` naming every unknown name."""
    wanted = list(names)
    unknown = [n for n in wanted if n not in BUILTIN_TOOLS]
    if unknown:
        known = ", ".join(BUILTIN_TOOLS)
        raise ValueError(f"unknown tool name(s): {', '.join(map(repr, unknown))}; known tools: {known}")
    return [BUILTIN_TOOLS[n] for n in wanted]


__all__ = [
    "BUILTIN_TOOLS",
    "Bash",
    "Edit",
    "Glob",
    "Grep",
    "Read",
    "Tool",
    "ToolContext",
    "ToolError",
    "Write",
    "schema",
    "tools_named",
    "validate_input",
]
