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
deterministically from a seed, `request_limit()` wraps one to enforce a request rate, and
`default_handler` answers "ok".  New behaviours (a prompt caching emulation, say) are new
handlers: a handler sees the whole request and may wrap another handler, rewriting the
`MessageReply` it returns (`dataclasses.replace(reply, usage=...)`).

The package is split by job: `request` (the recorded `FakeRequest`), `replies` (reply and block
values, token estimates), `handlers`, `injection` and `enforced` (what to answer, faults and
limits included), `wire` (JSON and SSE encodings), `ratelimits` (the `anthropic-ratelimit-*`
headers), `connections` (the HTTP exchange) and `server` (`FakeAnthropic` itself).  Import the
names from here.

Wire formats follow the real API: error bodies are
`{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}`, every response
has a `request-id: req_...` header and the `anthropic-ratelimit-*` headers, and streams are
`message_start`, `ping`, per block `content_block_start` / `*_delta` / `content_block_stop`,
`message_delta` (cumulative usage), `message_stop`.  Streams use chunked transfer encoding, so a
cut connection is visible to the client as a truncated body rather than a normal end of stream.
"""

from __future__ import annotations

from agentbook.testing.fakeapi.enforced import RequestLimit, request_limit
from agentbook.testing.fakeapi.handlers import ScriptedHandler, default_handler
from agentbook.testing.fakeapi.injection import ALL_FAULTS, FaultInjector, FaultKind, InjectedFault, faults
from agentbook.testing.fakeapi.ratelimits import ReportedRateLimits
from agentbook.testing.fakeapi.replies import (
    ConnectionReset,
    ContentBlock,
    ErrorReply,
    Handler,
    MessageReply,
    Reply,
    ReplyUsage,
    StreamCut,
    StreamError,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    estimate_input_tokens,
    estimate_output_tokens,
)
from agentbook.testing.fakeapi.request import FakeRequest
from agentbook.testing.fakeapi.server import FakeAnthropic, FakeServerError

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
    "Reply",
    "ReplyUsage",
    "ReportedRateLimits",
    "RequestLimit",
    "ScriptedHandler",
    "StreamCut",
    "StreamError",
    "TextBlock",
    "ThinkingBlock",
    "ToolUseBlock",
    "default_handler",
    "estimate_input_tokens",
    "estimate_output_tokens",
    "faults",
    "request_limit",
]
