"""The gate's waiting line: strictly first come, first served, and only its head watches the clock.

Used by `agentbook.scheduler.ratelimit.gate`, whose lock guards every call here.  Each waiter
holds a future made on its own event loop; waking it from another thread (a `settle` called from
a worker, say) goes through that loop, since futures are not thread-safe.  No asyncio object
outlives one `acquire`, so a process-wide gate survives a notebook's loop being replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

from agentbook.scheduler.ratelimit.buckets import Amounts

__all__ = ["WaitQueue", "Waiter", "sleep_or_wake"]


class Waiter:
    """One queued `acquire`: its amounts, and the future that wakes it (while it waits)."""

    # Compared by identity (not a dataclass): two waiters with the same amounts are different.
    __slots__ = ("amounts", "wake")

    def __init__(self, amounts: Amounts) -> None:
        self.amounts = amounts
        self.wake: asyncio.Future[None] | None = None


class WaitQueue:
    """Waiters in arrival order."""

    def __init__(self) -> None:
        self._waiters: deque[Waiter] = deque()

    def __len__(self) -> int:
        return len(self._waiters)

    def append(self, waiter: Waiter) -> None:
        self._waiters.append(waiter)

    def is_head(self, waiter: Waiter) -> bool:
        return bool(self._waiters) and self._waiters[0] is waiter

    def pop_head(self) -> None:
        self._waiters.popleft()

    def discard(self, waiter: Waiter) -> None:
        """Take `waiter` out if it is still queued (cancelled, say); the next head then re-checks."""
        if waiter in self._waiters:
            was_head = self._waiters[0] is waiter
            self._waiters.remove(waiter)
            if was_head:
                self.wake_head()

    def wake_head(self) -> None:
        """Let the head re-check the buckets; nobody else can go before it."""
        if not self._waiters:
            return
        wake = self._waiters[0].wake
        if wake is None or wake.done():
            return
        loop = wake.get_loop()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set_result(None)
        else:  # called from another thread: futures are not thread-safe
            with contextlib.suppress(RuntimeError):  # a closed loop: its waiters are gone with it
                loop.call_soon_threadsafe(_set_if_pending, wake)


async def sleep_or_wake(
    sleep: Callable[[float], Awaitable[None]], delay: float, wake: asyncio.Future[None]
) -> None:
    """`sleep(delay)`, or less if `wake` is set first (a refund, new limits, the head left)."""
    sleeper = asyncio.ensure_future(sleep(delay))
    try:
        await asyncio.wait((sleeper, wake), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not sleeper.done():
            sleeper.cancel()
    if sleeper.done() and not sleeper.cancelled():
        sleeper.result()  # surface a failing injected sleep instead of spinning


def _set_if_pending(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
