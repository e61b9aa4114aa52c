"""A local fake of the Anthropic Messages API, for tests and benchmarks.

`FakeAnthropic` is a real HTTP/1.1 server on 127.0.0.1 (standard library only: a
`ThreadingHTTPServer` in a daemon thread, one thread per client connection).  Point the real
`anthropic.AsyncAnthropic` client at its `base_url` and the whole SDK stack runs unpatched: its
HTTP client, connection pool, retry loop, SSE decoder and stream accumulator.

What the server answers is decided by a *handler*, any callable `(FakeRequest) -> Reply`:

* `MessageReply`: a normal message (text, thinking and tool_use blocks, stop reason, usage with the cache
  fields), sent as JSON, or as server-sent events when the request has `"stream": true`;
* `ErrorReply`: an HTTP error with the API's JSON error body and optional `retry-after`;
* `ConnectionReset`: the socket is reset (RST) without any response;
* `StreamCut`: the response starts, then the connection closes mid-message;
* `StreamError`: a streamed response carries an `event: error` after `message_start`.

Every reply may carry a `delay` (seconds) before it is answered.  `ScriptedHandler` plays a
queue of replies in order, `faults()` wraps a handler to inject random failures
deterministically from a seed, and `default_handler` answers "ok".  New behaviours (a prompt
caching emulation, say) are new handlers: a handler sees the whole request and may wrap another
handler, rewriting the `MessageReply` it returns (`dataclasses.replace(reply, usage=...)`).

Wire formats follow the real API: error bodies are
`{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}`, every response
has a `request-id: req_...` header and the `anthropic-ratelimit-*` headers, and streams are
`message_start`, `ping`, per block `content_block_start` / `*_delta` / `content_block_stop`,
`message_delta` (cumulative usage), `message_stop`.  Streams use chunked transfer encoding, so a
cut connection is visible to the client as a truncated body rather than a normal end of stream.
"""

from __future__ import annotations

import contextlib
import datetime
import http
import http.server
import itertools
import json
import math
import random
import socket
import socketserver
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeAlias, cast

__all__ = [
    "ALL_FAULTS",
    "ConnectionReset",
    "ContentBlock",
    "ErrorReply",
    "FakeAnthropic",
    "FakeRequest",
    "FakeServerError",
    "FaultInjector",
    "FaultKind",
    "Handler",
    "InjectedFault",
    "MessageReply",
    "RateLimits",
    "Reply",
    "ScriptedHandler",
    "StreamCut",
    "StreamError",
    "TextBlock",
    "ThinkingBlock",
    "ToolUseBlock",
    "Usage",
    "default_handler",
    "estimate_input_tokens",
    "estimate_output_tokens",
    "faults",
]

MESSAGES_PATH: Final = "/v1/messages"
COUNT_TOKENS_PATH: Final = "/v1/messages/count_tokens"


# --------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class FakeRequest:
    """One HTTP request the server received, as recorded and as shown to handlers.

    `index` is the request's 0-based position in `FakeAnthropic.requests`: every request the
    server reads gets the next index, whatever its path, so retries get new indexes.
    `headers` has lower-cased names.  `body` is the parsed JSON object, or None when the body
    was empty, not JSON, or not a JSON object (such requests are answered with a 400 and never
    reach a handler).  `received_at` is `time.monotonic()` when the body had been read;
    `connection` numbers the TCP connection it came over (0, 1, ... as the server accepted them).
    """

    index: int
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: dict[str, Any] | None
    raw_body: bytes
    received_at: float
    connection: int = 0

    @property
    def json(self) -> dict[str, Any]:
        """The body, or an empty dict when there is none."""
        return self.body if self.body is not None else {}

    @property
    def stream(self) -> bool:
        """Whether the client asked for server-sent events (`"stream": true`)."""
        return self.json.get("stream") is True

    @property
    def model(self) -> str | None:
        model = self.json.get("model")
        return model if isinstance(model, str) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.json.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def api_key(self) -> str | None:
        """The API key the client sent: the `x-api-key` header, else the token of an
        `authorization: Bearer ...` header (anthropic 2.x sends `api_key=` that way), else None."""
        key = self.headers.get("x-api-key")
        if key is not None:
            return key
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# --------------------------------------------------------------------------------------------
# Replies


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
class Usage:
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
    usage: Usage = field(default_factory=Usage)
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

