"""Sub-agents: what the `Agent`, `TaskOutput` and `TaskStop` tools of one agent do in the run.

A child is an ordinary record of the run, named `<parent>/<n>-<slug>`, a sidechain of the run's
session, one level deeper (no `Agent` tool at the depth limit, as in Claude Code).  A blocking
child runs in its parent's concurrency slot (the parent waits for it) and its answer is the
tool result; a background child (`run_in_background`, or its type's `background: true`) takes a
slot of its own and reports through the parent's `Family` (`agentbook.scheduler.family`).  A
coordinator may continue an ended child of its own with `resume`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from agentbook.agent.inbox import Inbox
from agentbook.messages import Message
from agentbook.models.base import estimate_tokens
from agentbook.scheduler.family import Family, launched
from agentbook.scheduler.forking import FORK, fork_history, is_fork, write_inherited
from agentbook.scheduler.records import ENDED, AgentRecord
from agentbook.scheduler.resuming import resume_history
from agentbook.specs import AgentSpec, Task
from agentbook.tools import ToolError
from agentbook.tools.agent import GENERAL_PURPOSE, AgentTool, SubagentRequest
from agentbook.tools.base import Tool
from agentbook.tools.tasks import TaskOutput, TaskStop

if TYPE_CHECKING:
    from agentbook.scheduler.wiring import Wiring

__all__ = ["Spawner", "agent_types"]

FORK_TYPE = (
    "a copy of you that starts from this conversation so far (what you read and know), with your "
    "tools; its prompt needs only the part it is to do"
)


def agent_types(agents: Mapping[str, AgentSpec]) -> dict[str, str]:
    """The Agent tool's types and their descriptions: the built-in two, then the run's."""
    return {GENERAL_PURPOSE: "a general agent with every tool", FORK: FORK_TYPE} | {
        n: s.description for n, s in agents.items()
    }


class Spawner:
    """The sub-agent tools of a run's agents, and the families of their background children."""

    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring
        self.run = wiring.run
        self.families: dict[str, Family] = {}

    def tools(self, parent: AgentRecord) -> list[Tool]:
        """`Agent`, `TaskOutput` and `TaskStop` for `parent` (its family made now, kept across
        its resumes)."""
        family = self.family(parent)
        return [
            AgentTool(lambda req, ctx: self.spawn(parent, req), agent_types(self.run.config.agents)),
            TaskOutput(family),
            TaskStop(family),
        ]

    def inbox(self, parent: AgentRecord) -> Inbox | None:
        """`parent`'s inbox, if it has the Agent tool (its `tools` were made)."""
        family = self.families.get(parent.name)
        return family.inbox if family is not None else None

    def ended(self, parent: AgentRecord) -> None:
        """`parent`'s turn loop ended: its background children still running are cancelled
        (nothing would read their notifications)."""
        family = self.families.get(parent.name)
        if family is not None:
            family.stop_all()

    def family(self, parent: AgentRecord) -> Family:
        """`parent`'s family, made on first use: with the background children it launched
        before a restart (its transcript says "agentId: <id>" for each), and a notification
        for each whose end it never got."""
        if parent.name not in self.families:
            family = self.families[parent.name] = Family(
                lambda: self.wiring.slots.idle(parent.name), self.run.tasks, self._settle
            )
            said = parent.transcript.read_text(errors="replace") if parent.transcript.is_file() else ""
            for child in (r for r in self.run.records.values() if r.parent == parent.name):
                if f"agentId: {child.agent_id}" in said:
                    untold = child.state in ENDED and f"<task-id>{child.agent_id}</task-id>" not in said
                    family.adopt(child, child.task.name.rpartition("/")[2], untold=untold)
        return self.families[parent.name]

    def _settle(self, record: AgentRecord) -> None:
        if record.state == "pending":  # cancelled before its task ever ran: say so
            self.wiring.end(record, "cancelled", "cancelled before start")

    async def spawn(self, parent: AgentRecord, request: SubagentRequest) -> str:
        """Run the child `request` asks for; its answer, or (in the background) its id."""
        kind = self.run.config.agents.get(request.subagent_type)  # a fork's, not its wiring's
        if request.resume:
            record, history = self._resumed(parent, request)
            kind = self.wiring.spec(record.task)
        elif parent.depth >= self.run.config.max_depth:  # a fork's Agent tool, at the limit
            raise ToolError(
                f"no sub-agents at depth {parent.depth + 1}: the run's max_depth is {parent.depth}"
            )
        else:
            record, history = self._new(parent, request), []
            if is_fork(record.task):
                history = fork_history(parent, request.prompt, kind)
                write_inherited(self.wiring.writer(record), parent, history)
        prompt = request.prompt if request.resume else None  # a fork's prompt ends its history
        background = request.background if request.background is not None else bool(kind and kind.background)
        max_turns = self.run.config.max_turns
        if background:
            work = self.wiring.drive(record, prompt, history, max_turns)  # a slot of its own
            task = self.run.tasks[record.name] = self.family(parent).start(record, request.description, work)
            self.run.track(task)  # the run ends after its children, not before
            return launched(record)
        return await self._blocking(parent, record, prompt, history)

    async def _blocking(
        self, parent: AgentRecord, record: AgentRecord, prompt: str | None, history: list[Message]
    ) -> str:
        # Its own task, so `cancel(name)` can stop the sub-agent alone; cancelling the parent
        # cancels it too, because a cancelled await cancels the task it awaits.  Started once
        # the parent's slot is lent to it (the parent may be idle in a TaskOutput beside it).
        async with self.wiring.slots.lend(parent.name, record.name):
            child = asyncio.get_running_loop().create_task(
                self.wiring.drive(record, prompt, history, self.run.config.max_turns, slot=False)
            )
            self.run.tasks[record.name] = child
            result = await child
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            # The parent was cancelled: its child took the cancellation and ended, so say it here.
            raise asyncio.CancelledError
        if result is None:
            raise ToolError(f"sub-agent {record.name} ended {record.state}: {record.error}")
        record.result_tokens = estimate_tokens(result.text)
        if result.state != "done":
            raise ToolError(
                f"sub-agent {record.name} (id {record.agent_id}) ended {result.state}: {result.error}; "
                f"last output: {result.text[:500]}"
            )
        return result.text

    def _new(self, parent: AgentRecord, request: SubagentRequest) -> AgentRecord:
        agents, kind = self.run.config.agents, request.subagent_type
        if kind not in (GENERAL_PURPOSE, FORK) and kind not in agents:
            known = ", ".join([GENERAL_PURPOSE, FORK, *agents])
            raise ToolError(f"unknown subagent_type {kind!r}; available: {known}")
        number = sum(1 for r in self.run.records.values() if r.parent == parent.name) + 1
        slug = re.sub(r"[^\w.-]+", "-", request.description.strip().lower()).strip("-")[:40] or "agent"
        name = f"{parent.name}/{number}-{slug}"
        if kind == FORK or (kind in agents and agents[kind].context == FORK):
            # Wired as its caller (`agentbook.scheduler.forking`): the caller's definition and model.
            task = Task(name, request.prompt, agent=parent.task.agent, model=parent.task.model,
                        metadata={"context": FORK})  # fmt: skip
        else:
            agent = None if kind == GENERAL_PURPOSE else kind
            task = Task(name, request.prompt, agent=agent, model=request.model)
        return self.run.add(task, depth=parent.depth + 1, parent=parent.name)

    def _resumed(self, parent: AgentRecord, request: SubagentRequest) -> tuple[AgentRecord, list[Message]]:
        """The ended child `request.resume` names, and the conversation it continues."""
        mine = {r.agent_id: r for r in self.run.records.values() if r.parent == parent.name}
        record = mine.get(request.resume or "")
        if record is None:
            known = ", ".join(f"{i} ({r.name})" for i, r in mine.items()) or "none"
            raise ToolError(f"no sub-agent {request.resume!r} of yours to resume; yours: {known}")
        try:
            history = resume_history(record, self.run.records, self.run.isolation, by_parent=True)
        except (RuntimeError, ValueError) as exc:
            raise ToolError(f"cannot resume {request.resume}: {exc}") from None
        record.state = "pending"
        return record, history
