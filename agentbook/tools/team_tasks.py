"""The shared task list of an agent team, and Claude Code's tools over it: `TaskCreate`,
`TaskList`, `TaskGet` and `TaskUpdate`.

A team (a lead and teammates, long-running agents of one run, `agentbook.teams`) coordinates
through one `TaskBoard`: the lead breaks the work into tasks with dependencies, each teammate
claims an available one, works on it and marks it completed, which frees what it blocked.  The
board (`agentbook.tools._taskboard`, on the file of `agentbook.tools._taskfile`) makes claims
atomic and persists every change; this module gives each member its own tools over it, made for
that member (`TaskUpdateTool(board, me="researcher")`: its claims and changes are by
"researcher").  The board's refusals (an unknown id, a task another owns, a cycle) come back to
the model as `ToolError`s; a disk failure is a harness error and ends the agent.  The tools make
their changes in a worker thread (`asyncio.to_thread`), so that an fsync never stalls the event
loop the agents share; the board's subscribers are called on that thread.

The input schemas are Claude Code 2.1.216's (`sdk-tools.d.ts` of `@anthropic-ai/claude-agent-sdk`
0.3.216: `TaskCreateInput {subject, description, activeForm?, metadata?}`, `TaskGetInput
{taskId}`, `TaskListInput {}`, `TaskUpdateInput {taskId, subject?, description?, activeForm?,
status?: pending | in_progress | completed | deleted, addBlocks?, addBlockedBy?, owner?,
metadata?}`), without `metadata`, which agentbook does not store.  The outputs are short texts
in the manner of Claude Code's ("Task #1 created successfully: ...", one TaskList line a task).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from agentbook.tools._taskboard import BoardError, TaskBoard, TaskChange
from agentbook.tools._taskfile import STATUSES, TaskStatus, TeamTask
from agentbook.tools.base import Tool, ToolContext, ToolError, validate_input

__all__ = [
    "STATUSES",
    "BoardError",
    "TaskBoard",
    "TaskChange",
    "TaskCreateTool",
    "TaskGetTool",
    "TaskListTool",
    "TaskStatus",
    "TaskUpdateTool",
    "TeamTask",
    "task_tools",
]

_ID = {"type": "string", "description": 'The id of the task ("1", "2", ...)'}
_ACTIVE = {
    "type": "string",
    "description": 'Present continuous form shown while the task is in progress (e.g. "Running tests")',
}
_IDS = {"type": "array", "items": {"type": "string"}}

_CREATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "subject": {"type": "string", "description": "A brief title for the task, in imperative form"},
        "description": {"type": "string", "description": "What needs to be done"},
        "activeForm": _ACTIVE,
    },
    "required": ["subject", "description"],
    "additionalProperties": False,
}
_GET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"taskId": _ID},
    "required": ["taskId"],
    "additionalProperties": False,
}
_LIST_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
_UPDATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "taskId": _ID,
        "subject": {"type": "string", "description": "New subject for the task"},
        "description": {"type": "string", "description": "New description for the task"},
        "activeForm": _ACTIVE,
        "status": {
            "type": "string",
            "enum": [*STATUSES, "deleted"],
            "description": "New status for the task; 'deleted' removes it for good",
        },
        "addBlocks": {**_IDS, "description": "Task ids that cannot start until this one is completed"},
        "addBlockedBy": {**_IDS, "description": "Task ids that must be completed before this one starts"},
        "owner": {
            "type": "string",
            "description": "New owner for the task (a team member's name; your own name claims it, "
            "an empty string releases it)",
        },
    },
    "required": ["taskId"],
    "additionalProperties": False,
}


class TaskCreateTool:
    """Add a pending task to the team's list, on behalf of `me`."""

    name = "TaskCreate"
    description = (
        "Creates a task in the team's shared task list, with status pending. Use it to break "
        "multi-step work into tasks teammates can claim. Give a short imperative subject, a "
        "description of what needs to be done, and optionally an activeForm. Set dependencies "
        "afterwards with TaskUpdate (addBlockedBy / addBlocks). Check TaskList first to avoid "
        "duplicates."
    )
    input_schema: dict[str, Any] = _CREATE_SCHEMA

    def __init__(self, board: TaskBoard, me: str) -> None:
        self._board, self._me = board, me

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        args = validate_input(self.input_schema, input)
        try:
            task = await asyncio.to_thread(
                self._board.create,
                args["subject"],
                args["description"],
                active_form=args.get("activeForm"),
                by=self._me,
            )
        except BoardError as exc:
            raise ToolError(str(exc)) from None
        return f"Task #{task.id} created successfully: {task.subject}"


class TaskListTool:
    """Every task of the team's list, one line each."""

    name = "TaskList"
    description = (
        "Lists every task in the team's shared task list: id, status, owner, subject, and the "
        "open tasks blocking it. A task is available to claim when it is pending, has no owner "
        "and is not blocked; prefer the lowest id. Use TaskGet for a task's full description."
    )
    input_schema: dict[str, Any] = _LIST_SCHEMA

    def __init__(self, board: TaskBoard) -> None:
        self._board = board

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        validate_input(self.input_schema, input)
        tasks = self._board.list()
        if not tasks:
            return "No tasks found"
        by_id = {task.id: task for task in tasks}
        return "\n".join(_line(task, by_id) for task in tasks)


