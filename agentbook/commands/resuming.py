"""`agentbook resume RUN_DIR [NAME...]` and `agentbook status RUN_DIR`: a run folder, later.

A run folder is one run (`run.json`: a fan-out of `agentbook run`, or any `run_parallel` run)
or a plan's folder (`phase-0`, `phase-1`, ... each a run; a re-run phase is `phase-<i>.<n>` and
the newest counts).  `resume` continues the agents that did not finish (or the named ones, done
or not) from their transcripts; for a plan that `agentbook run` started, once every phase so far
is done, it goes on with the phases not yet run.  `status` prints every run's table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from agentbook.commands.pipeline import Pipeline, PipelineError, saved_pipeline
from agentbook.commands.progress import Progress
from agentbook.commands.running import finish, progress_for, unfinished
from agentbook.plans import Plan
from agentbook.scheduler import manifest
from agentbook.scheduler.records import ENDED
from agentbook.scheduler.restore import load_run
from agentbook.scheduler.run import Run

__all__ = ["resume_command", "status_command"]

_PHASE = re.compile(r"^phase-(\d+)(?:\.(\d+))?$")


def _phase_folders(folder: Path) -> list[Path]:
    """The plan's phase run folders in phase order (the newest of each), up to the first gap."""
    newest: dict[int, tuple[int, Path]] = {}
    for child in folder.iterdir() if folder.is_dir() else ():
        found = _PHASE.match(child.name)
        if found and child.is_dir():
            index, n = int(found[1]), int(found[2] or 1)
            if index not in newest or n > newest[index][0]:
                newest[index] = (n, child)
    count = next(i for i in range(len(newest) + 1) if i not in newest)
    return [newest[i][1] for i in range(count)]


def _load(folder: Path, model: str | None) -> tuple[list[Run], bool]:
    """The runs in `folder`, and whether it is a plan's folder; `PipelineError` when it holds none."""
    try:
        if (folder / manifest.MANIFEST).exists():
            return [load_run(folder, model=model, interactive=False)], False
        phases = _phase_folders(folder)
        if phases:
            return [load_run(p, model=model, interactive=False) for p in phases], True
    except (OSError, ValueError, TypeError) as exc:
        raise PipelineError(f"{folder}: cannot load its run: {exc}") from None
    raise PipelineError(f"{folder} holds no run: neither run.json nor phase-<n> folders")


def status_command(args: argparse.Namespace) -> int:
    """Print every run's table of `RUN_DIR` (and a plan's phases not run yet)."""
    from agentbook.notebook.render import render_text  # the plain-text table: no IPython

    folder = Path(args.run_dir).expanduser().resolve()
    runs, is_plan = _load(folder, None)
    pipeline = saved_pipeline(folder) if is_plan else None
    later = pipeline.plan.phases[len(runs) :] if pipeline is not None and pipeline.plan else []
    if args.json:
        agents = {n: {"run": run.name, "state": r.state, "turns": r.turns, "error": r.error,
                      "cost_usd": r.cost_usd} for run in runs for n, r in run.records.items()}  # fmt: skip
        print(json.dumps({"run_dir": str(folder), "agents": agents, "not_started": later}))
        return 0
    print("\n\n".join(render_text(run) for run in runs))
    for offset, names in enumerate(later):
        print(f"phase {len(runs) + offset}: not started ({', '.join(names)})")
    return 0


def resume_command(args: argparse.Namespace) -> int:
    """Continue the unfinished (or named) agents of `RUN_DIR`, then a plan's later phases."""
    folder = Path(args.run_dir).expanduser().resolve()
    runs, is_plan = _load(folder, args.model)
    pipeline = saved_pipeline(folder, args.model) if is_plan else None
    plan = pipeline.plan if pipeline is not None else None
    if plan is not None:
        plan.approve()  # approved when `agentbook run` started it: the same file, kept in the folder
        for index, run in enumerate(runs[: len(plan.phases)]):
            plan.adopt(index, run)
    targets = _targets(runs, args.names)
    progress = progress_for(args, lambda: runs if plan is None else plan.runs)
    for run in runs:
        run.on_event(progress)
    notes: list[str] = []
    with progress:
        for run, name in targets:
            run.resume(name)
        for run in {id(r): r for r, _ in targets}.values():
            run.wait()
        if not targets:
            sys.stderr.write("nothing to resume: every agent is done\n")
        if pipeline is not None and plan is not None:
            notes = _go_on(pipeline, plan, len(runs), folder, progress)
            runs = plan.runs
    return finish(runs, notes, folder, args.json)


def _targets(runs: list[Run], names: list[str]) -> list[tuple[Run, str]]:
    """(run, agent) to resume: the named agents, else every top-level agent not done."""
    if not names:
        left = set(unfinished(runs))
        return [(run, n) for run in runs for n in run.records if n in left]
    found: list[tuple[Run, str]] = []
    for name in names:
        run = next((r for r in reversed(runs) if name in r.records), None)
        if run is None:
            known = ", ".join(n for r in runs for n in r.records)
            raise PipelineError(f"no agent {name!r} in this run folder; agents: {known}")
        if run.records[name].state not in ENDED:
            raise PipelineError(f"agent {name!r} is {run.records[name].state}: only an ended agent resumes")
        found.append((run, name))
    return found


def _go_on(pipeline: Pipeline, plan: Plan, loaded: int, folder: Path, progress: Progress) -> list[str]:
    """Run the plan's phases after the `loaded` ones once every task of those is done."""
    results = plan.results
    first = next((i for i, names in enumerate(plan.phases) if any(n not in results for n in names)), None)
    if first is None:
        return ["plan: completed"]
    if first < loaded:
        later = f"; phase {first + 1} not started" if first + 1 < len(plan.phases) else ""
        return [f"plan stopped: phase {first} is not done{later}"]
    outcome = plan.run(run_dir=folder, on_event=progress, **pipeline.options)
    return ["plan: completed" if outcome.completed else f"plan stopped: {outcome.stopped_reason}"]
