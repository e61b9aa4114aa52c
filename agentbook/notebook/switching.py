"""A kernel stays responsive while agents compute: a shorter interpreter switch interval while
agents work in it.

Agents run on agentbook's own thread (`agentbook.scheduler.background`), in the kernel's
process, and share its interpreter lock with the kernel's threads (the main thread running
cells, the shell and IOPub threads passing messages).  A thread that blocks on a socket gives
the lock up, and to get it back from a thread that is computing (a tool reading files, the
offline model parsing them, the board building its updates) it must wait `sys.getswitchinterval()`
(5 ms by default) before CPython makes the other thread yield.  A cell's round trip passes
through those threads a dozen times or more, so while agents compute each trivial cell took
50-100 ms longer, and up to 200 ms (`bench/kernel_responsiveness.py`).  With 1 ms each hand-off
costs at most 1 ms.  It changes nothing while no other thread waits for the lock, and costs a
busy thread a few microseconds a switch.

Scope: only in a kernel (the notebook edge calls `track(run)` for each run made there), only
while an agent of such a run is working (from its `AgentStarted` to its `AgentEnded`, resumes
included), never raising an interval someone set lower, and the interval found is restored once
none works.  Everything here runs on the background thread (run listeners), so needs no lock.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

from agentbook.events import AgentEnded, AgentEvent, AgentStarted

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["SWITCH_INTERVAL_S", "track", "working"]

SWITCH_INTERVAL_S = 0.001
"""The interpreter's switch interval while agents work in the kernel, in seconds."""

_working: set[tuple[int, str]] = set()  # (id of the run, agent name)
_saved: float | None = None  # the interval found when the first agent started


def track(run: Run) -> None:
    """Lower the switch interval while `run`'s agents work (see the module docstring)."""
    key = id(run)

    def on_event(event: AgentEvent) -> None:
        if isinstance(event, AgentStarted):
            _started((key, event.agent))
        elif isinstance(event, AgentEnded):
            _ended((key, event.agent))

    run.on_event(on_event)


def working() -> int:
    """How many agents of tracked runs are working now."""
    return len(_working)


def _started(agent: tuple[int, str]) -> None:
    global _saved
    if not _working:
        _saved = sys.getswitchinterval()
        if _saved > SWITCH_INTERVAL_S:
            sys.setswitchinterval(SWITCH_INTERVAL_S)
    _working.add(agent)


def _ended(agent: tuple[int, str]) -> None:
    global _saved
    if agent not in _working:
        return  # an agent that failed before it started
    _working.discard(agent)
    if not _working and _saved is not None:
        # Restored only if still ours: someone who changed it meanwhile keeps their value.
        # (CPython keeps whole microseconds, rounding down: compare to within two.)
        if math.isclose(sys.getswitchinterval(), min(_saved, SWITCH_INTERVAL_S), abs_tol=2e-6):
            sys.setswitchinterval(_saved)
        _saved = None
