"""`BatchedModel`: an `AnthropicModel` whose requests go through the Message Batches API.

Part of the one SDK adapter (with `agentbook.models.anthropic`, whose `_payload` builds each
request's `params`, prompt-cache markers included, and whose error mapping it shares).  Requests
of many agents that arrive within `BatchLane.window_s` go into one batch (`_Collector`); the batch
is polled with `retrieve` and a growing wait until `processing_status` is `ended`, and its JSONL
results are handed to the waiting agents by `custom_id` (`_Batch`).  An `errored` item becomes
the error the standard path would raise (a transient one, say `overloaded_error`, is retried by
the caller's retry policy, in a new batch); `expired` is transient too, `canceled` final.  An
agent cancelled while its request waits drops its wait; when no agent waits on a batch any more,
the batch is cancelled (`batches.cancel`).  Answers carry `service_tier="batch"`, which prices
them at the batch rates.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic

from agentbook.messages import Request, Response
from agentbook.models.anthropic import AnthropicModel, _connection_error, _status_error
from agentbook.models.base import ModelError, TransientModelError, signal_response_began
from agentbook.models.lanes import BatchLane, BatchProgress, batch_billed, batch_progress

__all__ = ["BatchedModel"]

# What the API's error types are on the standard path: their HTTP status, and whether retried.
_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
           "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
           "rate_limit_error": 429, "api_error": 500, "timeout_error": 504,
           "overloaded_error": 529}  # fmt: skip
_TRANSIENT = {"rate_limit_error", "api_error", "timeout_error", "overloaded_error"}
_POLL_FAILURES = 5  # consecutive failed polls before the batch's requests fail (transiently)


class BatchedModel:
    """`model` on the batch lane: `respond` waits for the request's result in a batch."""

    def __init__(self, model: AnthropicModel, lane: BatchLane | None = None) -> None:
        self.base = model
        self.name = model.name
        self.lane = lane or BatchLane()
        self._collectors: dict[int, _Collector] = {}  # per event loop, as the SDK clients are

    def __repr__(self) -> str:
        return f"BatchedModel({self.name!r})"

    @property
    def description(self) -> str:
        return f"{self.base.description}, through the Message Batches API"

    async def respond(self, request: Request) -> Response:
        loop = id(asyncio.get_running_loop())
        collector = self._collectors.get(loop)
        if collector is None:
            collector = self._collectors[loop] = _Collector(self.base, self.lane)
        response = await collector.submit(self.base._payload(request), batch_progress.get())
        signal_response_began()  # in the agent's context: the entries it wrote are readable now
        return response

    async def aclose(self) -> None:
        collector = self._collectors.pop(id(asyncio.get_running_loop()), None)
        if collector is not None:
            await collector.aclose()
        await self.base.aclose()


@dataclass(eq=False)
class _Item:
    """One request in a batch, and the agent waiting for its answer."""

    custom_id: str
    params: dict[str, Any]
    future: asyncio.Future[Response]
    progress: BatchProgress | None
    billed: Callable[[Response], None] | None = None
    """Told of the answer if the batch still bills it after its agent stopped waiting."""


