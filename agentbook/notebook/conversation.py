"""An agent's conversation as HTML: its transcript, and a tool call waiting for permission.

Used by the live board (`agentbook.notebook.widgets`): a row's transcript view shows
`transcript_html`, read from the agent's transcript file each time the row updates while open,
and its permission prompt shows `permission_html`.  Everything is escaped and cut to the limits
below, so a huge tool result cannot flood the front end.  No ipywidgets here.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentbook.messages import Block, Message, Text, Thinking, ToolResult, ToolUse
from agentbook.notebook.cells import shorten
from agentbook.scheduler.transcripts import read_transcript

__all__ = ["MESSAGES_SHOWN", "permission_html", "transcript_html"]

TEXT_LIMIT = 2000
INPUT_LIMIT = 600
RESULT_LIMIT = 1000
TRANSCRIPT_ERROR_LIMIT = 1200  # an ended agent's error, under its conversation
MESSAGES_SHOWN = 40


def permission_html(tool: str, tool_input: Mapping[str, Any], reason: str) -> str:
    """A tool call waiting for permission, and why it must ask (escaped)."""
    call = shorten(json.dumps(dict(tool_input), ensure_ascii=False), INPUT_LIMIT)
    return f"<b>{html.escape(tool)}</b> <code>{html.escape(call)}</code><br><i>{html.escape(reason)}</i>"


def _block_html(block: Block) -> str:
    if isinstance(block, Text):
        return (
            f"<pre style='white-space:pre-wrap;margin:0'>{html.escape(shorten(block.text, TEXT_LIMIT))}</pre>"
        )
    if isinstance(block, ToolUse):
        args = shorten(json.dumps(block.input, ensure_ascii=False), INPUT_LIMIT)
        return (
            f"<div class='agentbook-tool-call'><b>→ {html.escape(block.name)}</b> "
            f"<code>{html.escape(args)}</code></div>"
        )
    if isinstance(block, ToolResult):
        colour = "#c62828" if block.is_error else "#555"
        return (
            f"<pre class='agentbook-tool-result' style='white-space:pre-wrap;margin:0;color:{colour}'>"
            f"{html.escape(shorten(block.content, RESULT_LIMIT))}</pre>"
        )
    if isinstance(block, Thinking):
        return f"<i style='color:#777'>(thinking, {len(block.thinking):,} characters)</i>"
    return ""


def transcript_html(path: Path, *, error: str | None = None, limit: int = MESSAGES_SHOWN) -> str:
    """An agent's transcript as HTML: the last `limit` messages (text, tool calls with their
    input, tool results, each truncated), then `error` if any.  A missing file (an agent that
    has not started) gives a short note."""
    if not path.is_file():
        body = "<i>no transcript yet</i>"
    else:
        messages = read_transcript(path).messages
        skipped = max(0, len(messages) - limit)
        parts = [f"<i>… {skipped} earlier messages</i>"] if skipped else []
        for message in messages[skipped:]:
            blocks = "".join(_block_html(b) for b in message.content)
            parts.append(
                f"<div class='agentbook-message agentbook-{message.role}' "
                f"style='border-left:3px solid {'#1565c0' if message.role == 'assistant' else '#999'};"
                f"padding-left:6px;margin:4px 0'><b>{message.role}</b>{blocks}</div>"
            )
        body = "".join(parts) or "<i>no messages yet</i>"
    if error:
        shown = html.escape(shorten(error, TRANSCRIPT_ERROR_LIMIT))
        body += f"<div style='color:#c62828'><b>error:</b> {shown}</div>"
    # No height limit here: the widget's own layout scrolls, so replacing the value keeps the
    # reader's scroll position instead of jumping back to the top.
    return f"<div style='font-size:90%;padding:4px 8px'>{body}</div>"


class AgentTranscript:
    """What `%agents transcript NAME` shows: the conversation as HTML in a notebook, as
    readable lines in a terminal (one per text, tool call and result)."""

    def __init__(self, agent: str, path: Path, error: str | None = None) -> None:
        self.agent, self.path, self.error = agent, path, error

    def _repr_html_(self) -> str:
        return transcript_html(self.path, error=self.error)

    def __repr__(self) -> str:
        if not self.path.is_file():
            return f"{self.agent}: no transcript yet"
        text = _format_messages(read_transcript(self.path).messages)
        return text + (f"\n[error] {self.error}" if self.error else "")


def _format_messages(messages: Sequence[Message]) -> str:
    lines = []
    for message in messages:
        for block in message.content:
            if isinstance(block, Text):
                lines.append(f"[{message.role}] {block.text}")
            elif isinstance(block, ToolUse):
                lines.append(f"[tool call] {block.name} {block.input}")
            elif isinstance(block, ToolResult):
                marker = "tool error" if block.is_error else "tool result"
                lines.append(f"[{marker}] {block.content[:2000]}")
    return "\n".join(lines)
