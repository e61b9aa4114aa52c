"""The request as the fake API recorded it: what handlers are shown and tests inspect.

`FakeAnthropic` builds one `FakeRequest` per HTTP request it reads (`server.py`), keeps them in
`FakeAnthropic.requests`, and passes `/v1/messages` ones to its handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["COUNT_TOKENS_PATH", "MESSAGES_PATH", "FakeRequest"]

MESSAGES_PATH: Final = "/v1/messages"
COUNT_TOKENS_PATH: Final = "/v1/messages/count_tokens"


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
