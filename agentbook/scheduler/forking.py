"""Fork sub-agents (Claude Code's `fork` type and agent files' `context: fork`): a child that
starts from its caller's conversation so far instead of a fresh one.

What makes a fork worth having is the prompt cache: its first request repeats its caller's last
request byte for byte (the same tools, system prompt and messages, the caller's breakpoint on the
last of them, `agentbook.models.anthropic`), then adds the caller's response that asked for it
and one user message, so it reads the caller's cached prefix instead of paying for it again.  To
keep the prefix whole, the child is wired as its caller is (definition, model, tools: the Agent
tool too, which refuses past the depth limit) and its messages are built as Claude Code builds
them: every tool call of that response answered with the same placeholder, then the directive.

The inherited conversation is written at the head of the child's transcript (an
`agentbook_fork` line), so a resume of the child, and `load_run`, go on from all of it.
"""

from __future__ import annotations

from collections.abc import Mapping

from agentbook.events import utcnow
from agentbook.messages import Message, Text, ToolResult
from agentbook.scheduler.records import AgentRecord
from agentbook.scheduler.transcripts import TranscriptWriter, read_transcript
from agentbook.specs import AgentSpec, Task

__all__ = ["FORK", "FORK_PLACEHOLDER", "caller", "fork_history", "is_fork", "write_inherited"]

FORK = "fork"
"""The Agent tool's built-in type of a fork child, and the `context` value of agent files."""
FORK_PLACEHOLDER = "Forked: a copy of this conversation is working on it."
"""Every tool call of the forking response is answered with this in the child: the same bytes
for every child of one response, so siblings share their prefix too."""
DIRECTIVE = (
    "You are a fork of the conversation above, started to do one part of the work on your own. "
    "Do only this part, without asking anything, and answer with what it asks for, concisely:\n\n"
)


def is_fork(task: Task) -> bool:
    return task.metadata.get("context") == FORK


def caller(record: AgentRecord, records: Mapping[str, AgentRecord]) -> AgentRecord:
    """The agent `record` works as: itself, or for a fork its caller's (a team member's fork
    gets the member's team tools, acting as it)."""
    while is_fork(record.task) and record.parent is not None and record.parent in records:
        record = records[record.parent]
    return record


def fork_history(parent: AgentRecord, prompt: str, spec: AgentSpec | None) -> list[Message]:
    """The conversation a fork of `parent` starts from: `parent`'s, up to the response that asked
    for the fork, then the placeholders and the directive (`spec`'s body first, for a
    `context: fork` type).  `RuntimeError` if `parent` has no response yet (it cannot happen
    from a tool call, which answers one)."""
    messages = read_transcript(parent.transcript).messages
    asked = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "assistant"), None)
    if asked is None:
        raise RuntimeError(f"agent {parent.name!r} has no response to fork from")
    placeholders = tuple(ToolResult(c.id, FORK_PLACEHOLDER) for c in messages[asked].tool_uses)
    body = f"{spec.prompt}\n\n" if spec is not None and spec.prompt else ""
    return [*messages[: asked + 1], Message("user", (*placeholders, Text(DIRECTIVE + body + prompt)))]


def write_inherited(writer: TranscriptWriter, parent: AgentRecord, history: list[Message]) -> None:
    """Write the conversation a fork child inherits as its transcript's first line."""
    inherited = {"parent": parent.agent_id, "messages": [m.to_api() for m in history]}
    writer.write("system", utcnow(), subtype="agentbook_fork", level="info",
                 content=f"forked from agent {parent.name}", agentbook=inherited)  # fmt: skip
