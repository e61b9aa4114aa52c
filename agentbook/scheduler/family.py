"""One agent's background sub-agents: started at once, read (`TaskOutput`), stopped (`TaskStop`),
and each one's end posted to the parent's inbox as Claude Code's `<task-notification>`.

The wiring (`agentbook.scheduler.wiring`) makes one `Family` per agent that has the `Agent` tool
and gives its inbox to that agent's turn loop; children are ordinary records of the run (named
`<parent>/<n>-<slug>`), under the run's gate, concurrency cap and depth limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from agentbook.agent.inbox import Inbox
from agentbook.scheduler.records import ENDED, AgentRecord
from agentbook.tools.base import ToolError

__all__ = ["Family", "launched", "notification"]

# Claude Code's task statuses for an agent's states (a partial child can be resumed: "failed").
_STATUS = {"done": "completed", "cancelled": "killed"}


@dataclass
class _Child:
    record: AgentRecord
    description: str
    task: asyncio.Task[Any] | None
    """`None` for a child of an earlier process (`adopt`)."""


class Family:
    """The background children of one agent, by id (their `agent_id`).

    `idle()` is entered while the parent waits for them; `tasks` are the run's agent tasks, by
    name (a child the user resumed runs in a new one); `settle(record)` ends a child whose task
    was cancelled before it ever ran."""

    def __init__(
        self,
        idle: Callable[[], AbstractAsyncContextManager[None]],
        tasks: Mapping[str, asyncio.Task[Any]],
        settle: Callable[[AgentRecord], None],
    ) -> None:
        self.inbox = Inbox(idle)
        self._idle, self._tasks, self._settle = idle, tasks, settle
        self._children: dict[str, _Child] = {}

    def start(
        self, record: AgentRecord, description: str, work: Coroutine[Any, Any, Any]
    ) -> asyncio.Task[Any]:
        """Run `work` (the child's agent) as a task of its own, its end posted to the inbox."""
        task = asyncio.get_running_loop().create_task(work)
        self._children[record.agent_id] = _Child(record, description, task)
        self.inbox.expect()

        def ended(_: object) -> None:
            self._settle(record)
            self.inbox.post(notification(record, description))

        task.add_done_callback(ended)
        return task

    def adopt(self, record: AgentRecord, description: str, *, untold: bool) -> None:
        """A child launched before a restart (it has ended); `untold`: its end never reached the
        parent, which gets its notification now."""
        self._children[record.agent_id] = _Child(record, description, None)
        if untold:
            self.inbox.post(notification(record, description))

    def running(self) -> list[asyncio.Task[Any]]:
        """The tasks this family started that still run (not one a user's resume started)."""
        return [c.task for c in self._children.values() if c.task is not None and not c.task.done()]

    async def output(self, task_id: str, *, block: bool, timeout_s: float) -> str:
        child = self._child(task_id)
        task = self._task(child)
        if block and task is not None and not task.done():
            async with self._idle():
                await asyncio.wait({task}, timeout=timeout_s)  # never cancels the child
        record = child.record
        ended = record.state in ENDED
        retrieval = "success" if ended else ("timeout" if block else "not_ready")
        status = _STATUS.get(record.state, "failed") if ended else "running"
        text = record.text if ended else f"(still working: {record.turns} turns so far)"
        if ended and status == "failed" and record.error:
            text = f"{record.error}\n{text}".strip()
        return (
            f"<retrieval_status>{retrieval}</retrieval_status>\n<task_id>{task_id}</task_id>\n"
            f"<task_type>local_agent</task_type>\n<status>{status}</status>\n<output>{text}</output>"
        )

    async def stop(self, task_id: str) -> str:
        child = self._child(task_id)
        task = self._task(child)
        if task is None or task.done():
            raise ToolError(f"agent {task_id} has ended already ({child.record.state})")
        task.cancel()
        await asyncio.wait({task})
        return f"Stopped agent {task_id} ({child.description}): {child.record.state}"

    def stop_all(self) -> None:
        """Cancel every child still running (their parent ended)."""
        for task in self.running():
            task.cancel()

    def _task(self, child: _Child) -> asyncio.Task[Any] | None:
        """The task the child runs in now: its own, or the one a resume gave it."""
        return self._tasks.get(child.record.name) or child.task

    def record(self, task_id: str) -> AgentRecord:
        return self._child(task_id).record

    def _child(self, task_id: str) -> _Child:
        child = self._children.get(task_id)
        if child is None:
            known = ", ".join(f"{i} ({c.description})" for i, c in self._children.items()) or "none"
            raise ToolError(f"no background agent {task_id!r} of yours; yours: {known}")
        return child


def launched(record: AgentRecord) -> str:
    """What the `Agent` call of a background child returns at once."""
    return (
        f"Async agent launched successfully.\nagentId: {record.agent_id} (use it with TaskOutput to "
        "check on it, TaskStop to stop it, or Agent's resume to continue it once it has ended)\n"
        "You will be notified when it completes: do not wait for it unless you have nothing else to do."
    )


def notification(record: AgentRecord, description: str) -> str:
    """Claude Code's `<task-notification>` for `record`'s end."""
    status = _STATUS.get(record.state, "failed")
    summary = {"completed": "completed", "killed": "was stopped"}.get(status, f"failed: {record.error}")
    return (
        f"<task-notification>\n<task-id>{record.agent_id}</task-id>\n<status>{status}</status>\n"
        f'<summary>Agent "{description}" {summary}</summary>\n<result>{record.text}</result>\n'
        "</task-notification>"
    )
