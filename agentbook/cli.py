"""The `agentbook` command: the library's jobs, headless."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentbook._version import __version__
from agentbook.commands import COMMANDS, add_commands, dispatch
from agentbook.specs import DEFAULT_MAX_TURNS

if TYPE_CHECKING:
    from agentbook.messages import Usage

__all__ = ["build_parser", "format_usage", "main"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentbook", description=__doc__)
    parser.add_argument("--version", action="version", version=f"agentbook {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    explore = commands.add_parser("explore", help="run one read-only agent on a folder and print its summary")
    explore.add_argument("path", help="the folder to explore")
    explore.add_argument(
        "--model",
        help="'offline', an alias (opus, sonnet, haiku) or a model id; "
        "default: Claude when ANTHROPIC_API_KEY is set, else offline",
    )
    explore.add_argument(
        "--max-turns", type=_positive, default=DEFAULT_MAX_TURNS, help="most model responses"
    )
    explore.add_argument("--prompt", help="what to ask instead of the default survey")
    explore.add_argument("--run-dir", help="where to write the transcript (default: ~/.agentbook/runs/<id>)")
    costs = commands.add_parser(
        "costs", help="tokens and dollars of Claude Code transcripts, per session and per agent"
    )
    costs.add_argument("path", help="a ~/.claude/projects folder, one project folder or one .jsonl file")
    costs.add_argument("--json", action="store_true", help="print a machine-readable summary")
    costs.add_argument("--include-local", action="store_true",
                       help="count agentbook runs against a local server (a fake API) too")  # fmt: skip
    add_commands(commands)  # run, resume, status, batch
    return parser


def format_usage(usage: Usage, cost: float | None) -> str:
    """Usage and cost as a few aligned lines."""
    note = " (estimated)" if usage.estimated else ""
    rows = [(name, getattr(usage, name)) for name in usage.TOKEN_FIELDS[:4]]
    lines = [f"  {name:<28} {value:>12,}" for name, value in rows]
    dollars = "unknown (no price for this model)" if cost is None else f"${cost:,.4f}"
    return "\n".join([f"usage{note}:", *lines, f"cost: {dollars}"])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "explore":
            return _explore(args)
        if args.command == "costs":
            return _costs(args)
        if args.command in COMMANDS:
            return dispatch(args)
    except BrokenPipeError:  # the reader went away (`| head`): how a pipe ends, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush
        return 0
    return 2  # unreachable: argparse requires a command


def _explore(args: argparse.Namespace) -> int:
    from agentbook.models import ModelError
    from agentbook.scheduler.explore import EXPLORE_PROMPT, explore

    try:
        found = explore(
            args.path,
            prompt=args.prompt or EXPLORE_PROMPT,
            model=args.model,
            max_turns=args.max_turns,
            run_dir=args.run_dir,
        )
    except (NotADirectoryError, ValueError, ModelError) as exc:
        print(f"agentbook: {exc}", file=sys.stderr)
        return 2
    result = found.result
    print(f"model: {found.model.description}", file=sys.stderr)
    print(result.text or "(no answer)")
    print()
    print(
        f"state: {result.state} after {result.turns} turn(s)" + (f": {result.error}" if result.error else "")
    )
    print(format_usage(result.usage, found.cost_usd))
    print(f"transcript: {found.transcript}")
    return 0 if result.state in ("done", "partial") else 1


def _costs(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the command stays free of pandas and the model stack.
    import json
    import warnings

    from agentbook.analysis.claude_code import format_summary, scan_claude_code, summarize, summary_json
    from agentbook.analysis.claude_code.runs import agentbook_runs
    from agentbook.costs import UnknownModelPriceWarning

    try:
        with warnings.catch_warnings():
            # The summary itself names the models it could not price.
            warnings.simplefilter("ignore", UnknownModelPriceWarning)
            scan = scan_claude_code(args.path)
            ours = agentbook_runs(args.path)
            local = [c for c in scan.calls if c.session_id in ours.local]
            if local and not args.include_local:  # nobody paid for a fake API's answers
                scan.calls = [c for c in scan.calls if c.session_id not in ours.local]
            summary = summarize(scan)
    except (FileNotFoundError, ValueError, OSError) as exc:
        print(f"agentbook: {exc}", file=sys.stderr)
        return 2
    if not scan.calls and scan.lines and scan.bad_lines == scan.lines:
        print(f"agentbook: {args.path} holds no transcript lines (none is a JSON object)", file=sys.stderr)
        return 2
    print(
        json.dumps(summary_json(summary, ours.names), indent=2)
        if args.json
        else format_summary(summary, ours.names)
    )
    if local and not args.include_local:
        sessions = len({c.session_id for c in local})
        print(f"left out: {len(local):,} calls of {sessions} run(s) against a local server (a fake API, "
              "nobody paid for them); --include-local counts them", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
