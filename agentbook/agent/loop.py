"""One agent: a turn loop that asks the model, runs the tools it asks for, and repeats.

The loop ends when the model stops asking for tools (`done`), when `max_turns` responses have
been used (`partial`: pass `result.messages` back as `history` to continue), when a harness
error happens (`failed`), or when its task is cancelled (`cancelled`, then re-raised).  It never
prints or draws: everything observable goes out as events to `emit`.  What it does next is
always one `agentbook.agent.steps.TurnStep`, handled in one flat `match` in `run_agent`; what the
layers above may decide (waiting, refusing, denying a tool) goes through the request hooks and
tool gates of `agentbook.agent.gates`.

Continuing a history whose last response asked for tools that have no result yet (a crash or a
cancel mid-turn) runs only the missing calls: a call with a result is never repeated.  A call that
had started when the process stopped (its transcript says so) is not run again either: the
scheduler answers it as interrupted first (`agentbook.agent.recovery`; Read, Glob and Grep, which
change nothing, are simply run again).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentbook.agent.compacting import summarise
from agentbook.agent.gates import BudgetExceeded, RequestHook, ToolGate, ask, run_tools
from agentbook.agent.inbox import Inbox
from agentbook.agent.steps import (
    Ask,
    ContinuePaused,
    FinalAnswer,
    RunTools,
    Stop,
    TurnStep,
    next_step,
    resume_step,
)
from agentbook.events import (
    AgentEnded,
    AgentStarted,
    AgentState,
    Listener,
    Notified,
    ToolResultsSent,
    TurnCompleted,
)
from agentbook.messages import Block, Message, Request, Response, Text, ToolResult, ToolUse, Usage
from agentbook.models.base import Model, ModelError, RequestEstimator
from agentbook.models.retry import RetryPolicy
from agentbook.redact import redact
from agentbook.specs import DEFAULT_MAX_TURNS
from agentbook.tools.base import Tool, ToolContext, schema

__all__ = ["CONTINUE_PROMPT", "AgentResult", "Steering", "StopHook", "run_agent"]

CONTINUE_PROMPT = "Continue from where you stopped."


@dataclass(frozen=True)
class Steering:
    """What the layer above may do to a running conversation, each optional: `inbox` brings its
    background children's notifications (`agentbook.agent.inbox`) and `incoming` other texts
    (a team's messages), both added before each request; `before_stop` may keep it going after
    a final answer (`_Conversation.goes_on`); past `compact_at_tokens` input tokens, the
    conversation is compacted before the next request (`agentbook.agent.compacting`)."""

    inbox: Inbox | None = None
    before_stop: StopHook | None = None
    compact_at_tokens: int | None = None
    incoming: Callable[[], Sequence[str]] | None = None


StopHook = Callable[[str, str, bool], Awaitable[str | None]]
"""`(agent, final_text, active)` -> a reason to keep the agent going, or `None` to let it end."""


@dataclass
class AgentResult:
    """How an agent ended: its state, final text, turns, summed usage and whole conversation."""

    name: str
    state: AgentState
    text: str
    turns: int
    usage: Usage
    messages: list[Message] = field(default_factory=list)
    error: str | None = None
    model: str = ""
    root: Path | None = None
    """The folder the agent's tools were confined to."""


def _no_event(event: object) -> None:
    return None


async def run_agent(
    name: str,
    prompt: str | Message | None,
    *,
    model: Model,
    tools: Sequence[Tool],
    ctx: ToolContext,
    system: str = "",
    history: Sequence[Message] = (),
    max_turns: int = DEFAULT_MAX_TURNS,
    max_tokens: int = 8192,
    emit: Listener = _no_event,
    retry: RetryPolicy | None = None,
    request_hooks: Sequence[RequestHook] = (),
    tool_gates: Sequence[ToolGate] = (),
    cache_system: bool = False,
    steering: Steering | None = None,
) -> AgentResult:
    """Run one agent until it ends; see the module docstring for how it can end.

    `prompt` is the new user message (text, or a `Message` with cache breakpoints); `None`
    continues `history` as it is.  `cache_system` marks the system prompt for prompt caching.
    `max_turns` counts the responses of this call.  `request_hooks` run around every model call
    attempt, `tool_gates` around every tool call (`agentbook.agent.gates`); `steering`: see it."""
    talk = _Conversation(name, model, ctx, emit, history, {t.name: t for t in tools}, steering or Steering())
    request = _requests(system, tools, max_tokens, cache_system)
    policy, response = retry or RetryPolicy(), None
    step: TurnStep = talk.begin(prompt, system, max_turns)
    try:
        while True:
            match step:
                case FinalAnswer() if await talk.goes_on(max_turns):
                    response = None
                case FinalAnswer():
                    return talk.end("done")
                case Stop(state, error):
                    return talk.end(state, error)
                case RunTools(calls, done):
                    await talk.run_tools(calls, done, tool_gates)
                    response = None
                case Ask() | ContinuePaused():
                    response = await talk.ask(request, policy, request_hooks, isinstance(step, Ask))
            step = next_step(response, talk.turns, max_turns)
    except asyncio.CancelledError:
        talk.end("cancelled", "cancelled")
        raise
    except BudgetExceeded as exc:  # refused before sending: it keeps what it has
        return talk.end("budget", f"budget: {exc}")
    except Exception as exc:  # the model's, or the harness's: stop this agent, leave siblings alone
        return talk.end("failed", _failure(exc))


def _requests(
    system: str, tools: Sequence[Tool], max_tokens: int, cache_system: bool
) -> Callable[[tuple[Message, ...]], Request]:
    """The agent's request for a conversation: all but the messages are the same every turn."""
    schemas = tuple(schema(t) for t in tools)
    return functools.partial(
        Request, system, tools=schemas, max_tokens=max_tokens, cache_system=cache_system, cache_turns=True
    )


def _failure(exc: Exception) -> str:
    """Why a failure ended an agent: the model's error, or the first failure of a group (a tool
    of several)."""
    if isinstance(exc, ModelError):
        return f"model error: {exc}"
    while isinstance(exc, ExceptionGroup):
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


class _Conversation:
    """One agent's conversation and counters, and the events that report them as they change."""

    def __init__(
        self,
        name: str,
        model: Model,
        ctx: ToolContext,
        emit: Listener,
        history: Sequence[Message],
        tools: Mapping[str, Tool],
        steering: Steering,
    ) -> None:
        self.name, self.model, self.ctx, self.emit, self.tools = name, model, ctx, emit, tools
        self.inbox, self.before_stop, self.stop_active = steering.inbox, steering.before_stop, False
        self.incoming = steering.incoming
        self.compact_at, self.estimate = steering.compact_at_tokens, RequestEstimator()
        self.resumed = bool(history)
        self.messages = list(history)
        self.turns, self.usage, self.text = 0, Usage(), ""

    def begin(self, prompt: str | Message | None, system: str, max_turns: int) -> TurnStep:
        """Add the prompt (unless tool calls are owed an answer first) and say the agent started."""
        pending, answered = _unanswered(self.messages)
        added: Message | None = None
        wants_prompt = prompt is not None or not self.messages or self.messages[-1].role == "assistant"
        if answered:
            self.messages.pop()  # the partial results are re-sent together with the missing ones
        elif not pending and wants_prompt:
            added = prompt if isinstance(prompt, Message) else Message.user(prompt or CONTINUE_PROMPT)
            self._add_user(added.content)  # after a compaction's summary: one user turn
        self.emit(AgentStarted(agent=self.name, model=self.model.name, prompt=added, system=system,
                               cwd=str(self.ctx.root), resumed=self.resumed))  # fmt: skip
        return resume_step(pending, answered, max_turns)

    async def ask(
        self, request: Callable[[tuple[Message, ...]], Request], retry: RetryPolicy,
        hooks: Sequence[RequestHook], deliver: bool,
    ) -> Response:  # fmt: skip
        """The model's next response, added to the conversation; with `deliver`, after adding
        the notifications that arrived (not into a paused turn, whose last message is the model's)."""
        if deliver:
            self._notify([*(self.inbox.take() if self.inbox else ()), *(self.incoming or tuple)()])
        asked = request(tuple(self.messages))
        if deliver and self.compact_at and len(self.messages) > 2 and self.estimate(asked) > self.compact_at:
            done = await summarise(self.name, self.model, self.messages, retry=retry, hooks=hooks,
                                   emit=self.emit, max_tokens=asked.max_tokens, trigger="auto")  # fmt: skip
            self.messages = [Message.user(done.summary)]
            asked = request(tuple(self.messages))
        started = time.monotonic()
        response = await ask(self.name, self.model, asked, retry, hooks, self.emit)
        self.turns += 1
        self.usage += response.usage
        self.messages.append(response.message)
        self.text = response.message.text or self.text
        elapsed = time.monotonic() - started
        self.emit(TurnCompleted(agent=self.name, turn=self.turns, response=response, elapsed_s=elapsed))
        return response

    async def run_tools(
        self, calls: Sequence[ToolUse], done: Sequence[ToolResult], gates: Sequence[ToolGate]
    ) -> None:
        """Run `calls` and answer the last response with their results and `done`, in its order."""
        ran = await run_tools(self.name, calls, self.tools, self.ctx, gates, self.emit)
        results = {r.tool_use_id: r for r in (*done, *ran)}
        last = self.messages[-1]
        order = [c.id for c in last.tool_uses] if last.role == "assistant" else list(results)
        message = Message("user", tuple(results[i] for i in order if i in results))
        self.messages.append(message)
        self.emit(ToolResultsSent(agent=self.name, message=message))

    async def goes_on(self, max_turns: int) -> bool:
        """After a final answer: whether the agent goes on, and what it is told.  While
        background children run it waits for the next notification (`agentbook.agent.inbox`),
        which starts a new turn; when none can come, `before_stop` may keep it going with a
        reason (Claude Code's `Stop` hook that blocks), `stop_active` once it has.  At
        `max_turns` no turn is left: it waits for every child, so that its history (it ends
        `partial`) holds all their notifications for a resume."""
        if self.inbox is not None and self.turns >= max_turns and self.inbox.running:
            self._notify(await self.inbox.wait_all())
            return True  # the next step is the stop at max_turns
        notes = await self.inbox.wait() if self.inbox is not None else []
        if not notes and self.before_stop is not None:
            reason = await self.before_stop(self.name, self.text, self.stop_active)
            notes, self.stop_active = ([reason], True) if reason else ([], self.stop_active)
        self._notify(notes)
        return bool(notes)

    def _notify(self, notes: Sequence[str]) -> None:
        """Add `notes` to the conversation as user text: after the last user message's blocks (a
        prompt or tool results, then it is the model's turn), else as a new user message."""
        if not notes:
            return
        self._add_user(tuple(Text(n) for n in notes))
        self.emit(Notified(agent=self.name, texts=tuple(notes)))

    def _add_user(self, blocks: tuple[Block, ...]) -> None:
        """`blocks` after the last message's when it is the user's (one user turn), else as a new
        user message."""
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == "user":
            self.messages[-1] = Message("user", (*last.content, *blocks))
        else:
            self.messages.append(Message("user", blocks))

    def end(self, state: AgentState, error: str | None = None) -> AgentResult:
        # Redacted where it is made: it goes to the record, frames, failure logs and the board.
        error = redact(error) if error else error
        self.emit(AgentEnded(agent=self.name, state=state, turns=self.turns, usage=self.usage,
                             result=self.text, error=error))  # fmt: skip
        return AgentResult(self.name, state, self.text, self.turns, self.usage, self.messages, error,
                           self.model.name, self.ctx.root)  # fmt: skip


def _unanswered(messages: list[Message]) -> tuple[list[ToolUse], list[ToolResult]]:
    """Tool calls of the last response that have no result yet, and the results that exist."""
    if messages and messages[-1].role == "assistant":
        return list(messages[-1].tool_uses), []
    if len(messages) >= 2 and messages[-2].role == "assistant" and messages[-2].tool_uses:
        results = [b for b in messages[-1].content if isinstance(b, ToolResult)]
        done = {r.tool_use_id for r in results}
        missing = [c for c in messages[-2].tool_uses if c.id not in done]
        if missing:
            return missing, results
    return [], []
