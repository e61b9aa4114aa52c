"""Streaming snapshots left as a call's only usage, and the corrected output count for them.

Claude Code writes each content block of a response as its own line with an early usage
snapshot (`stop_reason: null`, `output_tokens` from `message_start`, often 1), and writes the
final cumulative usage (a `stop_reason`, or `usage.iterations`) once the response ends.  In
subagent transcripts that final write often never happens (anthropics/claude-code#84223), so
the transcript keeps only the snapshot: input and cache counts are right (the API knows them
at `message_start`), but output is undercounted.  `lines.py` folds each line's `LineSnapshot`
into its call; `summary.py` prints both totals with `CORRECTION_RULE`.
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = [
    "CHARS_PER_PROSE_TOKEN",
    "CHARS_PER_TOOL_INPUT_TOKEN",
    "CORRECTION_RULE",
    "SNAPSHOT_MAX_OUTPUT",
    "content_output_estimate",
    "looks_like_snapshot",
]

SNAPSHOT_MAX_OUTPUT: Final = 10
"""The most output tokens a `message_start` snapshot carries (1-10 in the real transcripts)."""
CHARS_PER_PROSE_TOKEN: Final = 4.0
"""Characters of text and thinking per output token assumed by the estimate."""
CHARS_PER_TOOL_INPUT_TOKEN: Final = 3.0
"""Characters of a tool call's input (compact JSON) per output token assumed by the estimate."""

CORRECTION_RULE: Final = (
    f"a call is a streaming snapshot when none of its lines has a stop_reason or usage.iterations "
    f"and its output_tokens (at most {SNAPSHOT_MAX_OUTPUT}) is below what its content needs; its "
    f"output is then estimated from the content: text and thinking characters / "
    f"{CHARS_PER_PROSE_TOKEN:g} + tool-input JSON characters / {CHARS_PER_TOOL_INPUT_TOKEN:g}, "
    "rounded up (a lower bound: on the real calls with final usage it gives 82% of their output, "
    "and thinking shown summarised counts less than it cost); input and cache counts are kept"
)
"""The rule the corrected totals of `agentbook costs` follow, as printed."""


def looks_like_snapshot(message: dict[str, Any], usage: dict[str, Any]) -> bool:
    """Whether this line's usage could be an early snapshot: no `stop_reason`, no
    `usage.iterations`, and at most `SNAPSHOT_MAX_OUTPUT` output tokens."""
    if message.get("stop_reason") is not None or "iterations" in usage:
        return False
    output = usage.get("output_tokens")
    return type(output) is int and output <= SNAPSHOT_MAX_OUTPUT


def content_output_estimate(message: dict[str, Any]) -> int:
    """Output tokens this line's content blocks need at least (see `CORRECTION_RULE`)."""
    content = message.get("content")
    if not isinstance(content, list):
        return len(content) // 4 if isinstance(content, str) else 0
    prose = tool = 0
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            prose += _length(block.get("text"))
        elif kind == "thinking":
            prose += _length(block.get("thinking"))
        elif kind == "tool_use":
            tool += len(json.dumps(block.get("input"), separators=(",", ":"), ensure_ascii=False))
    estimate = prose / CHARS_PER_PROSE_TOKEN + tool / CHARS_PER_TOOL_INPUT_TOKEN
    return int(-(-estimate // 1))  # rounded up


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str) else 0
