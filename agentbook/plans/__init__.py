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

Who uses it: users (`ab.Plan`), the `%%phase_plan` magic and the plan widgets.  The modules, by
job: `plan` (the `Plan` object and its gate), `graph` (layers, cycles), `conflicts` (declared and
edited-file conflicts; patterns meet through `agentbook.tools._globs.overlap`), `prompts` (`{name}`
references), `progress` (phase runs and results), `running` (`Plan.run` and `PlanRun`),
`dependencies` (a model's view of the dependencies), `render` (text and HTML).
"""

from __future__ import annotations

from agentbook.plans.conflicts import Conflict
from agentbook.plans.errors import PlanError
from agentbook.plans.plan import Plan
from agentbook.plans.running import PlanRun, Step

__all__ = ["Conflict", "Plan", "PlanError", "PlanRun", "Step"]
