"""The `Agent` tool (Claude Code's, formerly `Task`): a model spawns a sub-agent and gets its
final answer back as the tool result, or (`run_in_background`) its id at once and its answer
later, as a notification (`agentbook.agent.inbox`), checked on with `TaskOutput` and stopped with
`TaskStop` (`agentbook.tools.tasks`).

The tool only validates and delegates: `spawn` (given by the scheduler, `agentbook.scheduler.wiring`)
decides which agent type runs, on which model, under which gate and depth limit, and writes its
transcript as a sidechain of the caller's session.  Several Agent calls in one response run at
once, because the loop runs one response's tool calls concurrently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentbook.tools.base import ToolContext, validate_input

__all__ = ["GENERAL_PURPOSE", "AgentTool", "Spawn", "SubagentRequest"]


@dataclass(frozen=True)
class SubagentRequest:
    """What the model asked for: Claude Code's Agent input."""

    description: str
    prompt: str
    subagent_type: str
    model: str | None
    background: bool | None = None
    """`run_in_background`: `None` when the model did not say (the agent type's default)."""
    resume: str | None = None
    """The id of an ended sub-agent of the caller's to continue with `prompt`."""


Spawn = Callable[[SubagentRequest, ToolContext], Awaitable[str]]

GENERAL_PURPOSE = "general-purpose"


class AgentTool:
    """Launches a sub-agent; `agent_types` maps each available type to its description."""

    name = "Agent"

    def __init__(self, spawn: Spawn, agent_types: Mapping[str, str]) -> None:
        self._spawn = spawn
        self.agent_types = dict(agent_types)
        listed = "\n".join(f"- {name}: {text}" for name, text in sorted(self.agent_types.items()))
        self.description = (
            "Launch a new agent to handle a complex, multi-step task on its own. It starts with a "
            "fresh context, works with its own tools, and returns one final message, which is all you "
            "see of its work: ask it for exactly what you need back, concisely. Launch several in one "
            "response to run them in parallel.\n\nAvailable agent types:\n" + listed
        )
        self.input_schema: dict[str, Any] = {
            "type": "object",
            "properties": {
                "description": {
                    "type": "string",
                    "description": "A short (3-5 word) description of the task",
                },
                "prompt": {"type": "string", "description": "The task for the agent to perform"},
                "subagent_type": {"type": "string", "description": "The type of agent to use"},
                "model": {"type": "string", "description": "Optional model alias or id for this agent"},
                "run_in_background": {
                    "type": "boolean",
                    "description": "Set to true to run this agent in the background. You get its id at "
                    "once and a notification when it completes; check on it with TaskOutput, stop it "
                    "with TaskStop.",
                },
                "resume": {
                    "type": "string",
                    "description": "Optional id of an agent you launched earlier that has ended (failed "
                    "or stopped, say): it continues from its transcript with this prompt.",
                },
            },
            "required": ["description", "prompt"],
            "additionalProperties": False,
        }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        args = validate_input(self.input_schema, input)
        request = SubagentRequest(
            description=args["description"],
            prompt=args["prompt"],
            subagent_type=args.get("subagent_type") or GENERAL_PURPOSE,
            model=args.get("model"),
            background=args.get("run_in_background"),
            resume=args.get("resume"),
        )
        return await self._spawn(request, ctx)
