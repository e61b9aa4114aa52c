"""IPython magics: `%%parallel_agents`, `%%agent` and `%agents` (after `%load_ext agentbook`).

Thin by design: each magic parses its arguments with IPython's `magic_arguments` (so `%%magic?`
shows the options), checks them, calls one library function, and returns the `Run`, which
displays itself as a live board.  A bad argument raises `UsageError` naming it, and nothing starts.

Prompts may use notebook variables as `{name}` (also `{obj.attr}` and `{d[key]}`, as
`str.format` allows); write `{{` and `}}` for literal braces.
"""

from __future__ import annotations

import functools
import shlex
import string
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from agentbook.analysis import frames
from agentbook.notebook import render
from agentbook.notebook.conversation import AgentTranscript
from agentbook.scheduler.claude_settings import apply_settings, bind_hooks
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.launch import start
from agentbook.scheduler.records import ENDED, state_counts
from agentbook.scheduler.run import Run, all_runs
from agentbook.specs import AGENTBOOK_TOOLS, AgentFileError, load_agents
from agentbook.tasks import as_tasks, read_tasks_yaml

__all__ = ["AGENTS_HELP", "AgentMagics"]

AGENTS_HELP = """\
%agents                         every run of this kernel, with its state
%agents status NAME             a run (by name) or an agent (newest run that has it)
%agents cancel NAME             cancel a run or one agent
%agents resume NAME [--max-turns N] [--prompt TEXT]
%agents transcript NAME         an agent's conversation
%agents df                      one row per agent of every run
"""


def _run_options(func: Any) -> Any:
    """The options shared by `%%parallel_agents` and `%%agent`."""
    for option in reversed(
        [
            argument("--model", help="'offline', an alias (opus, sonnet, haiku) or a model id"),
            argument("--agent", dest="agent_type", help="agent type from .claude/agents for every task"),
            argument("--max-turns", type=int, help="most model responses per agent"),
            argument("--tools", help="comma-separated tools, e.g. Read,Grep,Glob"),
            argument("--concurrency", type=int, help="most agents working at once"),
            argument("--worktree", action="store_true", help="each agent in its own git worktree and branch"),
            argument("--cwd", help="the folder agents work in (default: the kernel's)"),
            argument("--settings", help="Claude Code settings: a settings.json path, or 'project'"),
            argument("--cluster", help="run the agents on a Dask cluster: a scheduler address, or 'local'"),
            argument("--wait", action="store_true", help="block until every agent has ended"),
            argument("-o", dest="output", help="store the Run in this notebook variable"),
        ]
    ):
        func = option(func)
    return func


