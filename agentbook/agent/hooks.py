"""In-process hooks: callbacks before a tool runs (which may deny it), after it runs, and at an
agent's start and end.  Each may be a plain function or a coroutine function.

A `pre_tool` hook returns `None` to let the call go on, or a string: the call is denied and the
model sees that string as the tool's error.  Hooks run on agentbook's background thread; an exception in
a hook is a harness error for that agent (it ends, failed, with the hook's error), because a
hook that cannot decide must not silently allow.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agentbook.messages import ToolResult, ToolUse

__all__ = ["Hooks", "OnAgent", "OnAgentEnd", "PostTool", "PreTool"]

PreTool = Callable[[str, ToolUse], "Awaitable[str | None] | str | None"]
PostTool = Callable[[str, ToolUse, ToolResult], "Awaitable[None] | None"]
OnAgent = Callable[[str], "Awaitable[None] | None"]
OnAgentEnd = Callable[[str, Any], "Awaitable[None] | None"]


@dataclass
class Hooks:
    """Lists of callbacks; `pre_tool(agent, call)`, `post_tool(agent, call, result)`,
    `on_start(agent)`, `on_end(agent, result)` (an `AgentResult`)."""

    pre_tool: list[PreTool] = field(default_factory=list)
    post_tool: list[PostTool] = field(default_factory=list)
    on_start: list[OnAgent] = field(default_factory=list)
    on_end: list[OnAgentEnd] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("pre_tool", "post_tool", "on_start", "on_end"):
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

    async def after_tool(self, agent: str, call: ToolUse, result: ToolResult) -> None:
        for hook in self.post_tool:
            await _call(hook, agent, call, result)

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
