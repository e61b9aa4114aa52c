"""A worker's events, back to the notebook: batched, in order, and known to have arrived.

The worker's run calls `Forwarder.add` for every event of the share's agents (on agentbook's
background thread); `pump` (on the Dask worker's loop) sends what has gathered every `BATCH_S`,
with the transcript lines the agents' writers wrote meanwhile (the notebook appends them as they
are), through the scheduler's `log_event` call, one batch in flight at a time, so batches arrive in
order and each call's answer says the scheduler has it (it forwards it to the notebook, and keeps
it in its event log, where the notebook finds it again after losing a worker).

`safe()` waits until every event so far has arrived: a tool call with side effects waits there
after its "tool started" line, so a worker lost while it runs leaves that line in the notebook's
transcript, and the resumed agent is told the call was interrupted instead of running it again.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from agentbook.events import AgentEvent
from agentbook.redact import secret_values
from agentbook.scheduler.cluster.bridge import loop_of
from agentbook.scheduler.cluster.orders import Item, new_record_fields, pack, placement
from agentbook.scheduler.records import AgentRecord

__all__ = ["BATCH_S", "Forwarder"]

BATCH_S = 0.05
"""How long events gather before a batch goes: a board redraws at about this rate anyway."""


class Forwarder:
    """One share's events to the notebook's topic; see the module docstring."""

    def __init__(self, worker: Any, topic: str, share: str) -> None:
        self.worker, self.topic, self.share = worker, topic, share
        self._loop = loop_of(worker)
        self._lock = threading.Lock()
        self._items: list[Item] = []
        self._seq = self._acked = 0
        self._known: dict[str, dict[str, Any]] = {}  # agent -> placement last sent
        self._files: dict[str, Path] = {}  # agent -> this worker's transcript of it
        self._read: dict[str, int] = {}  # agent -> how much of it has been sent
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()  # made on the worker's loop, where `pump` waits on it
        self._closing = False
        self._waking = False  # a wake-up of `pump` is on its way

    def add(self, record: AgentRecord, event: AgentEvent) -> None:
        """Queue `event` of `record`'s agent (from any thread)."""
        now = placement(record)
        with self._lock:
            self._files.setdefault(record.name, record.transcript)
            known = self._known.get(record.name)
            fields = new_record_fields(record) if known is None else (now if now != known else None)
            self._known[record.name] = now
            self._seq += 1
            self._items.append(Item(self._seq, record.name, event, fields))
            wake, self._waking = not self._waking, True
        if wake:  # once a batch: waking the worker's loop from another thread costs a syscall
            self._loop.call_soon_threadsafe(self._wake.set)

    def finish(self, record: AgentRecord, branch: bytes | None) -> None:
        """The last item of `record`'s agent: where it left its work (its commit, and its branch
        as a bundle when the notebook does not share this worker's files)."""
        fields = placement(record) | ({"bundle": branch} if branch is not None else {})
        with self._lock:
            self._seq += 1
            self._items.append(Item(self._seq, record.name, None, fields, final=True))
        self._loop.call_soon_threadsafe(self._wake.set)

    async def safe(self) -> None:
        """Return once every event queued so far has reached the scheduler (on any loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._acked >= self._seq:
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((self._seq, loop, future))
        self._loop.call_soon_threadsafe(self._wake.set)
        await future

    async def pump(self) -> None:
        """Send batches until `close`, then what is left (on the worker's loop)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._closing:
                await asyncio.sleep(BATCH_S)
            with self._lock:
                items, self._items = self._items, []
                closing, self._waking = self._closing, False
            if items:
                lines = self._lines({i.agent for i in items})
                batch = pack(self.share, items, lines, secret_values())
                await self.worker.scheduler.log_event(topic=self.topic, msg=batch)
                self._arrived(items[-1].seq)
            if closing and not self._items:
                return

    def _lines(self, agents: set[str]) -> dict[str, str]:
        """The whole lines `agents`' transcripts gained since the last batch (each line is
        written, and flushed, before its event comes here)."""
        found = {}
        for agent in agents:
            path = self._files.get(agent)
            if path is None:
                continue
            try:
                with path.open("rb") as file:
                    file.seek(self._read.get(agent, 0))
                    data = file.read()
            except OSError:
                continue
            whole = data[: data.rfind(b"\n") + 1]
            if whole:
                self._read[agent] = self._read.get(agent, 0) + len(whole)
                found[agent] = whole.decode("utf-8")
        return found

    def close(self) -> None:
        """No more events: `pump` sends the rest and returns."""
        with self._lock:
            self._closing = True
        self._loop.call_soon_threadsafe(self._wake.set)

    def _arrived(self, seq: int) -> None:
        with self._lock:
            self._acked = seq
            done = [w for w in self._waiters if w[0] <= seq]
            self._waiters = [w for w in self._waiters if w[0] > seq]
        for _, loop, future in done:
            loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
