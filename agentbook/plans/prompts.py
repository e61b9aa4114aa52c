"""Prompts that quote earlier tasks' results: `{task_name}` filled in, or a `PlanError` saying why not.

A phase's prompts (and a prompt step's) are templates over the results of earlier phases; `{{`
and `}}` are literal braces.  `Plan.run_phase` fills them in just before a phase starts;
`check_prompts` fills in every prompt still to run with placeholders first, so that a bad
reference in the last phase fails before the first phases were paid for.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from agentbook.plans.errors import PlanError
from agentbook.specs import Task

__all__ = ["check_prompts", "fill_prompt"]


def fill_prompt(template: str, results: Mapping[str, str], where: str, tasks: Mapping[str, Task]) -> str:
    """`template` with each `{name}` replaced by that task's result (`{{`, `}}`: braces).

    A name that is not in `results` is a `PlanError` naming it and saying why: not a task of the
    plan, or a task with no result at this point (it must run in an earlier phase).  `where`
    names the prompt in messages.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise PlanError(
            f"{where}: the prompt is not a valid template ({exc}); write {{{{ and }}}} for braces"
        ) from exc
    out = []
    for literal, name, spec, conversion in parsed:
        out.append(literal)
        if name is None:
            continue
        if name not in results:
            raise PlanError(_reference_problem(where, name, tasks))
        value = results[name]
        if conversion == "r":
            value = repr(value)
        elif conversion == "a":
            value = ascii(value)
        try:
            out.append(format(value, spec or ""))
        except ValueError as exc:
            raise PlanError(f"{where}: bad format for {{{name}}}: {exc}") from exc
    return "".join(out)


def check_prompts(
    tasks: Mapping[str, Task], phases: list[list[str]], start: int, steps: Mapping[int, object]
) -> None:
    """Fill in the prompts of phases `start`... and of the prompt steps still to run with
    empty results of the phases before each; the first bad one raises `PlanError`."""
    for index in range(start, len(phases)):
        before = {n: "" for phase in phases[:index] for n in phase}
        for name in phases[index]:
            fill_prompt(tasks[name].prompt, before, f"task {name!r}", tasks)
    for index, step in steps.items():
        if isinstance(step, str) and index >= start - 1:
            before = {n: "" for phase in phases[: index + 1] for n in phase}
            fill_prompt(step, before, f"the step after phase {index}", tasks)


def _reference_problem(where: str, name: str, tasks: Mapping[str, Task]) -> str:
    if name in tasks:
        return (
            f"{where} quotes {{{name}}}, but task {name!r} has no result at that point: it must finish "
            "in an earlier phase (add it to depends_on)"
        )
    return (
        f"{where} quotes {{{name}}}, which is not a task of the plan; write {{{{ and }}}} for literal braces"
    )
