"""What a handler answers: reply values, content blocks, usage, and the token estimates.

Every module of the fake API speaks these values: handlers (`handlers.py`, `injection.py`,
`agentbook.testing.caching`) return them, `wire.py` encodes them, `connections.py` plays them.
They are plain frozen dataclasses, so a test builds the exact reply it wants and a wrapping
handler rewrites one with `dataclasses.replace`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from agentbook.testing.fakeapi.request import FakeRequest

__all__ = [
    "CUT_TEXT",
    "REPLY_TYPES",
    "ConnectionReset",
    "ContentBlock",
    "ErrorReply",
    "Handler",
    "MessageReply",
    "Reply",
    "ReplyUsage",
    "StreamCut",
    "StreamError",
    "TextBlock",
    "ThinkingBlock",
    "ToolUseBlock",
    "estimate_input_tokens",
    "estimate_output_tokens",
]


@dataclass(frozen=True)
class TextBlock:
    """A text content block; streamed as a few `text_delta` chunks."""

    text: str


@dataclass(frozen=True)
class ToolUseBlock:
    """A tool_use content block; `input` must be JSON-serialisable.  `id=None` gets a fresh
    `toolu_...` id each time the reply is sent.  Streamed as `input_json_delta` chunks.  The
    non-streaming body always carries the whole input."""

    name: str
    input: Mapping[str, Any]
    id: str | None = None
    cut_at: int | None = None
    """Streaming only: send just the first `cut_at` characters of the input's JSON, as when the
    answer hits `max_tokens` in the middle of a tool call (then say `stop_reason="max_tokens"`)."""


@dataclass(frozen=True)
class ThinkingBlock:
    """An extended-thinking block; streamed as `thinking_delta` chunks, then one `signature_delta`."""

    thinking: str
    signature: str = "sig-fake"


ContentBlock: TypeAlias = TextBlock | ToolUseBlock | ThinkingBlock


@dataclass(frozen=True)
class ReplyUsage:
    """Token counts for a `MessageReply`.

    `input_tokens=None` means `estimate_input_tokens(request body)`; `output_tokens=None`
    means `estimate_output_tokens(content)`.  The API's `cache_creation_input_tokens` is the
    sum of the two `ephemeral_*` fields, which are also sent as the `cache_creation` split.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int = 0
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0

    @property
    def cache_creation_input_tokens(self) -> int:
        return self.ephemeral_5m_input_tokens + self.ephemeral_1h_input_tokens


@dataclass(frozen=True)
class MessageReply:
    """Answer with a message.

    `content` is a string (one text block) or a sequence of blocks.  `stop_reason=None` means
    "tool_use" when a `ToolUseBlock` is present, else "end_turn".  `model=None` echoes the
    request's model.  `delay` is slept before the response starts; `chunk_delay` between
    streamed events (both in seconds; both are cut short when the server stops).
    """

    content: str | Sequence[ContentBlock] = "ok"
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: ReplyUsage = field(default_factory=ReplyUsage)
    model: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0

    @property
    def blocks(self) -> tuple[ContentBlock, ...]:
        if isinstance(self.content, str):
            return (TextBlock(self.content),)
        return tuple(self.content)


@dataclass(frozen=True)
class ErrorReply:
    """Answer with an HTTP error in the API's format.

    `type=None` derives the error type from the status (429 `rate_limit_error`, 529
    `overloaded_error`, 500 `api_error`, ...); `message=None` uses a canned message for the
    type.  `retry_after` (seconds, may be fractional) is sent as the `retry-after` header;
    `headers` are added (and override the server's own).
    """

    status: int = 500
    type: str | None = None
    message: str | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class ConnectionReset:
    """Read the request, then reset the connection (TCP RST) without sending anything."""

    delay: float = 0.0


@dataclass(frozen=True)
class StreamCut:
    """Start answering `message` (default: a text reply long enough to have several deltas),
    then close the connection before the message ends.

    Streaming: the events sent end with the `after_deltas`-th `content_block_delta` (with 0:
    right after `message_start` and its `ping`); if the message has fewer deltas, the cut comes
    just before `message_delta`.  The chunked body is never terminated, so the client sees a
    truncated response; with `clean=True` it is, so the HTTP response is whole but the message
    is not (no `message_delta`, no `message_stop`).  Non-streaming: the status line and headers
    (with the full Content-Length) are sent, then half of the JSON body.
    """

    after_deltas: int = 2
    message: MessageReply | None = None
    delay: float = 0.0
    clean: bool = False


@dataclass(frozen=True)
class StreamError:
    """A streamed response that fails mid-way with an SSE `event: error`.

    The events before it are chosen as for `StreamCut` (`after_deltas=0`: right after
    `message_start`), then `event: error` with
    `{"type": "error", "error": {"type": error_type, "message": message}}`, then the body ends
    cleanly.  On a non-streaming request the same error is sent as an HTTP error whose status
    matches `error_type` (529 for `overloaded_error`).
    """

    error_type: str = "overloaded_error"
    message: str = "Overloaded"
    after_deltas: int = 0
    message_reply: MessageReply | None = None
    delay: float = 0.0


Reply: TypeAlias = MessageReply | ErrorReply | ConnectionReset | StreamCut | StreamError
Handler: TypeAlias = Callable[[FakeRequest], Reply]

REPLY_TYPES: Final = (MessageReply, ErrorReply, ConnectionReset, StreamCut, StreamError)
"""The classes of `Reply`, for `isinstance` (a handler's result is checked against them)."""
CUT_TEXT: Final = "This answer was going to be longer, but the connection dropped."
"""The message a `StreamCut` or `StreamError` without its own message starts to send."""


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """A deterministic stand-in for the tokenizer: ceil(chars / 4) of the compact JSON of the
    request's `system`, `messages` and `tools` (at least 1)."""
    payload = {key: body[key] for key in ("system", "messages", "tools") if key in body}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return max(1, math.ceil(len(text) / 4))


def estimate_output_tokens(blocks: Iterable[ContentBlock]) -> int:
    """ceil(chars / 4) over the text and the tool inputs' JSON (at least 1)."""
    chars = 0
    for block in blocks:
        if isinstance(block, TextBlock):
            chars += len(block.text)
        elif isinstance(block, ThinkingBlock):
            chars += len(block.thinking)
        else:
            chars += len(block.name) + len(json.dumps(dict(block.input), separators=(",", ":")))
    return max(1, math.ceil(chars / 4))