_REPLY_TYPES: Final = (MessageReply, ErrorReply, ConnectionReset, StreamCut, StreamError)
_CUT_TEXT: Final = "This answer was going to be longer, but the connection dropped."


# --------------------------------------------------------------------------------------------
# Handlers


def default_handler(request: FakeRequest) -> Reply:
    """Answer every request with the text "ok" and estimated usage."""
    return MessageReply("ok")


class ScriptedHandler:
    """Play scripted replies in order, one per `/v1/messages` request.

    An item may be a `Reply` or a handler, which is called with the request (to compute a
    reply from it).  When the queue is empty the request gets a 500 `api_error` whose message
    says the script ran out.  Thread-safe.
    """

    def __init__(self, replies: Iterable[Reply | Handler] = ()) -> None:
        self._lock = threading.Lock()
        self._queue: list[Reply | Handler] = list(replies)
        self._served = 0

    def push(self, *replies: Reply | Handler) -> None:
        """Append replies to the end of the script."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def remaining(self) -> int:
        """How many scripted items have not been used yet."""
        with self._lock:
            return len(self._queue)

    def __call__(self, request: FakeRequest) -> Reply:
        with self._lock:
            if not self._queue:
                return ErrorReply(
                    500,
                    "api_error",
                    f"ScriptedHandler ran out of replies: request #{request.index} came after all "
                    f"{self._served} scripted replies were used",
                )
            item = self._queue.pop(0)
            self._served += 1
        return item if isinstance(item, _REPLY_TYPES) else item(request)


FaultKind: TypeAlias = Literal["rate_limit", "overloaded", "api_error", "reset", "stream_cut"]
ALL_FAULTS: Final[tuple[FaultKind, ...]] = ("rate_limit", "overloaded", "api_error", "reset", "stream_cut")


@dataclass(frozen=True)
class InjectedFault:
    """A fault `FaultInjector` sent instead of the base handler's reply."""

    index: int
    kind: FaultKind
    reply: Reply


