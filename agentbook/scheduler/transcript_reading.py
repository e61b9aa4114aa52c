"""Transcripts read back, ours and Claude Code's: the conversation to go on from, the API calls
with their usage, and agentbook's start and end records (`agentbook.scheduler.transcripts`
writes them).  Unreadable lines are counted and named, never fatal: a crash may cut the last one.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbook.messages import Block, Message, ToolResult, Usage

__all__ = ["Transcript", "TranscriptCall", "read_transcript"]


@dataclass(frozen=True)
class TranscriptCall:
    """One API response as a transcript records it."""

    message_id: str
    request_id: str | None
    model: str
    usage: Usage
    timestamp: str
    compacted: tuple[int, int] | None = None
    """The call that wrote a compaction's summary (paid for, no turn): the tokens before, after."""
    service_tier: str | None = None
    """`"batch"`: answered through the Message Batches API (priced at the batch rates)."""


@dataclass
class Transcript:
    """A transcript read back: the conversation, the API calls, and agentbook's start/end records."""

    path: Path
    session_id: str = ""
    agent_id: str | None = None
    messages: list[Message] = field(default_factory=list)
    calls: list[TranscriptCall] = field(default_factory=list)
    start: dict[str, Any] = field(default_factory=dict)
    end: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    """A run's main transcript: its name and tasks."""
    cwd: str = ""
    started: set[str] = field(default_factory=set)
    """The ids of the tool calls that started (`agentbook.agent.recovery`)."""
    bad_lines: int = 0
    problems: list[str] = field(default_factory=list)
    """Lines that could not be read, each named with the file and its line number."""

    @property
    def usage(self) -> Usage:
        total = Usage()
        for call in self.calls:
            total += call.usage
        return total


def read_transcript(path: str | Path) -> Transcript:
    """Read a transcript (ours or Claude Code's).

    Assistant lines that share a `message.id` (Claude Code writes one line per content block)
    are joined into one message and one call.  A line that is not JSON or not UTF-8 (a crash
    mid-write) is counted in `bad_lines`, named in `problems`, and skipped.
    """
    path = Path(path)
    out = Transcript(path)
    by_id: dict[str, int] = {}  # message id -> its index in out.messages
    calls_at: dict[tuple[str, str | None], int] = {}  # (message id, request id) -> index in out.calls
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                out.bad_lines += 1
                out.problems.append(f"{path}: line {number} cannot be read ({type(exc).__name__}): skipped")
                continue
            if not isinstance(record, dict):
                out.bad_lines += 1
                out.problems.append(f"{path}: line {number} is not a JSON object: skipped")
                continue
            out.session_id = out.session_id or record.get("sessionId", "")
            out.agent_id = out.agent_id or record.get("agentId")
            try:
                _absorb(out, record, by_id, calls_at)
            except (TypeError, ValueError, KeyError, AttributeError) as exc:  # JSON, but not ours
                out.bad_lines += 1
                out.problems.append(
                    f"{path}: line {number} holds values of the wrong kind ({exc!r}): skipped"
                )
                continue
            out.cwd = out.cwd or str(record.get("cwd") or "")
    return out


def _only_results(message: Message) -> bool:
    return message.role == "user" and all(isinstance(b, ToolResult) for b in message.content)


def _add_user(messages: list[Message], message: Message) -> None:
    """Append a user message, joining tool results written one per line into one message
    in the order of the calls that asked for them, and text that follows a user message (a
    background child's notification) into it, as the turn loop had it."""
    if messages and messages[-1].role == "user" and not _only_results(message):
        messages[-1] = Message("user", (*messages[-1].content, *message.content))
        return
    if not (messages and _only_results(message) and _only_results(messages[-1]) and len(messages) >= 2):
        messages.append(message)
        return
    order = {c.id: i for i, c in enumerate(messages[-2].tool_uses)}
    blocks = (*messages[-1].content, *message.content)
    joined = sorted(blocks, key=lambda b: order.get(_result_id(b), len(order)))
    messages[-1] = Message("user", tuple(joined))


def _result_id(block: Block) -> str:
    return block.tool_use_id if isinstance(block, ToolResult) else ""


def _absorb(
    out: Transcript,
    record: dict[str, Any],
    by_id: dict[str, int],
    calls_at: dict[tuple[str, str | None], int],
) -> None:
    kind = record.get("type")
    if kind == "system" and record.get("subtype") == "agentbook_start":
        out.start = record.get("agentbook") or {}
        out.end = {}  # a resume began: how the agent ended before is not how it ends now
    elif kind == "system" and record.get("subtype") == "agentbook_end":
        out.end = record.get("agentbook") or {}
    elif kind == "system" and record.get("subtype") == "compact_boundary":
        out.messages.clear()  # the conversation goes on from the summary that follows
        meta = record.get("compactMetadata") or {}
        if out.calls and meta.get("agentbookCall") and out.calls[-1].message_id == meta["agentbookCall"]:
            tokens = (int(meta.get("preTokens") or 0), int(meta.get("postTokens") or 0))
            out.calls[-1] = dataclasses.replace(out.calls[-1], compacted=tokens)
    elif kind == "system" and record.get("subtype") == "agentbook_fork":  # a fork's inheritance
        out.messages[:] = [Message.from_api(m) for m in (record.get("agentbook") or {}).get("messages", [])]
    elif kind == "system" and record.get("subtype") == "agentbook_run":
        out.run = record.get("agentbook") or {}
    elif kind == "system" and record.get("subtype") == "agentbook_tool_started":
        out.started.add(str((record.get("agentbook") or {}).get("tool_use_id", "")))
    elif kind == "user" and isinstance(record.get("message"), dict):
        _add_user(out.messages, Message.from_api(record["message"]))
    elif kind == "assistant" and isinstance(record.get("message"), dict):
        data = record["message"]
        message = Message.from_api({"role": "assistant", "content": data.get("content") or []})
        message_id = data.get("id") or record.get("uuid", "")
        if message_id in by_id and by_id[message_id] == len(out.messages) - 1:
            previous = out.messages[-1]
            out.messages[-1] = Message("assistant", previous.content + message.content)
        else:
            by_id[message_id] = len(out.messages)
            out.messages.append(message)
        usage = Usage.from_api(data.get("usage"))
        batch = isinstance(data.get("usage"), dict) and data["usage"].get("service_tier") == "batch"
        tier = "batch" if batch else None
        call = TranscriptCall(message_id, record.get("requestId"), data.get("model", ""), usage,
                              record.get("timestamp", ""), service_tier=tier)  # fmt: skip
        key = (call.message_id, call.request_id)
        if key not in calls_at:
            calls_at[key] = len(out.calls)
            out.calls.append(call)
        elif usage.output_tokens > out.calls[calls_at[key]].usage.output_tokens:
            out.calls[calls_at[key]] = call  # streaming snapshots: the largest usage is the final one
