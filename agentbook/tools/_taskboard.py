"""The task list an agent team shares: `TaskBoard` and its rules (public through
`agentbook.tools.team_tasks`, which also holds Claude Code's tools over it).

A team (a lead and teammates, long-running agents of one run) coordinates through one list of
tasks with dependencies: a teammate claims an available task, works on it, marks it completed,
and what it blocked becomes available to the others.  One `TaskBoard` holds that list for the
whole team: the tools of every member, the team's wake-ups and its live board use the same
instance.  It lives in one JSON file in the run folder (`agentbook.tools._taskfile`), so a run
rebuilt from disk finds the list as it was.

Every change is made under one lock and is all or nothing: it is checked on a copy of the tasks,
written to the file atomically, and only then adopted, so two teammates racing to claim a task
(asyncio tasks on one loop, or threads) never both own it, and a failed write changes nothing.
The board is the file's only writer (one `TaskBoard` per file per process); other processes may
read the file at any time.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from agentbook.redact import redact
from agentbook.tools._subscribers import Subscribers
from agentbook.tools._taskfile import STATUSES, TaskStatus, TeamTask, load_tasks, save_tasks, task_order

__all__ = ["BoardError", "TaskBoard", "TaskChange"]


class BoardError(ValueError):
    """A change the board refuses (an unknown id, an owned task, a cycle): the caller's mistake.

    The tools turn it into a `ToolError`; any other exception (a disk failure) is a harness error.
    """


@dataclass(frozen=True)
class TaskChange:
    """What a subscriber is told after a change: the task as it is now (as it was, if deleted)."""

    kind: Literal["created", "updated", "deleted"]
    task: TeamTask
    by: str | None


class TaskBoard:
    """The team's task list, persisted in `path` (loaded from it when it exists).

    Ids are "1", "2", ... in creation order and never reused.  Reads return frozen snapshots.
    Subscribers are called after every change, on the thread that made it (the tools make their
    changes in a worker thread), outside the lock, so they may read the board; changes made at
    once on two threads may be announced in either order.  One that raises is logged and does not
    stop the others.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._tasks, self._next_id = load_tasks(self.path)
        self._subscribers: Subscribers[TaskChange] = Subscribers(f"the task list {self.path}")

    # --- reads -------------------------------------------------------------------------------

    def get(self, id: str) -> TeamTask:
        """The task `id`; `BoardError` if there is none."""
        with self._lock:
            return _find(self._tasks, id)

    def list(self) -> builtins.list[TeamTask]:
        """Every task, by id."""
        with self._lock:
            return sorted(self._tasks.values(), key=task_order)

    def open_blockers(self, id: str) -> builtins.list[TeamTask]:
        """The tasks blocking `id` that are not completed yet."""
        with self._lock:
            return _open_blockers(self._tasks, _find(self._tasks, id))

    def is_blocked(self, id: str) -> bool:
        """Whether a task blocking `id` is not completed yet."""
        return bool(self.open_blockers(id))

    def available(self) -> builtins.list[TeamTask]:
        """The tasks a teammate may claim now: pending, unowned and unblocked, by id."""
        with self._lock:
            return [
                task
                for task in sorted(self._tasks.values(), key=task_order)
                if task.status == "pending" and task.owner is None and not _open_blockers(self._tasks, task)
            ]

    def all_completed(self) -> bool:
        """Whether there are tasks and every one is completed (`False` for an empty list)."""
        with self._lock:
            return bool(self._tasks) and all(t.status == "completed" for t in self._tasks.values())

    def subscribe(self, callback: Callable[[TaskChange], None]) -> Callable[[], None]:
        """Call `callback(change)` after every change; returns a function that stops it."""
        return self._subscribers.add(callback)

    # --- changes -----------------------------------------------------------------------------

    def create(
        self,
        subject: str,
        description: str,
        *,
        blocked_by: Iterable[str] = (),
        active_form: str | None = None,
        owner: str | None = None,
        by: str | None = None,
    ) -> TeamTask:
        """A new pending task (created by `by`, for subscribers), blocked by `blocked_by`: ids of
        existing tasks, `BoardError` otherwise."""
        if not subject.strip():
            raise BoardError("a task needs a subject")
        subject, description = redact(subject), redact(description)  # it is written to the run folder
        with self._lock:
            tasks = dict(self._tasks)
            id = str(self._next_id)
            tasks[id] = TeamTask(id, subject, description, owner=owner or None, active_form=active_form)
            for blocker in _each(blocked_by):
                _link(tasks, _clean_id(blocker), id)
            self._commit(tasks, self._next_id + 1)
            task = tasks[id]
        self._notify(TaskChange("created", task, by))
        return task

    def update(
        self,
        id: str,
        *,
        by: str,
        status: TaskStatus | None = None,
        owner: str | None = None,
        subject: str | None = None,
        description: str | None = None,
        active_form: str | None = None,
        add_blocks: Iterable[str] = (),
        add_blocked_by: Iterable[str] = (),
        force: bool = False,
    ) -> TeamTask:
        """Change task `id` on behalf of `by`, all or nothing; `None` leaves a field as it is.

        Rules (each refusal a `BoardError`): only the owner changes an owned task, unless `force`
        (the lead reassigning a stalled teammate's task).  `owner=""` releases the task;
        `owner=by` is a claim (refused for a completed or blocked task); another name assigns it.
        `status="in_progress"` starts it (claiming it for `by` when unowned) and, like
        `"completed"`, is refused while a blocker is not completed; a completed task is reopened
        by setting it back to `"pending"`.  New dependencies must name existing tasks and make no
        cycle; they are added before the owner and the status are checked.  A change that changes
        nothing is not written.
        """
        if status is not None and status not in STATUSES:
            raise BoardError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        with self._lock:
            tasks = dict(self._tasks)
            task = _find(tasks, id)
            _check_owner(task, by, force)
            if subject is not None and not subject.strip():
                raise BoardError("a task's subject cannot be empty")
            tasks[task.id] = _edited(task, subject, description, active_form)
            for other in _each(add_blocks):
                _link(tasks, task.id, _clean_id(other))
            for other in _each(add_blocked_by):
                _link(tasks, _clean_id(other), task.id)
            tasks[task.id] = _assigned(tasks, tasks[task.id], owner, by)
            if status is not None:
                tasks[task.id] = _moved(tasks, tasks[task.id], status, by)
            changed = tasks != self._tasks
            if changed:
                self._commit(tasks, self._next_id)
            task = tasks[task.id]
        if changed:
            self._notify(TaskChange("updated", task, by))
        return task

    def claim(self, id: str, owner: str) -> TeamTask:
        """Make `owner` own task `id` and start it, atomically; `BoardError` if another owns it,
        it is completed, or a task blocking it is not completed."""
        return self.update(id, by=owner, owner=owner, status="in_progress")

    def delete(self, id: str, *, by: str, force: bool = False) -> TeamTask:
        """Remove task `id` (and every dependency on it); only its owner may, unless `force`."""
        with self._lock:
            tasks = dict(self._tasks)
            task = _find(tasks, id)
            _check_owner(task, by, force)
            del tasks[task.id]
            for other in [*task.blocks, *task.blocked_by]:
                if other in tasks:
                    tasks[other] = replace(
                        tasks[other],
                        blocks=tuple(i for i in tasks[other].blocks if i != task.id),
                        blocked_by=tuple(i for i in tasks[other].blocked_by if i != task.id),
                    )
            self._commit(tasks, self._next_id)
        self._notify(TaskChange("deleted", task, by))
        return task

    def _commit(self, tasks: dict[str, TeamTask], next_id: int) -> None:
        """Write the new state, then adopt it: a failed write leaves the board as it was."""
        save_tasks(self.path, tasks.values(), next_id)
        self._tasks, self._next_id = tasks, next_id

    def _notify(self, change: TaskChange) -> None:
        self._subscribers.notify(change)


