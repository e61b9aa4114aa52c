"""The HTTP side of the fake API: the threading server, and one handler per TCP connection.

`FakeAnthropic` (`server.py`) owns a `FakeHTTPServer` and is what the connection handlers ask: it
records each request and decides its reply.  A `ConnectionHandler` reads the request, checks it
as the API would, and plays the reply byte by byte, faults included (a reset, a cut stream), in
the formats of `wire.py`.  Streams use chunked transfer encoding, so a cut connection is visible
to the client as a truncated body rather than a normal end of stream.
"""

from __future__ import annotations

import contextlib
import http
import http.server
import io
import json
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from agentbook.testing.fakeapi import wire
from agentbook.testing.fakeapi.batches import BATCHES_PATH
from agentbook.testing.fakeapi.replies import (
    CUT_TEXT,
    ConnectionReset,
    ErrorReply,
    MessageReply,
    Reply,
    StreamCut,
    estimate_input_tokens,
)
from agentbook.testing.fakeapi.request import COUNT_TOKENS_PATH, MESSAGES_PATH, FakeRequest

if TYPE_CHECKING:
    from email.message import Message

    from agentbook.testing.fakeapi.server import FakeAnthropic

__all__ = ["ConnectionHandler", "FakeHTTPServer", "read_body"]


class FakeHTTPServer(http.server.ThreadingHTTPServer):
    """The listening socket and its connection threads, kept track of so `stop()` ends them all."""

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
        super().__init__(address, ConnectionHandler)

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
        """Wait for the connection threads, `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        with self._conn_lock:
            threads = list(self._workers)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class ConnectionHandler(http.server.BaseHTTPRequestHandler):
    """One TCP connection: its requests read, recorded and answered in turn (keep-alive)."""

    # HTTP/1.1 gives keep-alive: every response must then say how long it is (Content-Length,
    # or chunked transfer encoding for streams).
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic/1.0"
    sys_version = ""

    @property
    def fake(self) -> FakeAnthropic:
        return cast(FakeHTTPServer, self.server).fake

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
        raw = read_body(self.headers, self.rfile)
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
        elif path == BATCHES_PATH or path.startswith(BATCHES_PATH + "/"):
            self._answer_batch(request)
        elif method != "POST" or path not in (MESSAGES_PATH, COUNT_TOKENS_PATH):
            self._send_error(ErrorReply(404, message=f"Not found: {method} {path}"), request)
        elif body is None:
            self._send_error(ErrorReply(400, message="The request body is not a JSON object"), request)
        elif problem := wire.invalid(path, body):
            self._send_error(ErrorReply(400, message=problem), request)
        elif path == COUNT_TOKENS_PATH:
            self._send_json(
                200, {"input_tokens": estimate_input_tokens(body)}, {"request-id": wire.new_id("req")}
            )
        else:
            self._play(request, fake._decide(request))

    # -- replies

    def _answer_batch(self, request: FakeRequest) -> None:
        answer = self.fake.batches.answer(request)
        headers = {"request-id": wire.new_id("req")}
        if answer.error is not None:
            self._send_error(answer.error, request)
        elif answer.jsonl is not None:
            self._send_head(answer.status, "application/binary", len(answer.jsonl), headers)
            self.wfile.write(answer.jsonl)
        else:
            self._send_json(answer.status, answer.json or {}, headers)

    def _play(self, request: FakeRequest, reply: Reply) -> None:
        if reply.delay > 0 and self.fake._stopping.wait(reply.delay):
            self._abort()
            return
        if isinstance(reply, MessageReply):
            rendered = wire.render(request, reply)
            if request.stream:
                events = wire.stream_events(rendered)
                self._send_stream(request, rendered, events, end=True, chunk_delay=reply.chunk_delay)
            else:
                self._send_json(200, rendered.message, self._headers_for(request, rendered.output_tokens))
        elif isinstance(reply, ErrorReply):
            self._send_error(reply, request)
        elif isinstance(reply, ConnectionReset):
            self._reset()
        elif isinstance(reply, StreamCut):
            rendered = wire.render(request, reply.message or MessageReply(CUT_TEXT))
            if request.stream:
                events = wire.prefix(wire.stream_events(rendered), reply.after_deltas)
                self._send_stream(request, rendered, events, end=reply.clean)
            else:
                payload = json.dumps(rendered.message).encode()
                self._send_head(200, "application/json", len(payload), self._headers_for(request, 0))
                self.wfile.write(payload[: len(payload) // 2])
                self._abort()
        else:
            if request.stream:
                rendered = wire.render(request, reply.message_reply or MessageReply(CUT_TEXT))
                events = wire.prefix(wire.stream_events(rendered), reply.after_deltas)
                error = {"type": "error", "error": {"type": reply.error_type, "message": reply.message}}
                events.append(("error", error))
                self._send_stream(request, rendered, events, end=True)
            else:
                status = wire.STATUS_FOR_TYPE.get(reply.error_type, 500)
                self._send_error(ErrorReply(status, reply.error_type, reply.message), request)

    def _headers_for(self, request: FakeRequest, output_tokens: int) -> dict[str, str]:
        headers = {"request-id": wire.new_id("req")}
        if self.fake.rate_headers:
            headers.update(
                self.fake._rate.charge(
                    requests=1, input_tokens=estimate_input_tokens(request.json), output_tokens=output_tokens
                )
            )
        return headers

    def _send_error(self, reply: ErrorReply, request: FakeRequest | None, *, close: bool = False) -> None:
        request_id = wire.new_id("req")
        body = wire.error_body(reply, request_id)
        headers = self._headers_for(request, 0) if request is not None else {}
        headers["request-id"] = request_id
        if reply.retry_after is not None:
            headers["retry-after"] = wire.retry_after_header(reply.retry_after)
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
        rendered: wire.Rendered,
        events: list[wire.SSEEvent],
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
            chunk = wire.sse(name, data)
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


def read_body(headers: Message, rfile: io.BufferedIOBase) -> bytes | None:
    """The request body, or None when its framing is broken."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        parts: list[bytes] = []
        while True:
            line = rfile.readline(65537)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(rfile.read(size))
            rfile.readline(3)
    try:
        length = int(headers.get("Content-Length", "0"))
    except ValueError:
        return None
    if length < 0:
        return None
    data = rfile.read(length) if length else b""
    return data if len(data) == length else None
