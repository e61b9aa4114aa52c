"""Claude Code's `TaskOutput` and `TaskStop`: a coordinator checks on and stops the background
sub-agents it launched with the `Agent` tool.

The tools validate their input and delegate to `Children` (given by the scheduler,
`agentbook.scheduler.family`), which knows the caller's children by id.
"""

from __future__ import annotations

from typing import Any, Protocol

from agentbook.tools.base import ToolContext, ToolError, validate_input

__all__ = ["DEFAULT_TIMEOUT_MS", "MAX_TIMEOUT_MS", "Children", "TaskOutput", "TaskStop"]

DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 600_000

_OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task_id": {"type": "string", "description": "The id of the agent to read"},
        "block": {"type": "boolean", "description": "Whether to wait for it to end (default true)"},
        "timeout": {
            "type": "number",
            "description": f"How long to wait, in milliseconds (default {DEFAULT_TIMEOUT_MS}, "
            f"at most {MAX_TIMEOUT_MS})",
        },
    },
    "required": ["task_id"],
    "additionalProperties": False,
}
_STOP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"task_id": {"type": "string", "description": "The id of the agent to stop"}},
    "required": ["task_id"],
    "additionalProperties": False,
}


class Children(Protocol):
    """The background sub-agents of one agent."""

    async def output(self, task_id: str, *, block: bool, timeout_s: float) -> str:
        """The child's status and, once it has ended, its result; `ToolError` for an unknown id."""
        ...

    async def stop(self, task_id: str) -> str:
        """Stop the child (and its own children); `ToolError` for an unknown or ended one."""
        ...


class TaskOutput:
    """Read a background sub-agent's status and result, waiting for its end or not."""

    name = "TaskOutput"
    description = (
        "Retrieves the output of a background agent you launched (Agent with run_in_background). "
        "With block=true (the default) it waits until the agent ends or the timeout passes; with "
        "block=false it returns its current status at once. You are also notified when an agent "
        "ends, so block only when you have nothing else to do."
    )
    input_schema: dict[str, Any] = _OUTPUT_SCHEMA

    def __init__(self, children: Children) -> None:
        self._children = children

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        args = validate_input(self.input_schema, input)
        timeout = args.get("timeout", DEFAULT_TIMEOUT_MS)
        if isinstance(timeout, bool) or not 0 <= timeout <= MAX_TIMEOUT_MS:
            raise ToolError(f"timeout must be 0 to {MAX_TIMEOUT_MS} milliseconds, not {timeout!r}")
        return await self._children.output(
            args["task_id"], block=args.get("block", True), timeout_s=timeout / 1000
        )


class TaskStop:
    """Stop a background sub-agent."""

    name = "TaskStop"
    description = "Stops a running background agent you launched, by its id."
    input_schema: dict[str, Any] = _STOP_SCHEMA

    def __init__(self, children: Children) -> None:
        self._children = children

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        args = validate_input(self.input_schema, input)
        return await self._children.stop(args["task_id"])