# --- the rules, on a working copy of the tasks ---------------------------------------------------


def _each(ids: Iterable[str]) -> Iterable[str]:
    """`ids`, where one id alone counts as one (not as its characters)."""
    return (ids,) if isinstance(ids, str) else ids


def _clean_id(id: object) -> str:
    """`id` as the board names tasks: "#3" and " 3 " are "3"."""
    if not isinstance(id, str):
        raise BoardError(f"task ids are strings like '1', not {id!r}")
    return id.strip().lstrip("#").strip()


def _find(tasks: dict[str, TeamTask], id: str) -> TeamTask:
    task = tasks.get(_clean_id(id))
    if task is None:
        known = ", ".join(f"#{t.id}" for t in sorted(tasks.values(), key=task_order)) or "none yet"
        raise BoardError(f"no task #{_clean_id(id)}; the tasks are: {known}")
    return task


def _open_blockers(tasks: dict[str, TeamTask], task: TeamTask) -> builtins.list[TeamTask]:
    return [tasks[i] for i in task.blocked_by if i in tasks and tasks[i].status != "completed"]


def _check_owner(task: TeamTask, by: str, force: bool) -> None:
    if task.owner is not None and task.owner != by and not force:
        raise BoardError(f"task #{task.id} is owned by {task.owner}; only {task.owner} can change it")