class TaskGetTool:
    """One task in full."""

    name = "TaskGet"
    description = (
        "Retrieves a task from the team's shared task list by id: subject, status, owner, full "
        "description, and its dependencies. Read a task's latest state before updating it."
    )
    input_schema: dict[str, Any] = _GET_SCHEMA

    def __init__(self, board: TaskBoard) -> None:
        self._board = board

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        args = validate_input(self.input_schema, input)
        try:
            task = self._board.get(args["taskId"])
            blockers = [self._board.get(i) for i in task.blocked_by]
        except BoardError as exc:
            raise ToolError(str(exc)) from None
        lines = [f"Task #{task.id}: {task.subject}", f"Status: {task.status}"]
        if task.owner:
            lines.append(f"Owner: {task.owner}")
        lines.append(f"Description: {task.description}")
        if blockers:
            lines.append("Blocked by: " + ", ".join(f"#{t.id} ({t.status})" for t in blockers))
        if task.blocks:
            lines.append("Blocks: " + ", ".join(f"#{i}" for i in task.blocks))
        return "\n".join(lines)


class TaskUpdateTool:
    """Change, claim, complete or delete a task, on behalf of `me`.

    `lead`: `me` leads the team and may change tasks other members own (reassign a stalled
    teammate's task).  `members`, when given, are the names `owner` may take.
    """

    name = "TaskUpdate"
    description = (
        "Updates a task in the team's shared task list. Set status to in_progress when you start "
        "a task (this claims it for you if it has no owner) and to completed only when it is "
        "fully done; 'deleted' removes a task that is no longer needed. Claim a task by setting "
        "owner to your own name; you can only change tasks you own or that have no owner. A task "
        "cannot start while a task blocking it is not completed. After completing a task, call "
        "TaskList to find your next one."
    )
    input_schema: dict[str, Any] = _UPDATE_SCHEMA

    def __init__(
        self, board: TaskBoard, me: str, *, lead: bool = False, members: Collection[str] | None = None
    ) -> None:
        self._board, self._me, self._lead = board, me, lead
        self._members = None if members is None else tuple(members)

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        args = validate_input(self.input_schema, input)
        id, changes = args.pop("taskId"), args
        if not changes:
            raise ToolError(f"nothing to update; give at least one of: {', '.join(_UPDATE_FIELDS)}")
        self._check_owner_name(changes.get("owner"))
        try:
            if changes.get("status") == "deleted":
                return await self._delete(id, changes)
            before = self._board.get(id)
            after = await asyncio.to_thread(
                self._board.update,
                id,
                by=self._me,
                status=changes.get("status"),
                owner=changes.get("owner"),
                subject=changes.get("subject"),
                description=changes.get("description"),
                active_form=changes.get("activeForm"),
                add_blocks=_id_list(changes, "addBlocks"),
                add_blocked_by=_id_list(changes, "addBlockedBy"),
                force=self._lead,
            )
        except BoardError as exc:
            raise ToolError(str(exc)) from None
        changed = _changed(before, after)
        return f"Updated task #{after.id}: {', '.join(changed)}" if changed else f"Task #{after.id} unchanged"

    async def _delete(self, id: str, changes: dict[str, Any]) -> str:
        if len(changes) > 1:
            others = ", ".join(sorted(k for k in changes if k != "status"))
            raise ToolError(f"status 'deleted' removes the task; send it without {others}")
        task = await asyncio.to_thread(self._board.delete, id, by=self._me, force=self._lead)
        return f"Task #{task.id} deleted: {task.subject}"

    def _check_owner_name(self, owner: str | None) -> None:
        if owner and self._members is not None and owner not in self._members:
            raise ToolError(f"unknown owner {owner!r}; the team's members are: {', '.join(self._members)}")


_UPDATE_FIELDS = [k for k in _UPDATE_SCHEMA["properties"] if k != "taskId"]


def task_tools(
    board: TaskBoard, me: str, *, lead: bool = False, members: Collection[str] | None = None
) -> list[Tool]:
    """The four task tools for member `me` of the team whose list is `board`."""
    return [
        TaskCreateTool(board, me),
        TaskListTool(board),
        TaskGetTool(board),
        TaskUpdateTool(board, me, lead=lead, members=members),
    ]


def _line(task: TeamTask, tasks: dict[str, TeamTask]) -> str:
    """`#2 [pending] Write the parser (owner: researcher) [blocked by #1]`: open blockers only."""
    line = f"#{task.id} [{task.status}] {task.subject}"
    if task.owner:
        line += f" (owner: {task.owner})"
    blockers = [i for i in task.blocked_by if i in tasks and tasks[i].status != "completed"]
    if blockers:
        line += " [blocked by " + ", ".join(f"#{i}" for i in blockers) + "]"
    return line


def _id_list(args: dict[str, Any], key: str) -> list[str]:
    value = args.get(key, [])
    if not all(isinstance(item, str) for item in value):
        raise ToolError(f"parameter {key!r} must be an array of task id strings, got {value!r}")
    return list(value)


def _changed(before: TeamTask, after: TeamTask) -> list[str]:
    """What an update changed, as the model reads it: `status in_progress, owner researcher`."""
    texts = [
        ("subject", before.subject, after.subject),
        ("description", before.description, after.description),
    ]
    out = [
        name
        for name, old, new in [*texts, ("activeForm", before.active_form, after.active_form)]
        if old != new
    ]
    if before.status != after.status:
        out.append(f"status {after.status}")
    if before.owner != after.owner:
        out.append(f"owner {after.owner or '(none)'}")
    for name, old_ids, new_ids in [
        ("blocks", before.blocks, after.blocks),
        ("blockedBy", before.blocked_by, after.blocked_by),
    ]:
        if old_ids != new_ids:
            out.append(f"{name} " + (", ".join(f"#{i}" for i in new_ids) or "(none)"))
    return out
