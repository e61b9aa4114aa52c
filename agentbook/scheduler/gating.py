"""A run's request hooks and tool gates: its rate gate, its user hooks and its permissions, in the
shapes the turn loop calls (`agentbook.agent.gates`).

The loop does not know what a rate gate or a permission is; the scheduler does, and wires them
in here instead of watching the loop's events for the moments they care about.  Cache warming,
the other request hook a run uses, is `agentbook.scheduler.warming.Warmup` itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from agentbook.agent.gates import RequestHook, RequestOutcome, ToolGate
from agentbook.messages import Request, ToolResult, ToolUse
from agentbook.scheduler.budgets import BudgetHook
from agentbook.scheduler.ratelimit import RateGate, gated
from agentbook.scheduler.warming import Warmup

__all__ = ["Ended", "HookGate", "PermissionGate", "RateGateHook", "around_requests"]

Ended = Callable[[], None]


class RateGateHook:
    """A `RequestHook` over a rate gate shared by many agents.

    Before each attempt it reserves the request's estimated input and `max_tokens` of output
    (waiting for room); after a response it settles that reservation to the real usage and
    learns the limits from the headers; after a 429 that will be retried it pauses the gate for
    the server's `retry-after` (`retry-after-ms`), so every sibling waits as long as the API asked
    and no longer: never for the refused agent's own jittered backoff, which is that agent's
    alone.  A bare 429 (no `retry-after`, no headers) teaches the gate a limit, and a 429 whose
    headers show a spent limit lowers its bucket; then the agent queues again at once: the gate
    spaces it, an exponential backoff on top would leave the server idle.  Other
    failures (a 529 overload, 5xx, cut streams) never slow the siblings.  One hook
    serves one agent or many: `gated` keeps each agent task's reservation apart.
    """

    def __init__(self, gate: RateGate, max_tokens: int | None = None) -> None:
        self.gate = gate
        self._hook = gated(gate, max_tokens)

    async def before_request(self, agent: str, request: Request) -> None:
        await self._hook(request)

    async def after_request(self, agent: str, outcome: RequestOutcome) -> float | None:
        if outcome.response is not None:
            self._hook.settle(outcome.response)
        elif outcome.error is not None and outcome.error.status == 429:
            error, paced = outcome.error, False
            retry_after = getattr(error, "retry_after", None)
            if retry_after is None and not getattr(error, "rate_limits", None):
                paced = self.gate.refused()  # a bare 429: the gate learns a rate from them
            elif outcome.retry_in is not None:
                paced = self.gate.pause_for(error)  # a real limit holds everyone
            if paced and retry_after is None:
                return 0.0  # the gate now spaces the retry: no backoff on top
        return None


def around_requests(
    agent: str, budget: BudgetHook | None, warmup: Warmup | None, rate_gate: RateGateHook
) -> tuple[list[RequestHook], Ended]:
    """An agent's request hooks in the order they must act (a budget refuses before the agent
    queues for the cache or the rate gate), and what to call when the agent ends: a request
    cancelled or crashed mid-way tells them nothing, and they must not keep its reservation."""

    def ended() -> None:
        if warmup is not None:
            warmup.release_if(agent)
        if budget is not None:
            budget.release()

    return [h for h in (budget, warmup, rate_gate) if h is not None], ended


class HookGate:
    """A `ToolGate` over a run's user hooks (`agentbook.agent.hooks.Hooks`, or any other gate),
    whose denials tell the model that a hook blocked the call."""

    def __init__(self, hooks: ToolGate) -> None:
        self.hooks = hooks

    async def before_tool(self, agent: str, call: ToolUse) -> str | None:
        denial = await self.hooks.before_tool(agent, call)
        return None if denial is None else f"Blocked by a hook: {denial}"

    async def tool_started(self, agent: str, call: ToolUse) -> None:
        started = getattr(self.hooks, "tool_started", None)  # any other ToolGate has none
        if started is not None:
            await started(agent, call)

    async def after_tool(self, agent: str, call: ToolUse, result: ToolResult) -> str | None:
        feedback = await self.hooks.after_tool(agent, call, result)
        return None if feedback is None else f"A hook says: {feedback}"


class PermissionGate:
    """A `ToolGate` over one agent's permission check: `check(call)` returns `None` to allow the
    call or the reason it is denied (it may wait, for someone to answer a permission request)."""

    def __init__(self, check: Callable[[ToolUse], Awaitable[str | None]]) -> None:
        self.check = check

    async def before_tool(self, agent: str, call: ToolUse) -> str | None:
        return await self.check(call)

    async def after_tool(self, agent: str, call: ToolUse, result: ToolResult) -> str | None:
        return None
