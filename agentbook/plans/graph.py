"""A plan's dependency graph: its phases (topological layers), cycles, and who needs whom.

`Plan` validates its tasks here when it is made and again on every look at its phases; the
renderers use `dependents` for the arrows of the text graph.
"""

from __future__ import annotations

from collections.abc import Mapping

from agentbook.plans.errors import PlanError
from agentbook.specs import Task

__all__ = ["dependents", "layers"]


def layers(tasks: Mapping[str, Task]) -> list[list[str]]:
    """Kahn's layers of `tasks`, each sorted by name; `PlanError` for an unknown dependency or a cycle."""
    for task in tasks.values():
        missing = [d for d in dict.fromkeys(task.depends_on) if d not in tasks]
        if missing:
            raise PlanError(
                f"task {task.name!r} depends on {', '.join(map(repr, missing))}, which the plan "
                f"does not have (tasks: {', '.join(tasks)})"
            )
    waiting = {name: set(task.depends_on) for name, task in tasks.items()}
    found: list[list[str]] = []
    while waiting:
        ready = sorted(n for n, deps in waiting.items() if not deps)
        if not ready:
            raise PlanError(
                f"dependency cycle: {_cycle(waiting)} (a -> b: b depends on a); these tasks can never start"
            )
        found.append(ready)
        for name in ready:
            del waiting[name]
        for deps in waiting.values():
            deps.difference_update(ready)
    return found


def _cycle(waiting: Mapping[str, set[str]]) -> str:
    """One cycle among tasks that all still wait, as `a -> b -> a` in running order.

    Every waiting task waits on another waiting one, so following dependencies from any task
    must come back to a task already seen; the smallest names are followed, for a stable message.
    """
    path = [min(waiting)]
    while path.count(path[-1]) < 2:
        path.append(min(waiting[path[-1]]))
    loop = path[path.index(path[-1]) : -1][::-1]  # dependency order reversed: running order
    first = loop.index(min(loop))
    loop = loop[first:] + loop[:first]
    return " -> ".join([*loop, loop[0]])


def dependents(tasks: Mapping[str, Task], phases: list[list[str]]) -> dict[str, list[str]]:
    """Each task that others need -> those tasks, in phase order."""
    order = [n for phase in phases for n in phase]
    return {name: after for name in order if (after := [n for n in order if name in tasks[n].depends_on])}
