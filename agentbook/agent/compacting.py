"""Summarising a conversation to go on from (Claude Code's `/compact`): the request that asks the
model for the summary, and the `Compacted` event its answer becomes.

Used by the turn loop when a request would pass `compact_at_tokens` (automatic), and by the
scheduler's `Run.compact` for an ended agent (manual); the transcript writer turns the event into
Claude Code's lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from agentbook.agent.gates import RequestHook, ask
from agentbook.events import Compacted, Listener
from agentbook.messages import Message, Request, Text
from agentbook.models.base import Model, estimate_tokens
from agentbook.models.retry import RetryPolicy

__all__ = ["COMPACT_PROMPT", "SUMMARY_PREFIX", "summarise"]

COMPACT_PROMPT = """\
Your task is to write a detailed summary of the conversation so far, to be used instead of it
when the work goes on. Keep what the next steps need: the task and what was asked, the decisions
made and why, the files read or changed (with the details that matter), errors met and how they
were fixed, what is done and what is left. Answer with the summary only."""
SUMMARY_PREFIX = (
    "This session is being continued from a previous conversation that ran out of context. The "
    "summary below covers the earlier portion of the conversation.\n\n"
)


async def summarise(
    agent: str,
    model: Model,
    history: Sequence[Message],
    *,
    retry: RetryPolicy,
    hooks: Sequence[RequestHook],
    emit: Listener,
    max_tokens: int,
    instructions: str | None = None,
    trigger: Literal["manual", "auto"] = "manual",
) -> Compacted:
    """Ask `model` for a summary of `history` (through `hooks`, retried as `retry` says), emit
    the `Compacted` event and return it; its `summary` is the user message to go on from."""
    ask_for = COMPACT_PROMPT + (f"\n\nAlso: {instructions}" if instructions else "")
    last = history[-1]
    if last.role == "user":  # tool results: the request's last user turn takes the ask too
        messages = [*history[:-1], Message("user", (*last.content, Text(ask_for)))]
    else:
        messages = [*history, Message.user(ask_for)]
    request = Request("You summarise conversations.", tuple(messages), max_tokens=max_tokens)
    response = await ask(agent, model, request, retry, hooks, emit)
    summary = SUMMARY_PREFIX + response.message.text.strip()
    before, after = response.usage.total_input_tokens, estimate_tokens(summary)
    event = Compacted(agent=agent, response=response, summary=summary, trigger=trigger,
                      tokens_before=before, tokens_after=after)  # fmt: skip
    emit(event)
    return event
