"""A run's event bus: every agent event goes to the run's listeners and async iterators.

Events are published on the background thread, after the agent's record has been updated from
them, so a listener reads the record as the event left it.  A listener that raises is logged
and does not stop the agent; async iterators (`Run.events()`) receive events on their own loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable

from agentbook.events import AgentEnded, AgentEvent, Listener
from agentbook.scheduler.records import AgentRecord

__all__ = ["EventBus"]

log = logging.getLogger("agentbook")


class EventBus:
    """Listeners for every event, listeners for agents' ends, and queues of async readers."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._end_listeners: list[Callable[[AgentRecord], None]] = []
        self._queues: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[AgentEvent | None]]] = []
        self._lock = threading.Lock()

    def on_event(self, callback: Listener) -> None:
        self._listeners.append(callback)

    def on_end(self, callback: Callable[[AgentRecord], None]) -> None:
        self._end_listeners.append(callback)

    def publish(self, record: AgentRecord, event: AgentEvent) -> None:
        """Give `event` (of `record`'s agent) to every listener and reader."""
        for listener in self._listeners:
            self._call(listener, event, record)
        if isinstance(event, AgentEnded):
            for end_listener in self._end_listeners:
                self._call(end_listener, record, record)
        with self._lock:
            for loop, queue in self._queues:
                loop.call_soon_threadsafe(queue.put_nowait, event)

    def close(self) -> None:
        """Tell every reader that the run is done (a run resumed later opens again)."""
        with self._lock:
            for loop, queue in self._queues:
                loop.call_soon_threadsafe(queue.put_nowait, None)

    async def events(self, done: Callable[[], bool]) -> AsyncIterator[AgentEvent]:
        """Events from now until the run is done (`done()`), on the caller's loop."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[AgentEvent | None] = asyncio.Queue()
        entry = (loop, queue)
        with self._lock:
            self._queues.append(entry)
            if done():
                queue.put_nowait(None)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            with self._lock:
                self._queues.remove(entry)

    @staticmethod
    def _call(callback: Callable[..., None], argument: object, record: AgentRecord) -> None:
        try:
            callback(argument)
        except Exception:  # a subscriber's bug must not stop an agent
            log.exception("a callback failed on an event of %s", record.name)