class _Collector:
    """Gathers the requests of one event loop into batches (see the module docstring)."""

    def __init__(self, model: AnthropicModel, lane: BatchLane) -> None:
        self.model, self.lane = model, lane
        self._ids = itertools.count(1)
        self._pending: list[_Item] = []
        self._timer: asyncio.TimerHandle | None = None
        self._batches: set[_Batch] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, params: dict[str, Any], progress: BatchProgress | None) -> Response:
        loop = asyncio.get_running_loop()
        item = _Item(f"req-{next(self._ids)}", params, loop.create_future(), progress, batch_billed.get())
        self._pending.append(item)
        if len(self._pending) >= self.lane.max_size:
            self._send()
        elif self._timer is None:
            self._timer = loop.call_later(self.lane.window_s, self._send)
        try:
            return await asyncio.shield(item.future)
        except asyncio.CancelledError:
            self._drop(item)
            raise

    def _send(self) -> None:
        """Send the pending requests as one batch (a task of its own, polled until it ends)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._pending = self._pending, []
        if not items:
            return
        batch = _Batch(self.model.client(), items, self.lane)
        self._batches.add(batch)
        task = asyncio.get_running_loop().create_task(batch.run(), name="agentbook-batch")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._batches.discard(batch))

    def _drop(self, item: _Item) -> None:
        """An agent stopped waiting for `item`: unsent, it is not sent; sent, its batch is
        cancelled once nobody waits on it."""
        if item in self._pending:
            self._pending.remove(item)
            if not self._pending and self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for batch in self._batches:
            batch.drop(item)

    async def aclose(self) -> None:
        """Stop collecting: pending requests are dropped, batches nobody waits on cancelled."""
        for item in list(self._pending):
            item.future.cancel()
            self._drop(item)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass(eq=False)
class _Batch:
    """One batch: created, polled until it has ended (or cancelled), its results handed out."""

    client: anthropic.AsyncAnthropic
    items: list[_Item]
    lane: BatchLane
    id: str | None = None
    waiting: dict[str, _Item] = field(default_factory=dict)
    dropped: dict[str, _Item] = field(default_factory=dict)
    abandoned: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.waiting = {item.custom_id: item for item in self.items}

    def drop(self, item: _Item) -> None:
        if self.waiting.pop(item.custom_id, None) is not None:
            self.dropped[item.custom_id] = item  # its answer may still be billed
            if not self.waiting:
                self.abandoned.set()

    async def run(self) -> None:
        try:
            await self._run()
        except (anthropic.APIStatusError, anthropic.APIConnectionError) as exc:
            self._fail(_status_error(exc) if isinstance(exc, anthropic.APIStatusError)
                       else TransientModelError(_connection_error(exc)))  # fmt: skip
        except asyncio.CancelledError:
            self._fail(ModelError(f"batch {self.id or '(not created)'}: stopped waiting for it"))
            raise
        except Exception as exc:  # never leave an agent waiting for ever
            self._fail(ModelError(f"batch {self.id or '(not created)'} failed: {type(exc).__name__}: {exc}"))
        self._fail(ModelError(f"batch {self.id} ended without a result for this request"))

    async def _run(self) -> None:
        requests = [{"custom_id": i.custom_id, "params": i.params} for i in self.items]
        batch = await self.client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        self.id = batch.id
        wait, failures = self.lane.poll_s, 0
        while batch.processing_status != "ended":
            self._report(_counts(batch))
            if not self.waiting:
                await self.client.messages.batches.cancel(batch.id)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.abandoned.wait(), wait)
            if not self.waiting:
                continue
            wait = min(wait * self.lane.poll_factor, self.lane.poll_max_s)
            try:
                batch = await self.client.messages.batches.retrieve(batch.id)
                failures = 0
            except (anthropic.APIConnectionError, anthropic.InternalServerError, anthropic.RateLimitError):
                failures += 1  # a poll that failed loses nothing: the batch goes on
                if failures >= _POLL_FAILURES:
                    raise
        self._report(_counts(batch))
        async for entry in await self.client.messages.batches.results(batch.id):
            result = entry.result
            item = self.waiting.pop(entry.custom_id, None)
            gone = self.dropped.pop(entry.custom_id, None)
            if gone is not None and gone.billed is not None and result.type == "succeeded":
                gone.billed(_response(result.message.to_dict()))  # answered for nobody, but paid for
            if item is None or item.future.done():
                continue
            if result.type == "succeeded":
                item.future.set_result(_response(result.message.to_dict()))
            else:
                item.future.set_exception(_result_error(batch.id, result))

    def _report(self, counts: Mapping[str, int]) -> None:
        for item in list(self.waiting.values()):
            if item.progress is not None:
                item.progress(self.id or "", counts)

    def _fail(self, error: ModelError) -> None:
        for item in self.waiting.values():
            if not item.future.done():
                item.future.set_exception(error)
        self.waiting.clear()


def _counts(batch: Any) -> dict[str, int]:
    """A batch's `request_counts`: processing, succeeded, errored, canceled, expired."""
    kinds = ("processing", "succeeded", "errored", "canceled", "expired")
    return {kind: int(getattr(batch.request_counts, kind, 0) or 0) for kind in kinds}


def _response(data: dict[str, Any]) -> Response:
    try:
        return Response.from_api(data, service_tier="batch")
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ModelError(f"the batch's answer is not a message: {str(data)[:200]!r}") from exc


def _result_error(batch_id: str, result: Any) -> ModelError:
    """The error the standard path would raise for an item that did not succeed."""
    if result.type == "errored":
        error = result.error.error
        kind = getattr(error, "type", "api_error")
        status = _STATUS.get(kind, 500)
        message = f"{kind} in batch {batch_id}: {getattr(error, 'message', '') or kind}"
        if kind in _TRANSIENT:
            return TransientModelError(message, status=status, request_id=result.error.request_id)
        return ModelError(message, status=status, request_id=result.error.request_id)
    if result.type == "expired":  # the batch ran out of time (24 h): worth another batch
        return TransientModelError(f"the request expired in batch {batch_id}")
    return ModelError(f"the request was canceled in batch {batch_id}")
