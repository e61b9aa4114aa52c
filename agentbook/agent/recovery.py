"""Resuming after a crash without repeating a side effect: tool calls that started but left no result.

Before a tool runs, its agent's transcript gets a "tool started" line (flushed); its result gets
a line when it finishes.  A call with the first and not the second was in flight when the process
stopped: it may have run in part or in full.  `settle_interrupted` answers such calls in the
history with an error result saying so, so that resuming never runs them again; the model decides
what to do (check the file, run it again).  Calls of tools without side effects (`RERUNNABLE`:
Read, Glob, Grep) and calls that never started are left unanswered, and the loop runs them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from agentbook.messages import Message, ToolResult, ToolUse

__all__ = ["INTERRUPTED", "RERUNNABLE", "settle_interrupted"]

RERUNNABLE = frozenset({"Read", "Glob", "Grep"})
INTERRUPTED = (
    "This {tool} call was interrupted: the process running it stopped after it had started and "
    "before it returned, so it may have run in part or in full. It was not run again. Check its "
    "effects (files, git state) before deciding whether to repeat it."
)


def settle_interrupted(history: Sequence[Message], started: Collection[str]) -> list[Message]:
    """`history` with an interrupted result for every unanswered call of its last response that
    `started` names and that may have had side effects (see the module docstring)."""
    messages = list(history)
    if not messages:
        return messages
    results: tuple[ToolResult, ...] = ()
    if messages[-1].role == "assistant":
        calls = messages[-1].tool_uses
    elif len(messages) >= 2 and messages[-2].role == "assistant":
        calls = messages[-2].tool_uses
        results = tuple(b for b in messages[-1].content if isinstance(b, ToolResult))
        if len(results) != len(messages[-1].content):
            return messages  # a prompt, not tool results: nothing is owed
    else:
        return messages
    answered = {r.tool_use_id for r in results}
    owed = [c for c in calls if c.id not in answered and c.id in started and c.name not in RERUNNABLE]
    if not owed:
        return messages
    settled = {r.tool_use_id: r for r in (*results, *(_interrupted(c) for c in owed))}
    message = Message("user", tuple(settled[c.id] for c in calls if c.id in settled))
    return [*messages[:-1], message] if results else [*messages, message]


def _interrupted(call: ToolUse) -> ToolResult:
    return ToolResult(call.id, INTERRUPTED.format(tool=call.name), is_error=True)
