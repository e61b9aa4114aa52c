"""Compaction (Claude Code's `/compact`): an ended agent's conversation replaced by a summary the
model writes, so that a resume goes on from a small context instead of the whole history.

The transcript stays whole: the summarising call, a `compact_boundary` line and the summary as
a user line are appended, as Claude Code writes them (its readers understand them); reading the
transcript back, the conversation starts again at the boundary.  What it costs is an API call
of the agent's (in `record.calls` and the run's cost), and what it saves is `Compaction`'s
`tokens_before - tokens_after` on every later request.
"""

from __future__ import annotations

import concurrent.futures
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentbook.agent.compacting import summarise
from agentbook.agent.gates import RequestHook
from agentbook.messages import Message
from agentbook.scheduler import background
from agentbook.scheduler.gating import RateGateHook
from agentbook.scheduler.ratelimit import gate_for
from agentbook.scheduler.records import AgentRecord
from agentbook.scheduler.resuming import resume_history

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["Compaction", "compact", "compact_now"]


@dataclass(frozen=True)
class Compaction:
    """What one compaction did: the conversation's input tokens before and the summary's after."""

    agent: str
    tokens_before: int
    tokens_after: int
    summary: str


def compact_now(run: Run, record: AgentRecord, instructions: str | None = None) -> Compaction:
    """`Run.compact`: compact `record`'s conversation from the caller's thread, holding the agent
    (its transcript claimed, its state `running`) until the summary is written; Ctrl-C cancels
    the model call before letting go."""
    if background.on_background_loop():
        raise RuntimeError("compact() waits for the model: call it from your own thread, not a callback")
    with run._lock:
        history = resume_history(record, run.records, run.isolation, None, instructions)
        if not history:
            raise ValueError(f"agent {record.name!r} has no conversation to compact")
        run._wiring.claim(record)
        before, record.state = record.state, "running"
    work = background.submit(compact(run, record, history, instructions))
    try:
        return work.result()
    except BaseException:  # Ctrl-C: the model call must not write after we let go
        work.cancel()
        concurrent.futures.wait([work], timeout=5)
        raise
    finally:
        record.state = before
        run._wiring.release(record)


async def compact(
    run: Run, record: AgentRecord, history: list[Message], instructions: str | None = None
) -> Compaction:
    """Compact `record`'s conversation `history` (see the module docstring).  The caller holds
    the agent (`Run.compact`: it has ended, its transcript is claimed, its state `running`)."""
    model = run._wiring.model(record.task)
    gate = RateGateHook(gate_for(model.name, run.config.rate_limits), run.config.max_tokens)
    budget = run.budgets.hook(record, model.name)  # the summary's call is paid for like a turn
    hooks: list[RequestHook] = [budget, gate] if budget is not None else [gate]
    try:
        done = await summarise(record.name, model, history, retry=run.config.retry, hooks=hooks,
                               emit=functools.partial(run._dispatch, record),
                               max_tokens=run.config.max_tokens, instructions=instructions)  # fmt: skip
    finally:
        if budget is not None:
            budget.release()
    return Compaction(record.name, done.tokens_before, done.tokens_after, done.summary)
