"""The run's concurrency cap (`concurrency=`): one slot per working agent, given back while it
waits idle.

A top-level agent and a background sub-agent each hold a slot while they work; a blocking
sub-agent works in its parent's (the parent is waiting for it).  A coordinator waiting for its
background children's notifications, or blocked in `TaskOutput`, holds none: under a cap of one,
its children could never run otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["Slots"]


class Slots:
    """At most `limit` agents at work (`None`: no limit).  Used on one event loop only."""

    def __init__(self, limit: int | None) -> None:
        self._free = asyncio.Semaphore(limit) if limit else None
        self._held: set[str] = set()

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        """Agent `name`'s slot, from its start to its end."""
        if self._free is None:
            yield
            return
        await self._free.acquire()
        self._held.add(name)
        try:
            yield
        finally:
            if name in self._held:  # not when a cancel came while it waited to get it back
                self._held.discard(name)
                self._free.release()

    @contextlib.asynccontextmanager
    async def idle(self, name: str) -> AsyncIterator[None]:
        """Agent `name` waits with nothing to do: its slot is free meanwhile (if it holds one)."""
        if self._free is None or name not in self._held:
            yield
            return
        self._held.discard(name)
        self._free.release()
        try:
            yield
        finally:
            await self._free.acquire()  # a cancel here leaves it without: `hold` then frees nothing
            self._held.add(name)
