"""The real API's wire formats: message JSON, server-sent event streams, error bodies.

`connections.py` plays replies with these; nothing here touches a socket, so the formats can be
read (and checked against the API's documentation) in one place.  A `MessageReply` is first
rendered for its request (ids assigned, usage resolved), then sent as one JSON body or as the
event sequence `message_start`, `ping`, per block `content_block_start` / `*_delta` /
`content_block_stop`, `message_delta` (cumulative usage), `message_stop`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from agentbook.testing.fakeapi.replies import (
    ErrorReply,
    MessageReply,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    estimate_input_tokens,
    estimate_output_tokens,
)
from agentbook.testing.fakeapi.request import COUNT_TOKENS_PATH, FakeRequest

__all__ = [
    "STATUS_FOR_TYPE",
    "Rendered",
    "SSEEvent",
    "error_body",
    "invalid",
    "new_id",
    "prefix",
    "render",
    "retry_after_header",
    "sse",
    "stream_events",
]

SSEEvent: TypeAlias = tuple[str, dict[str, Any]]
"""One server-sent event: its name and its JSON data."""

_ERROR_TYPES: Final[dict[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
STATUS_FOR_TYPE: Final[dict[str, int]] = {kind: status for status, kind in _ERROR_TYPES.items()}
_ERROR_MESSAGES: Final[dict[str, str]] = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Billing error",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "This request would exceed the rate limit for your organization.",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}


def new_id(prefix: str) -> str:
    """A fresh id in the API's style: `req_...`, `msg_...`, `toolu_...`."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def invalid(path: str, body: Mapping[str, Any]) -> str | None:
    """The API's complaint about a body missing required fields, if any."""
    required = ("model", "messages") if path == COUNT_TOKENS_PATH else ("model", "max_tokens", "messages")
    for name in required:
        if name not in body:
            return f"{name}: Field required"
    if not isinstance(body["messages"], list):
        return "messages: Input should be a valid list"
    return None


# -- errors


def error_body(reply: ErrorReply, request_id: str) -> dict[str, Any]:
    """`{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}` for `reply`."""
    error_type = reply.type or _ERROR_TYPES.get(
        reply.status, "api_error" if reply.status >= 500 else "invalid_request_error"
    )
    return {
        "type": "error",
        "error": {"type": error_type, "message": reply.message or _ERROR_MESSAGES.get(error_type, "Error")},
        "request_id": request_id,
    }


def retry_after_header(seconds: float) -> str:
    """The `retry-after` value: whole seconds as the API sends them ("3"); fractions as decimals,
    which the SDK also accepts."""
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


# -- messages


@dataclass(frozen=True)
class Rendered:
    """A MessageReply made concrete for one request: ids assigned, usage resolved."""

    message: dict[str, Any]  # the non-streaming JSON body
    usage: dict[str, Any]
    output_tokens: int
    streamed_inputs: dict[int, str] = field(default_factory=dict)  # block index -> JSON text sent


def render(request: FakeRequest, reply: MessageReply) -> Rendered:
    blocks = reply.blocks
    content: list[dict[str, Any]] = []
    streamed_inputs: dict[int, str] = {}
    for index, block in enumerate(blocks):
        if isinstance(block, ToolUseBlock) and block.cut_at is not None:
            streamed_inputs[index] = json.dumps(dict(block.input), separators=(",", ":"))[: block.cut_at]
        if isinstance(block, TextBlock):
            content.append({"type": "text", "text": block.text})
        elif isinstance(block, ThinkingBlock):
            content.append({"type": "thinking", "thinking": block.thinking, "signature": block.signature})
        else:
            content.append(
                {
                    "type": "tool_use",
                    "id": block.id or new_id("toolu"),
                    "name": block.name,
                    "input": dict(block.input),
                }
            )
    stop_reason = reply.stop_reason
    if stop_reason is None:
        stop_reason = "tool_use" if any(isinstance(b, ToolUseBlock) for b in blocks) else "end_turn"
    u = reply.usage
    input_tokens = u.input_tokens if u.input_tokens is not None else estimate_input_tokens(request.json)
    output_tokens = u.output_tokens if u.output_tokens is not None else estimate_output_tokens(blocks)
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": u.cache_creation_input_tokens,
        "cache_read_input_tokens": u.cache_read_input_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.ephemeral_5m_input_tokens,
            "ephemeral_1h_input_tokens": u.ephemeral_1h_input_tokens,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }
    message = {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": reply.model or request.model or "claude-fake",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": usage,
    }
    return Rendered(message, usage, output_tokens, streamed_inputs)


# -- streams


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event, as the API writes it (compact JSON)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


# The usage fields `message_delta` repeats, in the API's order.
_DELTA_USAGE: Final = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)


def stream_events(rendered: Rendered) -> list[SSEEvent]:
    """The SSE events, in the real API's order, that stream `rendered.message`."""
    message = rendered.message
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**rendered.usage, "output_tokens": 1}
    events: list[SSEEvent] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        if index > 0:
            # The real API sends pings now and then; one between blocks keeps clients honest.
            events.append(("ping", {"type": "ping"}))
        events.extend(_block_events(index, block, rendered.streamed_inputs.get(index)))
    usage = rendered.usage
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    # Cumulative totals, as the API sends them.
    totals = {name: usage[name] for name in _DELTA_USAGE}
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": totals}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _block_events(index: int, block: Mapping[str, Any], streamed_input: str | None) -> list[SSEEvent]:
    """`content_block_start`, the block's deltas, `content_block_stop`."""
    deltas: list[dict[str, Any]]
    if block["type"] == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in _split(block["text"])]
    elif block["type"] == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in _split(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        text = streamed_input
        if text is None:
            text = json.dumps(block["input"], separators=(",", ":"))
        # Like the API, the first input_json_delta is empty.
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in ["", *_split(text)]]
    return [
        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
        *(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            for delta in deltas
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def prefix(events: list[SSEEvent], after_deltas: int) -> list[SSEEvent]:
    """The events up to the `after_deltas`-th delta (see `StreamCut`); never the message's end."""
    out: list[SSEEvent] = []
    seen = 0
    for name, data in events:
        if name == "message_delta":
            break
        if after_deltas <= 0 and name not in ("message_start", "ping"):
            break
        out.append((name, data))
        if name == "content_block_delta":
            seen += 1
            if seen >= after_deltas:
                break
    return out


def _split(text: str, parts: int = 3) -> list[str]:
    """Split into at most `parts` non-empty, roughly equal pieces (none for empty text)."""
    if not text:
        return []
    size = math.ceil(len(text) / parts)
    return [text[i : i + size] for i in range(0, len(text), size)]
