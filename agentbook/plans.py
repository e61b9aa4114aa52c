"""Plans: dependent tasks as a DAG whose topological layers run as phases.

`Plan(tasks)` validates the graph (unknown dependencies and cycles are `PlanError`s) and splits
it into phases: every task of a phase depends only on tasks of earlier phases, so a phase can
run in parallel.  Before anything runs, `conflicts()` points out tasks of one phase whose declared
`files` overlap, `analyse()` asks a model which dependencies it sees, and `approve()` opens the
gate that `run()` and `run_phase()` check.

Running, phase by phase: each phase is one `run_parallel`; its prompts may quote earlier tasks'
final answers as `{task_name}` (`{{` and `}}` are literal braces).  `run()` waits for each phase,
runs the optional step that stands between two phases (a Python callable or a prompt for one
agent), and stops before the next phase when any task did not finish, saying why.  `run_phase(i)`
starts one phase and returns its `Run` at once, for prototyping a plan cell by cell.

Phases are numbered from 0 everywhere: `phases[i]`, `runs[i]`, `between[i]` (after phase i),
`run_phase(i)`, `Conflict.phase`, the `phase` column, and the text graph.
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import os
import posixpath
import re
import string
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from agentbook.messages import Message, Request, ToolResult
from agentbook.models import Model, OfflineModel, get_model
from agentbook.models.retry import RetryPolicy, call_with_retries
from agentbook.scheduler import background
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.run import Run
from agentbook.scheduler.transcripts import new_run_dir, read_transcript
from agentbook.specs import Task
from agentbook.tasks import TaskInput, as_tasks

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("agentbook")

Step: TypeAlias = "Callable[[Plan, int], Any] | str"
"""What stands between two phases: `step(plan, i)`, or a prompt for one agent."""

EDIT_TOOLS = frozenset({"Edit", "Write"})
# A phase's state is the worst of its tasks' end states, in this order; any but `done` stops a plan,
# because the next phase's prompts would lack that task's output.
_STOP_ORDER = ("failed", "cancelled", "partial")
_GLOB = re.compile(r"[*?\[]")
_FENCE = re.compile(r"```[\w-]*[ \t]*\n?(.*?)```", re.DOTALL)
_QUOTE_LIMIT = 600

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


class PlanError(ValueError):
    """A plan that cannot run as asked: duplicate names, unknown dependencies, a cycle, a prompt
    quoting a task with no result yet, an unapproved plan, a malformed analysis answer."""


@dataclass(frozen=True)
class Conflict:
    """Two tasks of one phase that may touch the same files.

    `kind` is `declared` (their `files` patterns overlap) or `edited` (both edited a file in a
    run).  `overlap` says where: a path, a pattern, or `p & q` for two patterns that can meet;
    several overlaps are joined by `; `.  `a` < `b` by name.
    """

    phase: int
    a: str
    b: str
    overlap: str
    kind: Literal["declared", "edited"] = "declared"


@dataclass
class PlanRun:
    """What one `Plan.run()` call did.

    `runs`: the phase runs it started, by phase.  `steps`: what each step between phases gave
    (a callable's return value, or the step agent's `Run`), by the phase it followed.
    `stopped_reason` says why it stopped before the end (`None`: it completed); `error` is the
    exception a step raised, when that is why.
    """

    plan: Plan
    runs: dict[int, Run] = field(default_factory=dict)
    steps: dict[int, Any] = field(default_factory=dict)
    stopped_reason: str | None = None
    error: BaseException | None = None

    @property
    def completed(self) -> bool:
        """Whether every phase (and every step) ran to the end."""
        return self.stopped_reason is None

    @property
    def results(self) -> dict[str, str]:
        """Every finished task's final text (the plan's, including earlier calls' phases)."""
        return self.plan.results

    def __repr__(self) -> str:
        ran = ", ".join(str(i) for i in self.runs) or "none"
        end = "completed" if self.completed else f"stopped: {self.stopped_reason}"
        return f"<PlanRun phases run: {ran}; {end}>"


