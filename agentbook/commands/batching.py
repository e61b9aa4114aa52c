"""`agentbook batch "instruction" --repo PATH`: the batch flow (`agentbook.batches`), headless.

A research agent splits the instruction into units; they are shown on stderr and need approval
(`--yes`, or y on a terminal; without either on a non-terminal nothing starts, not even the
research, and the exit code is 2); then one agent per unit runs in its own worktree, with its
progress on stderr, and the report comes last: one line per unit (state, branch, its test), then
the run's summary.  Exit 0 when every unit is done and no test failed, else 1.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from agentbook.batches import Batch, BatchError, UnitOutcome, batch
from agentbook.commands.pipeline import PipelineError
from agentbook.commands.running import approve, finish, progress_for
from agentbook.scheduler.run import Run

__all__ = ["batch_command", "units_text"]


def units_text(planned: Batch) -> str:
    """The units as a plain list: name, files, test command and instructions."""
    lines = [f"batch: {planned.instruction} ({len(planned.units)} units in {planned.repo})"]
    for unit in planned.units:
        lines.append(f"- {unit.name}: files {', '.join(unit.files) or 'as needed'}; "
                     f"test: {unit.test_command or 'none'}")  # fmt: skip
        lines += textwrap.wrap(unit.instructions, 100, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines)


def batch_command(args: argparse.Namespace) -> int:
    """`agentbook batch`: see the module docstring."""
    if not args.yes and not sys.stdin.isatty():  # before the research agent spends anything
        raise PipelineError("a batch needs approval and there is no terminal to ask on: pass --yes")
    sys.stderr.write("a research agent splits the change into units...\n")
    try:
        planned = batch(args.instruction, args.repo, model=args.model)
    except (BatchError, ValueError) as exc:
        raise PipelineError(str(exc)) from None
    sys.stderr.write(units_text(planned) + "\n")
    approve(f"these {len(planned.units)} units", args.yes)
    planned.approve()
    holder: list[Run] = []
    progress = progress_for(args, lambda: holder)
    with progress:
        run = planned.start(on_event=progress)
        holder.append(run)
        planned.wait()
    notes = []
    for unit in planned.units:
        record = run.records[unit.name]
        outcome = planned.outcomes.get(unit.name, UnitOutcome("not run")).outcome
        notes.append(f"{unit.name}: {record.state}, branch {record.branch or '-'}, test {outcome}"
                     + (f": {record.error}" if record.error else ""))  # fmt: skip
    code = finish([run], notes, run.run_dir, args.json)
    failed_tests = any(o.outcome == "failed" for o in planned.outcomes.values())
    return 1 if failed_tests else code
