"""What an agent does next: one small union, decided by one small function.

The turn loop (`agentbook.agent.loop.run_agent`) never decides anything itself: after each model
response, and after each batch of tool results, it asks `next_step` and handles the answer in
one flat `match`.  Keeping the decision a pure function of the last response and the turn count
makes every way an agent can go on or end readable in one place and testable without a model
(the shape of openai-agents' `next_step`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from agentbook.events import AgentState
from agentbook.messages import Response, ToolResult, ToolUse

__all__ = ["Ask", "ContinuePaused", "FinalAnswer", "RunTools", "Stop", "TurnStep", "next_step", "resume_step"]


@dataclass(frozen=True)
class Ask:
    """Send the conversation to the model: it is the model's turn (after a prompt or tool results)."""


@dataclass(frozen=True)
class ContinuePaused:
    """The server paused a long turn (`stop_reason == "pause_turn"`): send the conversation back
    as it is, so the model carries on where it stopped."""


@dataclass(frozen=True)
class RunTools:
    """Run `calls` (at once when there are several) and answer them in one user message, together
    with `done`: results that already exist when a resumed history was cut mid-turn."""

    calls: tuple[ToolUse, ...]
    done: tuple[ToolResult, ...] = ()


@dataclass(frozen=True)
class FinalAnswer:
    """The model answered without asking for tools: the agent is done."""


@dataclass(frozen=True)
class Stop:
    """The agent ends before the model is done (`partial` at `max_turns`: resume to continue)."""

    state: AgentState
    error: str


TurnStep: TypeAlias = Ask | ContinuePaused | RunTools | FinalAnswer | Stop


def next_step(response: Response | None, turns: int, max_turns: int) -> TurnStep:
    """What comes after `response`, when `turns` responses of `max_turns` have been used.

    `response=None` means the model is owed a request (the prompt was added, or tool results
    were sent).  Tool calls always run, even on the last turn, so that a partial agent's history
    ends with their results and a resume never repeats them; `max_turns` is checked before each
    request instead, which is where a limit can still save a call.
    """
    if response is not None and response.message.tool_uses:
        return RunTools(tuple(response.message.tool_uses))
    if response is not None and response.stop_reason != "pause_turn":
        return FinalAnswer()
    if turns >= max_turns:
        return Stop("partial", f"stopped after max_turns={max_turns}; resume to continue")
    return Ask() if response is None else ContinuePaused()


def resume_step(calls: Sequence[ToolUse], done: Sequence[ToolResult], max_turns: int) -> TurnStep:
    """The first step of an agent: the calls a resumed history left unanswered, if any."""
    if calls or done:
        return RunTools(tuple(calls), tuple(done))
    return next_step(None, 0, max_turns)
