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

from agentbook.agent.gates import ask
from agentbook.events import Compacted
from agentbook.messages import Message, Request, Text
from agentbook.models.base import estimate_tokens
from agentbook.scheduler.gating import RateGateHook
from agentbook.scheduler.ratelimit import gate_for
from agentbook.scheduler.records import AgentRecord

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["COMPACT_PROMPT", "SUMMARY_PREFIX", "Compaction", "compact"]

COMPACT_PROMPT = """\
Your task is to write a detailed summary of the conversation so far, to be used instead of it
when the work goes on. Keep what the next steps need: the task and what was asked, the decisions
made and why, the files read or changed (with the details that matter), errors met and how they
were fixed, what is done and what is left. Answer with the summary only."""
SUMMARY_PREFIX = (
    "This session is being continued from a previous conversation that ran out of context. The "
    "summary below covers the earlier portion of the conversation.\n\n"
)


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
    wiring = run._wiring
    model = wiring.model(record.task)
    ask_for = COMPACT_PROMPT + (f"\n\nAlso: {instructions}" if instructions else "")
    last = history[-1]
    if last.role == "user":  # tool results: the request's last user turn takes the ask too
        history = [*history[:-1], Message("user", (*last.content, Text(ask_for)))]
    else:
        history = [*history, Message.user(ask_for)]
    request = Request("You summarise conversations.", tuple(history), max_tokens=run.config.max_tokens)
    gate = RateGateHook(gate_for(model.name, run.config.rate_limits), run.config.max_tokens)
    emit = functools.partial(run._dispatch, record)
    response = await ask(record.name, model, request, run.config.retry, [gate], emit)
    summary = SUMMARY_PREFIX + response.message.text.strip()
    before = response.usage.total_input_tokens
    after = estimate_tokens(summary)
    emit(Compacted(agent=record.name, response=response, summary=summary, tokens_before=before,
                   tokens_after=after))  # fmt: skip
    return Compaction(record.name, before, after, summary)
