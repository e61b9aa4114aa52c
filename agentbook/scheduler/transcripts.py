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
Reading them back is `agentbook.scheduler.transcript_reading`'s (its names are re-exported here).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import uuid
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
from agentbook.messages import Message, Response
from agentbook.redact import redact_data, secret_forms, secret_values
from agentbook.scheduler.transcript_locks import open_locked
from agentbook.scheduler.transcript_reading import Transcript, TranscriptCall, read_transcript

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
        self.muted = False
        """While set, events write nothing: a cluster worker's lines come written (`append`)."""

    def __call__(self, event: AgentEvent) -> None:
        if self.muted:
            return
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
        if r.service_tier is not None:  # the API's own field: a batch's answer says "batch"
            message["usage"]["service_tier"] = r.service_tier
        self.write("assistant", at, message=message, requestId=r.request_id)

    def _compacted(self, event: Compacted) -> None:
        """Claude Code's lines: the summarising call, the boundary (a new root), the summary."""
        self._response(event.at, event.response)
        logical, self.last_uuid = self.last_uuid, None
        self.write("system", event.at, subtype="compact_boundary", content="Conversation compacted",
                   isMeta=False, level="info", logicalParentUuid=logical,
                   compactMetadata={"trigger": event.trigger, "preTokens": event.tokens_before,
                                    "postTokens": event.tokens_after,
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

    def append(self, lines: str) -> None:
        """Append whole lines another writer wrote (a cluster worker's, for the same agent),
        as they are; the next line written here follows the last of them."""
        if self._file is None:
            self._file = self._open()
        self._file.write(lines)
        self._file.flush()
        last = lines.rstrip("\n").rpartition("\n")[2]
        with contextlib.suppress(ValueError, AttributeError):
            self.last_uuid = json.loads(last).get("uuid", self.last_uuid)

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
