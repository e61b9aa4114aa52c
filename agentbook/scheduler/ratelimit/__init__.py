"""Rate-limit gates: one per model and process, shared by every agent, so siblings slow down together.

Without a gate, twenty agents on one API key all send at once, all get 429, all back off and all
come back together.  A `RateGate` instead keeps the API's own bookkeeping on our side: one token
bucket per limited dimension (requests, input tokens, output tokens per minute), each holding at
most its per-minute limit and refilling continuously at limit/60 per second, which is how
Anthropic documents its limiter.  `acquire` waits until a request fits; waiters are served strictly
first come, first served.

Limits come from configuration (`RateLimits`) or are learned from the `anthropic-ratelimit-*`
headers of responses; a configured limit always wins over a learned one.  Output tokens are
reserved at `max_tokens` before the call and corrected to the real usage afterwards (the API
estimates OTPM the same way); input tokens are reserved at an estimate and corrected likewise.

Wiring into `agentbook.agent.loop.run_agent` (the hook acquires; *settling is the caller's job*, after
each response, because the loop does not know about gates)::

    gate = gate_for(f"{model.name} {base_url}")
    hook = gated(gate, max_tokens)

    def emit(event: AgentEvent) -> None:
        if isinstance(event, TurnCompleted):
            hook.settle(event.response)  # runs in the agent's task, which made the reservation
        ...

    await run_agent(..., max_tokens=max_tokens, before_request=hook, emit=emit)

and when a call gets a 429, `gate.pause(retry_after)` (or `gate.pause_for(error)`) makes every
sibling wait with it.

Concurrency contract: `acquire` runs on an event loop (any loop; no asyncio object outlives a
call, so a process-wide gate survives a notebook's loop being replaced).  The synchronous methods
(`settle`, `learn`, `pause`, `configure`, ...) take a lock and may be called from any thread.

The modules, by job: `limits` (the `RateLimits` value, header reading), `buckets` (the token
buckets), `waiters` (the FIFO line of waiters), `gate` (`RateGate`), `hook` (`gated`, the request
hook) and `registry` (`gate_for`, the process's gates).
"""

from agentbook.scheduler.ratelimit.gate import GateStats, RateGate
from agentbook.scheduler.ratelimit.hook import GatedHook, gated
from agentbook.scheduler.ratelimit.limits import HEADER_PREFIX, RESET_SLACK_S, RateLimits
from agentbook.scheduler.ratelimit.registry import gate_for, reset_gates

__all__ = [
    "HEADER_PREFIX",
    "RESET_SLACK_S",
    "GateStats",
    "GatedHook",
    "RateGate",
    "RateLimits",
    "gate_for",
    "gated",
    "reset_gates",
]