@magics_class
class AgentMagics(Magics):
    """agentbook's magics; see the module docstring."""

    @magic_arguments()
    @_run_options
    @cell_magic
    def parallel_agents(self, line: str, cell: str) -> Run | None:
        """Run one agent per task, all at once; the cell body is YAML.

        Each entry maps a task name to a prompt, or to {prompt, agent, model, files}:

            %%parallel_agents --model haiku -o run
            models: Summarise agentbook/models
            tools:
              prompt: Summarise {package}/tools
              agent: explorer

        The cell returns at once with a live board (unless --wait).
        """
        args = _parse(self.parallel_agents, line)
        tasks = _parse_tasks(cell)
        return self._launch(args, tasks)

    @magic_arguments()
    @_run_options
    @argument("--name", default="agent", help="the agent's name (default: agent)")
    @cell_magic
    def agent(self, line: str, cell: str) -> Run | None:
        """Run one agent; the cell body is its prompt (notebook variables as {name})."""
        args = _parse(self.agent, line)
        if not cell.strip():
            raise UsageError("%%agent needs a prompt in the cell body")
        return self._launch(args, {args.name: cell.strip()})

    @magic_arguments()
    @argument("-o", dest="output", help="store the Plan in this notebook variable")
    @cell_magic
    def phase_plan(self, line: str, cell: str) -> Any:
        """A phase plan from YAML: tasks with prompt, depends_on, files, agent.

            %%phase_plan -o plan
            library: {prompt: Write a shared validation library, files: [src/validation/**]}
            registration: {prompt: "Validate registration with it: {library}", depends_on: [library]}

        Shows the plan's table and phases with an Approve button (or call `plan.approve()`), then
        `plan.run()` or `plan.run_phase(i)`.  In these prompts `{task}` stands for an earlier
        task's result (notebook variables are not filled in).
        """
        from agentbook.plans import Plan, PlanError

        args = _parse(self.phase_plan, line)
        tasks = _parse_tasks(cell)
        try:
            plan = Plan(tasks)
        except (PlanError, ValueError) as exc:
            raise UsageError(str(exc)) from exc
        return self._show(plan, args.output, "plan_view")

    @magic_arguments()
    @argument("--repo", default=".", help="the git repository (default: the kernel's folder)")
    @argument("--model", help="the model that plans and implements the units")
    @argument("-o", dest="output", help="store the Batch in this notebook variable")
    @argument("instruction", nargs="+", help="what to change, in words")
    @line_magic
    def batch(self, line: str) -> Any:
        """Plan a change as 5-30 independent units, show them for approval (editable), then run one
        agent per unit in its own git worktree; see `agentbook.batches`."""
        from agentbook.batches import BatchError, batch

        args = _parse(self.batch, line)
        try:
            planned = batch(" ".join(args.instruction), args.repo, model=args.model)
        except (BatchError, ValueError) as exc:
            raise UsageError(str(exc)) from exc
        return self._show(planned, args.output, "batch_view")

    @line_magic
    def agents(self, line: str) -> Any:
        """List and steer this kernel's runs:

        %agents                         every run of this kernel, with its state
        %agents status NAME             a run (by name) or an agent (newest run that has it)
        %agents cancel NAME             cancel a run or one agent
        %agents resume NAME [--max-turns N] [--prompt TEXT]
        %agents transcript NAME         an agent's conversation
        %agents df                      one row per agent of every run
        """
        words = shlex.split(line)
        command, rest = (words[0], words[1:]) if words else ("list", [])
        if command == "list":
            return frames.runs_frame(all_runs())
        if command == "df":
            return frames.all_agents_frame(all_runs())
        if command in ("status", "cancel", "resume", "transcript"):
            if not rest:
                raise UsageError(f"%agents {command} needs a NAME (a run or an agent)")
            return getattr(self, f"_agents_{command}")(rest[0], rest[1:])
        raise UsageError(f"unknown %agents command {command!r}\n{AGENTS_HELP}")

    # ---- helpers

    def _show(self, obj: Any, output: str | None, view: str) -> Any:
        """Store `obj` as `output`; in a kernel display its widget view (`agentbook.notebook.widgets.<view>`,
        with an Approve button), elsewhere return it to be shown as text."""
        if output and self.shell is not None:
            self.shell.user_ns[output] = obj
        if self.shell is None or getattr(self.shell, "kernel", None) is None:
            return obj
        from IPython.display import display

        from agentbook.notebook import widgets

        display(getattr(widgets, view)(obj))
        return None

    def _launch(self, args: Any, tasks: dict[str, Any]) -> Run | None:
        ns = self.shell.user_ns if self.shell is not None else {}
        for name, task in tasks.items():
            if isinstance(task, str):
                tasks[name] = _fill(name, task, ns)
            else:
                if not isinstance(task.get("prompt"), str):
                    raise UsageError(f"task {name!r}: 'prompt' must be text, not {task.get('prompt')!r}")
                tasks[name] = {**task, "prompt": _fill(name, task["prompt"], ns)}
                if task.get("depends_on"):
                    raise UsageError(f"task {name!r} has depends_on: dependent tasks need a phase plan")
            if args.agent_type and isinstance(tasks[name], str):
                tasks[name] = {"prompt": tasks[name], "agent": args.agent_type}
        cwd = Path(args.cwd).expanduser() if args.cwd else Path.cwd()
        if not cwd.is_dir():
            raise UsageError(f"--cwd: not a folder: {cwd}")
        try:
            agent_dir = cwd / ".claude" / "agents"
            options: dict[str, Any] = {
                "model": args.model, "cwd": cwd, "concurrency": args.concurrency,
                "agents": load_agents(agent_dir) if agent_dir.is_dir() else {}, "tools": _tools(args.tools),
                "isolation": "worktree" if args.worktree else None, "max_turns": args.max_turns,
                "permissions": None, "permission_mode": None, "hooks": None, "settings": args.settings,
                "cluster": args.cluster,
            }  # fmt: skip
            command_hooks = apply_settings(options)
            prepare = None if command_hooks is None else functools.partial(bind_hooks, command_hooks)
            run = start(as_tasks(tasks), RunConfig.of(**options), prepare=prepare)
        except (TypeError, ValueError, AgentFileError, OSError, RuntimeError) as exc:
            raise UsageError(_option_error(str(exc))) from exc
        if args.output:
            ns[args.output] = run
        if args.wait:
            print(run.wait())  # the outcome, then the final board, from this cell
            render.publish_final(run)
            return None
        return run

    def _find(self, name: str) -> tuple[Run, str | None]:
        runs = all_runs()
        for run in reversed(runs):
            if run.name == name:
                return run, None
        for run in reversed(runs):
            if name in run.records:
                return run, name
        known = sorted({r.name for r in runs} | {a for r in runs for a in r.records})
        raise UsageError(f"no run or agent named {name!r}; known: {', '.join(known) or 'none'}")

    def _agents_status(self, name: str, rest: list[str]) -> Any:
        run, agent = self._find(name)
        if agent is None:
            return run
        record = run.records[agent]
        return f"{agent}: {record.state}, {record.turns} turns" + (
            f", {record.error}" if record.error else ""
        )

    def _agents_cancel(self, name: str, rest: list[str]) -> None:
        run, agent = self._find(name)
        run.cancel(agent)
        # They stop within a second: say how they ended, not nothing.
        names = [agent] if agent is not None else list(run.records)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(run.records[n].state not in ENDED for n in names):
            time.sleep(0.05)
        print(f"cancelled {agent or 'run ' + run.name}: {state_counts([run.records[n] for n in names])}")

    def _agents_resume(self, name: str, rest: list[str]) -> Run:
        run, agent = self._find(name)
        if agent is None:
            raise UsageError(f"%agents resume takes an agent name; {name!r} is a run")
        max_turns, prompt = _resume_options(rest)
        if run.records[agent].state not in ENDED:
            raise UsageError(f"agent {agent!r} is {run.records[agent].state}; only an ended agent resumes")
        return run.resume(agent, max_turns=max_turns, prompt=prompt)

    def _agents_transcript(self, name: str, rest: list[str]) -> AgentTranscript:
        run, agent = self._find(name)
        if agent is None:
            raise UsageError(f"%agents transcript takes an agent name; {name!r} is a run")
        record = run.records[agent]
        return AgentTranscript(agent, record.transcript, record.error)


