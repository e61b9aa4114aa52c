"""Task input as users write it: `Task`s, bare prompts, or a mapping from name to a prompt or to
`{prompt, agent, model, files, depends_on}` (the YAML of `%%parallel_agents` and `%%phase_plan`,
read by `read_tasks_yaml` for those magics and for `agentbook run`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from agentbook.specs import Task, check_name

__all__ = ["TaskInput", "TaskYAML", "as_tasks", "read_tasks_yaml", "read_yaml_mapping", "task_mapping"]

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


class TaskYAML(yaml.SafeLoader):
    """YAML whose mapping keys are kept as written: a task called `no:` is "no", not False."""


def _keys_as_written(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    return {
        loader.construct_scalar(k) if isinstance(k, yaml.ScalarNode) else loader.construct_object(k): (
            loader.construct_object(v, deep=True)
        )
        for k, v in node.value
    }


TaskYAML.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _keys_as_written)


def read_tasks_yaml(text: str, what: str = "the cell body") -> dict[str, Any]:
    """The YAML `text` as a mapping from task name to a prompt or to `{prompt, ...}` (not yet
    checked by `as_tasks`); `ValueError` naming `what` (the text's source) when it is not one."""
    return task_mapping(read_yaml_mapping(text, what))


def task_mapping(data: Mapping[Any, Any]) -> dict[str, Any]:
    """`data` (read from YAML) as a mapping from task name to a prompt or a plain dict;
    `ValueError` naming the first entry that is neither."""
    tasks: dict[str, Any] = {}
    for name, value in data.items():
        if not isinstance(value, str | Mapping):
            raise ValueError(f"task {name!r}: expected a prompt or a mapping with 'prompt', got {value!r}")
        tasks[str(name)] = value if isinstance(value, str) else dict(value)
    return tasks


def read_yaml_mapping(text: str, what: str) -> dict[Any, Any]:
    """`text` as a non-empty YAML mapping (keys as written); `ValueError` naming `what` otherwise."""
    try:
        data = yaml.load(text, Loader=TaskYAML)
    except yaml.YAMLError as exc:
        raise ValueError(f"{what} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping) or not data:
        raise ValueError(f"{what} must be a YAML mapping from task name to a prompt (or to {{prompt, ...}})")
    return dict(data)
