"""`Run`: the handle of many agents started together, none lost and none wasted.

`run_parallel(tasks)` (`agentbook.scheduler.launch`) returns a `Run` at once.  Its agents run on
the background thread's event loop (`agentbook.scheduler.background`), so the caller's thread, a
notebook cell included, stays free.  The handle gives the run's state (`status`, `results`,
`records`, frames through the analysis edge), waits (`wait()`, `await run`), steers (`cancel`,
`resume`), and offers its events (`events()`, `on_event`, `on_end`).

State lives in `AgentRecord`s, updated only from the agents' events on the background thread;
readers on other threads see plain attribute values (each update replaces whole values).  How
each agent is wired (model, tools, permissions, transcript) is `agentbook.scheduler.wiring`'s job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from pathlib import Path
from typing import Any

from agentbook.budgets import Budget
from agentbook.events import AgentEnded, AgentEvent, Listener
from agentbook.messages import Message
from agentbook.redact import safe_env, secret_values
from agentbook.scheduler import background, manifest, observers, reports, shutdown
from agentbook.scheduler.asking import Asking, PermissionRequest
from agentbook.scheduler.budgets import Budgets
from agentbook.scheduler.bus import EventBus
from agentbook.scheduler.compaction import Compaction, compact_now
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.isolation import WorktreeActions, open_isolation
from agentbook.scheduler.records import AgentRecord, apply
from agentbook.scheduler.reports import RunSummary
from agentbook.scheduler.resuming import check_resume, resume_history
from agentbook.scheduler.transcripts import new_agent_id, transcript_path
from agentbook.scheduler.views import RunViews
from agentbook.scheduler.wiring import Wiring
from agentbook.specs import Task

__all__ = ["Run", "active_runs", "all_runs"]

log = logging.getLogger("agentbook")
_runs: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()


class Run(RunViews, WorktreeActions):
    """Agents started together; see the module docstring.  Made by `run_parallel` and `load_run`."""

    def __init__(
        self, config: RunConfig, *, run_dir: Path, session_id: str, interactive: bool, restored: bool = False
    ) -> None:
        """`restored` (by `load_run`): worktrees that cannot be opened any more are a warning."""
        self.name = config.name or run_dir.name
        self.isolation = (
            open_isolation(config.cwd, self.name, config.base, restored) if config.worktrees else None
        )
        if self.isolation is not None:  # the commit "HEAD" was, kept: a resume next week starts there
            config = RunConfig.of(config, base=self.isolation.worktrees.base)
        self.config = config
        self.run_dir = run_dir
        self.session_id = session_id
        self.cwd = config.cwd
        self.permissions = config.permissions
        self.hooks = config.hooks
        self.records: dict[str, AgentRecord] = {}
        self.ours: set[str] = set()
        """Agents this handle added or started: another handle's (process's) entries in the
        manifest are kept for the others (`agentbook.scheduler.manifest.write`)."""
        self.asking = Asking(config.permissions, interactive, self._dispatch)
        self.secrets: tuple[str, ...] = ()
        self.env: dict[str, str] = {}
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self._bus = EventBus()
        self._wiring = Wiring(self)
        self.remote: Any = None  # a cluster's `RemoteAgents`, set by `launch.start`
        self.budgets = Budgets(config.budget, self.records, self._wiring.spec)
        self._lock = threading.Lock()
        self._active = 0
        self._done = concurrent.futures.Future[None]()
        self._done.set_result(None)
        _runs[self.name] = self
        observers.created(self)
        shutdown.track(self)

    def __repr__(self) -> str:
        summary = str(self.summary).splitlines()[0].removeprefix("run ")
        return f"<Run {summary}; {self.run_dir}>"

    @property
    def done(self) -> bool:
        """Whether every agent has ended."""
        return self._done.done()

    @property
    def pending(self) -> list[PermissionRequest]:
        """Tool calls waiting for someone to approve or deny them."""
        return self.asking.pending

    # ---- waiting

    def wait(self, timeout: float | None = None) -> RunSummary:
        """Block until every agent has ended and return the run's `summary`; `TimeoutError`
        after `timeout` seconds.

        Ctrl-C (a kernel interrupt) while waiting cancels the run's agents, then re-raises.  In a
        notebook the final state is then shown in the waiting cell (static HTML and text), so a
        notebook executed headless and saved keeps the end of the run.
        """
        try:
            self._done.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"run {self.name} still has agents working after {timeout} s") from None
        except KeyboardInterrupt:
            self.cancel()
            with contextlib.suppress(Exception, KeyboardInterrupt):
                self._done.result(5)
            raise
        observers.waited(self)
        return self.summary

    def __await__(self) -> Generator[Any, None, Run]:
        return self._wait_async().__await__()

    async def _wait_async(self) -> Run:
        await asyncio.wrap_future(self._done)
        return self

    # ---- steering

    def cancel(self, name: str | None = None) -> None:
        """Cancel one agent (and its sub-agents) or, with no name, all of them.

        They stop within a second: their Bash process trees are killed, they are marked
        `cancelled`, and their transcripts are closed cleanly.
        """
        if name is not None:
            self._record(name)
        names = [n for n in self.records if name is None or n == name or n.startswith(f"{name}/")]

        def cancel_tasks() -> None:
            for n in names:
                task = self.tasks.get(n)
                if task is not None and not task.done():
                    task.cancel()

        background.call_soon(cancel_tasks)

    def resume(self, name: str, max_turns: int | None = None, prompt: str | None = None) -> Run:
        """Continue an ended agent from its transcript with the same conversation, in the same
        folder or worktree and with the same configuration.

        Tool calls that already ran are not repeated; `prompt` adds a new user message.
        """
        record = self._record(name)
        history = resume_history(record, self.records, self.isolation, max_turns, prompt)
        with self._lock:  # two resumes at once start the agent once
            check_resume(record, max_turns, prompt)
            self._wiring.claim(record)  # and two handles (processes): the second is refused here
            record.state = "pending"
        self.start_all([record], max_turns or self.config.max_turns, prompt, history)
        return self

    def compact(self, name: str, instructions: str | None = None) -> Compaction:
        """Replace an ended agent's conversation by a summary the model writes (Claude Code's
        `/compact`, see `agentbook.scheduler.compaction`), so that its resume starts small;
        `instructions` say what the summary must keep.  Blocks until it is written."""
        return compact_now(self, self._record(name), instructions)

    def set_budget(self, budget: Budget, agent: str | None = None) -> None:
        """The run's budget (or `agent`'s own) from now on, so that agents it stopped can be
        resumed: what was spent still counts against it."""
        if not isinstance(budget, Budget):
            raise TypeError(f"budget must be an ab.Budget, not {budget!r}")
        if agent is None:
            self.config = RunConfig.of(self.config, budget=budget)
        else:
            record = self._record(agent)
            record.task = dataclasses.replace(record.task, budget=budget)
        self.budgets.raise_to(budget, agent or "")
        self.save()

    def on_event(self, callback: Listener) -> None:
        """Call `callback(event)` for every event (on the background thread: keep it quick)."""
        self._bus.on_event(callback)

    def on_end(self, callback: Callable[[AgentRecord], None]) -> None:
        """Call `callback(record)` whenever an agent ends (on the background thread)."""
        self._bus.on_end(callback)

    def events(self) -> AsyncIterator[AgentEvent]:
        """Every event from now until the run is done, on the caller's event loop."""
        return self._bus.events(lambda: self.done)

    # ---- running (the scheduler's side)

    def add(
        self, task: Task, *, depth: int = 0, parent: str | None = None, save: bool = True, agent_id: str = ""
    ) -> AgentRecord:
        """A new agent record for `task` (not started; a new id unless given); `save` rewrites
        the manifest."""
        agent_id = agent_id or new_agent_id()
        record = AgentRecord(
            name=task.name,
            task=task,
            agent_id=agent_id,
            transcript=transcript_path(self.run_dir, self.session_id, agent_id),
            model=self._wiring.model(task).name,
            depth=depth,
            parent=parent,
        )
        self.records[task.name] = record
        self.ours.add(task.name)
        if save:  # run_parallel saves once for all its tasks: saving per task is quadratic
            self.save()
        return record

    def save(self) -> None:
        """Write the run's manifest (`run.json`) as the records are now."""
        manifest.write(self)

    def start_all(
        self,
        records: Sequence[AgentRecord],
        max_turns: int,
        prompt: str | None = None,
        history: Sequence[Message] = (),
    ) -> None:
        """Start (or resume, from `history`) `records`' agents on the background thread, as one
        batch: the run ends (its manifest saved, its summary logged once) after the last of
        them, even when the first ends before the others start."""
        if not records:
            return  # a batch of none would leave `wait` waiting for nothing to end
        with self._lock:
            if self._active == 0:
                self._done = concurrent.futures.Future()
                # What the agents' shells see and what transcripts redact, read once per batch of
                # starts: reading the environment costs ~0.3 ms, which per agent added up.
                self.env, self.secrets = safe_env(), secret_values()
            self._active += len(records)
        for record in records:
            self.ours.add(record.name)
            record.state, record.error, record.ended = "pending", None, None
            background.call_soon(self._launch, record, prompt, list(history), max_turns)

    def _launch(
        self, record: AgentRecord, prompt: str | None, history: list[Message], max_turns: int
    ) -> None:
        driver = self.remote or self._wiring  # on a cluster (`agentbook.scheduler.cluster`), or here
        task = asyncio.get_running_loop().create_task(driver.drive(record, prompt, history, max_turns))
        self.tasks[record.name] = task
        task.add_done_callback(lambda _: self._finished())

    def track(self, task: asyncio.Task[Any]) -> None:
        """Count `task` (a background sub-agent's, started while the run works) among the work
        the run waits for."""
        with self._lock:
            self._active += 1
        task.add_done_callback(lambda _: self._finished())

    def _finished(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active > 0:
                return
            done = self._done  # a resume starting meanwhile makes a new one; this one still ends
        self._ended()
        done.set_result(None)
        self._bus.close()

    def _ended(self) -> None:
        """Every agent has ended: save the manifest and say how it went."""
        try:
            self.save()
        except OSError:
            log.exception("run %s: cannot write its manifest", self.name)
        reports.log_summary(self.name, self.records.values())

    def _dispatch(self, record: AgentRecord, event: AgentEvent) -> None:
        apply(record, event)
        try:
            self._wiring.write(record, event)
        except (OSError, RuntimeError) as exc:  # a full disk, a transcript another process took
            log.error("run %s: agent %s: its transcript cannot be written: %s", self.name, record.name, exc)
            if not isinstance(event, AgentEnded):
                raise  # the agent stops (nothing it does now could be resumed); its end still goes out
        if isinstance(event, AgentEnded) and event.state == "failed":
            reports.append_failure(self.run_dir / "failures.md", reports.failure_entry(record), self.secrets)
        self._bus.publish(record, event)

    def _record(self, name: str) -> AgentRecord:
        record = self.records.get(name)
        if record is None:
            raise KeyError(f"no agent {name!r} in run {self.name}; agents: {', '.join(self.records)}")
        return record


def active_runs() -> list[Run]:
    """Every run of this process that still has agents working."""
    return [r for r in list(_runs.values()) if not r.done]


def all_runs() -> list[Run]:
    """Every run of this process still referenced, oldest first."""
    return list(_runs.values())
