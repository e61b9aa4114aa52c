"""The headless pipeline commands of `agentbook`: `run`, `resume`, `status`, `batch`.

`agentbook.cli` stays a thin dispatcher: it asks `add_commands` for these subcommands' parsers
and hands their arguments to `dispatch`.  Each command lives in its own module, imported only
when it runs (so `agentbook costs` never loads the model stack): `running` (`run`), `resuming`
(`resume`, `status`), `batching` (`batch`); `pipeline` reads the YAML file, `progress` shows what
the agents do.  A problem with the input is a `PipelineError`: `agentbook: <message>` on stderr
and exit code 2, with nothing started.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["COMMANDS", "add_commands", "dispatch"]

COMMANDS = ("run", "resume", "status", "batch")


def _common(parser: argparse.ArgumentParser, *, model: bool = True) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object a line on stdout, per event")
    parser.add_argument("--lines", action="store_true", help="progress as lines even on a terminal")
    if model:
        parser.add_argument("--model", help="'offline', an alias (opus, sonnet, haiku) or a model id")


def _cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run the agents on a Dask cluster: a scheduler address (tcp://host:8786), "
                        "or 'local' for a LocalCluster on this machine; needs agentbook[dask]")  # fmt: skip


def add_commands(commands: Any) -> None:
    """Add the pipeline subcommands to `commands` (an `add_subparsers()` result)."""
    run = commands.add_parser(
        "run",
        help="run the tasks of a YAML file (a fan-out or a phase plan) to the end",
        description="Tasks as in %%parallel_agents / %%phase_plan (name: prompt, or name: {prompt, "
        "depends_on, files, agent, model}), with optional 'options:' and 'agents:'. Exit 0: every "
        "agent done; 1: one did not finish; 2: bad input (nothing started).",
    )
    run.add_argument("file", help="the pipeline's YAML file")
    run.add_argument("--yes", "-y", action="store_true", help="approve the plan without asking")
    run.add_argument("--run-dir", help="the run folder (default: a new one under ~/.agentbook/runs)")
    _common(run)
    _cluster(run)
    resume = commands.add_parser("resume", help="continue a run's unfinished agents (and a plan's phases)")
    resume.add_argument("run_dir", help="the run folder `agentbook run` printed")
    resume.add_argument("names", nargs="*", metavar="NAME", help="only these agents (done ones too)")
    _common(resume)
    status = commands.add_parser("status", help="print a run folder's table of agents")
    status.add_argument("run_dir", help="a run folder")
    status.add_argument("--json", action="store_true", help="the agents' states as one JSON object")
    batch = commands.add_parser("batch", help="plan a change as independent units, approve, run, report")
    batch.add_argument("instruction", help="what to change, in words")
    batch.add_argument("--repo", default=".", help="the git repository (default: this folder)")
    batch.add_argument("--yes", "-y", action="store_true", help="approve the units without asking")
    _common(batch)


def dispatch(args: argparse.Namespace) -> int:
    """Run the pipeline command `args.command`; its exit code."""
    from agentbook.commands.pipeline import PipelineError
    from agentbook.commands.running import Declined
    from agentbook.scheduler.cluster import ClusterUnavailable

    try:
        if args.command == "run":
            from agentbook.commands.running import run_command

            return run_command(args)
        if args.command == "batch":
            from agentbook.commands.batching import batch_command

            return batch_command(args)
        from agentbook.commands.resuming import resume_command, status_command

        return status_command(args) if args.command == "status" else resume_command(args)
    except (PipelineError, ClusterUnavailable) as exc:  # a cluster lost between the check and a start
        print(f"agentbook: {exc}", file=sys.stderr)
        return 2
    except Declined as exc:
        print(f"agentbook: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the runs' wait() cancelled their agents first
        print("agentbook: interrupted; the agents were cancelled", file=sys.stderr)
        return 130
