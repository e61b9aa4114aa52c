"""Transcripts in Claude Code's layout, written line by line as agents work, and read back.

Layout (the same as a Claude Code project folder, so its readers, ccusage among them, read ours):

    <run_dir>/<session>.jsonl                              the main conversation
    <run_dir>/<session>/subagents/agent-<agent_id>.jsonl    one per agent of the run

Each line is one compact JSON object with Claude Code's fields (`type`, `uuid`, `parentUuid`,
`isSidechain`, `sessionId`, `agentId`, `timestamp`, `cwd`, `version`, `requestId`, `message`).
Lines are written compact (no spaces), with millisecond UTC timestamps and a semver `version`,
because ccusage silently skips lines that differ.  Each line is flushed as soon as it is written,
so a crash loses at most the line in flight.  Credential values are redacted from every line.
agentbook adds `system` lines (`agentbook_start`, `agentbook_end`) for what a resume needs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from agentbook._version import __version__
from agentbook.events import (
    AgentEnded,
    AgentEvent,
    AgentStarted,
    Compacted,
    Notified,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
    utcnow,
)
from agentbook.messages import Block, Message, Response, ToolResult, Usage
from agentbook.redact import redact_data, secret_forms, secret_values
from agentbook.scheduler.transcript_locks import open_locked

__all__ = [
    "Transcript",
    "TranscriptCall",
    "TranscriptWriter",
    "agentbook_home",
    "dumps",
    "new_agent_id",
    "new_run_dir",
    "new_session_id",
    "read_transcript",
    "timestamp",
    "transcript_path",
]


def agentbook_home() -> Path:
    """Where agentbook keeps runs: `$AGENTBOOK_HOME`, else `~/.agentbook`."""
    return Path(os.environ.get("AGENTBOOK_HOME") or Path.home() / ".agentbook")


def new_run_dir(base: str | Path | None = None) -> Path:
    """A new, empty run folder `<base>/<run id>` (default base: `agentbook_home()/runs`)."""
    root = Path(base) if base is not None else agentbook_home() / "runs"
    run_id = utcnow().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    path = root / run_id
    path.mkdir(parents=True, exist_ok=False)
    return path


def new_session_id() -> str:
    return str(uuid.uuid4())


def new_agent_id() -> str:
    """An agent id in Claude Code's style (`a` and hex digits)."""
    return "a" + secrets.token_hex(8)


def transcript_path(run_dir: Path, session_id: str, agent_id: str | None = None) -> Path:
    """The file for the main conversation (`agent_id=None`) or for one agent of the session."""
    if agent_id is None:
        return run_dir / f"{session_id}.jsonl"
    return run_dir / session_id / "subagents" / f"agent-{agent_id}.jsonl"


