"""Claude Code's `Glob` tool: files by name pattern, newest first.

Patterns are read by the one glob engine (`agentbook.tools._globs`), whose regexes cannot backtrack
catastrophically; the walk is `agentbook.tools.search.walk_files`.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from agentbook.tools._globs import GLOB_META, glob_to_regex
from agentbook.tools.base import ToolContext, ToolError, validate_input
from agentbook.tools.search import WalkTooBig, newest_first, search_dir, walk_files

__all__ = ["GLOB_MAX_RESULTS", "GLOB_TRUNCATED_NOTE", "INLINE_WALK_ENTRIES", "Glob"]

GLOB_MAX_RESULTS = 100
# A Glob that sees at most this many directory entries runs on the event loop: a thread hop costs
# more CPU than walking a small tree (about 150 us against 20 us for a few files) and a round of
# the loop's latency while it is busy.  Past the budget the walk starts again in a thread, so the
# loop never walks a big tree (the metadata calls every tool makes on the loop, such as resolving
# a path, are of the same kind as a small walk's).
INLINE_WALK_ENTRIES = 256
GLOB_TRUNCATED_NOTE = "(Results are truncated. Consider using a more specific path or pattern.)"

_GLOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "pattern": {"type": "string", "description": "The glob pattern to match files against"},
        "path": {
            "type": "string",
            "description": "The directory to search in (default: the root). Omit it for the default; "
            "do not pass 'undefined' or 'null'.",
        },
    },
    "required": ["pattern"],
    "additionalProperties": False,
}


class Glob:
    """Find files by name pattern."""

    name: str = "Glob"
    description: str = (
        "Fast file pattern matching inside the agent's root.\n\n"
        '- Supports glob patterns like "**/*.js", "src/**/*.ts" or "*.{py,md}"; "*.py" matches only '
        'the top level of the search directory, "**/*.py" matches at any depth.\n'
        "- Returns matching file paths (relative to the root), most recently modified first, at most "
        f"{GLOB_MAX_RESULTS}.\n"
        "- path is the directory to search in (default: the root). VCS directories like .git are "
        "skipped.\n"
        "- Use it to find files by name; use Grep to search file contents."
    )
    input_schema: dict[str, Any] = _GLOB_SCHEMA

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        """Matching files, newest first, capped; "No files found" when none match."""
        args = validate_input(self.input_schema, input)
        pattern: str = args["pattern"]
        base = search_dir(ctx, args.get("path"))
        if not base.is_dir():
            raise ToolError(f"{args.get('path')} is not a directory")
        base, rest = _split_literal_prefix(ctx, base, pattern)
        try:
            regex = glob_to_regex(rest)
        except ValueError as err:  # too many brace alternatives
            raise ToolError(f"invalid pattern {pattern!r}: {err}") from err
        try:
            matches = _glob(base, rest, regex, ctx, INLINE_WALK_ENTRIES)
        except WalkTooBig:
            matches = await asyncio.to_thread(_glob, base, rest, regex, ctx)
        if not matches:
            return "No files found"
        shown = [ctx.display(p) for p in matches[:GLOB_MAX_RESULTS]]
        if len(matches) > GLOB_MAX_RESULTS:
            shown.append(GLOB_TRUNCATED_NOTE)
        return "\n".join(shown)


def _split_literal_prefix(ctx: ToolContext, base: Path, pattern: str) -> tuple[Path, str]:
    """Move the pattern's leading wildcard-free directories into the base, through `resolve`.

    This is what lets "src/**/*.py", "/abs/root/**" and "../x/*" work (or be refused) exactly as a
    path argument would.  Returns the new base and the remaining pattern.
    """
    if not pattern:
        raise ToolError("pattern is empty")
    if "\x00" in pattern:
        raise ToolError("pattern contains a NUL byte")
    parts = pattern.split("/")
    literal: list[str] = []
    while len(parts) > 1 and not GLOB_META.search(parts[0]):
        literal.append(parts.pop(0))
    if ".." in parts:
        raise ToolError("'..' may only appear before the first wildcard of a pattern")
    if literal:
        prefix = "/".join(literal) or "/"
        base = ctx.resolve(prefix if prefix.startswith("/") else base / prefix)
    return base, "/".join(parts)


def _glob(
    base: Path, rest: str, regex: re.Pattern[str], ctx: ToolContext, budget: int | None = None
) -> list[str]:
    """Absolute paths of the files below `base` matching `rest` (compiled: `regex`), newest first
    (`WalkTooBig` past `budget` directory entries)."""
    if not base.is_dir():
        return []
    # Without ** or braces the pattern fixes the depth, so the walk need not go deeper.
    max_depth = None if "**" in rest or "{" in rest else rest.count("/") + 1
    return newest_first(path for rel, path in walk_files(base, ctx, max_depth, budget) if regex.match(rel))
