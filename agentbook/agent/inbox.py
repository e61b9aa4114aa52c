"""An agent's inbox: notifications from the background sub-agents it started.

The turn loop reads it at two points (`agentbook.agent.loop`): before each request it adds what
has arrived to the conversation; and when the model gives its final answer while children still
run, it waits for the next notification instead of ending, and that notification starts its
next turn (as in Claude Code: a coordinator ends only when it ends a turn with no child running).
Whoever starts a child (`agentbook.scheduler.family`) says so with `expect` and posts its end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

__all__ = ["Inbox"]


class Inbox:
    """Notifications for one agent, and how many of its children have yet to send theirs.

    `idle()` is entered while the agent waits with nothing to do (the scheduler gives back the
    agent's concurrency slot there, so that its children can run under a cap of one).  Used on
    one event loop only.
    """

    def __init__(self, idle: Callable[[], AbstractAsyncContextManager[None]] | None = None) -> None:
        self._idle = idle or contextlib.nullcontext
        self._notes: list[str] = []
        self._expected = 0
        self._arrived = asyncio.Event()

    @property
    def running(self) -> int:
        """Children started whose notification has not arrived."""
        return self._expected

    def expect(self) -> None:
        """A child started: its notification will come."""
        self._expected += 1

    def post(self, text: str) -> None:
        """A child ended: `text` is its notification."""
        self._expected = max(0, self._expected - 1)
        self._notes.append(text)
        self._arrived.set()

    def take(self) -> list[str]:
        """What has arrived (and clear it)."""
        notes, self._notes = self._notes, []
        self._arrived.clear()
        return notes

    async def wait_all(self) -> list[str]:
        """Every notification still to come (waiting, idle, until no child runs)."""
        notes: list[str] = []
        while self._expected or self._notes:
            notes += await self.wait()
        return notes

    async def wait(self) -> list[str]:
        """At least one notification, waiting (idle) while children still run; `[]` at once when
        nothing has arrived and no child runs (nothing can come)."""
        if not self._notes and self._expected:
            async with self._idle():
                while not self._notes and self._expected:
                    await self._arrived.wait()
                    self._arrived.clear()
        return self.take()