class FaultInjector:
    """A handler that replaces some replies of `base` with faults; see `faults()`."""

    def __init__(
        self, base: Handler, *, rate: float, seed: int, kinds: Sequence[FaultKind], retry_after: float
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {rate}")
        if not kinds:
            raise ValueError("at least one fault kind is needed")
        unknown = set(kinds) - set(ALL_FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self.base = base
        self.rate = rate
        self.seed = seed
        self.kinds = tuple(kinds)
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._injected: list[InjectedFault] = []

    @property
    def injected(self) -> list[InjectedFault]:
        """The faults injected so far, in the order they were sent (a copy)."""
        with self._lock:
            return list(self._injected)

    def __call__(self, request: FakeRequest) -> Reply:
        # Seeding from (seed, request index) rather than drawing from one shared generator makes
        # each request's fate a pure function of its index: the same sequence of requests gets
        # the same faults however the server's threads interleave.
        rng = random.Random(f"fakeapi-faults:{self.seed}:{request.index}")
        if rng.random() >= self.rate:
            return self.base(request)
        kind = rng.choice(self.kinds)
        reply: Reply
        if kind == "rate_limit":
            reply = ErrorReply(429, retry_after=self.retry_after)
        elif kind == "overloaded":
            reply = ErrorReply(529)
        elif kind == "api_error":
            reply = ErrorReply(500)
        elif kind == "reset":
            reply = ConnectionReset()
        else:
            reply = StreamCut(after_deltas=rng.randint(0, 2))
        with self._lock:
            self._injected.append(InjectedFault(request.index, kind, reply))
        return reply


def faults(
    rate: float,
    seed: int,
    base: Handler | None = None,
    *,
    kinds: Sequence[FaultKind] = ALL_FAULTS,
    retry_after: float = 0.05,
) -> FaultInjector:
    """Wrap `base` (default: `default_handler`) to fail a fraction `rate` of requests.

    Whether a request fails, and how, depends only on `seed` and its `FakeRequest.index` (the
    server-wide arrival number, so a retry is a new draw).  A fault is drawn
    uniformly from `kinds`: "rate_limit" (429 with `retry-after: retry_after`), "overloaded"
    (529), "api_error" (500), "reset" (`ConnectionReset`) or "stream_cut" (`StreamCut` after
    0-2 deltas).  A faulted request never reaches `base`, so a `ScriptedHandler` underneath
    keeps its place and the client's retry gets the scripted reply.  `.injected` lists what
    was injected.
    """
    return FaultInjector(
        base if base is not None else default_handler,
        rate=rate,
        seed=seed,
        kinds=kinds,
        retry_after=retry_after,
    )


# --------------------------------------------------------------------------------------------
# Token estimates and wire formats


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
_STATUS_FOR_TYPE: Final[dict[str, int]] = {kind: status for status, kind in _ERROR_TYPES.items()}
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


def _error_type_for(status: int) -> str:
    return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _split(text: str, parts: int = 3) -> list[str]:
    """Split into at most `parts` non-empty, roughly equal pieces (none for empty text)."""
    if not text:
        return []
    size = math.ceil(len(text) / parts)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@dataclass(frozen=True)
class _Rendered:
    """A MessageReply made concrete for one request: ids assigned, usage resolved."""

    message: dict[str, Any]  # the non-streaming JSON body
    usage: dict[str, Any]
    output_tokens: int
    streamed_inputs: dict[int, str] = field(default_factory=dict)  # block index -> JSON text sent


def _render(request: FakeRequest, reply: MessageReply) -> _Rendered:
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
                    "id": block.id or _new_id("toolu"),
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
        "id": _new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": reply.model or request.model or "claude-fake",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": usage,
    }
    return _Rendered(message, usage, output_tokens, streamed_inputs)


def _stream_events(rendered: _Rendered) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events, in the real API's order, that stream `rendered.message`."""
    message = rendered.message
    start_usage = {**rendered.usage, "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    **message,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        if index > 0:
            # The real API sends pings now and then; one between blocks keeps clients honest.
            events.append(("ping", {"type": "ping"}))
        deltas: list[dict[str, Any]]
        if block["type"] == "text":
            start_block: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in _split(block["text"])]
        elif block["type"] == "thinking":
            start_block = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": piece} for piece in _split(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            start_block = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            # Like the API, the first input_json_delta is empty.
            text = rendered.streamed_inputs.get(index, json.dumps(block["input"], separators=(",", ":")))
            pieces = ["", *_split(text)]
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start_block},
            )
        )
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            for delta in deltas
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    usage = rendered.usage
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
                # Cumulative totals, as the API sends them.
                "usage": {
                    "input_tokens": usage["input_tokens"],
                    "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                    "cache_read_input_tokens": usage["cache_read_input_tokens"],
                    "output_tokens": usage["output_tokens"],
                },
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _prefix(events: list[tuple[str, dict[str, Any]]], after_deltas: int) -> list[tuple[str, dict[str, Any]]]:
    """The events up to the `after_deltas`-th delta (see `StreamCut`); never the message's end."""
    out: list[tuple[str, dict[str, Any]]] = []
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


# --------------------------------------------------------------------------------------------
# Rate-limit headers


@dataclass(frozen=True)
class RateLimits:
    """The per-minute limits reported in the `anthropic-ratelimit-*` headers (not enforced)."""

    requests: int = 4_000
    input_tokens: int = 2_000_000
    output_tokens: int = 400_000


