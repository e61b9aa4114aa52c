"""In-process hooks: callbacks before a tool runs (which may deny it), after it runs, and at an
agent's start and end.  Each may be a plain function or a coroutine function.

A `pre_tool` hook returns `None` to let the call go on, or a string: the call is denied and the
model sees that string as the tool's error.  A `post_tool` hook may return a string too: feedback
the model sees after the call's result.  A `before_stop(agent, final_text, active)` hook runs when
the model gives its final answer: a string keeps the agent going, with that string as the next
user message (`active` is true once a hook has done so before; `max_turns` still bounds it).
Two more give agents what a layer above has for them (an agent team's, `agentbook.teams`):
`agent_tools(agent)` tools on top of its definition's, and `incoming(agent)` texts to add to its
conversation before its next request (messages, which must be taken once: the hook's to say).
Hooks run on agentbook's background thread; an exception in a hook is a harness error for that
agent (it ends, failed, with the hook's error), because a hook that cannot decide must not
silently allow.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentbook.messages import ToolResult, ToolUse
from agentbook.tools.base import Tool

__all__ = ["AgentTools", "BeforeStop", "Hooks", "Incoming", "OnAgent", "OnAgentEnd", "PostTool", "PreTool"]

PreTool = Callable[[str, ToolUse], "Awaitable[str | None] | str | None"]
PostTool = Callable[[str, ToolUse, ToolResult], "Awaitable[str | None] | str | None"]
BeforeStop = Callable[[str, str, bool], "Awaitable[str | None] | str | None"]
OnAgent = Callable[[str], "Awaitable[None] | None"]
OnAgentEnd = Callable[[str, Any], "Awaitable[None] | None"]
AgentTools = Callable[[str], Sequence[Tool]]
Incoming = Callable[[str], Sequence[str]]


@dataclass
class Hooks:
    """Lists of callbacks; `pre_tool(agent, call)`, `post_tool(agent, call, result)`,
    `on_start(agent)`, `before_stop(agent, final_text, active)`, `on_end(agent, result)` (an
    `AgentResult`), `on_tool_start(agent, call)` (after a call is allowed and its start recorded,
    before it runs: a cluster worker waits there until that record is safe in the notebook)."""

    pre_tool: list[PreTool] = field(default_factory=list)
    post_tool: list[PostTool] = field(default_factory=list)
    on_start: list[OnAgent] = field(default_factory=list)
    on_end: list[OnAgentEnd] = field(default_factory=list)
    before_stop: list[BeforeStop] = field(default_factory=list)
    agent_tools: list[AgentTools] = field(default_factory=list)
    incoming: list[Incoming] = field(default_factory=list)
    on_tool_start: list[PreTool] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("pre_tool", "post_tool", "on_start", "on_end", "before_stop", "agent_tools", "incoming",
                     "on_tool_start"):  # fmt: skip
            hooks = getattr(self, name)
            if not isinstance(hooks, list) or not all(callable(h) for h in hooks):
                raise TypeError(f"Hooks.{name} must be a list of functions, not {hooks!r}")

    async def before_tool(self, agent: str, call: ToolUse) -> str | None:
        """The first denial any `pre_tool` hook gives, or `None`."""
        for hook in self.pre_tool:
            denial = await _call(hook, agent, call)
            if denial is not None:
                return str(denial)
        return None

    async def tool_started(self, agent: str, call: ToolUse) -> None:
        for hook in self.on_tool_start:
            await _call(hook, agent, call)

    async def after_tool(self, agent: str, call: ToolUse, result: ToolResult) -> str | None:
        """What the `post_tool` hooks have to tell the model (joined), or `None`."""
        said = [str(s) for hook in self.post_tool if (s := await _call(hook, agent, call, result))]
        return "\n".join(said) or None

    async def stopping(self, agent: str, text: str, active: bool) -> str | None:
        """The first reason a `before_stop` hook gives to keep the agent going, or `None`."""
        for hook in self.before_stop:
            reason = await _call(hook, agent, text, active)
            if reason:
                return str(reason)
        return None

    def tools_for(self, agent: str) -> list[Tool]:
        """The tools the `agent_tools` hooks give `agent` (synchronous: called as it is wired)."""
        return [tool for hook in self.agent_tools for tool in hook(agent)]

    def take_incoming(self, agent: str) -> list[str]:
        """What the `incoming` hooks have for `agent` now (synchronous, before each request)."""
        return [str(text) for hook in self.incoming for text in hook(agent)]

    async def started(self, agent: str) -> None:
        for hook in self.on_start:
            await _call(hook, agent)

    async def ended(self, agent: str, result: Any) -> None:
        for hook in self.on_end:
            await _call(hook, agent, result)


async def _call(hook: Callable[..., Any], *args: Any) -> Any:
    value = hook(*args)
    if inspect.isawaitable(value):
        value = await value
    return value