class Plan:
    """A DAG of tasks and its phases; see the module docstring.

    `tasks` is whatever `run_parallel` takes: `Task`s, prompts, or a mapping from name to a
    prompt or to `{prompt, agent, model, files, depends_on}`.  Bad input raises `PlanError`
    (a `ValueError`) at once.  `tasks` stays readable as `plan.tasks`; changing it after
    `approve()` withdraws the approval.
    """

    def __init__(self, tasks: Iterable[TaskInput] | Mapping[str, TaskInput]) -> None:
        try:
            items = as_tasks(tasks)
        except ValueError as exc:  # duplicate or malformed names and prompts
            raise PlanError(str(exc)) from exc
        self.tasks: dict[str, Task] = {t.name: t for t in items}
        self.run_dir: Path | None = None
        """The folder holding the phase runs' folders (`phase-0`, `step-0`, ...), once one ran."""
        self._runs: list[Run] = []
        self._steps_passed: set[int] = set()  # steps (by phase) that ran since their phase last ran
        self._approved: dict[str, Task] | None = None
        _layers(self.tasks)  # a bad graph fails here, not when someone first asks for phases

    # ---- the graph

    @property
    def phases(self) -> list[list[str]]:
        """Topological layers (Kahn's algorithm), each sorted by name: phase i holds the tasks
        whose dependencies all lie in phases before i."""
        return _layers(self.tasks)

    def conflicts(self) -> list[Conflict]:
        """Pairs of tasks in the same phase whose declared `files` patterns can name a common path.

        Patterns are globs relative to the root (`*` within a folder, `**` across folders), and
        a pattern also covers everything under what it names, as a git pathspec does: `src/lib`
        overlaps `src/lib/a.py`.  Two globs are compared segment by segment; within one name the
        check is approximate and errs towards reporting.  Tasks without `files` are not compared.
        """
        found = []
        for index, names in enumerate(self.phases):
            for a, b in itertools.combinations(names, 2):
                overlaps = [
                    o
                    for p in self.tasks[a].files
                    for q in self.tasks[b].files
                    if (o := _overlap(p, q)) is not None
                ]
                if overlaps:
                    found.append(Conflict(index, a, b, "; ".join(dict.fromkeys(overlaps))))
        return found

    def edited_conflicts(self, runs: Run | Iterable[Run] | None = None) -> list[Conflict]:
        """Pairs of tasks of one phase that both edited a file, read from their transcripts.

        An edit is an `Edit` or `Write` call that succeeded (its result is not an error), by the
        task's agent or its sub-agents; its `file_path` is taken relative to the agent's root
        (so the same file in two worktrees counts as one).  `runs` defaults to the plan's
        phase runs; agents that are not tasks of the plan (a between-phase step) are ignored.
        """
        chosen = self._runs if runs is None else [runs] if isinstance(runs, Run) else list(runs)
        edited: dict[str, set[str]] = {}
        for run in chosen:
            for name, files in _edited_files(run).items():
                if name in self.tasks:
                    edited.setdefault(name, set()).update(files)
        found = []
        for index, names in enumerate(self.phases):
            for a, b in itertools.combinations(names, 2):
                shared = sorted(edited.get(a, set()) & edited.get(b, set()))
                if shared:
                    found.append(Conflict(index, a, b, "; ".join(shared), kind="edited"))
        return found

    # ---- the gate

    def approve(self) -> None:
        """Approve the plan as it is now; `run()` and `run_phase()` refuse to start before this."""
        _layers(self.tasks)
        self._approved = dict(self.tasks)

    @property
    def approved(self) -> bool:
        """Whether `approve()` was called and the tasks have not changed since."""
        return self._approved is not None and self._approved == self.tasks

    def _require_approved(self) -> None:
        if self._approved is not None and not self.approved:
            raise PlanError("plan not approved: call plan.approve() (its tasks changed since approval)")
        if not self.approved:
            raise PlanError("plan not approved: call plan.approve()")

    # ---- running

    def run(self, *, between: Mapping[int, Step] | None = None, **run_kwargs: Any) -> PlanRun:
        """Run the phases in order, each as one `run_parallel` (given `run_kwargs`), waiting for it.

        Phases whose tasks all have results already (from `run_phase` or an earlier call) are
        not run again: `run()` starts at the first incomplete phase and re-runs it whole.  (To
        keep a failed phase's finished agents, `resume` the others on `plan.runs[i]` first.)
        `between[i]` runs after phase i: `step(plan, i)`, or a prompt (which may quote results
        as `{name}`) for one agent, run as a one-task run named `step-<i>`.  A task that does
        not finish, a step agent that does not finish, or a step that raises stops the plan
        before the next phase; the returned `PlanRun` says why.  Every prompt is checked before
        anything starts: a `{name}` of a task that would have no result yet is a `PlanError`.
        """
        self._require_approved()
        steps = self._check_steps(between or {})
        outcome = PlanRun(self)
        start = self._first_incomplete()
        if start is None:
            return outcome
        self._check_prompts(start, steps)
        # The step between the completed phases and the first to run is still owed, unless an
        # earlier call ran it (after a plan stopped in a later phase).
        previous = start - 1
        owed = previous in steps and previous not in self._steps_passed
        if owed and not self._step(previous, steps[previous], outcome, run_kwargs):
            return outcome
        for index in range(start, len(self.phases)):
            run = outcome.runs[index] = self.run_phase(index, **run_kwargs)
            run.wait()
            if (why := self._phase_problem(index)) is not None:
                outcome.stopped_reason = why + self._not_started(index + 1)
                log.warning("plan stopped: %s", outcome.stopped_reason)
                return outcome
            if index in steps and not self._step(index, steps[index], outcome, run_kwargs):
                return outcome
        return outcome

    def run_phase(self, i: int, **run_kwargs: Any) -> Run:
        """Start phase `i` (one `run_parallel` given `run_kwargs`) and return its `Run` at once.

        Every task of the phases before `i` must have a result; else `PlanError` names the
        missing ones.  Running phase `i` again replaces its run and forgets the runs of later
        phases, whose inputs it may have changed.  `run_dir` and `name`, when given, are the
        base folder and name; each phase gets its own folder under it (`phase-<i>`).
        """
        self._require_approved()
        phases = self.phases
        if not 0 <= i < len(phases):
            raise PlanError(f"no phase {i}: the plan has phases 0 to {len(phases) - 1}")
        self._require_results_before(i)
        earlier = self._results_before(i)
        tasks = [
            replace(self.tasks[n], prompt=_render(self.tasks[n].prompt, earlier, f"task {n!r}", self.tasks))
            for n in phases[i]
        ]
        run = run_parallel(tasks, **self._run_options(f"phase-{i}", run_kwargs))
        del self._runs[i:]
        self._runs.append(run)
        self._steps_passed -= set(range(i, len(phases)))
        return run

    def reset(self) -> None:
        """Forget every phase run (and so every result); the approval stays."""
        self._runs.clear()
        self._steps_passed.clear()

    def _check_steps(self, between: Mapping[int, Step]) -> dict[int, Step]:
        count = len(self.phases)
        for key, step in between.items():
            if not isinstance(key, int) or not 0 <= key < count:
                raise PlanError(f"between[{key!r}]: steps follow phases 0 to {count - 1}")
            if not (callable(step) or (isinstance(step, str) and step.strip())):
                raise PlanError(f"between[{key}] must be a callable (plan, i) or a prompt, not {step!r}")
        return dict(between)

    def _check_prompts(self, start: int, steps: Mapping[int, Step]) -> None:
        """Render every prompt still to run against placeholder results, so a bad `{name}` in
        the last phase fails now rather than after the first phases were paid for."""
        phases = self.phases
        for index in range(start, len(phases)):
            before = {n: "" for phase in phases[:index] for n in phase}
            for name in phases[index]:
                _render(self.tasks[name].prompt, before, f"task {name!r}", self.tasks)
        for index, step in steps.items():
            if isinstance(step, str) and index >= start - 1:
                before = {n: "" for phase in phases[: index + 1] for n in phase}
                _render(step, before, f"the step after phase {index}", self.tasks)

    def _step(self, index: int, step: Step, outcome: PlanRun, run_kwargs: Mapping[str, Any]) -> bool:
        """Run the step after phase `index`; `False` (with the reason recorded) stops the plan."""
        if not isinstance(step, str):
            try:
                outcome.steps[index] = step(self, index)
            except Exception as exc:  # a step raising is how a callable says "stop here"
                outcome.error = exc
                outcome.stopped_reason = (
                    f"the step after phase {index} raised {type(exc).__name__}: {exc}"
                    + self._not_started(index + 1)
                )
                log.warning("plan stopped: %s", outcome.stopped_reason)
                return False
            self._steps_passed.add(index)
            return True
        name = f"step-{index}"
        prompt = _render(step, self._results_before(index + 1), f"the step after phase {index}", self.tasks)
        run = outcome.steps[index] = run_parallel([Task(name, prompt)], **self._run_options(name, run_kwargs))
        run.wait()
        record = run.records[name]
        if record.state == "done":
            self._steps_passed.add(index)
            return True
        outcome.stopped_reason = (
            f"the step after phase {index} ({name}) ended {record.state}"
            + (f": {record.error}" if record.error else "")
            + self._not_started(index + 1)
        )
        log.warning("plan stopped: %s", outcome.stopped_reason)
        return False

    def _run_options(self, stem: str, run_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """`run_kwargs` with a fresh folder and a unique name for one phase or step run: runs of
        one plan share a base folder, and run names must differ (the kernel's run list is keyed
        by name)."""
        options = dict(run_kwargs)
        given = options.pop("run_dir", None)
        base = Path(given) if given is not None else (self.run_dir or new_run_dir())
        self.run_dir = base
        folder = base / stem
        for n in itertools.count(2):
            if not folder.exists():
                break
            folder = base / f"{stem}.{n}"
        options["run_dir"] = folder
        options["name"] = f"{options.pop('name', None) or base.name}-{folder.name}"
        return options

    def _not_started(self, index: int) -> str:
        return f"; phase {index} not started" if index < len(self.phases) else ""

    # ---- results and state

    @property
    def results(self) -> dict[str, str]:
        """Every finished (`done`) task's final text, in phase order."""
        out: dict[str, str] = {}
        for run in self._runs:
            for name, record in list(run.records.items()):
                if name in self.tasks and record.state == "done":
                    out[name] = record.text
        return out

    @property
    def runs(self) -> list[Run]:
        """The phase runs so far; `runs[i]` is phase i's."""
        return list(self._runs)

    def _results_before(self, index: int) -> dict[str, str]:
        earlier = {n for phase in self.phases[:index] for n in phase}
        return {n: text for n, text in self.results.items() if n in earlier}

    def _require_results_before(self, index: int) -> None:
        results = self.results
        for earlier, names in enumerate(self.phases[:index]):
            missing = [n for n in names if n not in results]
            if not missing:
                continue
            run = self._runs[earlier] if earlier < len(self._runs) else None
            hint = (
                f"phase {earlier} is still running: wait for it (plan.runs[{earlier}].wait())"
                if run is not None and not run.done
                else f"run plan.run_phase({earlier}) first"
            )
            raise PlanError(
                f"phase {index} needs phase {earlier} done; no result yet for {', '.join(missing)}: {hint}"
            )

    def _first_incomplete(self) -> int | None:
        results = self.results
        for index, names in enumerate(self.phases):
            if any(n not in results for n in names):
                return index
        return None

    def _phase_state(self, index: int) -> str:
        """`pending` (not run), `running`, `done`, or the worst end state of its tasks."""
        if index >= len(self._runs):
            return "pending"
        run = self._runs[index]
        if not run.done:
            return "running"
        states = {r.state for n, r in list(run.records.items()) if n in self.tasks}
        return next((s for s in _STOP_ORDER if s in states), "done")

    def _phase_problem(self, index: int) -> str | None:
        """Why phase `index` cannot feed the next one (a task did not finish), or `None`."""
        run = self._runs[index]
        bad = [
            f"{name} {record.state}" + (f" ({record.error})" if record.error else "")
            for name in self.phases[index]
            if (record := run.records[name]).state != "done"
        ]
        return f"phase {index}: {'; '.join(bad)}" if bad else None

    def phases_frame(self) -> pd.DataFrame:
        """One row per phase: `phase`, `tasks` (comma list), `agents` (its run's agents, with
        sub-agents), `makespan_s` (last end - first start), `tokens` (input + cache + output),
        `cost_usd` (missing when any agent's model has no price), `state`.  Figures are missing
        for a phase that has not run (and `makespan_s` while it runs)."""
        import pandas as pd

        rows = [self._phase_row(i, names) for i, names in enumerate(self.phases)]
        columns = ["phase", "tasks", "agents", "makespan_s", "tokens", "cost_usd", "state"]
        frame = pd.DataFrame(rows, columns=columns)
        for column in ("agents", "tokens"):
            frame[column] = frame[column].astype("Int64")
        for column in ("makespan_s", "cost_usd"):
            frame[column] = frame[column].astype("Float64")
        return frame

    def _phase_row(self, index: int, names: list[str]) -> dict[str, Any]:
        row: dict[str, Any] = {"phase": index, "tasks": ", ".join(names), "state": self._phase_state(index)}
        if index >= len(self._runs):
            return row | {"agents": None, "makespan_s": None, "tokens": None, "cost_usd": None}
        run = self._runs[index]
        records = list(run.records.values())
        starts = [r.started for r in records if r.started is not None]
        ends = [r.ended for r in records if r.ended is not None]
        costs = [r.cost_usd for r in records]
        return row | {
            "agents": len(records),
            "makespan_s": (max(ends) - min(starts)).total_seconds() if run.done and starts and ends else None,
            "tokens": sum(r.usage.total_input_tokens + r.usage.output_tokens for r in records),
            "cost_usd": None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
        }

    # ---- asking a model

    def analyse(self, model: Model | str | None = None) -> pd.DataFrame:
        """Ask `model` (default: the default model) which tasks depend on which, and compare.

        One request gives the tasks' names, prompts and files (not the declared dependencies,
        so the answer is an independent opinion) and asks for JSON
        `{"dependencies": {"task": ["other", ...]}}`; JSON inside prose or a code fence is
        found.  A malformed answer, or one naming tasks the plan lacks, raises `PlanError`
        quoting it.  Returns one row per (task, dependency) pair from either side: `task`,
        `depends_on`, `declared`, `suggested`, `differs`; `frame.attrs` holds `model`,
        `answer` and `notice`.  The offline model has no opinion: it is not asked, `suggested`
        and `differs` are all false, and `notice` (also given as a warning) says so.
        """
        chosen = get_model(model)
        suggested: dict[str, set[str]] | None = None
        answer, notice = "", None
        if isinstance(chosen, OfflineModel):
            notice = OFFLINE_NOTICE
            warnings.warn(notice, stacklevel=2)
        else:
            answer = background.submit(
                _ask(chosen, self._analysis_request(), own=chosen is not model)
            ).result()
            suggested = _parse_dependencies(answer, self.tasks)
        frame = _dependency_frame(self.tasks, suggested)
        frame.attrs.update(model=chosen.name, answer=answer, notice=notice)
        return frame

    def _analysis_request(self) -> Request:
        listing = [{"name": t.name, "prompt": t.prompt, "files": list(t.files)} for t in self.tasks.values()]
        text = "Tasks:\n" + json.dumps(listing, indent=2, ensure_ascii=False)
        return Request(system=ANALYSE_SYSTEM, messages=(Message.user(text),), max_tokens=4096)

    # ---- display

    def to_text(self) -> str:
        """The phases as a text graph, then the dependency arrows (`a -> b`: b needs a), any
        declared conflicts, and whether the plan is approved."""
        lines: list[str] = []
        for index, names in enumerate(self.phases):
            if index:
                lines.append("   |")
            state = self._phase_state(index)
            lines.append(
                f"phase {index}: {', '.join(names)}" + ("" if state == "pending" else f"  [{state}]")
            )
        feeds = self._dependents()
        if feeds:
            lines += ["", "dependencies (a -> b: b needs a):"]
            lines += [f"  {name} -> {', '.join(after)}" for name, after in feeds.items()]
        conflicts = self.conflicts()
        if conflicts:
            lines += ["", "possible conflicts (same phase, overlapping files):"]
            lines += [f"  phase {c.phase}: {c.a} / {c.b}: {c.overlap}" for c in conflicts]
        lines += ["", "approved" if self.approved else "not approved: call plan.approve()"]
        return "\n".join(lines)

    def _dependents(self) -> dict[str, list[str]]:
        """Each task that others need -> those tasks, in phase order."""
        order = [n for phase in self.phases for n in phase]
        return {
            name: after for name in order if (after := [n for n in order if name in self.tasks[n].depends_on])
        }

    def _repr_html_(self) -> str:
        """A table (task, phase, depends_on, files, agent) and the text graph, escaped."""
        head = "".join(
            f'<th style="text-align:left;padding:2px 8px">{t}</th>'
            for t in ("task", "phase", "depends_on", "files", "agent")
        )
        rows = []
        for index, names in enumerate(self.phases):
            for name in names:
                task = self.tasks[name]
                cells = (
                    name,
                    str(index),
                    ", ".join(task.depends_on),
                    ", ".join(task.files),
                    task.agent or "",
                )
                tds = "".join(
                    f'<td style="text-align:left;padding:2px 8px">{html.escape(c)}</td>' for c in cells
                )
                rows.append(f"<tr>{tds}</tr>")
        return (
            '<div class="agentbook-plan"><table style="border-collapse:collapse;font-family:monospace">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<pre>{html.escape(self.to_text())}</pre></div>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
        return {"text/plain": self.to_text(), "text/html": self._repr_html_()}

    def __repr__(self) -> str:
        state = "approved" if self.approved else "not approved"
        return f"<Plan: {len(self.tasks)} tasks in {len(self.phases)} phases, {state}>"


# ---- the graph


def _layers(tasks: Mapping[str, Task]) -> list[list[str]]:
    """Kahn's layers of `tasks`; `PlanError` for an unknown dependency or a cycle."""
    for task in tasks.values():
        missing = [d for d in dict.fromkeys(task.depends_on) if d not in tasks]
        if missing:
            raise PlanError(
                f"task {task.name!r} depends on {', '.join(map(repr, missing))}, which the plan "
                f"does not have (tasks: {', '.join(tasks)})"
            )
    waiting = {name: set(task.depends_on) for name, task in tasks.items()}
    layers: list[list[str]] = []
    while waiting:
        ready = sorted(n for n, deps in waiting.items() if not deps)
        if not ready:
            raise PlanError(
                f"dependency cycle: {_cycle(waiting)} (a -> b: b depends on a); these tasks can never start"
            )
        layers.append(ready)
        for name in ready:
            del waiting[name]
        for deps in waiting.values():
            deps.difference_update(ready)
    return layers


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


# ---- declared files


def _segments(pattern: str) -> tuple[str, ...]:
    """A pattern's path segments; a trailing `**` makes it cover what lies under what it names."""
    parts = [p for p in pattern.strip().replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or parts[-1] != "**":
        parts.append("**")
    return tuple(parts)


def _is_glob(pattern: str) -> bool:
    return _GLOB.search(pattern) is not None


def _names_meet(a: str, b: str) -> bool:
    """Whether two glob names (no `/`) can match one name: exact when either is literal, else
    approximate (compatible literal heads and tails), erring towards yes."""
    if a == b or fnmatchcase(a, b) or fnmatchcase(b, a):
        return True
    if not (_is_glob(a) and _is_glob(b)):
        return False
    head_a, head_b = _GLOB.split(a, 1)[0], _GLOB.split(b, 1)[0]
    tail_a, tail_b = re.split(r".*[*?\]]", a, maxsplit=1)[-1], re.split(r".*[*?\]]", b, maxsplit=1)[-1]
    heads_fit = head_a.startswith(head_b) or head_b.startswith(head_a)
    return heads_fit and (tail_a.endswith(tail_b) or tail_b.endswith(tail_a))


def _paths_meet(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two segment patterns can match one path: `**` takes any number of segments."""

    @cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "**":
            return meet(i + 1, j) or (j < len(b) and meet(i, j + 1))
        if j < len(b) and b[j] == "**":
            return meet(i, j + 1) or (i < len(a) and meet(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        return _names_meet(a[i], b[j]) and meet(i + 1, j + 1)

    return meet(0, 0)


def _overlap(p: str, q: str) -> str | None:
    """Where two declared patterns overlap (the narrower path, or `p & q`), or `None`."""
    a, b = _segments(p), _segments(q)
    if not _paths_meet(a, b):
        return None
    if a == b:
        return p
    literal = [x for x in (p, q) if not _is_glob(x)]
    if len(literal) == 2:
        return max(literal, key=lambda x: len(_segments(x)))  # the file inside the folder
    return literal[0] if literal else f"{p} & {q}"


# ---- edited files


def _edited_files(run: Run) -> dict[str, set[str]]:
    """Top-level agent name -> files it or its sub-agents edited, relative to the agent's root."""
    edited: dict[str, set[str]] = {}
    for record in list(run.records.values()):
        if record.transcript.is_file():
            owner = record.name.split("/", 1)[0]  # a sub-agent's edits are its parent task's
            edited.setdefault(owner, set()).update(_edits(record.transcript, run.cwd))
    return edited


def _edits(transcript: Path, fallback_root: Path) -> set[str]:
    messages = read_transcript(transcript).messages
    succeeded = {
        b.tool_use_id for m in messages for b in m.content if isinstance(b, ToolResult) and not b.is_error
    }
    root = _transcript_root(transcript) or fallback_root
    return {
        _relative(call.input["file_path"], root)
        for m in messages
        for call in m.tool_uses
        if call.name in EDIT_TOOLS and call.id in succeeded and isinstance(call.input.get("file_path"), str)
    }


def _transcript_root(transcript: Path) -> Path | None:
    """The agent's root as its transcript records it (`cwd`): a worktree when isolated."""
    with transcript.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                cwd = json.loads(line).get("cwd")
            except (json.JSONDecodeError, AttributeError):
                continue
            if cwd:
                return Path(cwd)
    return None


def _relative(file_path: str, root: Path) -> str:
    path = Path(file_path)
    if not path.is_absolute():
        return posixpath.normpath(path.as_posix())
    for candidate in (path, Path(os.path.realpath(path))):  # the root is recorded resolved
        try:
            return posixpath.normpath(candidate.relative_to(root).as_posix())
        except ValueError:
            continue
    return path.as_posix()


# ---- prompts


def _render(template: str, results: Mapping[str, str], where: str, tasks: Mapping[str, Task]) -> str:
    """`template` with each `{name}` replaced by that task's result (`{{`, `}}`: braces).

    A name that is not in `results` is a `PlanError` naming it and saying why: not a task of the
    plan, or a task with no result at this point (it must run in an earlier phase).
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


def _reference_problem(where: str, name: str, tasks: Mapping[str, Task]) -> str:
    if name in tasks:
        return (
            f"{where} quotes {{{name}}}, but task {name!r} has no result at that point: it must finish "
            "in an earlier phase (add it to depends_on)"
        )
    return (
        f"{where} quotes {{{name}}}, which is not a task of the plan; write {{{{ and }}}} for literal braces"
    )


# ---- analysis


async def _ask(model: Model, request: Request, *, own: bool) -> str:
    """The text of `model`'s answer to `request` (transient errors retried); a model we made
    for this one question is closed after it."""
    try:
        response = await call_with_retries(lambda: model.respond(request), RetryPolicy())
        return response.message.text
    finally:
        if own:
            await model.aclose()


def _json_object(text: str) -> Any:
    """The first JSON value found: the whole text, a fenced block, or from first `{` to last `}`."""
    candidates = [text.strip(), *(m.strip() for m in _FENCE.findall(text))]
    if "{" in text:
        candidates.append(text[text.index("{") : text.rindex("}") + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    return None


def _quote(answer: str) -> str:
    short = answer if len(answer) <= _QUOTE_LIMIT else answer[: _QUOTE_LIMIT - 1] + "…"
    return f"the model answered: {short!r}"


def _parse_dependencies(answer: str, tasks: Mapping[str, Task]) -> dict[str, set[str]]:
    """`{"dependencies": {task: [names]}}` (or the bare inner mapping) from `answer`."""
    data = _json_object(answer)
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
    import pandas as pd

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
    return pd.DataFrame(rows, columns=["task", "depends_on", "declared", "suggested", "differs"])
