"""The fake Message Batches API: create, retrieve, results (JSONL) and cancel.

`POST /v1/messages/batches` takes `{"requests": [{"custom_id", "params"}, ...]}`; the batch is
`in_progress` for the server's `batch_delay` seconds, then every item is answered by the same
handler as `POST /v1/messages` (so `ScriptedHandler`, `faults` and `CachingHandler` work): each
item is recorded as a `POST /v1/messages` request whose `query` is `batch=<id>&custom_id=<id>`,
and its reply becomes a `succeeded` result (usage `service_tier: "batch"`) or an `errored` one
(an `ErrorReply` or `StreamError` with its error type; a reset or cut connection as `api_error`).
`POST .../{id}/cancel` cancels the items not yet answered (the batch ends at once, as `canceling`
in the cancel's own answer); `GET .../{id}/results` is one JSON object a line, as the API's.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from agentbook.testing.fakeapi import wire
from agentbook.testing.fakeapi.replies import ErrorReply, MessageReply, Reply, StreamError
from agentbook.testing.fakeapi.request import MESSAGES_PATH, FakeRequest

if TYPE_CHECKING:
    from agentbook.testing.fakeapi.server import FakeAnthropic

__all__ = ["BATCHES_PATH", "BatchAnswer", "FakeBatches"]

BATCHES_PATH: Final = "/v1/messages/batches"
_KINDS: Final = ("succeeded", "errored", "canceled", "expired")


@dataclass(frozen=True)
class BatchAnswer:
    """What to send: a status and a JSON object, JSONL bytes, or an error."""

    status: int = 200
    json: dict[str, Any] | None = None
    jsonl: bytes | None = None
    error: ErrorReply | None = None


@dataclass
class _Batch:
    id: str
    requests: list[dict[str, Any]]
    created: float
    created_at: datetime
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    ended_at: datetime | None = None
    cancel_initiated_at: datetime | None = None


class FakeBatches:
    """The batches of one `FakeAnthropic` (thread-safe; the connection threads call `answer`)."""

    def __init__(self, fake: FakeAnthropic) -> None:
        self.fake = fake
        self._lock = threading.Lock()
        self._batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)

    def answer(self, request: FakeRequest) -> BatchAnswer:
        parts = request.path.removeprefix(BATCHES_PATH).strip("/").split("/")
        if request.method == "POST" and parts == [""]:
            return self._create(request.json)
        batch = self._batches.get(parts[0])
        if batch is None:
            return BatchAnswer(error=ErrorReply(404, message=f"no batch {parts[0]!r}"))
        if request.method == "GET" and len(parts) == 1:
            return BatchAnswer(json=self._view(self._advance(batch)))
        if request.method == "GET" and parts[1:] == ["results"]:
            self._advance(batch)
            if batch.ended_at is None:
                return BatchAnswer(error=ErrorReply(400, message=f"batch {batch.id} is still in progress"))
            lines = [
                {"custom_id": r["custom_id"], "result": batch.results[r["custom_id"]]} for r in batch.requests
            ]
            return BatchAnswer(jsonl=b"".join(json.dumps(line).encode() + b"\n" for line in lines))
        if request.method == "POST" and parts[1:] == ["cancel"]:
            return BatchAnswer(json=self._cancel(batch))
        return BatchAnswer(error=ErrorReply(404, message=f"Not found: {request.method} {request.path}"))

    def _create(self, body: dict[str, Any]) -> BatchAnswer:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return BatchAnswer(error=ErrorReply(400, message="requests: a non-empty list is required"))
        seen: set[str] = set()
        for item in requests:
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            params = item.get("params") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or custom_id in seen or not isinstance(params, dict):
                return BatchAnswer(
                    error=ErrorReply(400, message=f"requests: bad or repeated item {item!r:.100}")
                )
            if problem := wire.invalid(MESSAGES_PATH, params):
                return BatchAnswer(error=ErrorReply(400, message=f"requests[{custom_id}].params.{problem}"))
            seen.add(custom_id)
        with self._lock:
            batch = _Batch(
                f"msgbatch_fake{next(self._ids):06d}", requests, time.monotonic(), datetime.now(UTC)
            )
            self._batches[batch.id] = batch
        return BatchAnswer(json=self._view(batch))

    def _advance(self, batch: _Batch) -> _Batch:
        """Answer every item once the processing delay has passed."""
        with self._lock:
            if batch.ended_at is None and time.monotonic() - batch.created >= self.fake.batch_delay:
                for item in batch.requests:
                    if item["custom_id"] not in batch.results:
                        batch.results[item["custom_id"]] = self._result(batch, item)
                batch.ended_at = datetime.now(UTC)
        return batch

    def _result(self, batch: _Batch, item: dict[str, Any]) -> dict[str, Any]:
        params, custom_id = item["params"], item["custom_id"]
        raw = json.dumps(params).encode()
        query = f"batch={batch.id}&custom_id={custom_id}"
        request = self.fake._record("POST", MESSAGES_PATH, query, {}, params, raw)
        reply: Reply = self.fake._decide(request)
        if isinstance(reply, MessageReply):
            message = wire.render(request, reply).message
            message["usage"]["service_tier"] = "batch"
            return {"type": "succeeded", "message": message}
        if isinstance(reply, ErrorReply):
            error = reply
        elif isinstance(reply, StreamError):
            error = ErrorReply(
                wire.STATUS_FOR_TYPE.get(reply.error_type, 500), reply.error_type, reply.message
            )
        else:  # a reset or a cut stream: the batch's own attempt failed
            error = ErrorReply(500, "api_error", f"the fake reply was {type(reply).__name__}")
        return {"type": "errored", "error": wire.error_body(error, wire.new_id("req"))}

    def _cancel(self, batch: _Batch) -> dict[str, Any]:
        with self._lock:
            if batch.ended_at is None:
                for item in batch.requests:
                    batch.results.setdefault(item["custom_id"], {"type": "canceled"})
                batch.cancel_initiated_at = batch.ended_at = datetime.now(UTC)
                return {**self._view(batch), "processing_status": "canceling", "results_url": None}
        return self._view(batch)

    def _view(self, batch: _Batch) -> dict[str, Any]:
        counts = {kind: 0 for kind in ("processing", *_KINDS)}
        counts["processing"] = len(batch.requests) - len(batch.results)
        for result in batch.results.values():
            counts[result["type"]] += 1
        ended = batch.ended_at is not None

        def iso(at: datetime | None) -> str | None:
            return at.isoformat().replace("+00:00", "Z") if at is not None else None

        return {
            "id": batch.id, "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": iso(batch.created_at), "expires_at": iso(batch.created_at + timedelta(hours=24)),
            "ended_at": iso(batch.ended_at), "cancel_initiated_at": iso(batch.cancel_initiated_at),
            "archived_at": None,
            "results_url": f"{self.fake.base_url}{BATCHES_PATH}/{batch.id}/results" if ended else None,
        }  # fmt: skip
