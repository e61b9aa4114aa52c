"""Agent records: one agent's live state, kept up to date from its events.

A record is what a board row, a frame row and `resume` read.  It is updated only on the agent
loop, by `apply`; readers on other threads see whole values (each update replaces them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from agentbook.budgets import Budget
from agentbook.costs import cost_usd
from agentbook.events import (
    AgentEnded,
    AgentEvent,
    AgentStarted,
    AgentState,
    BatchQueued,
    Compacted,
    ModelRetry,
    PermissionAnswered,
    PermissionAsked,
    ToolDenied,
    ToolStarted,
    TurnCompleted,
)
from agentbook.messages import Response, Usage
from agentbook.specs import Task

__all__ = ["ENDED", "AgentRecord", "ApiCall", "api_attempts", "apply", "state_counts"]

ENDED: frozenset[str] = frozenset({"done", "partial", "budget", "failed", "cancelled"})


@dataclass
class ApiCall:
    """One model response of one agent (`turn` 0: a compaction's summary, no turn)."""

    turn: int
    at: datetime
    elapsed_s: float
    model: str
    message_id: str
    request_id: str | None
    stop_reason: str | None
    usage: Usage
    compacted: tuple[int, int] | None = None
    """A compaction's call: the conversation's input tokens before it and after (the summary)."""
    service_tier: str | None = None
    """`"batch"`: answered through the Message Batches API, priced at the batch rates."""


@dataclass
class AgentRecord:
    """One agent's live state: what a board row, a frame row and `resume` need."""

    name: str
    task: Task
    agent_id: str
    transcript: Path
    model: str
    depth: int = 0
    parent: str | None = None
    state: AgentState = "pending"
    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    last_tool: str | None = None
    started: datetime | None = None
    ended: datetime | None = None
    error: str | None = None
    text: str = ""
    retries: int = 0
    result_tokens: int | None = None
    root: Path | None = None
    """The folder its tools are confined to (its worktree, when isolated)."""
    branch: str | None = None
    worktree: Path | None = None
    commit: str | None = None
    files_changed: int | None = None
    insertions: int | None = None
    deletions: int | None = None
    calls: list[ApiCall] = field(default_factory=list)
    tools_run: int = 0
    denials: int = 0
    """Tool calls refused by its permissions or a hook."""
    budget: Budget | None = None
    """Its own budget (its task's or its definition's), once it has started: the board shows
    its spend against it."""
    batch: str | None = None
    """While its request waits in a Message Batch: `queued in batch (n processing, m succeeded)`."""

    @property
    def cost_usd(self) -> float | None:
        if not (self.calls or self.usage.input_tokens):
            return 0.0
        batched = [c.usage for c in self.calls if c.service_tier == "batch"]
        if not batched:
            return cost_usd(self.usage, self.model)
        standard = [c.usage for c in self.calls if c.service_tier != "batch"]
        paid = cost_usd(sum(standard, Usage()), self.model), cost_usd(sum(batched, Usage()), self.model,
                                                                       service_tier="batch")  # fmt: skip
        return None if None in paid else sum(c for c in paid if c is not None)


def state_counts(records: Iterable[AgentRecord]) -> str:
    """How many agents are in each state: `2 done, 1 running` (states in alphabetical order)."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record.state] = counts.get(record.state, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def api_attempts(record: AgentRecord) -> int:
    """Model calls made: answered ones, retried failures, and a final failure that ended it."""
    final = 1 if record.error and record.error.startswith("model error") else 0
    return len(record.calls) + record.retries + final


def apply(record: AgentRecord, event: AgentEvent) -> None:
    """Update an agent's record from one of its events."""
    if isinstance(event, AgentStarted):
        record.state = "running"
        record.started = record.started or event.at
    elif isinstance(event, TurnCompleted):
        r: Response = event.response
        record.turns += 1
        record.usage = record.usage + r.usage
        record.text = r.message.text or record.text
        record.calls.append(ApiCall(record.turns, event.at, event.elapsed_s, r.model, r.id, r.request_id,
                                    r.stop_reason, r.usage, service_tier=r.service_tier))  # fmt: skip
        record.batch = None
    elif isinstance(event, Compacted):  # its call is paid for like a turn, but is none
        r, tokens = event.response, (event.tokens_before, event.tokens_after)
        record.usage = record.usage + r.usage
        record.calls.append(ApiCall(0, event.at, 0.0, r.model, r.id, r.request_id,  # turn 0: no turn
                                    r.stop_reason, r.usage, tokens, r.service_tier))  # fmt: skip
    elif isinstance(event, ToolStarted):
        record.last_tool = event.call.name
        record.tools_run += 1
    elif isinstance(event, ToolDenied):
        record.denials += 1
    elif isinstance(event, ModelRetry):
        record.retries += 1
        record.batch = None
    elif isinstance(event, BatchQueued):
        record.batch = event.summary
    elif isinstance(event, PermissionAsked):
        record.state = "waiting"
    elif isinstance(event, PermissionAnswered):
        record.state = "running"
    elif isinstance(event, AgentEnded):
        record.state, record.batch = event.state, None
        record.ended = event.at
        record.error = event.error
        record.text = event.result or record.text
