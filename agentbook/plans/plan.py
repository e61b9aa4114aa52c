"""`Plan`: the object a user makes, approves and runs; the rest of the package works for it.

It holds the tasks, the approval gate and the plan's `Progress`, and delegates: the graph to
`graph`, conflicts to `conflicts`, prompts to `prompts`, running to `running`, the model's
dependency analysis to `dependencies`, and its display to `render`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbook.models import Model
from agentbook.plans.conflicts import Conflict, declared_conflicts, edited_conflicts
from agentbook.plans.dependencies import analyse_dependencies
from agentbook.plans.errors import PlanError
from agentbook.plans.graph import dependents, layers
from agentbook.plans.progress import Progress
from agentbook.plans.prompts import fill_prompt
from agentbook.plans.render import plan_html, plan_text
from agentbook.plans.running import PlanRun, Step, run_options, run_plan
from agentbook.scheduler import observers
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.forecasting import Forecast, forecast_tasks
from agentbook.scheduler.forecasting import history as earlier_runs
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.run import Run
from agentbook.scheduler.transcripts import agentbook_home
from agentbook.specs import Task
from agentbook.tasks import TaskInput, as_tasks

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Plan"]

log = logging.getLogger("agentbook")


class Plan:
    """A DAG of tasks and its phases; see the `agentbook.plans` docstring.

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
        self._progress = Progress()
        self._listeners: list[Callable[[Plan], None]] = []
        self.forecasts: list[Forecast] | None = None
        """The last `forecast()`'s, kept by the phase runs started after it."""
        self._approved: dict[str, Task] | None = None
        layers(self.tasks)  # a bad graph fails here, not when someone first asks for phases

    # ---- the graph

    @property
    def phases(self) -> list[list[str]]:
        """Topological layers (Kahn's algorithm), each sorted by name: phase i holds the tasks
        whose dependencies all lie in phases before i."""
        return layers(self.tasks)

    def conflicts(self) -> list[Conflict]:
        """Pairs of tasks in the same phase whose declared `files` patterns can name a common path.

        Patterns are globs relative to the root (`*` within a folder, `**` across folders), and
        a pattern also covers everything under what it names, as a git pathspec does: `src/lib`
        overlaps `src/lib/a.py`.  Two globs are compared segment by segment; within one name the
        check is approximate and errs towards reporting.  Tasks without `files` are not compared.
        """
        return declared_conflicts(self.tasks, self.phases)

    def edited_conflicts(self, runs: Run | Iterable[Run] | None = None) -> list[Conflict]:
        """Pairs of tasks of one phase that both edited a file, read from their transcripts.

        An edit is an `Edit` or `Write` call that succeeded (its result is not an error), by the
        task's agent or its sub-agents; its `file_path` is taken relative to the agent's root
        (so the same file in two worktrees counts as one).  `runs` defaults to the plan's
        phase runs; agents that are not tasks of the plan (a between-phase step) are ignored.
        """
        chosen = self._progress.runs if runs is None else [runs] if isinstance(runs, Run) else list(runs)
        return edited_conflicts(self.tasks, self.phases, chosen)

    # ---- the gate

    def approve(self) -> None:
        """Approve the plan as it is now; `run()` and `run_phase()` refuse to start before this."""
        layers(self.tasks)
        self._approved = dict(self.tasks)
        self._changed()

    def on_change(self, callback: Callable[[Plan], None]) -> None:
        """Call `callback(plan)` when the plan is approved, a phase starts and each of its
        agents ends (the approval widget redraws itself; on agentbook's thread for the ends)."""
        self._listeners.append(callback)

    def _changed(self) -> None:
        for callback in list(self._listeners):
            try:
                callback(self)
            except Exception:  # a view's failure must not stop the plan
                log.exception("agentbook: a plan listener failed")

    @property
    def approved(self) -> bool:
        """Whether `approve()` was called and the tasks have not changed since."""
        return self._approved is not None and self._approved == self.tasks

    def _require_approved(self) -> None:
        if self._approved is not None and not self.approved:
            raise PlanError("plan not approved: call plan.approve() (its tasks changed since approval)")
        if not self.approved:
            raise PlanError("plan not approved: call plan.approve()")

    def forecast(self, history: Iterable[Path] | None = None, **run_kwargs: Any) -> pd.DataFrame:
        """What each task may cost, low / typical / high, before anything runs (see
        `agentbook.scheduler.forecasting`): `run_kwargs` are the options the plan will run
        with (its model above all), `history` the folders of earlier runs to learn from
        (default: `~/.agentbook/runs` and this plan's folder).  The phase runs started after it
        keep it for `run.forecast_error()`."""
        config = RunConfig.of(**{k: v for k, v in run_kwargs.items() if k not in ("on_event", "on_end")})
        folders = list(history) if history is not None else [agentbook_home() / "runs"]
        if history is None and self.run_dir is not None:
            folders.append(self.run_dir)
        self.forecasts = forecast_tasks(list(self.tasks.values()), config, earlier_runs(folders))
        return observers.view("forecasts").forecast_frame(self.forecasts)  # type: ignore[no-any-return]

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
        return run_plan(self, self._progress, between or {}, run_kwargs)

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
        self._progress.require_results_before(self.tasks, phases, i)
        earlier = self._progress.results_before(self.tasks, phases, i)
        tasks = [
            replace(
                self.tasks[n], prompt=fill_prompt(self.tasks[n].prompt, earlier, f"task {n!r}", self.tasks)
            )
            for n in phases[i]
        ]
        self.run_dir, options = run_options(self.run_dir, f"phase-{i}", run_kwargs)
        run = run_parallel(tasks, **options)
        if self.forecasts is not None:
            run.forecasts = [f for f in self.forecasts if f.task in phases[i]]
        self._progress.record(i, run, len(phases))
        run.on_end(lambda record: self._changed())
        self._changed()
        return run

    def adopt(self, i: int, run: Run) -> None:
        """Take `run` (say `ab.load_run(folder)` after a restart) as phase `i`'s run, as
        `run_phase(i)` would have: its finished tasks' results feed the later phases, later
        phases' runs are forgotten, and `run()` goes on from the first incomplete phase.  Phases
        are adopted in order (`PlanError` otherwise); `run_dir` becomes the run folder's parent."""
        if not 0 <= i <= len(self._progress.runs) or i >= len(self.phases):
            raise PlanError(f"phase {i} cannot be adopted: the plan has runs for phases 0 to "
                            f"{len(self._progress.runs) - 1} of {len(self.phases)}")  # fmt: skip
        self.run_dir = run.run_dir.parent
        self._progress.record(i, run, len(self.phases))

    def reset(self) -> None:
        """Forget every phase run (and so every result); the approval stays."""
        self._progress.reset()

    # ---- results and state

    @property
    def results(self) -> dict[str, str]:
        """Every finished (`done`) task's final text, in phase order."""
        return self._progress.results(self.tasks)

    @property
    def runs(self) -> list[Run]:
        """The phase runs so far; `runs[i]` is phase i's."""
        return list(self._progress.runs)

    def phases_frame(self) -> pd.DataFrame:
        """One row per phase: `phase`, `tasks` (comma list), `agents` (its run's agents, with
        sub-agents), `makespan_s` (last end - first start), `tokens` (input + cache + output),
        `cost_usd` (missing when any agent's model has no price), `state`.  Figures are missing
        for a phase that has not run (and `makespan_s` while it runs)."""
        return self._progress.frame(self.tasks, self.phases)

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
        return analyse_dependencies(self.tasks, model, stacklevel=3)

    # ---- display

    def to_text(self) -> str:
        """The phases as a text graph, then the dependency arrows (`a -> b`: b needs a), any
        declared conflicts, and whether the plan is approved."""
        phases = self.phases
        states = [self._progress.phase_state(self.tasks, i) for i in range(len(phases))]
        feeds = dependents(self.tasks, phases)
        return plan_text(phases, states, feeds, self.conflicts(), self.approved)

    def _repr_html_(self) -> str:
        """A table (task, phase, depends_on, files, agent) and the text graph, escaped."""
        return plan_html(self.tasks, self.phases, self.to_text())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
        return {"text/plain": self.to_text(), "text/html": self._repr_html_()}

    def __repr__(self) -> str:
        state = "approved" if self.approved else "not approved"
        return f"<Plan: {len(self.tasks)} tasks in {len(self.phases)} phases, {state}>"
