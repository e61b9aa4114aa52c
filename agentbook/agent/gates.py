"""Request hooks and tool gates: what the turn loop lets the layers above decide, and when.

The loop knows nothing about rate limits, cache warming, budgets, permissions or user hooks, yet
each of them must act at one exact point of an agent's work.  These two protocols are those
points.  A `RequestHook` runs around every model call *attempt* (retries included): before it,
where a rate gate or a warm-up may make the agent wait and a budget may refuse (by raising,
which ends the agent as a harness error); and after it, with the attempt's `RequestOutcome`,
where a gate settles its reservation or pauses on a 429.  A `ToolGate` runs around every tool
call: before it, where a hook or the permissions may deny it (the first denial wins and the
gates after it are not asked), and after it, with the result.

The scheduler builds these from its run's configuration (`agentbook.scheduler.gating`,
`agentbook.scheduler.warming`); `agentbook.agent.hooks.Hooks` is a `ToolGate` as it is.
`ask` and `run_tools` below are how the loop runs them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agentbook.events import Listener, ModelRetry, ToolDenied, ToolFinished, ToolStarted
from agentbook.messages import Request, Response, ToolResult, ToolUse
from agentbook.models.base import Model, ModelError, TransientModelError
from agentbook.models.retry import RetryPolicy
from agentbook.specs import EDIT_TOOLS
from agentbook.tools.base import Tool, ToolContext, ToolError

__all__ = [
    "RUNS_ALONE",
    "BudgetExceeded",
    "RequestHook",
    "RequestOutcome",
    "StartGate",
    "ToolGate",
    "ask",
    "first_denial",
    "run_tool",
    "run_tools",
]

RUNS_ALONE = EDIT_TOOLS | {"Bash"}
"""The tools that may change files run one at a time, as Claude Code runs them: two `Edit`s of one
file in one response, run at once, both read the old text and one change is lost; a Bash call
beside an `Edit` may see the file half written.  The others (reads, searches, sub-agents) run at
once."""


class BudgetExceeded(Exception):
    """Raised by a request hook that refuses a request a budget cannot cover: the agent ends in
    the `budget` state, with what it has so far (the message says which budget and why)."""


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """How one attempt at a model request went.

    Exactly one of `response` and `error` is set.  `retry_in` is the wait (seconds) the retry
    policy chose before the next attempt when `error` is transient and will be retried; `None`
    after a success and after the final failure (the agent then ends failed).
    """

    request: Request
    response: Response | None = None
    error: ModelError | None = None
    retry_in: float | None = None


@runtime_checkable
class RequestHook(Protocol):
    """Called around every model call attempt of an agent, in the agent's own task."""

    async def before_request(self, agent: str, request: Request) -> None:
        """Before each attempt; may wait.  Raising ends the agent (a harness error)."""

    async def after_request(self, agent: str, outcome: RequestOutcome) -> float | None:
        """After each attempt that got a response or a `ModelError` (not after a cancellation
        or another exception: those end the agent, and its owner cleans up).  A number, after
        a failure that will be retried, shortens the wait before the retry to it: a rate gate
        whose queue spaces the retries returns 0 for a bare 429."""


@runtime_checkable
class ToolGate(Protocol):
    """Called around every tool call of an agent (not for a tool the agent does not have)."""

    async def before_tool(self, agent: str, call: ToolUse) -> str | None:
        """`None` lets the call go on; a string denies it, and the model sees that reason."""

    async def after_tool(self, agent: str, call: ToolUse, result: ToolResult) -> str | None:
        """After each call, denied ones included, with the result the model will see; a string
        is feedback for the model, added to that result (the call has run: nothing is undone)."""


@runtime_checkable
class StartGate(Protocol):
    """A `ToolGate` that also waits between a call's "tool started" record and its run (a cluster
    worker holds the call there until that record is safe in the notebook's transcript)."""

    async def tool_started(self, agent: str, call: ToolUse) -> None: ...


