"""The one seam between the agent loop and any model: `Model.respond(Request) -> Response`.

Adapters translate their failures into the two errors below so that retry policy lives in one
place (`agentbook.retry`) and never needs to know which backend it is retrying.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from contextvars import ContextVar
from typing import Protocol, runtime_checkable

from agentbook.messages import Request, Response


@runtime_checkable
class Model(Protocol):
    """Anything that answers a `Request`.

    `name` is the model id recorded in transcripts and priced by `agentbook.costs`;
    `description` says in a few words what it is (shown to users, e.g. which backend runs).
    Whoever runs agents on an event loop calls `aclose()` before that loop ends.
    """

    name: str

    @property
    def description(self) -> str: ...

    async def respond(self, request: Request) -> Response: ...

    async def aclose(self) -> None:
        """Release what the model holds for the running event loop (HTTP connections)."""


class ModelError(Exception):
    """A model call failed for good (bad request, authentication, retries exhausted, ...)."""

    def __init__(self, message: str, *, status: int | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id


class TransientModelError(ModelError):
    """A model call failed in a way worth retrying (429, 529, 5xx, a dropped connection or stream).

    `retry_after` is the server's own advice in seconds, when it gave any.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id)
        self.retry_after = retry_after


response_began: ContextVar[Callable[[], None] | None] = ContextVar("agentbook_response_began", default=None)
"""Set (by a `before_request` hook) to be told when the response to this task's request has begun:
prompt-cache warming releases an agent's siblings then, because a cache entry is readable once the
response that wrote it has begun."""


def signal_response_began() -> None:
    """Adapters call this as soon as a response has begun (headers or first event received)."""
    callback = response_began.get()
    if callback is not None:
        callback()


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token), for models that cannot count."""
    return math.ceil(len(text) / 4)


def estimate_request_tokens(request: Request) -> int:
    """A rough count of a request's input tokens: system, messages and tool schemas."""
    body = json.dumps(
        [request.system, [m.to_api() for m in request.messages], [t.to_api() for t in request.tools]],
        separators=(",", ":"),
    )
    return estimate_tokens(body)
