"""`FakeAnthropic`: the server's lifecycle, its request log, and the handler that decides replies.

Tests start one per test (a context manager), point `anthropic.AsyncAnthropic(base_url=...)` at
it, and read `requests` afterwards.  The bytes on the wire are `connections.py`'s job; this
module holds what the connection threads share: the log, the handler, the rate-limit window.
"""

from __future__ import annotations

import itertools
import threading
import time
from types import TracebackType
from typing import Any, Self

from agentbook.testing.fakeapi.batches import BATCHES_PATH, FakeBatches
from agentbook.testing.fakeapi.connections import FakeHTTPServer
from agentbook.testing.fakeapi.handlers import default_handler
from agentbook.testing.fakeapi.ratelimits import RateWindow, ReportedRateLimits
from agentbook.testing.fakeapi.replies import REPLY_TYPES, ErrorReply, Handler, Reply
from agentbook.testing.fakeapi.request import MESSAGES_PATH, FakeRequest

__all__ = ["FakeAnthropic", "FakeServerError"]


class FakeServerError(AssertionError):
    """Raised when the server stops (context-manager exit) after a handler raised: a handler
    failure is a bug in the test, and the client only saw a 500 for it."""


class FakeAnthropic:
    """A fake Messages API server on 127.0.0.1; use as a context manager or `start()`/`stop()`.

    `handler` (default `default_handler`) decides the replies to `POST /v1/messages`; it is
    called from the server's connection threads, concurrently, and may be reassigned while the
    server runs.  `POST /v1/messages/count_tokens` answers `estimate_input_tokens` without
    consulting the handler.  With `api_key` set, requests whose key (`FakeRequest.api_key`)
    differs get a 401 `authentication_error`.  `rate_headers=False` leaves out the
    `anthropic-ratelimit-*` headers (`request_limit` then enforces a limit no header reveals).
    A handler that raises makes the request a 500 `api_error`; the exception is kept in
    `handler_errors` and re-raised as `FakeServerError` when the `with` block exits cleanly.
    The Message Batches endpoints (`agentbook.testing.fakeapi.batches`) answer each item through
    `handler` once a batch has been `batch_delay` seconds in progress (settable while it runs).
    A server is started at most once.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        rate_limits: ReportedRateLimits | None = None,
        rate_headers: bool = True,
        api_key: str | None = None,
        batch_delay: float = 0.0,
    ) -> None:
        self.handler: Handler = handler if handler is not None else default_handler
        self.batch_delay = batch_delay
        self.batches = FakeBatches(self)
        self.api_key = api_key
        self.rate_headers = rate_headers
        self._rate = RateWindow(rate_limits or ReportedRateLimits())
        self._lock = threading.Lock()
        self._requests: list[FakeRequest] = []
        self._connections = itertools.count()  # numbers the TCP connections as they are accepted
        self._handler_errors: list[BaseException] = []
        self._stopping = threading.Event()
        self._server: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._started = False
        self._port: int | None = None

    # -- lifecycle

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._started:
            raise RuntimeError("a FakeAnthropic server can only be started once")
        self._started = True
        self._server = FakeHTTPServer(("127.0.0.1", 0), self)
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
    def batch_requests(self) -> list[FakeRequest]:
        """The requests to the Message Batches endpoints received so far (not their items)."""
        return [r for r in self.requests if r.path.startswith(BATCHES_PATH)]

    @property
    def handler_errors(self) -> list[BaseException]:
        """Exceptions raised by the handler (a copy)."""
        with self._lock:
            return list(self._handler_errors)

    # -- used by the connection threads (`connections.ConnectionHandler`)

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
            if not isinstance(reply, REPLY_TYPES):
                raise TypeError(f"handler returned {reply!r}, which is not a Reply")
            return reply
        except Exception as err:
            with self._lock:
                self._handler_errors.append(err)
            return ErrorReply(500, "api_error", f"fake API handler raised {type(err).__name__}: {err}")
