"""`AnthropicModel`: the one adapter to the Anthropic Python SDK (`anthropic.AsyncAnthropic`).

It is the only module that imports `anthropic`.  It sends a `Request` and returns a `Response`
with the exact `usage` and the request id.  By default (`stream="auto"`) it streams only an
answer that may take over ten minutes (the SDK's own rule: `max_tokens` over 21,333, or over a
model's non-streaming limit), since nothing in agentbook reads an answer before it is whole and a
plain `messages.create` costs less CPU per turn than reading events (`bench/bench_parallel.py`).
The SDK's own retries are off by default because agentbook retries in one place for every
backend (`agentbook.models.retry`), including the failures the SDK does not retry: a stream cut
mid-message and an in-stream `error` event.

A streamed answer is read as the SDK's raw events (`messages.create(stream=True)`) and assembled
by `agentbook.models.assembly`, not through the `messages.stream()` helper, which rebuilds a
snapshot model after every event: that costs about a fifth of the client's CPU per turn, and
with a hundred agents on one core that CPU is the makespan (`bench/bench_parallel.py`).  For the
same reason a non-streamed request is sent as JSON encoded here (`client.post`, the SDK's way for
raw requests) and its answer's JSON becomes a `Response` directly, not an SDK model first.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import re
import ssl
import weakref
from collections.abc import Callable
from typing import Any, Literal

import anthropic
import anthropic._constants as anthropic_constants
import httpx2

from agentbook.messages import (
    EPHEMERAL,
    Request,
    Response,
)
from agentbook.models.assembly import Assembly
from agentbook.models.base import ModelError, TransientModelError, resolve_model_id, signal_response_began

__all__ = ["AGENTS_PER_CLIENT", "AnthropicModel"]

# Agents (tasks) per pooled client.  A client's connection pool re-examines every connection it
# holds each time a request starts or ends (and probes each idle one's socket), so its CPU per call
# grows with its size: many small pools are cheaper than a few big ones, now that clients share
# one TLS context and cost little to make.
AGENTS_PER_CLIENT = 8
_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


class AnthropicModel:
    """Claude through the Messages API.

    Arguments not given are taken by the SDK from its own variables (`ANTHROPIC_API_KEY`,
    `ANTHROPIC_AUTH_TOKEN`, `ANTHROPIC_BASE_URL`, `ANTHROPIC_CUSTOM_HEADERS`, ...).  A client is
    made per event loop, because an async HTTP connection pool belongs to the loop that opened it,
    and agents are spread over up to `clients` of them (`_ClientPool`): one client's pool
    bookkeeping grows with requests x connections, so a thousand agents on one client run several
    times slower.
    """

    def __init__(
        self,
        model: str = "sonnet",
        *,
        max_tokens: int = 8192,
        stream: bool | Literal["auto"] = "auto",
        client: anthropic.AsyncAnthropic | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 600.0,
        sdk_max_retries: int = 0,
        clients: int = 64,
    ) -> None:
        if clients < 1:
            raise ValueError(f"clients must be at least 1, not {clients}")
        if stream not in (True, False, "auto"):
            raise ValueError(f"stream must be True, False or 'auto', not {stream!r}")
        self.name = resolve_model_id(model)
        self.max_tokens = max_tokens
        self.stream = stream
        self._client = client
        self._client_args: dict[str, Any] = {"timeout": timeout, "max_retries": sdk_max_retries}
        if base_url is not None:
            self._client_args["base_url"] = base_url
        if api_key is not None:
            self._client_args["api_key"] = api_key
        self._pool_size = clients
        self._pools: dict[int, _ClientPool] = {}

    @property
    def base_url(self) -> str:
        """Where this model's requests go: its own base URL, else the SDK's (`ANTHROPIC_BASE_URL`,
        else the API's)."""
        given = self._client_args.get("base_url")
        if self._client is not None:
            return str(self._client.base_url)
        return str(given or os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com")

    def missing_credentials(self) -> bool:
        """Whether nothing could sign this model's requests: no client or key given, and none of
        the SDK's variables (`ANTHROPIC_API_KEY`, `ANTHROPIC_AUTH_TOKEN`) set."""
        if self._client is not None or "api_key" in self._client_args:
            return False
        return not any(os.environ.get(v) for v in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"))

    def __repr__(self) -> str:
        # Never show credentials: only the model id.
        return f"AnthropicModel({self.name!r})"

    @property
    def description(self) -> str:
        return f"Anthropic API, model {self.name}"

    def client(self) -> anthropic.AsyncAnthropic:
        """The SDK client for the running task, from the running event loop's pool (see
        `_ClientPool`); every client shares the process's TLS context."""
        if self._client is not None:
            return self._client
        loop = id(asyncio.get_running_loop())
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _ClientPool(self._new_client, self._pool_size)
        return pool.client_for(asyncio.current_task())

    def _new_client(self) -> anthropic.AsyncAnthropic:
        http = anthropic.DefaultAsyncHttpxClient(verify=_tls_context())
        return anthropic.AsyncAnthropic(**self._client_args, http_client=http)

    async def aclose(self) -> None:
        """Close the running loop's clients (a client passed in by the caller is left open)."""
        pool = self._pools.pop(id(asyncio.get_running_loop()), None)
        for client in pool.clients if pool is not None else ():
            await client.close()

    async def count_tokens(self, text: str) -> int:
        """Input tokens of one user message holding `text`, counted by the API (`count_tokens`)."""
        try:
            counted = await self.client().messages.count_tokens(
                model=self.name, messages=[{"role": "user", "content": text}]
            )
        except anthropic.APIError as exc:
            raise ModelError(f"count_tokens failed: {exc}") from exc
        return int(counted.input_tokens)

    async def count_request_tokens(self, request: Request) -> int:
        """Input tokens of `request` (system, tools, messages), counted by the API (`count_tokens`):
        a forecast's first request, measured exactly before anything runs."""
        payload = self._payload(request)
        payload.pop("max_tokens", None)
        try:
            counted = await self.client().messages.count_tokens(**payload)
        except anthropic.APIError as exc:
            raise ModelError(f"count_tokens failed: {exc}") from exc
        return int(counted.input_tokens)

    def _payload(self, request: Request) -> dict[str, Any]:
        """The arguments of `messages.create` for `request`."""
        kwargs: dict[str, Any] = {
            "model": self.name,
            "max_tokens": request.max_tokens or self.max_tokens,
            "messages": [m.to_api() for m in request.messages],
        }
        if request.system:
            system: Any = request.system
            if request.cache_system:
                system = [{"type": "text", "text": request.system, "cache_control": EPHEMERAL}]
            kwargs["system"] = system
        if request.cache_turns and kwargs["messages"]:
            _mark_last_turn(kwargs["messages"], used=int(request.cache_system and bool(request.system)))
        if request.tools:
            kwargs["tools"] = [t.to_api() for t in request.tools]
        return kwargs

    async def respond(self, request: Request) -> Response:
        kwargs = self._payload(request)
        events: Any = None
        try:
            if self.stream is True or (
                self.stream == "auto" and _may_take_long(self.name, kwargs["max_tokens"])
            ):
                events = await self.client().messages.create(**kwargs, stream=True)
                signal_response_began()  # the headers are in: the response has begun
                assembly = Assembly()
                async with events:
                    async for event in events:
                        assembly.add(event)
                headers = events.response.headers
                return assembly.response(headers.get("request-id"), _rate_limit_headers(headers))
            # The body as JSON we encode (the SDK's way for raw requests): its own preparation of
            # `messages.create`'s arguments copies the whole conversation on every call.
            client = self.client()
            body = json.dumps(kwargs, separators=(",", ":")).encode()
            options: Any = {"timeout": client.timeout}
            raw = await client.post("/v1/messages", cast_to=httpx2.Response, content=body, options=options)
            signal_response_began()
            try:
                data: Any = raw.json()
            except ValueError as exc:  # a proxy's page, say
                raise ModelError(f"the API's answer is not JSON: {raw.text[:200]!r}") from exc
        except anthropic.APIStatusError as exc:
            raise _status_error(exc) from exc
        except anthropic.APIConnectionError as exc:
            raise TransientModelError(_connection_error(exc)) from exc
        except httpx2.TransportError as exc:
            # A stream cut mid-message surfaces as the HTTP layer's error, not the SDK's.
            got = events.response.num_bytes_downloaded if events is not None else 0
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise TransientModelError(f"stream cut after {got:,} bytes ({detail})") from exc
        try:
            headers = raw.headers
            return Response.from_api(
                data, request_id=headers.get("request-id"), rate_limits=_rate_limit_headers(headers)
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ModelError(f"the API's answer is not a message: {str(data)[:200]!r}") from exc


# The SDK refuses a non-streaming request it expects to take over 10 minutes: at its estimate of
# an hour per 128,000 output tokens, more than 21,333 of them, or more than a model's own limit.
_NONSTREAMING_MAX_TOKENS = 600 * 128_000 // 3600
_MODEL_NONSTREAMING_TOKENS: dict[str, int] = getattr(anthropic_constants, "MODEL_NONSTREAMING_TOKENS", {})


MAX_BREAKPOINTS = 4
"""The most `cache_control` markers one request may carry (the API refuses more)."""


def _mark_last_turn(messages: list[dict[str, Any]], used: int) -> None:
    """Put a breakpoint on the last block of the last message, unless it has one or the
    request's `MAX_BREAKPOINTS` are taken (`used` by the system prompt, the rest by messages)."""
    blocks = messages[-1]["content"]
    taken = used + sum(1 for m in messages for b in m["content"] if "cache_control" in b)
    if (
        blocks
        and "cache_control" not in blocks[-1]
        and blocks[-1]["type"] != "thinking"
        and taken < MAX_BREAKPOINTS
    ):
        blocks[-1] = {**blocks[-1], "cache_control": EPHEMERAL}


def _may_take_long(model: str, max_tokens: int) -> bool:
    """Whether an answer of `max_tokens` from `model` must be streamed (see above)."""
    limit = _MODEL_NONSTREAMING_TOKENS.get(model)
    return max_tokens > _NONSTREAMING_MAX_TOKENS or (limit is not None and max_tokens > limit)


class _ClientPool:
    """The SDK clients of one event loop, each serving a fixed set of agents.

    A task (an agent) keeps the client it first got, and a client takes at most
    `AGENTS_PER_CLIENT` live tasks before the next is made (up to `size`; past it, the least
    loaded client is shared).  An agent has one call in flight at a time, so a client's
    connection pool stays as small as its agents and each connection is reused by the same few
    agents: spreading calls round-robin instead makes every pool grow towards the whole load.
    """

    def __init__(self, make: Callable[[], anthropic.AsyncAnthropic], size: int) -> None:
        self._make = make
        self._size = size
        self.clients: list[anthropic.AsyncAnthropic] = []
        self._load: list[int] = []  # live tasks per client
        self._of_task: weakref.WeakKeyDictionary[asyncio.Task[Any], int] = weakref.WeakKeyDictionary()

    def client_for(self, task: asyncio.Task[Any] | None) -> anthropic.AsyncAnthropic:
        index = self._of_task.get(task) if task is not None else None
        if index is None:
            index = min(range(len(self._load)), key=self._load.__getitem__, default=-1)
            if index < 0 or (self._load[index] >= AGENTS_PER_CLIENT and len(self.clients) < self._size):
                self.clients.append(self._make())
                self._load.append(0)
                index = len(self.clients) - 1
            if task is not None:
                self._of_task[task] = index
                self._load[index] += 1
                task.add_done_callback(functools.partial(self._release, index))
        return self.clients[index]

    def _release(self, index: int, task: asyncio.Task[Any]) -> None:
        self._load[index] -= 1


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The TLS context every client shares: building one reads the CA bundle (about 20 ms)."""
    return httpx2.create_ssl_context()


def _rate_limit_headers(headers: httpx2.Headers) -> dict[str, str]:
    prefix = "anthropic-ratelimit-"
    return {k.removeprefix(prefix): v for k, v in headers.items() if k.lower().startswith(prefix)}


# The API's error types as a person names them.
_KINDS = {"overloaded_error": "overloaded", "rate_limit_error": "rate limited", "api_error": "API error",
          "authentication_error": "authentication failed", "permission_error": "permission denied",
          "invalid_request_error": "invalid request", "not_found_error": "not found",
          "request_too_large": "request too large"}  # fmt: skip


def _status_error(exc: anthropic.APIStatusError) -> ModelError:
    status = exc.status_code
    kind = exc.type or type(exc).__name__
    named = f"{_KINDS.get(kind, kind)} ({kind})"
    # A stream's `error` event carries the stream's HTTP status (200): say where it came from.
    where = "in-stream error event" if status == 200 else f"HTTP {status}"
    message = f"{named}, {where}: {exc.api_message or exc}"
    # An in-stream `error` event arrives as a plain APIStatusError carrying the HTTP status of the
    # stream (200), so the error type decides, not only the status.
    if status in _RETRYABLE_STATUS or kind in ("overloaded_error", "rate_limit_error", "api_error"):
        limits = _rate_limit_headers(exc.response.headers) if exc.response is not None else {}
        if limits and exc.response is not None and "date" in exc.response.headers:
            limits["date"] = exc.response.headers["date"]
        return TransientModelError(message, status=status, request_id=exc.request_id,
                                   retry_after=_retry_after(exc.response), rate_limits=limits)  # fmt: skip
    return ModelError(message, status=status, request_id=exc.request_id)


# h11's words (through httpx) for a body that ended before its content-length.
_BODY_CUT = re.compile(r"received (\d+) bytes, expected (\d+)")


def _connection_error(exc: anthropic.APIConnectionError) -> str:
    """What went wrong with the connection, from the error under the SDK's `Connection error.`"""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, httpx2.TransportError | OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, anthropic.APITimeoutError | httpx2.TimeoutException):
        return f"request timed out ({type(cause).__name__})"
    if isinstance(cause, httpx2.ConnectError):
        return f"could not connect ({cause or type(cause).__name__})"
    cut = _BODY_CUT.search(str(cause)) if isinstance(cause, httpx2.RemoteProtocolError) else None
    if cut is not None:  # the answer had begun: a cut body, not a refused connection
        return f"response cut after {int(cut[1]):,} of {int(cut[2]):,} bytes"
    if cause is not None:
        return f"connection reset ({type(cause).__name__}{f': {cause}' if str(cause) else ''})"
    return f"connection failed ({exc})"


def _retry_after(response: httpx2.Response | None) -> float | None:
    if response is None:
        return None
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            seconds = float(headers["retry-after-ms"]) / 1000
        elif "retry-after" in headers:
            seconds = float(headers["retry-after"])
        else:
            return None
    except ValueError:
        return None  # an HTTP date: rare from this API; the backoff decides instead
    return seconds if math.isfinite(seconds) and seconds >= 0 else None  # nonsense is no advice
