"""`Team`: a lead and teammates, independent long-running agents of one run, who share a task
list and a mailbox (Claude Code's agent teams).

Each member is an ordinary agent of the run (its own context, transcript and board row) with
four task tools (`TaskCreate`, `TaskList`, `TaskGet`, `TaskUpdate`: `agentbook.tools.team_tasks`)
and `SendMessage` (`agentbook.tools.mailbox`) on top of its own; messages reach a member before
its next request, and a member that ends its turn waits instead of ending
(`agentbook.teams.coordination`).  The task list (`team/tasks.json`) and the mailbox
(`team/mailbox.jsonl`) live in the run folder, so `Team.load(run_dir).resume()` goes on after a
restart with the tasks as they were.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentbook.agent.hooks import Hooks
from agentbook.scheduler import manifest
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.launch import check_models, run_parallel
from agentbook.scheduler.records import ENDED
from agentbook.scheduler.restore import load_run
from agentbook.scheduler.run import Run
from agentbook.scheduler.transcripts import new_run_dir
from agentbook.specs import check_name
from agentbook.teams.coordination import Coordination
from agentbook.teams.prompts import lead_prompt, teammate_prompt
from agentbook.tools.base import Tool
from agentbook.tools.mailbox import Mailbox, SendMessageTool
from agentbook.tools.team_tasks import TaskBoard, TeamTask, task_tools

__all__ = ["Team", "TeamError"]

TaskInput = str | Mapping[str, Any]


class TeamError(ValueError):
    """A team that cannot start as given (named members, tasks)."""


class Team:
    """A lead (`lead`: its instructions) and `teammates` (name -> role), sharing `tasks` (each
    a subject, or a mapping of `subject`, `description`, `blocked_by`: earlier tasks' 1-based
    numbers or subjects).  Nothing runs until `start()`; every other keyword is a run option
    (`run_parallel`'s).  The team ends when every task is completed and the lead has answered,
    or when the lead, woken because nothing moves, ends its turn again (see `coordination`)."""

    def __init__(
        self,
        lead: str,
        teammates: Mapping[str, str],
        tasks: Sequence[TaskInput] = (),
        *,
        lead_name: str = "lead",
        run_dir: str | Path | None = None,
        **options: Any,
    ) -> None:
        _check_members(lead, lead_name, teammates)
        if options.get("cluster") is not None:
            raise TeamError("a team does not run on a cluster yet: its task list and mailbox live in "
                            "this process; start it without cluster=")  # fmt: skip
        cap = options.get("concurrency")
        if cap is not None and isinstance(cap, int) and cap < len(teammates) + 1:
            raise TeamError(f"concurrency={cap} is less than the team's {len(teammates) + 1} members, who "
                            "run at once and wait for each other: give at least that, or None")  # fmt: skip
        self.lead, self.lead_name, self.teammates = lead, lead_name, dict(teammates)
        self.initial = _tasks(tasks)
        self.options, self.run_dir = options, Path(run_dir) if run_dir is not None else None
        self.run: Run | None = None
        self.board: TaskBoard | None = None
        self.mailbox: Mailbox | None = None
        self._coordination: Coordination | None = None

    @property
    def members(self) -> list[str]:
        """The lead's name, then the teammates'."""
        return [self.lead_name, *self.teammates]

    def start(self) -> Team:
        """Start every member, returning at once (`wait()` or `await team.run` to block)."""
        if self.run is not None:
            raise RuntimeError("this team has started already")
        # Bad options and missing credentials fail before any file is made.
        check_models([], RunConfig.of(**{k: v for k, v in self.options.items() if k != "hooks"}))
        if self.run_dir is not None and any((self.run_dir / n).exists() for n in ("team", "run.json")):
            raise FileExistsError(f"{self.run_dir} holds a run or a team already: go on with ab.Team.load")
        folder = self.run_dir if self.run_dir is not None else new_run_dir()
        self._open(folder)
        assert self.board is not None
        for subject, description, blocked in self.initial:  # a new list: task n gets id "n"
            self.board.create(subject, description, blocked_by=[str(b) for b in blocked], by=self.lead_name)
        prompts = {self.lead_name: lead_prompt(self.lead, self.lead_name, self.teammates)}
        prompts |= {n: teammate_prompt(n, role, self.lead_name) for n, role in self.teammates.items()}
        self.run = run_parallel(prompts, run_dir=folder, hooks=self._hooks(self.options.get("hooks")),
                                **{k: v for k, v in self.options.items() if k != "hooks"})  # fmt: skip
        self.run.on_end(self._member_ended)
        return self

    @classmethod
    def load(cls, run_dir: str | Path, **options: Any) -> Team:
        """The team of the run in `run_dir`, its task list and mailbox read back (after a
        restart); `resume()` goes on.  `options` are `load_run`'s (a model, say)."""
        folder = Path(run_dir)
        board_file = folder / "team" / "tasks.json"
        if not board_file.is_file():
            raise TeamError(f"{folder} holds no team (no team/tasks.json)")
        members = [n for n in manifest.read(folder).agents if "/" not in n]  # not their sub-agents
        team = cls.__new__(cls)
        team.run, team.run_dir, team.options, team.initial = None, folder, options, []
        team.lead, team.lead_name, team.teammates = "", members[0], {n: "" for n in members[1:]}
        team._open(folder)
        team.run = load_run(folder, hooks=team._hooks(options.pop("hooks", None)), **options)
        team.run.on_end(team._member_ended)
        return team

    def resume(self, max_turns: int | None = None) -> Team:
        """Continue every member that did not finish (after `load`, a cancel or a crash)."""
        if self.run is None:
            raise RuntimeError("start() the team first")
        for name in self.members:
            if self.run.records[name].state != "done":
                self.run.resume(name, max_turns=max_turns, prompt="Go on with the team's work.")
        return self

    def wait(self, timeout: float | None = None) -> Team:
        if self.run is None:
            raise RuntimeError("start() the team first")
        self.run.wait(timeout)
        return self

    def stop(self) -> None:
        """End the team: waiting members end now, working ones after their turn."""
        if self._coordination is not None:
            self._coordination.end()

    @property
    def tasks(self) -> list[TeamTask]:
        return self.board.list() if self.board is not None else []

    def _open(self, folder: Path) -> None:
        (folder / "team").mkdir(parents=True, exist_ok=True)
        self.board = TaskBoard(folder / "team" / "tasks.json")
        self.mailbox = Mailbox(folder / "team" / "mailbox.jsonl", self.members)
        self._coordination = Coordination(self.lead_name, list(self.teammates), self.board, self.mailbox)

    def _hooks(self, given: Hooks | None) -> Hooks:
        assert self._coordination is not None
        hooks = given or Hooks()
        return Hooks(pre_tool=hooks.pre_tool, post_tool=hooks.post_tool, on_start=hooks.on_start,
                     on_end=hooks.on_end, before_stop=[self._coordination.before_stop, *hooks.before_stop],
                     agent_tools=[self._tools, *hooks.agent_tools],
                     incoming=[self._coordination.incoming, *hooks.incoming])  # fmt: skip

    def _tools(self, agent: str) -> list[Tool]:
        if agent not in self.members or self.board is None or self.mailbox is None:
            return []  # a member's sub-agents work for it, not in the team
        lead = agent == self.lead_name
        return [*task_tools(self.board, agent, lead=lead, members=self.members),
                SendMessageTool(self.mailbox, agent)]  # fmt: skip

    def _member_ended(self, record: Any) -> None:
        if record.state not in ENDED or self._coordination is None or record.name not in self.members:
            return
        if record.name == self.lead_name:
            self._coordination.end()  # the lead is gone (done, failed, cancelled): so is the team
        else:
            self._coordination.left(record.name)

    def _repr_html_(self) -> str:  # the notebook edge replaces it with the live board
        from html import escape

        rows = "".join(f"<li>#{t.id} {escape(t.subject)}: {t.status}" + (f" ({escape(t.owner)})"
                       if t.owner else "") + "</li>" for t in self.tasks)  # fmt: skip
        return f"<p>Team of {escape(', '.join(self.members))}</p><ul>{rows}</ul>"


def _check_members(lead: str, lead_name: str, teammates: Mapping[str, str]) -> None:
    if not isinstance(lead, str) or not lead.strip():
        raise TeamError("the lead needs instructions (a non-empty string)")
    if not isinstance(teammates, Mapping) or not teammates:
        raise TeamError("a team needs teammates: a mapping of name to role")
    for name, role in {lead_name: lead, **teammates}.items():
        check_name("a team member's name", name)
        if not isinstance(role, str) or not role.strip():
            raise TeamError(f"teammate {name!r} needs a role (a non-empty string), not {role!r}")
    if lead_name in teammates:
        raise TeamError(f"{lead_name!r} is the lead's name; give the teammate another")


def _tasks(tasks: Sequence[TaskInput]) -> list[tuple[str, str, list[int]]]:
    """The starting tasks as (subject, description, the 1-based numbers of the earlier tasks
    blocking it); `TeamError` names a bad one, or a blocker that is not an earlier task."""
    if isinstance(tasks, str | Mapping):
        raise TeamError(f"tasks must be a list of tasks, not {tasks!r}")
    out: list[tuple[str, str, list[int]]] = []
    for number, task in enumerate(tasks, start=1):
        if isinstance(task, str):
            task = {"subject": task}
        if (
            not isinstance(task, Mapping)
            or not isinstance(task.get("subject"), str)
            or not task["subject"].strip()
        ):
            raise TeamError(f"task {number} must be a subject or a mapping with a subject, not {task!r}")
        unknown = set(task) - {"subject", "description", "blocked_by"}
        if unknown:
            raise TeamError(f"task {number}: unknown field(s) {', '.join(sorted(unknown))}")
        refs = task.get("blocked_by") or []
        refs = [refs] if isinstance(refs, str | int) else list(refs)
        subjects = [t[0] for t in out]
        blocked = []
        for ref in refs:
            if isinstance(ref, int) and not isinstance(ref, bool) and 1 <= ref < number:
                blocked.append(ref)
            elif isinstance(ref, str) and ref in subjects:
                blocked.append(subjects.index(ref) + 1)
            else:
                raise TeamError(f"task {number}: blocked_by {ref!r} names no earlier task")
        out.append((task["subject"], str(task.get("description") or ""), blocked))
    return out
