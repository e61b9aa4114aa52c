"""The one seam between the turn loop and any model: `Model.respond(Request) -> Response`.

Adapters translate their failures into the two errors below so that retry policy lives in one
place (`agentbook.models.retry`) and never needs to know which backend it is retrying.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Protocol, runtime_checkable

from agentbook.costs import ALIASES
from agentbook.messages import Message, Request, Response, ToolSchema

__all__ = [
    "CREDENTIALS_HINT",
    "MissingCredentials",
    "Model",
    "ModelError",
    "RequestEstimator",
    "TransientModelError",
    "check_credentials",
    "estimate_request_tokens",
    "estimate_tokens",
    "is_configured",
    "resolve_model_id",
    "signal_response_began",
]


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

    `retry_after` is the server's own advice in seconds, when it gave any; `rate_limits` the
    response's `anthropic-ratelimit-*` headers (prefix removed), when it had any, and its `date`
    (the server's clock, which their reset times are read against).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        rate_limits: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id)
        self.retry_after = retry_after
        self.rate_limits = dict(rate_limits or {})


response_began: ContextVar[Callable[[], None] | None] = ContextVar("agentbook_response_began", default=None)
"""Set (by a request hook's `before_request`) to be told when the response to this task's request
has begun: prompt-cache warming releases an agent's siblings then, because a cache entry is
readable once the response that wrote it has begun."""


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
    return estimate_tokens(_dumps([request.system, [m.to_api() for m in request.messages], _tools(request)]))


class RequestEstimator:
    """`estimate_request_tokens` for one agent's successive requests, at the cost of what is new.

    Each request of an agent repeats the previous one's messages (the same objects) and appends
    a few, so their sizes are kept instead of serialising the whole conversation every turn,
    which grows quadratically over a long agent.  Any other request is measured from scratch;
    the result is always exactly `estimate_request_tokens(request)`.
    """

    def __init__(self) -> None:
        self._messages: tuple[Message, ...] = ()
        self._message_chars = 0  # the JSON of `_messages`, comma-separated
        self._fixed: tuple[str, tuple[ToolSchema, ...], int] | None = None

    def __call__(self, request: Request) -> int:
        seen, messages = self._messages, request.messages
        if len(messages) < len(seen) or any(a is not b for a, b in zip(seen, messages, strict=False)):
            seen, self._message_chars = (), 0
        for message in messages[len(seen) :]:
            self._message_chars += len(_dumps(message.to_api())) + 1
        self._messages = messages
        fixed = self._fixed
        if fixed is None or fixed[0] is not request.system or fixed[1] is not request.tools:
            # `[system,[],[tools]]`: the messages' JSON goes between the inner brackets.
            fixed = self._fixed = (
                request.system,
                request.tools,
                len(_dumps([request.system, [], _tools(request)])),
            )
        return math.ceil((fixed[2] + max(self._message_chars - 1, 0)) / 4)


def _tools(request: Request) -> list[dict[str, object]]:
    return [t.to_api() for t in request.tools]


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def resolve_model_id(name: str) -> str:
    """The full model id for an alias (`opus`, `sonnet`, `haiku`); other names pass through."""
    return ALIASES.get(name.strip().lower(), name.strip())


class MissingCredentials(ValueError):
    """An online model asked for, and nothing to sign its requests with: raised before a run
    starts, naming what to set (or the offline model)."""


CREDENTIALS_HINT = (
    "set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN), or run offline: model='offline' "
    "(magics and the command line: --model offline)"
)


def check_credentials(model: Model) -> None:
    """`MissingCredentials` when `model` talks to the API and has no credentials (its own, or
    the SDK's variables); models that need none (offline, scripted, replay) pass."""
    missing = getattr(model, "missing_credentials", None)
    if missing is not None and missing():
        raise MissingCredentials(f"model {model.name!r} needs Claude credentials: {CREDENTIALS_HINT}")


def is_configured() -> bool:
    """Whether the environment names credentials or an endpoint for the SDK."""
    return any(os.environ.get(v) for v in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"))
