"""One agent: a turn loop that asks the model, runs the tools it asks for, and repeats.

The loop ends when the model stops asking for tools (`done`), when `max_turns` responses have
been used (`partial`: pass `result.messages` back as `history` to continue), when a harness
error happens (`failed`), or when its task is cancelled (`cancelled`, then re-raised).  It never
prints or draws: everything observable goes out as events to `emit`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from agentbook.events import (
    AgentEnded,
    AgentStarted,
    AgentState,
    Listener,
    ToolFinished,
    ToolResultsSent,
    ToolStarted,
    TurnCompleted,
)
from agentbook.messages import Message, Request, Response, ToolResult, ToolUse, Usage
from agentbook.models.base import Model, ModelError
from agentbook.retry import RetryPolicy, call_with_retries
from agentbook.tools.base import Tool, ToolContext, ToolError, schema

DEFAULT_MAX_TURNS = 30
CONTINUE_PROMPT = "Continue from where you stopped."


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


def _no_event(event: object) -> None:
    return None


async def run_agent(
    name: str,
    prompt: str | None,
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
    before_request: Callable[[Request], Awaitable[None]] | None = None,
) -> AgentResult:
    """Run one agent until it ends; see the module docstring for how it can end.

    `prompt` is the new user message; `None` continues `history` as it is (a `partial` agent's
    history ends with tool results, which the model answers next).  `max_turns` counts the
    responses of this call.  `before_request` runs before every model call (rate gates use it).
    """
    messages = list(history)
    if prompt is not None or not messages or messages[-1].role == "assistant":
        messages.append(Message.user(prompt if prompt is not None else CONTINUE_PROMPT))
    by_name = {t.name: t for t in tools}
    schemas = tuple(schema(t) for t in tools)
    retry = retry or RetryPolicy()
    emit(
        AgentStarted(
            agent=name,
            model=model.name,
            prompt=messages[-1],
            system=system,
            cwd=str(ctx.root),
            resumed=bool(history),
        )
    )
    turns, usage, text = 0, Usage(), ""

    def end(state: AgentState, error: str | None = None) -> AgentResult:
        emit(AgentEnded(agent=name, state=state, turns=turns, usage=usage, result=text, error=error))
        return AgentResult(name, state, text, turns, usage, messages, error, model.name)

    try:
        while True:
            if turns >= max_turns:
                return end("partial", f"stopped after max_turns={max_turns}; resume to continue")
            request = Request(system=system, messages=tuple(messages), tools=schemas, max_tokens=max_tokens)
            started = time.monotonic()
            response = await _ask(model, request, retry, before_request)
            turns += 1
            usage += response.usage
            messages.append(response.message)
            text = response.message.text or text
            emit(
                TurnCompleted(agent=name, turn=turns, response=response, elapsed_s=time.monotonic() - started)
            )
            calls = response.message.tool_uses
            if not calls:
                if response.stop_reason == "pause_turn":
                    continue  # the server paused a long turn: send the conversation back as is
                return end("done")
            # Several calls in one response run at once; a harness failure in one cancels the rest.
            async with asyncio.TaskGroup() as group:
                running = [group.create_task(_run_tool(name, c, by_name, ctx, emit)) for c in calls]
            tool_message = Message("user", tuple(t.result() for t in running))
            messages.append(tool_message)
            emit(ToolResultsSent(agent=name, message=tool_message))
    except asyncio.CancelledError:
        end("cancelled", "cancelled")
        raise
    except ModelError as exc:
        return end("failed", f"model error: {exc}")
    except Exception as exc:  # a harness failure: stop this agent, say why, leave siblings alone
        while isinstance(exc, ExceptionGroup):
            exc = exc.exceptions[0]
        return end("failed", f"{type(exc).__name__}: {exc}")


async def _ask(
    model: Model,
    request: Request,
    retry: RetryPolicy,
    before_request: Callable[[Request], Awaitable[None]] | None,
) -> Response:
    async def attempt() -> Response:
        if before_request is not None:
            await before_request(request)
        return await model.respond(request)

    return await call_with_retries(attempt, retry)


async def _run_tool(
    agent: str, call: ToolUse, tools: dict[str, Tool], ctx: ToolContext, emit: Listener
) -> ToolResult:
    """Run one tool call; model mistakes become `is_error` results, anything else propagates."""
    emit(ToolStarted(agent=agent, call=call))
    started = time.monotonic()
    tool = tools.get(call.name)
    try:
        if tool is None:
            raise ToolError(f"unknown tool {call.name!r}; available: {', '.join(tools) or 'none'}")
        result = ToolResult(call.id, await tool.run(call.input, ctx))
    except ToolError as exc:
        # The model caused this and can fix it: tell it, as Claude Code does, and go on.
        result = ToolResult(call.id, f"<tool_use_error>{exc}</tool_use_error>", is_error=True)
    emit(ToolFinished(agent=agent, call=call, result=result, elapsed_s=time.monotonic() - started))
    return result
