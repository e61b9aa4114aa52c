"""The `before_request` hook that puts a gate in front of an agent's model calls (`gated`).

Used by `agentbook.scheduler.wiring` for every agent.  The hook acquires; *settling is the caller's
job*, after each response (`hook.settle(response)` from the agent's `emit`), because the turn loop
(`agentbook.agent.loop`) does not know about gates.  One hook serves many agents: it keeps each
agent task's latest reservation, and an agent's requests are sequential.
"""

from __future__ import annotations

import asyncio
import weakref

from agentbook.messages import Request, Response
from agentbook.models.base import RequestEstimator, estimate_request_tokens
from agentbook.scheduler.ratelimit.gate import RateGate

__all__ = ["GatedHook", "gated"]


class GatedHook:
    """A `before_request` hook for `run_agent` that acquires from a gate; see `gated`."""

    def __init__(self, gate: RateGate, max_tokens: int | None = None) -> None:
        self.gate = gate
        self.max_tokens = max_tokens
        # The reservation of each agent task's latest attempt, so one hook can serve many agents:
        # an agent's requests are sequential, and its `emit` runs in its own task.
        self._reserved: weakref.WeakKeyDictionary[asyncio.Task[object], tuple[int, int, float]] = (
            weakref.WeakKeyDictionary()
        )
        self._estimators: weakref.WeakKeyDictionary[asyncio.Task[object], RequestEstimator] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, request: Request) -> None:
        """Acquire (estimated input tokens, `max_tokens`) for one attempt at `request`."""
        output = request.max_tokens if self.max_tokens is None else self.max_tokens
        task = asyncio.current_task()
        if task is None:
            estimate = estimate_request_tokens(request)
        else:
            estimate = self._estimators.setdefault(task, RequestEstimator())(request)
        admitted = await self.gate.acquire(estimate, output)
        if task is not None:
            self._reserved[task] = (estimate, output, admitted)

    def settle(self, response: Response) -> None:
        """Settle `response` against the reservation the current task made (see `RateGate.settle`).

        Outside the agent's task the reservation is unknown: the output is settled against the
        hook's `max_tokens` (if it has one), the input estimate is left as reserved.
        """
        try:
            task: asyncio.Task[object] | None = asyncio.current_task()
        except RuntimeError:  # no running loop in this thread
            task = None
        reserved = self._reserved.pop(task, None) if task is not None else None
        if reserved is not None:
            estimate, output, admitted = reserved
            self.gate.settle(output, response, reserved_input_tokens=estimate, admitted_at=admitted)
        elif self.max_tokens is not None:
            self.gate.settle(self.max_tokens, response)
        else:  # nothing known to correct against: only the headers are of use
            self.gate.learn(response.rate_limits)


def gated(gate: RateGate, max_tokens: int | None = None) -> GatedHook:
    """A `before_request` hook: estimate the request's input tokens and acquire (input, max_tokens).

    `max_tokens=None` reserves each request's own `max_tokens`.  The hook only acquires: settle
    each response afterwards with `hook.settle(response)` (from the agent's `emit`, as in the
    module docstring) or `gate.settle(...)`, or the gate keeps the whole reservation.
    """
    return GatedHook(gate, max_tokens)
