"""Running a plan to the end: phase after phase, with the steps between them (`Plan.run`).

`Plan.run` checks its gate and hands over to `run_plan`, which starts at the first incomplete
phase, runs each phase through `Plan.run_phase` and waits for it, runs the step that follows it (a
callable, or a prompt for one agent), and stops before the next phase when anything did not
finish.  What happened comes back as a `PlanRun`.  `run_options` gives every phase and step run of
a plan its own folder under the plan's `run_dir` and its own name.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from agentbook.plans.errors import PlanError
from agentbook.plans.progress import Progress
from agentbook.plans.prompts import check_prompts, fill_prompt
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.launch import check_models, run_parallel
from agentbook.scheduler.run import Run
from agentbook.scheduler.transcripts import new_run_dir
from agentbook.specs import Task

if TYPE_CHECKING:
    from agentbook.plans.plan import Plan

__all__ = ["PlanRun", "Step", "check_steps", "run_options", "run_plan"]

log = logging.getLogger("agentbook")

Step: TypeAlias = "Callable[[Plan, int], Any] | str"
"""What stands between two phases: `step(plan, i)`, or a prompt for one agent."""


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


def check_steps(between: Mapping[int, Step], count: int) -> dict[int, Step]:
    """`between` as a dict, once every key is a phase (of `count`) and every step usable."""
    for key, step in between.items():
        if not isinstance(key, int) or not 0 <= key < count:
            raise PlanError(f"between[{key!r}]: steps follow phases 0 to {count - 1}")
        if not (callable(step) or (isinstance(step, str) and step.strip())):
            raise PlanError(f"between[{key}] must be a callable (plan, i) or a prompt, not {step!r}")
    return dict(between)


def run_options(
    run_dir: Path | None, stem: str, run_kwargs: Mapping[str, Any]
) -> tuple[Path, dict[str, Any]]:
    """The plan's base folder, and `run_kwargs` with a fresh folder and a unique name for one
    phase or step run: runs of one plan share a base folder (the `run_dir` option when given,
    else the plan's `run_dir`, else a new one), and run names must differ (the kernel's run list
    is keyed by name)."""
    options = dict(run_kwargs)
    # Checked before any folder is made: a bad option fails here, naming itself, not in phase 0.
    config = RunConfig.of(**{k: v for k, v in options.items() if k not in ("on_event", "on_end")})
    check_models([], config)  # the run's model can sign its requests (the tasks' own: at their start)
    given = options.pop("run_dir", None)
    base = Path(given) if given is not None else (run_dir or new_run_dir())
    folder = base / stem
    for n in itertools.count(2):
        if not folder.exists():
            break
        folder = base / f"{stem}.{n}"
    options["run_dir"] = folder
    options["name"] = f"{options.pop('name', None) or base.name}-{folder.name}"
    return base, options


def run_plan(
    plan: Plan, progress: Progress, between: Mapping[int, Step], run_kwargs: Mapping[str, Any]
) -> PlanRun:
    """`Plan.run` once its gate is open: see there."""
    return _Runner(plan, progress, check_steps(between, len(plan.phases)), run_kwargs).run()


class _Runner:
    """One `Plan.run` call: the phases still to run, the steps between them, and the outcome."""

    def __init__(
        self, plan: Plan, progress: Progress, steps: dict[int, Step], run_kwargs: Mapping[str, Any]
    ) -> None:
        self.plan, self.progress, self.steps, self.run_kwargs = plan, progress, steps, run_kwargs
        self.outcome = PlanRun(plan)

    def run(self) -> PlanRun:
        plan, progress = self.plan, self.progress
        start = progress.first_incomplete(plan.tasks, plan.phases)
        if start is None:
            return self.outcome
        check_prompts(plan.tasks, plan.phases, start, self.steps)
        # The step between the completed phases and the first to run is still owed, unless an
        # earlier call ran it (after a plan stopped in a later phase).
        previous = start - 1
        owed = previous in self.steps and previous not in progress.steps_passed
        if owed and not self._step(previous):
            return self.outcome
        for index in range(start, len(plan.phases)):
            run = self.outcome.runs[index] = plan.run_phase(index, **self.run_kwargs)
            run.wait()
            if (why := progress.phase_problem(plan.phases, index)) is not None:
                self._stop(why + self._not_started(index + 1))
                return self.outcome
            if index in self.steps and not self._step(index):
                return self.outcome
        return self.outcome

    def _step(self, index: int) -> bool:
        """Run the step after phase `index`; `False` (with the reason recorded) stops the plan."""
        step = self.steps[index]
        why = self._agent_step(index, step) if isinstance(step, str) else self._call_step(index, step)
        if why is not None:
            self._stop(why + self._not_started(index + 1))
            return False
        self.progress.steps_passed.add(index)
        return True

    def _call_step(self, index: int, step: Callable[[Plan, int], Any]) -> str | None:
        try:
            self.outcome.steps[index] = step(self.plan, index)
        except Exception as exc:  # a step raising is how a callable says "stop here"
            self.outcome.error = exc
            return f"the step after phase {index} raised {type(exc).__name__}: {exc}"
        return None

    def _agent_step(self, index: int, prompt: str) -> str | None:
        """Run `prompt` as a one-task run `step-<index>`; why it did not finish, or `None`."""
        plan, name = self.plan, f"step-{index}"
        results = self.progress.results_before(plan.tasks, plan.phases, index + 1)
        text = fill_prompt(prompt, results, f"the step after phase {index}", plan.tasks)
        plan.run_dir, options = run_options(plan.run_dir, name, self.run_kwargs)
        run = self.outcome.steps[index] = run_parallel([Task(name, text)], **options)
        run.wait()
        record = run.records[name]
        if record.state == "done":
            return None
        return f"the step after phase {index} ({name}) ended {record.state}" + (
            f": {record.error}" if record.error else ""
        )

    def _stop(self, reason: str) -> None:
        self.outcome.stopped_reason = reason
        log.warning("plan stopped: %s", reason)

    def _not_started(self, index: int) -> str:
        return f"; phase {index} not started" if index < len(self.plan.phases) else ""