class _RateWindow:
    """Usage in the current wall-clock minute, so `-remaining` falls and `-reset` is the next
    minute boundary.  The real API uses token buckets; a fixed window is close enough for
    clients that only read the headers."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._minute = -1
        self._requests = 0
        self._input = 0
        self._output = 0

    def charge(self, *, requests: int, input_tokens: int, output_tokens: int) -> dict[str, str]:
        now = time.time()
        minute = int(now // 60)
        with self._lock:
            if minute != self._minute:
                self._minute, self._requests, self._input, self._output = minute, 0, 0, 0
            self._requests += requests
            self._input += input_tokens
            self._output += output_tokens
            used = {"requests": self._requests, "input-tokens": self._input, "output-tokens": self._output}
        reset = datetime.datetime.fromtimestamp((minute + 1) * 60, datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        limits = {
            "requests": self.limits.requests,
            "input-tokens": self.limits.input_tokens,
            "output-tokens": self.limits.output_tokens,
        }
        headers: dict[str, str] = {}
        for name, limit in limits.items():
            headers[f"anthropic-ratelimit-{name}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, limit - used[name]))
            headers[f"anthropic-ratelimit-{name}-reset"] = reset
        return headers


# --------------------------------------------------------------------------------------------
# The server


class FakeServerError(AssertionError):
    """Raised when the server stops (context-manager exit) after a handler raised: a handler
    failure is a bug in the test, and the client only saw a 500 for it."""


class FakeAnthropic:
    """A fake Messages API server on 127.0.0.1; use as a context manager or `start()`/`stop()`.

    `handler` (default `default_handler`) decides the replies to `POST /v1/messages`; it is
    called from the server's connection threads, concurrently, and may be reassigned while the
    server runs.  `POST /v1/messages/count_tokens` answers `estimate_input_tokens` without
    consulting the handler.  With `api_key` set, requests whose key (`FakeRequest.api_key`)
    differs get a 401 `authentication_error`.
    A handler that raises makes the request a 500 `api_error`; the exception is kept in
    `handler_errors` and re-raised as `FakeServerError` when the `with` block exits cleanly.
    A server is started at most once.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        rate_limits: RateLimits | None = None,
        api_key: str | None = None,
    ) -> None:
        self.handler: Handler = handler if handler is not None else default_handler
        self.api_key = api_key
        self._rate = _RateWindow(rate_limits or RateLimits())
        self._lock = threading.Lock()
        self._requests: list[FakeRequest] = []
        self._connections = itertools.count()  # numbers the TCP connections as they are accepted
        self._handler_errors: list[BaseException] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._started = False
        self._port: int | None = None

    # -- lifecycle

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._started:
            raise RuntimeError("a FakeAnthropic server can only be started once")
        self._started = True
        self._server = _Server(("127.0.0.1", 0), self)
        self._port = self._server.server_port
        # A short poll interval keeps stop() fast; the accept loop itself is event-driven.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-anthropic",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, drop every open connection, and wait (briefly) for the threads."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes replies sleeping on a delay
        server.shutdown()
        server.server_close()
        server.close_all_connections()
        server.join_threads(timeout=2.0)
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        errors = self.handler_errors
        if exc is None and errors:
            raise FakeServerError(
                f"the fake API's handler raised {len(errors)} time(s); first: {errors[0]!r}"
            ) from errors[0]

    # -- inspection

    @property
    def port(self) -> int:
        """The bound port (still readable after `stop()`)."""
        if self._port is None:
            raise RuntimeError("the server has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, for `AsyncAnthropic(base_url=...)`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[FakeRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def message_requests(self) -> list[FakeRequest]:
        """The `POST /v1/messages` requests received so far."""
        return [r for r in self.requests if r.path == MESSAGES_PATH]

    @property
    def handler_errors(self) -> list[BaseException]:
        """Exceptions raised by the handler (a copy)."""
        with self._lock:
            return list(self._handler_errors)

    # -- used by the connection threads

    def _record(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        raw: bytes,
        connection: int = 0,
    ) -> FakeRequest:
        with self._lock:
            request = FakeRequest(
                len(self._requests), method, path, query, headers, body, raw, time.monotonic(), connection
            )
            self._requests.append(request)
        return request

    def _decide(self, request: FakeRequest) -> Reply:
        try:
            reply = self.handler(request)
            if not isinstance(reply, _REPLY_TYPES):
                raise TypeError(f"handler returned {reply!r}, which is not a Reply")
            return reply
        except Exception as err:
            with self._lock:
                self._handler_errors.append(err)
            return ErrorReply(500, "api_error", f"fake API handler raised {type(err).__name__}: {err}")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # We join our own threads with a timeout in stop(), rather than without one in server_close().
    block_on_close = False
    # 100+ clients connect at once; the default backlog of 5 would make the kernel drop SYNs,
    # and the client would only retry them after a second.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], fake: FakeAnthropic) -> None:
        self.fake = fake
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN (a reverse DNS lookup); skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Registered here, in the accept loop, rather than in the new thread: once shutdown()
        # has returned, every accepted connection is in the set, so stop() can close them all.
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._workers.add(threading.current_thread())
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._connections.discard(request)
                self._workers.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (and stop() shutting sockets) are normal here, not worth a traceback.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_all_connections(self) -> None:
        """Shut every open connection so idle keep-alive threads see EOF and exit."""
        with self._conn_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def join_threads(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._conn_lock:
            threads = list(self._workers)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 gives keep-alive: every response must then say how long it is (Content-Length,
    # or chunked transfer encoding for streams).
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic/1.0"
    sys_version = ""

    @property
    def fake(self) -> FakeAnthropic:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        # One handler per TCP connection: its number tells requests sharing a connection apart
        # from requests that merely came from a reused port.
        self.connection_number = next(self.fake._connections)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # silence per-request logging on stderr

    # -- entry points

    def do_POST(self) -> None:
        try:
            self._handle()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    do_GET = do_DELETE = do_PUT = do_PATCH = do_POST

    def _handle(self) -> None:
        fake = self.fake
        method = self.command
        path, _, query = self.path.partition("?")
        raw = self._read_body()
        if raw is None:
            self._send_error(ErrorReply(400, message="unreadable request body"), None, close=True)
            return
        body: dict[str, Any] | None = None
        try:
            parsed = json.loads(raw) if raw else None
            body = parsed if isinstance(parsed, dict) else None
        except ValueError:
            pass
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = fake._record(method, path, query, headers, body, raw, self.connection_number)

        if fake.api_key is not None and request.api_key != fake.api_key:
            self._send_error(ErrorReply(401), request)
        elif method != "POST" or path not in (MESSAGES_PATH, COUNT_TOKENS_PATH):
            self._send_error(ErrorReply(404, message=f"Not found: {method} {path}"), request)
        elif body is None:
            self._send_error(ErrorReply(400, message="The request body is not a JSON object"), request)
        elif problem := _invalid(path, body):
            self._send_error(ErrorReply(400, message=problem), request)
        elif path == COUNT_TOKENS_PATH:
            self._send_json(
                200, {"input_tokens": estimate_input_tokens(body)}, {"request-id": _new_id("req")}
            )
        else:
            self._play(request, fake._decide(request))

    # -- replies

    def _play(self, request: FakeRequest, reply: Reply) -> None:
        if reply.delay > 0 and self.fake._stopping.wait(reply.delay):
            self._abort()
            return
        if isinstance(reply, MessageReply):
            rendered = _render(request, reply)
            if request.stream:
                events = _stream_events(rendered)
                self._send_stream(request, rendered, events, end=True, chunk_delay=reply.chunk_delay)
            else:
                self._send_json(200, rendered.message, self._headers_for(request, rendered.output_tokens))
        elif isinstance(reply, ErrorReply):
            self._send_error(reply, request)
        elif isinstance(reply, ConnectionReset):
            self._reset()
        elif isinstance(reply, StreamCut):
            rendered = _render(request, reply.message or MessageReply(_CUT_TEXT))
            if request.stream:
                events = _prefix(_stream_events(rendered), reply.after_deltas)
                self._send_stream(request, rendered, events, end=reply.clean)
            else:
                payload = json.dumps(rendered.message).encode()
                self._send_head(200, "application/json", len(payload), self._headers_for(request, 0))
                self.wfile.write(payload[: len(payload) // 2])
                self._abort()
        else:
            if request.stream:
                rendered = _render(request, reply.message_reply or MessageReply(_CUT_TEXT))
                events = _prefix(_stream_events(rendered), reply.after_deltas)
                error = {"type": "error", "error": {"type": reply.error_type, "message": reply.message}}
                events.append(("error", error))
                self._send_stream(request, rendered, events, end=True)
            else:
                status = _STATUS_FOR_TYPE.get(reply.error_type, 500)
                self._send_error(ErrorReply(status, reply.error_type, reply.message), request)

    def _headers_for(self, request: FakeRequest, output_tokens: int) -> dict[str, str]:
        headers = {"request-id": _new_id("req")}
        headers.update(
            self.fake._rate.charge(
                requests=1, input_tokens=estimate_input_tokens(request.json), output_tokens=output_tokens
            )
        )
        return headers

    def _send_error(self, reply: ErrorReply, request: FakeRequest | None, *, close: bool = False) -> None:
        error_type = reply.type or _error_type_for(reply.status)
        request_id = _new_id("req")
        body = {
            "type": "error",
            "error": {
                "type": error_type,
                "message": reply.message or _ERROR_MESSAGES.get(error_type, "Error"),
            },
            "request_id": request_id,
        }
        headers = self._headers_for(request, 0) if request is not None else {}
        headers["request-id"] = request_id
        if reply.retry_after is not None:
            # Whole seconds are sent as the API does ("3"); fractions as decimals, which the
            # SDK also accepts.
            ra = reply.retry_after
            headers["retry-after"] = str(int(ra)) if float(ra).is_integer() else repr(float(ra))
        headers.update(reply.headers)
        if close:
            headers["connection"] = "close"
        self._send_json(reply.status, body, headers)

    def _send_json(self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        data = json.dumps(payload).encode()
        self._send_head(status, "application/json", len(data), headers)
        self.wfile.write(data)

    def _send_head(
        self, status: int, content_type: str, length: int | None, headers: Mapping[str, str]
    ) -> None:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = {529: "Overloaded"}.get(status, "")
        self.send_response(status, phrase)
        self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
        else:
            self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)  # "Connection: close" also sets close_connection
        self.end_headers()

    def _send_stream(
        self,
        request: FakeRequest,
        rendered: _Rendered,
        events: list[tuple[str, dict[str, Any]]],
        *,
        end: bool,
        chunk_delay: float = 0.0,
    ) -> None:
        self._send_head(
            200, "text/event-stream; charset=utf-8", None, self._headers_for(request, rendered.output_tokens)
        )
        for i, (name, data) in enumerate(events):
            if i and chunk_delay > 0 and self.fake._stopping.wait(chunk_delay):
                self._abort()
                return
            chunk = _sse(name, data)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if end:
            self.wfile.write(b"0\r\n\r\n")
        else:
            # No terminating chunk: a graceful close (FIN) here is a truncated body to the client.
            self._abort()

    def _abort(self) -> None:
        """Close the connection after this exchange, whatever was (or was not) sent."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.  The descriptor
        # is really closed once rfile/wfile let go of it, right after this exchange.
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    # -- request bodies

    def _read_body(self) -> bytes | None:
        """The request body, or None when its framing is broken."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None
        if length < 0:
            return None
        data = self.rfile.read(length) if length else b""
        return data if len(data) == length else None


def _invalid(path: str, body: Mapping[str, Any]) -> str | None:
    """The API's complaint about a body missing required fields, if any."""
    required = ("model", "messages") if path == COUNT_TOKENS_PATH else ("model", "max_tokens", "messages")
    for name in required:
        if name not in body:
            return f"{name}: Field required"
    if not isinstance(body["messages"], list):
        return "messages: Input should be a valid list"
    return None