def _option_error(message: str) -> str:
    """A run option's error in the magic's own words (`max_turns` -> `--max-turns`)."""
    for option in ("max_turns", "concurrency", "model", "tools", "cwd", "cluster"):
        if message.startswith(f"{option} "):
            return f"--{option.replace('_', '-')}{message[len(option) :]}"
    return message


def _parse(magic: Any, line: str) -> Any:
    """The magic's arguments; quoted values keep their spaces (shell quoting, as users expect)."""
    try:
        argv = shlex.split(line, comments=True)  # `%%magic --model offline  # why` is fine
    except ValueError as exc:
        raise UsageError(f"cannot read the magic's arguments: {exc}") from None
    return magic.parser.parse_args(argv)  # IPython's parser raises UsageError on a bad argument


def _parse_tasks(cell: str) -> dict[str, Any]:
    try:
        return read_tasks_yaml(cell, "the cell body")
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


class _Missing(KeyError):
    pass


def _fill(task: str, prompt: str, ns: Mapping[str, Any]) -> str:
    """`prompt` with `{name}` replaced from the notebook namespace."""
    try:
        return string.Formatter().vformat(prompt, (), _Namespace(ns))
    except _Missing as exc:
        raise UsageError(
            f"task {task!r}: the prompt uses {{{exc.args[0]}}}, which is not a notebook variable "
            "(write {{ and }} for literal braces)"
        ) from None
    except (ValueError, IndexError, AttributeError) as exc:
        raise UsageError(f"task {task!r}: cannot fill the prompt's {{...}} fields: {exc}") from None


class _Namespace(dict[str, Any]):
    def __init__(self, ns: Mapping[str, Any]) -> None:
        super().__init__(ns)

    def __missing__(self, key: str) -> Any:
        raise _Missing(key)


def _tools(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in AGENTBOOK_TOOLS]
    if unknown or not names:
        raise UsageError(
            f"--tools: unknown tool(s) {', '.join(map(repr, unknown))}; known: {', '.join(AGENTBOOK_TOOLS)}"
        )
    return names


def _resume_options(rest: list[str]) -> tuple[int | None, str | None]:
    max_turns: int | None = None
    prompt: str | None = None
    words = iter(rest)
    for word in words:
        value = next(words, None)
        if value is None:
            raise UsageError(f"{word} needs a value")
        if word == "--max-turns":
            if not value.isdigit() or int(value) < 1:
                raise UsageError(f"--max-turns must be a whole number at least 1, not {value!r}")
            max_turns = int(value)
        elif word == "--prompt":
            prompt = value
        else:
            raise UsageError(f"unknown option {word!r} for %agents resume (use --max-turns N, --prompt TEXT)")
    return max_turns, prompt
