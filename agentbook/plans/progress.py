"""How far a plan got: its phase runs, the steps passed since, and what the tasks produced.

`Plan` owns one `Progress` and hands it to the runner (`agentbook.plans.running`); the results it
reads feed the next phase's prompts, the phase states feed the text graph, and `frame` is
`Plan.phases_frame()` (pandas imported there only).  Tasks and phases are passed in on each call,
because `plan.tasks` may change between calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentbook.plans.errors import PlanError
from agentbook.scheduler import observers
from agentbook.scheduler.records import ENDED
from agentbook.scheduler.run import Run
from agentbook.specs import Task

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["STOP_ORDER", "Progress"]

# A phase's state is the worst of its tasks' end states, in this order; any but `done` stops a plan,
# because the next phase's prompts would lack that task's output.
STOP_ORDER = ("failed", "cancelled", "budget", "partial")


class Progress:
    """The phase runs of one plan (`runs[i]` is phase i's) and the steps that ran after them."""

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self.steps_passed: set[int] = set()  # steps (by phase) that ran since their phase last ran

    def record(self, index: int, run: Run, count: int) -> None:
        """Phase `index` runs as `run`: later phases' runs are forgotten (their inputs may change),
        and the steps after this phase and later ones are owed again (`count`: phases in all)."""
        del self.runs[index:]
        self.runs.append(run)
        self.steps_passed -= set(range(index, count))

    def reset(self) -> None:
        self.runs.clear()
        self.steps_passed.clear()

    def results(self, tasks: Mapping[str, Task]) -> dict[str, str]:
        """Every finished (`done`) task's final text, in phase order."""
        out: dict[str, str] = {}
        for run in self.runs:
            for name, record in list(run.records.items()):
                if name in tasks and record.state == "done":
                    out[name] = record.text
        return out

    def results_before(
        self, tasks: Mapping[str, Task], phases: list[list[str]], index: int
    ) -> dict[str, str]:
        earlier = {n for phase in phases[:index] for n in phase}
        return {n: text for n, text in self.results(tasks).items() if n in earlier}

    def require_results_before(self, tasks: Mapping[str, Task], phases: list[list[str]], index: int) -> None:
        """`PlanError` naming the tasks of phases before `index` with no result, and what to do."""
        results = self.results(tasks)
        for earlier, names in enumerate(phases[:index]):
            missing = [n for n in names if n not in results]
            if not missing:
                continue
            run = self.runs[earlier] if earlier < len(self.runs) else None
            hint = (
                f"phase {earlier} is still running: wait for it (plan.runs[{earlier}].wait())"
                if run is not None and not run.done
                else f"run plan.run_phase({earlier}) first"
            )
            raise PlanError(
                f"phase {index} needs phase {earlier} done; no result yet for {', '.join(missing)}: {hint}"
            )

    def first_incomplete(self, tasks: Mapping[str, Task], phases: list[list[str]]) -> int | None:
        results = self.results(tasks)
        return next((i for i, names in enumerate(phases) if any(n not in results for n in names)), None)

    def phase_state(self, tasks: Mapping[str, Task], index: int) -> str:
        """`pending` (not run), `running`, `done`, or the worst end state of its tasks."""
        if index >= len(self.runs):
            return "pending"
        run = self.runs[index]
        states = {r.state for n, r in list(run.records.items()) if n in tasks}
        # Its tasks' agents all ended is the phase ended (the run may still be winding down:
        # an end callback asks this before `run.done` is set).
        if not run.done and not states <= ENDED:
            return "running"
        return next((s for s in STOP_ORDER if s in states), "done")

    def phase_problem(self, phases: list[list[str]], index: int) -> str | None:
        """Why phase `index` cannot feed the next one (a task did not finish), or `None`."""
        run = self.runs[index]
        bad = [
            f"{name} {record.state}" + (f" ({record.error})" if record.error else "")
            for name in phases[index]
            if (record := run.records[name]).state != "done"
        ]
        return f"phase {index}: {'; '.join(bad)}" if bad else None

    def frame(self, tasks: Mapping[str, Task], phases: list[list[str]]) -> pd.DataFrame:
        """One row per phase; see `Plan.phases_frame`."""
        rows = [self._phase_row(tasks, i, names) for i, names in enumerate(phases)]
        columns = ["phase", "tasks", "agents", "makespan_s", "tokens", "cost_usd", "state"]
        dtypes = {"agents": "Int64", "tokens": "Int64", "makespan_s": "Float64", "cost_usd": "Float64"}
        return observers.view("frames").table(rows, columns, dtypes=dtypes)  # type: ignore[no-any-return]

    def _phase_row(self, tasks: Mapping[str, Task], index: int, names: list[str]) -> dict[str, Any]:
        state = self.phase_state(tasks, index)
        row: dict[str, Any] = {"phase": index, "tasks": ", ".join(names), "state": state}
        if index >= len(self.runs):
            return row | {"agents": None, "makespan_s": None, "tokens": None, "cost_usd": None}
        run = self.runs[index]
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