def _check_startable(tasks: dict[str, TeamTask], task: TeamTask, doing: str) -> None:
    if task.status == "completed" and doing != "complete":
        raise BoardError(f"task #{task.id} is already completed; set it to pending first to reopen it")
    blockers = _open_blockers(tasks, task)
    if blockers:
        waiting = ", ".join(f"#{t.id} ({t.status})" for t in blockers)
        raise BoardError(f"cannot {doing} task #{task.id}: it is blocked by {waiting}")


def _edited(task: TeamTask, subject: str | None, description: str | None, active: str | None) -> TeamTask:
    # Redacted: the task list is written to the run folder.
    return replace(
        task,
        subject=task.subject if subject is None else redact(subject),
        description=task.description if description is None else redact(description),
        active_form=task.active_form if active is None else (redact(active) or None),
    )


def _assigned(tasks: dict[str, TeamTask], task: TeamTask, owner: str | None, by: str) -> TeamTask:
    if owner is None or owner == task.owner:
        return task
    if owner == "":
        return replace(task, owner=None)
    if owner == by:
        _check_startable(tasks, task, "claim")
    return replace(task, owner=owner)


def _moved(tasks: dict[str, TeamTask], task: TeamTask, status: TaskStatus, by: str) -> TeamTask:
    if status == task.status:
        return task
    if status == "in_progress":
        _check_startable(tasks, task, "start" if task.owner else "claim")
        return replace(task, status=status, owner=task.owner or by)
    if status == "completed":
        _check_startable(tasks, task, "complete")
    return replace(task, status=status)


def _link(tasks: dict[str, TeamTask], blocker: str, blocked: str) -> None:
    """Record that `blocker` must be completed before `blocked` starts, in both tasks."""
    _find(tasks, blocker)
    _find(tasks, blocked)
    if blocker == blocked:
        raise BoardError(f"task #{blocker} cannot block itself")
    if blocker in tasks[blocked].blocked_by:
        return
    if _reaches(tasks, blocked, blocker):
        raise BoardError(
            f"#{blocker} cannot block #{blocked}: #{blocked} already comes before #{blocker} "
            "(directly or through other tasks), and the dependencies would make a cycle"
        )
    tasks[blocker] = replace(tasks[blocker], blocks=(*tasks[blocker].blocks, blocked))
    tasks[blocked] = replace(tasks[blocked], blocked_by=(*tasks[blocked].blocked_by, blocker))


def _reaches(tasks: dict[str, TeamTask], start: str, goal: str) -> bool:
    """Whether `goal` waits on `start`, following `blocks` from `start`."""
    seen: set[str] = set()
    stack = [start]
    while stack:
        current = stack.pop()
        if current == goal:
            return True
        if current not in seen:
            seen.add(current)
            stack.extend(tasks[current].blocks if current in tasks else ())
    return False
