"""Events an agent emits while it works.

The loop and the scheduler only emit these; transcripts, widgets and frames subscribe to them.
Every event names its agent and carries the wall-clock time it happened (UTC), so a subscriber
never needs to ask the loop anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypeAlias

from agentbook.messages import Message, Response, ToolResult, ToolUse, Usage

__all__ = [
    "AgentEnded",
    "AgentEvent",
    "AgentStarted",
    "AgentState",
    "BatchQueued",
    "Compacted",
    "Listener",
    "ModelRetry",
    "Notified",
    "PermissionAnswered",
    "PermissionAsked",
    "ToolDenied",
    "ToolFinished",
    "ToolResultsSent",
    "ToolStarted",
    "TurnCompleted",
    "utcnow",
]

AgentState: TypeAlias = Literal[
    "pending", "running", "waiting", "done", "partial", "budget", "failed", "cancelled"
]
"""`partial`: stopped by `max_turns`, `budget`: by a budget it would have passed (both can be
continued); `waiting`: for a permission answer."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Event:
    agent: str
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStarted(_Event):
    """The agent begins (or resumes); `prompt` is the user message it added (`None`: it goes on
    from its history as it is)."""

    model: str
    prompt: Message | None
    system: str
    cwd: str
    resumed: bool = False
    kind: Literal["agent_started"] = "agent_started"


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnCompleted(_Event):
    """One model response arrived; `turn` counts from 1."""

    turn: int
    response: Response
    elapsed_s: float
    kind: Literal["turn"] = "turn"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolStarted(_Event):
    call: ToolUse
    kind: Literal["tool_started"] = "tool_started"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolDenied(_Event):
    """A tool gate (a hook, the permissions) refused `call`; the model gets `reason` as the call's
    error result, in the `ToolFinished` that follows."""

    call: ToolUse
    reason: str
    kind: Literal["tool_denied"] = "tool_denied"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolFinished(_Event):
    call: ToolUse
    result: ToolResult
    elapsed_s: float
    kind: Literal["tool_finished"] = "tool_finished"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResultsSent(_Event):
    """The tool results of one turn, as the user message the model will see next."""

    message: Message
    kind: Literal["tool_results"] = "tool_results"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRetry(_Event):
    """A model call failed transiently; attempt `attempt + 1` follows after `wait_s` seconds."""

    attempt: int
    error: str
    status: int | None
    wait_s: float
    kind: Literal["retry"] = "retry"


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchQueued(_Event):
    """The agent's request waits in Message Batch `batch_id`, whose `request_counts` (processing,
    succeeded, errored, canceled, expired) were just read."""

    batch_id: str
    counts: dict[str, int]
    kind: Literal["batch_queued"] = "batch_queued"

    @property
    def summary(self) -> str:
        """`queued in batch (5 processing, 1 succeeded)`, the errored ones too when there are any."""
        c = self.counts
        errored = f", {c['errored']} errored" if c.get("errored") else ""
        done = f"{c.get('succeeded', 0)} succeeded{errored}"
        return f"queued in batch ({c.get('processing', 0)} processing, {done})"


@dataclass(frozen=True, slots=True, kw_only=True)
class PermissionAsked(_Event):
    """A tool call waits for someone to approve or deny it (`reason` says why it must ask)."""

    call: ToolUse
    reason: str
    kind: Literal["permission_asked"] = "permission_asked"


@dataclass(frozen=True, slots=True, kw_only=True)
class PermissionAnswered(_Event):
    call: ToolUse
    decision: Literal["allow", "always", "deny"]
    kind: Literal["permission_answered"] = "permission_answered"


@dataclass(frozen=True, slots=True, kw_only=True)
class Notified(_Event):
    """Text added to the conversation for the model's next turn: a background sub-agent's end (in
    Claude Code's `<task-notification>` shape), or the reason a stop hook keeps the agent going."""

    texts: tuple[str, ...]
    kind: Literal["notified"] = "notified"


@dataclass(frozen=True, slots=True, kw_only=True)
class Compacted(_Event):
    """The agent's conversation was replaced by `summary` (Claude Code's `/compact`): `response`
    is the model call that wrote it, `tokens_before` the conversation's input tokens then."""

    response: Response
    summary: str
    tokens_before: int
    tokens_after: int
    trigger: Literal["manual", "auto"] = "manual"
    kind: Literal["compacted"] = "compacted"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEnded(_Event):
    """The agent stopped: `state` says how, `error` why when it did not finish."""

    state: AgentState
    turns: int
    usage: Usage
    result: str
    error: str | None = None
    kind: Literal["agent_ended"] = "agent_ended"


AgentEvent: TypeAlias = (
    AgentStarted
    | TurnCompleted
    | ToolStarted
    | ToolDenied
    | ToolFinished
    | ToolResultsSent
    | ModelRetry
    | BatchQueued
    | Notified
    | Compacted
    | PermissionAsked
    | PermissionAnswered
    | AgentEnded
)
Listener: TypeAlias = Callable[[AgentEvent], None]