async def ask(
    agent: str,
    model: Model,
    request: Request,
    retry: RetryPolicy,
    hooks: Sequence[RequestHook],
    emit: Listener,
) -> Response:
    """`model`'s response to `request`, retrying transient errors as `retry` says.

    Every hook's `before_request` runs before each attempt and its `after_request` after it; a
    retried failure emits `ModelRetry` (after the hooks, so a hook that raises leaves no promise
    of another attempt behind).  Raises the final `ModelError` (`retry.final_error`).  This is
    `call_with_retries` with hooks: they must be awaited, and told the wait that was chosen.
    """
    attempt, limited, first = 1, 0, time.monotonic()
    while True:
        for hook in hooks:
            await hook.before_request(agent, request)
        try:
            response = await model.respond(request)
        except ModelError as exc:
            limited += isinstance(exc, TransientModelError) and exc.status == 429
            wait = retry.wait_after(attempt, exc, time.monotonic() - first, rate_limited=limited)
            for hook in hooks:
                shorter = await hook.after_request(agent, RequestOutcome(request, error=exc, retry_in=wait))
                if wait is not None and shorter is not None:
                    wait = max(0.0, min(wait, shorter))
            if wait is None:
                final = retry.final_error(attempt, exc, time.monotonic() - first)
                if final is exc:
                    raise
                raise final from exc
            emit(ModelRetry(agent=agent, attempt=attempt, error=str(exc), status=exc.status, wait_s=wait))
            await asyncio.sleep(wait)
            attempt += 1
            continue
        for hook in hooks:
            await hook.after_request(agent, RequestOutcome(request, response=response))
        return response


async def first_denial(agent: str, call: ToolUse, gates: Sequence[ToolGate]) -> str | None:
    """The reason of the first gate that denies `call`; the gates after it are not asked."""
    for gate in gates:
        denial = await gate.before_tool(agent, call)
        if denial is not None:
            return denial
    return None


async def run_tool(
    agent: str,
    call: ToolUse,
    tools: Mapping[str, Tool],
    ctx: ToolContext,
    gates: Sequence[ToolGate],
    emit: Listener,
) -> ToolResult:
    """Run one tool call through `gates`; model mistakes and denials become `is_error` results."""
    started = time.monotonic()
    tool = tools.get(call.name)
    try:
        if tool is None:
            raise ToolError(f"unknown tool {call.name!r}; available: {', '.join(tools) or 'none'}")
        denial = await first_denial(agent, call, gates)
        if denial is not None:
            emit(ToolDenied(agent=agent, call=call, reason=denial))
            raise ToolError(denial)
        # Once allowed, just before it runs: the transcript's "tool started" line, which a resume
        # after a crash reads as "may have run" (`agentbook.agent.recovery`).
        emit(ToolStarted(agent=agent, call=call))
        for gate in gates:
            if isinstance(gate, StartGate):
                await gate.tool_started(agent, call)
        result = ToolResult(call.id, await tool.run(call.input, ctx))
    except ToolError as exc:
        # The model caused this (or was refused) and can adapt: tell it, as Claude Code does.
        result = ToolResult(call.id, f"<tool_use_error>{exc}</tool_use_error>", is_error=True)
    for gate in gates if tool is not None else ():  # as the protocol says: not for a made-up tool
        feedback = await gate.after_tool(agent, call, result)
        if feedback:
            result = ToolResult(call.id, f"{result.content}\n\n{feedback}", result.is_error)
    emit(ToolFinished(agent=agent, call=call, result=result, elapsed_s=time.monotonic() - started))
    return result


async def run_tools(
    agent: str,
    calls: Sequence[ToolUse],
    tools: Mapping[str, Tool],
    ctx: ToolContext,
    gates: Sequence[ToolGate],
    emit: Listener,
) -> list[ToolResult]:
    """Run the calls of one response, in their order: consecutive calls that change nothing run
    at once, and each call that may change files (`RUNS_ALONE`) runs alone, after the calls
    before it have ended."""
    results: list[ToolResult] = []
    for batch in _batches(calls):
        if len(batch) == 1:  # the common case: no task to create and schedule
            results.append(await run_tool(agent, batch[0], tools, ctx, gates, emit))
            continue
        # A harness failure in one call of a batch cancels the rest.
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(run_tool(agent, c, tools, ctx, gates, emit)) for c in batch]
        results += [t.result() for t in running]
    return results


def _batches(calls: Sequence[ToolUse]) -> list[list[ToolUse]]:
    """`calls` cut into runs of calls that may share a batch; a `RUNS_ALONE` call is a batch."""
    batches: list[list[ToolUse]] = []
    for call in calls:
        if call.name in RUNS_ALONE or not batches or batches[-1][-1].name in RUNS_ALONE:
            batches.append([call])
        else:
            batches[-1].append(call)
    return batches
