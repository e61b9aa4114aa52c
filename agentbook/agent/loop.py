"""One agent: a turn loop that asks the model, runs the tools it asks for, and repeats.

The loop ends when the model stops asking for tools (`done`), when `max_turns` responses have
been used (`partial`: pass `result.messages` back as `history` to continue), when a harness
error happens (`failed`), or when its task is cancelled (`cancelled`, then re-raised).  It never
prints or draws: everything observable goes out as events to `emit`.

Continuing a history whose last response asked for tools that have no result yet (a crash or a
cancel mid-turn) runs only the missing calls: tool calls that already ran are never repeated.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbook.events import (
    AgentEnded,
    AgentStarted,
    AgentState,
    Listener,
    ModelRetry,
    ToolFinished,
    ToolResultsSent,
    ToolStarted,
    TurnCompleted,
)
from agentbook.messages import Message, Request, Response, ToolResult, ToolUse, Usage
from agentbook.models.base import Model, ModelError, TransientModelError
from agentbook.models.retry import RetryPolicy, call_with_retries
from agentbook.tools.base import Tool, ToolContext, ToolError, schema

DEFAULT_MAX_TURNS = 30
CONTINUE_PROMPT = "Continue from where you stopped."

Authorize = Callable[[ToolUse], Awaitable[str | None]]
"""Asked before each tool call: `None` lets it run, a string denies it with that reason."""
AfterTool = Callable[[ToolUse, ToolResult], Awaitable[None]]


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
    before_request: Callable[[Request], Awaitable[None]] | None = None,
    authorize: Authorize | None = None,
    after_tool: AfterTool | None = None,
    cache_system: bool = False,
) -> AgentResult:
    """Run one agent until it ends; see the module docstring for how it can end.

    `prompt` is the new user message (text, or a `Message` with cache breakpoints); `None`
    continues `history` as it is.  `cache_system` marks the system prompt for prompt caching.
    `max_turns` counts the responses of this call.  `before_request` runs before every model
    call attempt (rate gates use it); `authorize` before every tool call (permissions and hooks
    use it), and `after_tool` after each.
    """
    messages = list(history)
    by_name = {t.name: t for t in tools}
    schemas = tuple(schema(t) for t in tools)
    retry = retry or RetryPolicy()
    turns, usage, text = 0, Usage(), ""

    def end(state: AgentState, error: str | None = None) -> AgentResult:
        emit(AgentEnded(agent=name, state=state, turns=turns, usage=usage, result=text, error=error))
        return AgentResult(name, state, text, turns, usage, messages, error, model.name, ctx.root)

    def retried(attempt: int, exc: TransientModelError, wait: float) -> None:
        emit(ModelRetry(agent=name, attempt=attempt, error=str(exc), status=exc.status, wait_s=wait))

    async def run_tools(calls: Sequence[ToolUse], done: Sequence[ToolResult] = ()) -> None:
        def run(call: ToolUse) -> Coroutine[Any, Any, ToolResult]:
            return _run_tool(name, call, by_name, ctx, emit, authorize, after_tool)

        if len(calls) == 1:  # the common case: no task to create and schedule
            ran = [await run(calls[0])]
        else:
            # Several calls in one response run at once; a harness failure in one cancels the rest.
            async with asyncio.TaskGroup() as group:
                running = [group.create_task(run(c)) for c in calls]
            ran = [t.result() for t in running]
        results = {r.tool_use_id: r for r in (*done, *ran)}
        order = [c.id for c in messages[-1].tool_uses] if messages[-1].role == "assistant" else list(results)
        tool_message = Message("user", tuple(results[i] for i in order if i in results))
        messages.append(tool_message)
        emit(ToolResultsSent(agent=name, message=tool_message))

    pending, answered = _unanswered(messages)
    added: Message | None = None
    if answered:
        messages.pop()  # the partial results are re-sent together with the missing ones
    elif not pending and (prompt is not None or not messages or messages[-1].role == "assistant"):
        added = prompt if isinstance(prompt, Message) else Message.user(prompt or CONTINUE_PROMPT)
        messages.append(added)
    emit(AgentStarted(agent=name, model=model.name, prompt=added, system=system,
                      cwd=str(ctx.root), resumed=bool(history)))  # fmt: skip
    try:
        if pending or answered:
            await run_tools(pending, answered)
        while True:
            if turns >= max_turns:
                return end("partial", f"stopped after max_turns={max_turns}; resume to continue")
            request = Request(
                system=system,
                messages=tuple(messages),
                tools=schemas,
                max_tokens=max_tokens,
                cache_system=cache_system,
            )
            started = time.monotonic()
            response = await call_with_retries(
                lambda request=request: _ask(model, request, before_request),  # type: ignore[misc]
                retry,
                on_retry=retried,
            )
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
            await run_tools(calls)
    except asyncio.CancelledError:
        end("cancelled", "cancelled")
        raise
    except ModelError as exc:
        return end("failed", f"model error: {exc}")
    except Exception as exc:  # a harness failure: stop this agent, say why, leave siblings alone
        while isinstance(exc, ExceptionGroup):
            exc = exc.exceptions[0]
        return end("failed", f"{type(exc).__name__}: {exc}")


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


async def _ask(
    model: Model, request: Request, before_request: Callable[[Request], Awaitable[None]] | None
) -> Response:
    if before_request is not None:
        await before_request(request)
    return await model.respond(request)


async def _run_tool(
    agent: str,
    call: ToolUse,
    tools: dict[str, Tool],
    ctx: ToolContext,
    emit: Listener,
    authorize: Authorize | None,
    after_tool: AfterTool | None,
) -> ToolResult:
    """Run one tool call; model mistakes and denials become `is_error` results."""
    emit(ToolStarted(agent=agent, call=call))
    started = time.monotonic()
    tool = tools.get(call.name)
    try:
        if tool is None:
            raise ToolError(f"unknown tool {call.name!r}; available: {', '.join(tools) or 'none'}")
        denial = await authorize(call) if authorize is not None else None
        if denial is not None:
            raise ToolError(denial)
        result = ToolResult(call.id, await tool.run(call.input, ctx))
    except ToolError as exc:
        # The model caused this (or was refused) and can adapt: tell it, as Claude Code does.
        result = ToolResult(call.id, f"<tool_use_error>{exc}</tool_use_error>", is_error=True)
    if after_tool is not None:
        await after_tool(call, result)
    emit(ToolFinished(agent=agent, call=call, result=result, elapsed_s=time.monotonic() - started))
    return result
