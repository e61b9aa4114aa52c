"""The board's throttled refresh: one task on the background thread flushes changes at most `max_rate`
times a second, and only when something changed.

Used by `agentbook.notebook.widgets.board`.  Agents emit events on the background thread,
thousands a second in a large run; the board only marks rows dirty and `kick`s the pump, which
wakes, keeps to the rate and asks the board for one flush round.  The elapsed times of agents
that started and have not ended (running, or waiting for a permission, when no event comes)
tick once a second (`due_ticks`).  The pump stops after the run is done and a final round, and
restarts on the next kick (a resume, a click).  A failure in a round is logged and stops the
board for good: a board bug must not go unseen, nor touch the agents.
"""

from __future__ import annotations

import asyncio
import logging
import math
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from agentbook.scheduler.records import ENDED, AgentRecord

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["TICK_S", "Pump", "Pumped"]

log = logging.getLogger("agentbook")

TICK_S = 1.0
"""How often running agents' elapsed times refresh when nothing else changes."""


class Pumped(Protocol):
    """What the pump drives (the board)."""

    def pump_round(self, run: Run) -> bool:
        """Flush what changed; `True` once the run is done and its final state is shown."""
        ...


class Pump:
    """Flush rounds of one board's run, on the background thread; see the module docstring.

    `last_flush` is the `clock()` time of the latest flush (the board sets it, the first paint
    included), from which the next one keeps `1 / max_rate` seconds.
    """

    def __init__(
        self, board: Pumped, run: weakref.ref[Run], *, max_rate: float, clock: Callable[[], float]
    ) -> None:
        self._board = board
        self._run = run
        self.max_rate = max_rate
        self._clock = clock
        self.closed = False
        self.last_flush = -math.inf
        self._last_tick = -math.inf
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the pump task is running."""
        return self._task is not None

    def kick(self) -> None:
        """Wake the pump, or start it (on the background thread only)."""
        if self.closed:
            return
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._pump())
        else:
            self._wake.set()

    async def idle(self) -> None:
        """Until the pump has stopped (on the background thread)."""
        while (task := self._task) is not None:
            await asyncio.wait({task})

    def due_ticks(self, run: Run) -> set[str]:
        """The started, not ended agents (a waiting one too) whose elapsed times are due to refresh
        (once a second), else none."""
        if self._clock() - self._last_tick < TICK_S:
            return set()
        running = {n for n, r in list(run.records.items()) if _is_running(r)}
        if running:
            self._last_tick = self._clock()
        return running

    async def _pump(self) -> None:
        try:
            await self._pump_until_done()
        except Exception:  # a board bug must not go unseen, nor touch the agents
            log.exception("agentbook: the live board stopped updating")
            self.closed = True  # rather than fail again, ten times a second
        finally:
            self._task = None

    async def _pump_until_done(self) -> None:
        run = self._run()
        if run is None:
            return
        done: asyncio.Future[Any] | None = None
        try:
            while not self.closed:
                if done is None or (done.done() and not run.done):  # a resume starts a new round
                    done = asyncio.ensure_future(_until_done(run))
                await self._wait_for_change(run, done)
                if self.closed:
                    return
                await self._keep_rate()
                self._wake.clear()
                if self._board.pump_round(run):
                    return
        finally:
            if done is not None:
                done.cancel()

    async def _wait_for_change(self, run: Run, done: asyncio.Future[Any]) -> None:
        """Until a kick wakes us, the run ends, or running agents' elapsed must tick."""
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                {woken, done}, timeout=self._tick_due_in(run), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()

    def _tick_due_in(self, run: Run) -> float | None:
        """Seconds until the next elapsed-time tick, or `None` while no agent runs."""
        if not any(_is_running(r) for r in list(run.records.values())):
            return None
        return max(0.0, self._last_tick + TICK_S - self._clock())

    async def _keep_rate(self) -> None:
        # A loop, not one sleep: the event loop may wake a timer a hair early.
        while (wait := self.last_flush + 1.0 / self.max_rate - self._clock()) > 0:
            await asyncio.sleep(wait)


def _is_running(record: AgentRecord) -> bool:
    # Started and not ended: its elapsed time grows, waiting for a permission included (nothing
    # else changes its row then).  A resumed agent queued for a slot counts too: its elapsed
    # time runs from its first start.
    return record.started is not None and record.state not in ENDED


async def _until_done(run: Run) -> None:
    # `Run.__await__` is typed as returning an `Iterator`, which mypy does not take as awaitable;
    # `Any` type-checks whether or not that annotation is fixed.
    await cast(Any, run)
