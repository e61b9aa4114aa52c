"""Compaction (Claude Code's `/compact`): an ended agent's conversation replaced by a summary the
model writes, so that a resume goes on from a small context instead of the whole history.

The transcript stays whole: the summarising call, a `compact_boundary` line and the summary as
a user line are appended, as Claude Code writes them (its readers understand them); reading the
transcript back, the conversation starts again at the boundary.  What it costs is an API call
of the agent's (in `record.calls` and the run's cost), and what it saves is `Compaction`'s
`tokens_before - tokens_after` on every later request.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentbook.agent.compacting import summarise
from agentbook.messages import Message
from agentbook.scheduler.gating import RateGateHook
from agentbook.scheduler.ratelimit import gate_for
from agentbook.scheduler.records import AgentRecord

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["Compaction", "compact"]


@dataclass(frozen=True)
class Compaction:
    """What one compaction did: the conversation's input tokens before and the summary's after."""

    agent: str
    tokens_before: int
    tokens_after: int
    summary: str


async def compact(
    run: Run, record: AgentRecord, history: list[Message], instructions: str | None = None
) -> Compaction:
    """Compact `record`'s conversation `history` (see the module docstring).  The caller holds
    the agent (`Run.compact`: it has ended, its transcript is claimed, its state `running`)."""
    model = run._wiring.model(record.task)
    gate = RateGateHook(gate_for(model.name, run.config.rate_limits), run.config.max_tokens)
    done = await summarise(record.name, model, history, retry=run.config.retry, hooks=[gate],
                           emit=functools.partial(run._dispatch, record), max_tokens=run.config.max_tokens,
                           instructions=instructions)  # fmt: skip
    return Compaction(record.name, done.tokens_before, done.tokens_after, done.summary)
