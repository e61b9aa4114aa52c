"""`TeamworkModel`: a deterministic, network-free model that plays every member of an agent team.

For the team board's tests and the browser test's notebook: a teammate claims the task it is told
is available (`TaskUpdate` in_progress), then, a turn later, completes it and tells the lead
(`SendMessage` with a summary); the lead greets the team once, then waits, and gives a final
answer when told that every task is completed.  So a team on it works through its list, blockers
included, and ends on its own.  Each turn takes `delay` seconds; it costs nothing ("scripted").
"""

from __future__ import annotations

import asyncio
import re

from agentbook.messages import Block, Request, Response, Text, ToolResult, ToolUse, Usage

__all__ = ["TeamworkModel"]


class TeamworkModel:
    """See the module docstring."""

    name = "scripted"
    description = "deterministic agent-team model (no network)"

    def __init__(self, delay: float = 0.2) -> None:
        self.delay = delay

    async def aclose(self) -> None:
        return None

    async def respond(self, request: Request) -> Response:
        first = next(m.text for m in request.messages if m.role == "user" and m.text)
        me = re.match(r"You are (\w[\w-]*)", first)
        name = me[1] if me else "member"
        turn = sum(m.role == "assistant" for m in request.messages)
        last = request.messages[-1]
        told = last.text + "".join(b.content for b in last.content if isinstance(b, ToolResult))
        await asyncio.sleep(self.delay)
        blocks = _lead(turn, told) if ", the lead of" in first else _teammate(name, turn, told)
        stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
        return Response(f"msg_team_{name}_{turn}", self.name, blocks, stop, Usage(200 + 40 * turn, 30))


def _lead(turn: int, told: str) -> tuple[Block, ...]:
    if turn == 0:
        hello = {"to": "*", "summary": "kick-off", "message": "Claim the available tasks, please."}
        return (ToolUse("l0", "SendMessage", hello),)
    if "Every task is completed" in told:
        return (Text("Final answer: every task is completed."),)
    return (Text("Waiting for the team."),)


def _teammate(me: str, turn: int, told: str) -> tuple[Block, ...]:
    claimed = re.search(r"Updated task #(\d+): status in_progress", told)
    if claimed:
        task = claimed[1]
        note = {"to": "lead", "summary": f"#{task} done", "message": f"{me} completed task #{task}."}
        return (
            ToolUse(f"{me}{turn}a", "TaskUpdate", {"taskId": task, "status": "completed"}),
            ToolUse(f"{me}{turn}b", "SendMessage", note),
        )
    free = re.search(r"A task is available: #(\d+)", told)
    if free:
        return (ToolUse(f"{me}{turn}", "TaskUpdate", {"taskId": free[1], "status": "in_progress"}),)
    return (Text(f"{me}: nothing to do now."),)
