"""The run's concurrency cap (`concurrency=`): one slot per working agent, given back while it
waits idle.

A top-level agent and a background sub-agent each take a slot of their own (`hold`).  A blocking
sub-agent works in its parent's slot, lent to it while the parent waits for it (`lend`): they
and their blocking descendants are one *chain*, which keeps the slot while any of its agents
works.  An agent waiting with nothing to do (for its background children's notifications, or
blocked in `TaskOutput`) is `idle`; when every agent of a chain is, the slot is free for others
(under a cap of one, its children could never run otherwise) and taken back, waiting its turn,
when one works again.  An agent cancelled while idle does not wait for a slot to end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["Slots"]


class Slots:
    """At most `limit` chains at work (`None`: no limit).  Used on one event loop only."""

    def __init__(self, limit: int | None) -> None:
        self._free = asyncio.Semaphore(limit) if limit else None
        self._chain: dict[str, str] = {}  # agent -> the agent whose slot its chain uses
        self._working: dict[str, int] = {}  # chain -> its agents not idle
        self._idle: dict[str, int] = {}  # agent -> how many idle waits it is in (tool calls run at once)
        self._held: set[str] = set()  # chains that have their slot now

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        """Agent `name`'s own slot, from its start to its end."""
        if self._free is None:
            yield
            return
        await self._free.acquire()
        self._held.add(name)
        self._chain[name], self._working[name], self._idle[name] = name, 1, 0
        try:
            yield
        finally:
            self._chain.pop(name, None)
            self._working.pop(name, None)
            self._idle.pop(name, None)
            self._give_back(name)

    @contextlib.asynccontextmanager
    async def lend(self, parent: str, child: str) -> AsyncIterator[None]:
        """`child`, a blocking sub-agent, works in `parent`'s slot while `parent` waits for it."""
        chain = self._chain.get(parent)
        if chain is None:
            yield
            return
        self._chain[child], self._idle[child] = chain, 0
        await self._work(chain)
        try:
            async with self.idle(parent):
                yield
        finally:
            self._chain.pop(child, None)
            self._idle.pop(child, None)
            self._rest(chain)

    @contextlib.asynccontextmanager
    async def idle(self, name: str) -> AsyncIterator[None]:
        """Agent `name` waits with nothing to do (see the module docstring)."""
        chain = self._chain.get(name)
        if chain is None:
            yield
            return
        self._idle[name] += 1
        if self._idle[name] == 1:
            self._rest(chain)
        try:
            yield
        except BaseException:
            self._idle[name] -= 1
            if self._idle[name] == 0:  # counted again, but no waiting for a slot to end
                self._working[chain] = self._working.get(chain, 0) + 1
            raise
        self._idle[name] -= 1
        if self._idle[name] == 0:
            await self._work(chain)

    async def _work(self, chain: str) -> None:
        self._working[chain] = self._working.get(chain, 0) + 1
        if chain not in self._held and self._free is not None:
            try:
                await self._free.acquire()
            except BaseException:
                self._working[chain] = self._working.get(chain, 1) - 1
                raise
            self._held.add(chain)

    def _rest(self, chain: str) -> None:
        self._working[chain] = self._working.get(chain, 1) - 1
        if self._working[chain] <= 0:
            self._give_back(chain)

    def _give_back(self, chain: str) -> None:
        if chain in self._held and self._free is not None:
            self._held.discard(chain)
            self._free.release()
