"""`agentbook run FILE.yaml`: a fan-out or a phase plan, headless, to the end.

Everything is checked first (`agentbook.commands.pipeline`); a plan is shown and needs approval
(`--yes`, or y on a terminal); then the agents run with their progress on stderr and, with
`--json`, their events on stdout; the summary comes last.  Exit codes: 0 every agent done, 1 an
agent did not finish (failed, partial, budget, cancelled) or the plan was declined, 2 bad input
(nothing started, no run folder made), 130 interrupted (the agents are cancelled first).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from agentbook.commands.pipeline import PIPELINE_FILE, PipelineError, check_cluster, read_pipeline
from agentbook.commands.progress import Progress, RunSource
from agentbook.scheduler import manifest
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.run import Run
from agentbook.scheduler.transcripts import new_run_dir

__all__ = ["Declined", "approve", "finish", "progress_for", "run_command", "unfinished"]


class Declined(Exception):
    """The user answered no: nothing ran."""


def approve(what: str, yes: bool) -> None:
    """Ask whether `what` may run, unless `yes`; `PipelineError` when there is no terminal to
    ask on, `Declined` when the answer is not yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise PipelineError(f"{what} needs approval and there is no terminal to ask on: pass --yes")
    sys.stderr.write(f"run {what}? [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise Declined(f"{what} not approved: nothing ran")


def progress_for(args: argparse.Namespace, runs: RunSource) -> Progress:
    """The progress display the command's flags and streams ask for."""
    live = sys.stderr.isatty() and not getattr(args, "lines", False)
    return Progress(sys.stderr, json_out=sys.stdout if args.json else None, live=live, runs=runs)


def unfinished(runs: Iterable[Run]) -> list[str]:
    """The top-level agents of `runs` that are not `done`."""
    return [n for run in runs for n, r in list(run.records.items()) if r.parent is None and r.state != "done"]


def finish(runs: Sequence[Run], notes: Sequence[str], folder: Path, as_json: bool) -> int:
    """Print the runs' summaries (and `notes`), then give the exit code: 0 when every top-level
    agent is done, else 1."""
    left = unfinished(runs)
    code = 1 if left else 0
    lines = [str(run.summary) for run in runs] + list(notes) + [f"run folder: {folder}"]
    if left:
        lines.append(f"not done: {', '.join(left)}; continue with: agentbook resume {folder}")
    text = "\n".join(lines)
    if as_json:
        sys.stderr.write(text + "\n")
        summary = {"kind": "summary", "exit": code, "run_dir": str(folder), "not_done": left,
                   "runs": [{"name": r.name, "states": r.summary.states, "failures": r.summary.failures,
                             "cost_usd": r.summary.cost_usd} for r in runs]}  # fmt: skip
        print(json.dumps(summary))
    else:
        print(text)
    return code


def run_command(args: argparse.Namespace) -> int:
    """`agentbook run`: see the module docstring."""
    pipeline = read_pipeline(args.file, args.model, args.cluster)
    check_cluster(pipeline.options)  # reachable, before the plan is shown and a folder made
    plan = pipeline.plan
    if plan is not None:
        shown = [line for line in plan.to_text().splitlines() if not line.startswith("not approved")]
        sys.stderr.write("\n".join(shown).rstrip() + "\n")
        approve(f"the plan of {len(plan.tasks)} tasks in {len(plan.phases)} phases", args.yes)
        plan.approve()
    folder, made = _folder(args.run_dir)
    if plan is None:
        holder: list[Run] = []
        progress = progress_for(args, lambda: list(holder))
        try:
            run = run_parallel(pipeline.tasks, run_dir=folder, on_event=progress, **pipeline.options)
        except (TypeError, ValueError, OSError) as exc:  # a sandbox or worktree that cannot be had
            if made:
                folder.rmdir()
            raise PipelineError(str(exc)) from None
        holder.append(run)
        pipeline.save(folder, args.model)
        with progress:
            run.wait()
        return finish([run], [], folder, args.json)
    pipeline.save(folder, args.model)
    progress = progress_for(args, lambda: plan.runs)
    with progress:
        outcome = plan.run(run_dir=folder, on_event=progress, **pipeline.options)
    note = "plan: completed" if outcome.completed else f"plan stopped: {outcome.stopped_reason}"
    return finish(plan.runs, [note], folder, args.json)


def _folder(given: str | None) -> tuple[Path, bool]:
    """The run folder, and whether it was made here; one holding a run already is refused."""
    if given is None:
        return new_run_dir(), True
    folder = Path(given).expanduser().resolve()
    for name in (manifest.MANIFEST, PIPELINE_FILE):
        if (folder / name).exists():
            raise PipelineError(f"{folder} holds a run already: continue it with agentbook resume, "
                                "or give another --run-dir")  # fmt: skip
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    return folder, made