def timestamp(at: datetime) -> str:
    """Claude Code's timestamp: UTC, milliseconds, `Z` (more digits make ccusage skip the line)."""
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(obj: Any) -> str:
    """Compact JSON, as Claude Code writes it (ccusage skips lines with spaces after `:` or `,`)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class TranscriptWriter:
    """Subscribes to one agent's events and appends its transcript lines, flushed one by one.

    While it has the file open it holds its lock (`agentbook.scheduler.transcript_locks`).
    """

    def __init__(
        self,
        path: Path,
        *,
        session_id: str,
        agent_id: str | None = None,
        is_sidechain: bool | None = None,
        parent_uuid: str | None = None,
        secrets: tuple[str, ...] | None = None,
    ) -> None:
        """`secrets` are the values to redact (default: `secret_values()` of the environment now)."""
        self.path = path
        self.session_id = session_id
        self.agent_id = agent_id
        self.is_sidechain = agent_id is not None if is_sidechain is None else is_sidechain
        self.last_uuid = parent_uuid
        self._cwd = ""
        self._secrets = secret_values() if secrets is None else secrets
        self._forms = secret_forms(self._secrets)
        self._file: IO[str] | None = None

    def __call__(self, event: AgentEvent) -> None:
        if isinstance(event, AgentStarted):
            self._cwd = event.cwd
            self.write(
                "system",
                event.at,
                subtype="agentbook_start",
                content=f"agent {event.agent} started",
                level="info",
                agentbook={
                    "agent": event.agent,
                    "model": event.model,
                    "system": event.system,
                    "resumed": event.resumed,
                },
            )
            if event.prompt is not None:
                self.write("user", event.at, message=_user_message(event.prompt))
        elif isinstance(event, TurnCompleted):
            self._response(event.at, event.response)
        elif isinstance(event, ToolStarted):
            # Before the tool runs: a resume after a crash knows the call may have run.
            self.write("system", event.at, subtype="agentbook_tool_started", level="info",
                       content=f"{event.call.name} started",
                       agentbook={"tool_use_id": event.call.id, "tool": event.call.name})  # fmt: skip
        elif isinstance(event, ToolFinished):
            # One line per result as it finishes (as Claude Code does): a crash mid-turn keeps
            # the results that exist, and a resume does not run those calls again.
            self.write("user", event.at, message=Message("user", (event.result,)).to_api())
        elif isinstance(event, Notified):  # Claude Code writes a task notification as user text
            content = [{"type": "text", "text": text} for text in event.texts]
            self.write("user", event.at, message={"role": "user", "content": content})
        elif isinstance(event, Compacted):
            self._compacted(event)
        elif isinstance(event, AgentEnded):
            self._end(event)

    def _response(self, at: datetime, r: Response) -> None:
        message = {"id": r.id, "type": "message", "role": "assistant", "model": r.model,
                   "content": r.message.to_api()["content"], "stop_reason": r.stop_reason,
                   "stop_sequence": None, "usage": r.usage.to_api()}  # fmt: skip
        self.write("assistant", at, message=message, requestId=r.request_id)

    def _compacted(self, event: Compacted) -> None:
        """Claude Code's lines: the summarising call, the boundary (a new root), the summary."""
        self._response(event.at, event.response)
        logical, self.last_uuid = self.last_uuid, None
        self.write("system", event.at, subtype="compact_boundary", content="Conversation compacted",
                   isMeta=False, level="info", logicalParentUuid=logical,
                   compactMetadata={"trigger": event.trigger, "preTokens": event.tokens_before,
                                    "agentbookCall": event.response.id})  # fmt: skip
        self.write("user", event.at, isCompactSummary=True, isVisibleInTranscriptOnly=True,
                   message={"role": "user", "content": event.summary})  # fmt: skip

    def _end(self, event: AgentEnded) -> None:
        self.write(
            "system",
            event.at,
            subtype="agentbook_end",
            level="info",
            content=f"agent {event.agent} {event.state}",
            agentbook={
                "state": event.state,
                "turns": event.turns,
                "error": event.error,
                "result": event.result,
            },
        )
        self.close()

    def write(self, kind: str, at: datetime, **fields: Any) -> str:
        """Append one line of type `kind`; returns its uuid."""
        line_uuid = str(uuid.uuid4())
        record: dict[str, Any] = {
            "parentUuid": self.last_uuid,
            "isSidechain": self.is_sidechain,
            "userType": "external",
            "cwd": self._cwd,
            "sessionId": self.session_id,
            "version": __version__,
        }
        if self.agent_id is not None:
            record["agentId"] = self.agent_id
        record["type"] = kind
        record.update({k: v for k, v in fields.items() if v is not None})
        record["uuid"] = line_uuid
        record["timestamp"] = timestamp(at)
        if self._file is None:
            self._file = self._open()
        line = dumps(record)
        # A secret holding '"', '\\' or a control character is escaped by dumps: look for its
        # escaped forms too, and on a hit redact the values and dump again (never half an
        # escape sequence replaced).  Lines without secrets are written as dumped.
        if any(form in line for form in self._forms):
            line = dumps(redact_data(record, self._secrets))
        self._file.write(line + "\n")
        self._file.flush()
        self.last_uuid = line_uuid
        return line_uuid

    def hold(self) -> None:
        """Open the file now, taking its lock (`RuntimeError` if another writer holds it)."""
        if self._file is None:
            self._file = self._open()

    def _open(self) -> IO[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open_locked(self.path)
        if file.tell() and not _ends_a_line(self.path):
            file.write("\n")  # a kill cut the last line: start ours on a line of its own
        return file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _ends_a_line(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, 2)
        return f.read(1) == b"\n"


def _user_message(prompt: Message) -> dict[str, Any]:
    # Claude Code stores a typed prompt as a plain string.
    if len(prompt.content) == 1 and prompt.text:
        return {"role": "user", "content": prompt.text}
    return prompt.to_api()


@dataclass(frozen=True)
class TranscriptCall:
    """One API response as a transcript records it."""

    message_id: str
    request_id: str | None
    model: str
    usage: Usage
    timestamp: str
    compaction: bool = False  # the call that wrote a compaction's summary: paid for, no turn


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
        made_by = (record.get("compactMetadata") or {}).get("agentbookCall")
        if out.calls and made_by and out.calls[-1].message_id == made_by:
            out.calls[-1] = dataclasses.replace(out.calls[-1], compaction=True)
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
        call = TranscriptCall(
            message_id, record.get("requestId"), data.get("model", ""), usage, record.get("timestamp", "")
        )
        key = (call.message_id, call.request_id)
        if key not in calls_at:
            calls_at[key] = len(out.calls)
            out.calls.append(call)
        elif usage.output_tokens > out.calls[calls_at[key]].usage.output_tokens:
            out.calls[calls_at[key]] = call  # streaming snapshots: the largest usage is the final one
