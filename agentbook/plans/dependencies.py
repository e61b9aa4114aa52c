"""A model's opinion of a plan's dependencies, set beside the declared ones (`Plan.analyse`).

One request lists the tasks (names, prompts, files; not the declared dependencies, so the answer
is an independent opinion) and asks for JSON; the answer is read with `agentbook.prose`, checked
against the plan's task names, and compared with the declared dependencies in a DataFrame (pandas
is imported only when the frame is built).  The offline model has no opinion and is not asked.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

from agentbook.messages import Message, Request
from agentbook.models import Model, OfflineModel, get_model
from agentbook.models.retry import RetryPolicy, call_with_retries
from agentbook.plans.errors import PlanError
from agentbook.prose import json_in_prose
from agentbook.scheduler import background, observers
from agentbook.specs import Task

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ANALYSE_SYSTEM", "OFFLINE_NOTICE", "analyse_dependencies", "parse_dependencies"]

ANALYSE_SYSTEM = """\
You review a plan of tasks that agents will run in parallel, phase by phase. Task B depends on
task A when B needs A's output, or when B changes or uses files that A creates or changes, so B
must not start before A ends. List only direct dependencies, and only between the tasks given.
Answer with one JSON object and nothing else, in this shape:
{"dependencies": {"task name": ["name of a task it depends on", ...], ...}}
Give every task a key; a task that depends on none gets an empty list."""
OFFLINE_NOTICE = (
    "the offline model cannot analyse dependencies: the frame lists the declared ones only "
    "(pass model=... naming a real model, or a ScriptedModel in tests)"
)
_QUOTE_LIMIT = 600


def analyse_dependencies(
    tasks: Mapping[str, Task], model: Model | str | None, *, stacklevel: int = 2
) -> pd.DataFrame:
    """The frame `Plan.analyse` returns (see there); `stacklevel` places the offline warning, as
    `warnings.warn`'s does (2: this function's caller)."""
    chosen = get_model(model)
    suggested: dict[str, set[str]] | None = None
    answer, notice = "", None
    if isinstance(chosen, OfflineModel):
        notice = OFFLINE_NOTICE
        warnings.warn(notice, stacklevel=stacklevel)
    else:
        request = _request(tasks)
        answer = background.submit(_ask(chosen, request, own=chosen is not model)).result()
        suggested = parse_dependencies(answer, tasks)
    frame = _dependency_frame(tasks, suggested)
    frame.attrs.update(model=chosen.name, answer=answer, notice=notice)
    return frame


def _request(tasks: Mapping[str, Task]) -> Request:
    listing = [{"name": t.name, "prompt": t.prompt, "files": list(t.files)} for t in tasks.values()]
    text = "Tasks:\n" + json.dumps(listing, indent=2, ensure_ascii=False)
    return Request(system=ANALYSE_SYSTEM, messages=(Message.user(text),), max_tokens=4096)


async def _ask(model: Model, request: Request, *, own: bool) -> str:
    """The text of `model`'s answer to `request` (transient errors retried); a model we made
    for this one question is closed after it."""
    try:
        response = await call_with_retries(lambda: model.respond(request), RetryPolicy())
        return response.message.text
    finally:
        if own:
            await model.aclose()


def _quote(answer: str) -> str:
    short = answer if len(answer) <= _QUOTE_LIMIT else answer[: _QUOTE_LIMIT - 1] + "…"
    return f"the model answered: {short!r}"


def parse_dependencies(answer: str, tasks: Mapping[str, Task]) -> dict[str, set[str]]:
    """`{"dependencies": {task: [names]}}` (or the bare inner mapping) from `answer`; a malformed
    answer, or one naming tasks the plan lacks, is a `PlanError` quoting it."""
    data = json_in_prose(answer)
    table = data.get("dependencies", data) if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise PlanError(f'no {{"dependencies": {{...}}}} object in the analysis; {_quote(answer)}')
    suggested: dict[str, set[str]] = {}
    for name, value in table.items():
        deps = [value] if isinstance(value, str) else [] if value is None else value
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise PlanError(f"the dependencies of {name!r} are not a list of task names; {_quote(answer)}")
        unknown = [n for n in (name, *deps) if n not in tasks]
        if unknown:
            raise PlanError(
                f"the analysis names tasks the plan lacks ({', '.join(unknown)}); {_quote(answer)}"
            )
        suggested[name] = set(deps) - {name}
    return suggested


def _dependency_frame(tasks: Mapping[str, Task], suggested: Mapping[str, set[str]] | None) -> pd.DataFrame:
    declared = {(t.name, d) for t in tasks.values() for d in t.depends_on}
    proposed = {(t, d) for t, deps in (suggested or {}).items() for d in deps}
    rows = [
        {
            "task": task,
            "depends_on": dep,
            "declared": (task, dep) in declared,
            "suggested": (task, dep) in proposed,
            # With no opinion (offline) nothing differs: a missing answer is not a "no".
            "differs": suggested is not None and ((task, dep) in declared) != ((task, dep) in proposed),
        }
        for task, dep in sorted(declared | proposed)
    ]
    columns = ["task", "depends_on", "declared", "suggested", "differs"]
    return observers.view("frames").table(rows, columns)  # type: ignore[no-any-return]
