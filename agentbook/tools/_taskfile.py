"""The task list of an agent team, persisted in one JSON file: `TeamTask` and the file's format
(public through `agentbook.tools.team_tasks`).

The file is Claude Code's task fields (`id`, `subject`, `description`, `activeForm`, `status`,
`owner`, `blocks`, `blockedBy`) in one list, with the next id, so that ids are never reused after
a deletion.  It is written atomically (a temporary file in the same folder, fsync, `os.replace`,
fsync of the folder), so a reader, or the next run after a crash, sees the last whole state; and
it is read strictly: a corrupt or wrongly shaped file is a `ValueError` naming the file and the
problem, and nothing here ever overwrites it (`agentbook.tools._taskboard` refuses to start).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

__all__ = ["STATUSES", "TaskStatus", "TeamTask", "load_tasks", "save_tasks", "task_order"]

TaskStatus = Literal["pending", "in_progress", "completed"]
STATUSES: tuple[TaskStatus, ...] = get_args(TaskStatus)
_FORMAT = 1  # the file's "version"


@dataclass(frozen=True)
class TeamTask:
    """One task of the list, as Claude Code stores it (`~/.claude/tasks/<list>/<id>.json`)."""

    id: str
    subject: str
    description: str
    status: TaskStatus = "pending"
    owner: str | None = None
    blocked_by: tuple[str, ...] = ()
    """The tasks that must be completed before this one can start."""
    blocks: tuple[str, ...] = ()
    """The tasks waiting for this one (the inverse of their `blocked_by`)."""
    active_form: str | None = None
    """The present-continuous form shown while the task is in progress ("Running tests")."""

    def to_json(self) -> dict[str, Any]:
        """The task with Claude Code's field names (`activeForm`, `blockedBy`)."""
        return {
            "id": self.id,
            "subject": self.subject,
            "description": self.description,
            "activeForm": self.active_form,
            "status": self.status,
            "owner": self.owner,
            "blocks": list(self.blocks),
            "blockedBy": list(self.blocked_by),
        }

    @classmethod
    def from_json(cls, data: object) -> TeamTask:
        """The task `to_json` wrote; `ValueError` naming the field that is missing or mistyped."""
        if not isinstance(data, dict):
            raise ValueError(f"a task must be a JSON object, not {type(data).__name__}")
        status = data.get("status")
        if status not in STATUSES:
            raise ValueError(f"task {data.get('id')!r}: status must be one of {STATUSES}, not {status!r}")
        return cls(
            id=_text(data, "id"),
            subject=_text(data, "subject"),
            description=_text(data, "description"),
            status=status,
            owner=_text(data, "owner", optional=True) or None,
            blocked_by=_ids(data, "blockedBy"),
            blocks=_ids(data, "blocks"),
            active_form=_text(data, "activeForm", optional=True),
        )


def _text(data: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = data.get(key)
    if not isinstance(value, str) and not (optional and value is None):
        raise ValueError(f"task {data.get('id')!r}: {key!r} must be a string, not {value!r}")
    return value


def _ids(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"task {data.get('id')!r}: {key!r} must be a list of task ids, not {value!r}")
    return tuple(value)


def task_order(task: TeamTask) -> tuple[int, str]:
    """The sort key of tasks: by number ("2" before "10")."""
    return (int(task.id), task.id) if task.id.isdigit() else (1 << 62, task.id)


def save_tasks(path: Path, tasks: Iterable[TeamTask], next_id: int) -> None:
    """Replace `path` by the file of `tasks` (in id order) and `next_id`, atomically."""
    ordered = sorted(tasks, key=task_order)
    document = {"version": _FORMAT, "next_id": next_id, "tasks": [t.to_json() for t in ordered]}
    _write_atomically(path, json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def load_tasks(path: Path) -> tuple[dict[str, TeamTask], int]:
    """The tasks and next id in `path` (none, and 1, when it does not exist)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, 1
    try:
        return _parse(json.loads(raw.decode("utf-8")))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors too
        raise ValueError(f"{path} is not a readable task list ({exc}); it was left unchanged") from None


def _parse(data: object) -> tuple[dict[str, TeamTask], int]:
    if not isinstance(data, dict) or data.get("version") != _FORMAT:
        raise ValueError(f"expected an object with version {_FORMAT}")
    entries, next_id = data.get("tasks"), data.get("next_id")
    if not isinstance(entries, list) or not isinstance(next_id, int) or isinstance(next_id, bool):
        raise ValueError("expected 'tasks' (a list) and 'next_id' (an integer)")
    tasks: dict[str, TeamTask] = {}
    for entry in entries:
        task = TeamTask.from_json(entry)
        if task.id in tasks:
            raise ValueError(f"task {task.id!r} appears twice")
        tasks[task.id] = task
    for task in tasks.values():
        if task.id.isdigit() and int(task.id) >= next_id:
            raise ValueError(f"next_id {next_id} is not above task {task.id!r}")
        for other in task.blocked_by:
            if other not in tasks or task.id not in tasks[other].blocks:
                raise ValueError(f"task {task.id!r} is blocked by {other!r}, which does not block it")
        for other in task.blocks:
            if other not in tasks or task.id not in tasks[other].blocked_by:
                raise ValueError(f"task {task.id!r} blocks {other!r}, which is not blocked by it")
    return tasks, next_id


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` by a file holding `text`: written beside it, fsynced, renamed over it,
    and the rename itself fsynced, so a crash leaves the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
