"""Task input as users write it: `Task`s, bare prompts, or a mapping from name to a prompt or to
`{prompt, agent, model, files, depends_on}` (the YAML of `%%parallel_agents`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from agentbook.specs import Task, check_name

__all__ = ["TaskInput", "as_tasks"]

TaskInput = Task | str | Mapping[str, Any]


def as_tasks(tasks: Iterable[TaskInput] | Mapping[str, TaskInput]) -> list[Task]:
    """Normalise `tasks`: `Task`s, prompts (named `task-1`, ...), or a mapping from name to a
    prompt or to `{prompt, agent, model, files, depends_on}`.  `ValueError` names a bad entry."""
    if isinstance(tasks, str | bytes) or not isinstance(tasks, Iterable):
        raise TypeError(
            "tasks must be a mapping of name to prompt, or a list of Tasks or prompts, "
            f"not {type(tasks).__name__} {tasks!r}"[:300]
        )
    items: list[Task] = []
    if isinstance(tasks, Mapping):
        for name, value in tasks.items():
            check_name("task name", name)
            if isinstance(value, Task):
                items.append(value)
            elif isinstance(value, str):
                items.append(Task(name, value))
            elif isinstance(value, Mapping):
                items.append(_task_from_mapping(name, value))
            else:
                raise ValueError(
                    f"task {name!r}: expected a prompt or a mapping with 'prompt', got {value!r}"
                )
    else:
        for index, value in enumerate(tasks, start=1):
            if isinstance(value, Task):
                items.append(value)
            elif isinstance(value, str):
                items.append(Task(f"task-{index}", value))
            else:
                raise ValueError(f"task {index}: expected a Task or a prompt, got {value!r}")
    seen: set[str] = set()
    for task in items:
        check_name("task name", task.name)
        try:
            json.dumps(task.metadata)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"task {task.name!r}: metadata must be JSON, for run.json: {exc}") from None
        if task.name in seen:
            raise ValueError(f"task name {task.name!r} is used twice")
        if not task.prompt.strip():
            raise ValueError(f"task {task.name!r} has an empty prompt")
        seen.add(task.name)
    if not items:
        raise ValueError("no tasks given")
    return items


_TASK_KEYS = {"prompt", "agent", "model", "files", "depends_on"}


def _task_from_mapping(name: str, value: Mapping[str, Any]) -> Task:
    unknown = set(value) - _TASK_KEYS
    if unknown:
        raise ValueError(f"task {name!r}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_TASK_KEYS)}")
    prompt = value.get("prompt")
    if not isinstance(prompt, str):
        raise ValueError(f"task {name!r}: 'prompt' must be a string")
    for key in ("agent", "model"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise ValueError(f"task {name!r}: {key!r} must be a string, not {value[key]!r}")
    return Task(
        name,
        prompt,
        agent=value.get("agent"),
        model=value.get("model"),
        files=tuple(_str_list(name, "files", value.get("files"))),
        depends_on=tuple(_str_list(name, "depends_on", value.get("depends_on"))),
    )


def _str_list(name: str, key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"task {name!r}: {key!r} must be a string or a list of strings, got {value!r}")
