"""Runs: many agents at once, on agentbook's own loop, none lost and none wasted.

`run_parallel(tasks)` returns a `Run` at once.  Its agents run on the background agent loop
(`agentbook.scheduler.background`), so the caller's thread, a notebook cell included, stays free.  The
`Run` is the handle: `wait()` or `await run`, `status`, `results`, frames (`df`, `calls_df`),
`cancel`, `resume`, `events()` and callbacks.  Every agent writes its transcript as it goes
(`<run_dir>/<session>/subagents/agent-<id>.jsonl`) and the run keeps a manifest (`run.json`), so
`agentbook.scheduler.manifest.load_run(run_dir)` rebuilds the run after a kernel restart, and
resuming from it works.

State lives in `AgentRecord`s, updated only by the agents' events on the agent loop; readers on
other threads see plain attribute values (each update replaces whole values).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import re
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbook.agent.gates import RequestHook, ToolGate
from agentbook.agent.hooks import Hooks
from agentbook.agent.loop import DEFAULT_MAX_TURNS, AgentResult, run_agent
from agentbook.events import (
    AgentEnded,
    AgentEvent,
    AgentState,
    Listener,
    PermissionAnswered,
    PermissionAsked,
    utcnow,
)
from agentbook.messages import Message, Text, ToolUse, Usage
from agentbook.models import Model, get_model
from agentbook.models.base import estimate_tokens
from agentbook.models.retry import RetryPolicy
from agentbook.redact import safe_env, secret_values
from agentbook.scheduler import background
from agentbook.scheduler.gating import HookGate, PermissionGate, RateGateHook
from agentbook.scheduler.ratelimit import RateLimits, gate_for
from agentbook.scheduler.records import ENDED, AgentRecord, api_attempts, apply
from agentbook.scheduler.transcripts import (
    TranscriptWriter,
    dumps,
    new_agent_id,
    new_run_dir,
    new_session_id,
    read_transcript,
    transcript_path,
)
from agentbook.scheduler.warming import Warmup, warn_if_uncacheable
from agentbook.specs import AgentSpec, Task, load_agents
from agentbook.tasks import TaskInput, as_tasks
from agentbook.tools import ToolContext, ToolError, tools_named
from agentbook.tools.agent import GENERAL_PURPOSE, AgentTool, SubagentRequest
from agentbook.tools.base import Tool
from agentbook.tools.permissions import Permissions

if TYPE_CHECKING:
    import pandas as pd

    from agentbook.worktrees import MergeReport, Worktree, Worktrees

log = logging.getLogger("agentbook")

GENERAL_PURPOSE_SYSTEM = """\
You are an agent working in {root}. Complete the task you are given with the tools you have, then
answer with a concise final message: it is all that the one who asked will see of your work."""
RESULT_CAP = """

Your final answer goes into another agent's context, where every token costs: keep it under
{tokens} tokens, a concise summary of what was asked, without preamble."""
MANIFEST = "run.json"

_runs: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()


@dataclass
class PermissionRequest:
    """A tool call waiting for an answer; `approve()`, `approve_always()` or `deny()` it."""

    agent: str
    call: ToolUse
    reason: str
    _future: asyncio.Future[str] = field(repr=False)

    def approve(self) -> None:
        self._answer("allow")

    def approve_always(self) -> None:
        self._answer("always")

    def deny(self) -> None:
        self._answer("deny")

    def _answer(self, decision: str) -> None:
        def settle() -> None:
            if not self._future.done():
                self._future.set_result(decision)

        self._future.get_loop().call_soon_threadsafe(settle)


class Run:
    """A set of agents started together; see the module docstring.  Made by `run_parallel`."""

    def __init__(
        self,
        *,
        name: str,
        run_dir: Path,
        session_id: str,
        cwd: Path,
        model: Model | str | None,
        agents: Mapping[str, AgentSpec],
        tools: Sequence[str] | None,
        max_turns: int,
        max_tokens: int,
        concurrency: int | None,
        permissions: Permissions,
        interactive: bool,
        hooks: Hooks,
        retry: RetryPolicy,
        rate_limits: RateLimits | None,
        max_depth: int,
        system: str | None,
        isolation: str | None = None,
        base: str = "HEAD",
        shared_context: str | None = None,
        warm_cache: bool = False,
        max_result_tokens: int | None = None,
    ) -> None:
        self.name = name
        self.max_result_tokens = max_result_tokens
        self.run_dir = run_dir
        self.session_id = session_id
        self.cwd = cwd
        self.agents = dict(agents)
        self.records: dict[str, AgentRecord] = {}
        self.pending: list[PermissionRequest] = []
        self.permissions = permissions
        self.hooks = hooks
        self._default_model = model
        self._models: dict[str | None, Model] = {}
        self._tools = tuple(tools) if tools is not None else None
        self._max_turns = max_turns
        self._max_tokens = max_tokens
        self._concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None
        self._interactive = interactive
        self._retry = retry
        self._rate_limits = rate_limits
        self._max_depth = max_depth
        self._system = system
        self._isolation = isolation
        self._shared_context = shared_context
        self._warm_cache = warm_cache
        self._warmups: dict[str, Warmup] = {}
        self._base = base
        self._worktrees: Worktrees | None = None
        self._listeners: list[Listener] = []
        self._end_listeners: list[Callable[[AgentRecord], None]] = []
        self._queues: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[AgentEvent | None]]] = []
        self._writers: dict[str, TranscriptWriter] = {}
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._lock = threading.Lock()
        self._active = 0
        self._env: dict[str, str] = {}
        self._secrets: tuple[str, ...] = ()
        self._done = concurrent.futures.Future[None]()
        self._done.set_result(None)
        _runs[name] = self

    # ---- reading the run

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for record in self.records.values():
            counts[record.state] = counts.get(record.state, 0) + 1
        states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no agents"
        return f"<Run {self.name}: {states}; {self.run_dir}>"

    @property
    def done(self) -> bool:
        """Whether every agent has ended."""
        return self._done.done()

    @property
    def status(self) -> dict[str, AgentState]:
        """Each agent's state."""
        return {name: r.state for name, r in self.records.items()}

    @property
    def results(self) -> dict[str, str]:
        """Each ended agent's final answer."""
        return {name: r.text for name, r in self.records.items() if r.state in ENDED}

    @property
    def usage(self) -> Usage:
        total = Usage()
        for record in self.records.values():
            total += record.usage
        return total

    @property
    def df(self) -> pd.DataFrame:
        """One row per agent (see `agentbook.analysis.frames.agents_frame`)."""
        from agentbook.analysis.frames import agents_frame

        return agents_frame(self)

    @property
    def calls_df(self) -> pd.DataFrame:
        """One row per API call (see `agentbook.analysis.frames.calls_frame`)."""
        from agentbook.analysis.frames import calls_frame

        return calls_frame(self)

    @property
    def failures(self) -> pd.DataFrame:
        """One row per failed agent: name, error, attempts, last output."""
        from agentbook.analysis.frames import failures_frame

        return failures_frame(self)

    # ---- waiting

    def wait(self, timeout: float | None = None) -> None:
        """Block until every agent has ended; `TimeoutError` after `timeout` seconds.

        Ctrl-C (a kernel interrupt) while waiting cancels the run's agents, then re-raises.  In a
        notebook it then shows the final state in its own cell (static HTML and text), so a notebook
        executed headless and saved keeps the end of the run.
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
        if in_kernel():
            from agentbook.notebook.render import publish_final  # the notebook edge, only in a kernel

            publish_final(self)

    def __await__(self) -> Generator[Any, None, Run]:
        return self._wait_async().__await__()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Plain text and a static HTML table (for saved notebooks, GitHub, nbviewer, terminals),
        plus the live board's widget view inside a Jupyter kernel."""
        from agentbook.notebook.render import run_bundle  # the notebook edge, imported only when displayed

        return run_bundle(self, include_widget=True)

    async def _wait_async(self) -> Run:
        await asyncio.wrap_future(self._done)
        return self

    # ---- steering

    def cancel(self, name: str | None = None) -> None:
        """Cancel one agent (and its sub-agents) or, with no name, all of them.

        They stop within a second: their Bash process trees are killed, they are marked
        `cancelled`, and their transcripts are closed cleanly.
        """
        if name is not None and name not in self.records:
            raise KeyError(f"no agent {name!r} in run {self.name}; agents: {', '.join(self.records)}")
        names = [n for n in self.records if name is None or n == name or n.startswith(f"{name}/")]

        def cancel_tasks() -> None:
            for n in names:
                task = self._tasks.get(n)
                if task is not None and not task.done():
                    task.cancel()

        background.call_soon(cancel_tasks)

    def resume(self, name: str, max_turns: int | None = None, prompt: str | None = None) -> Run:
        """Continue an ended agent from its transcript with the same conversation.

        Tool calls that already ran are not repeated; `prompt` adds a new user message.
        """
        record = self.records.get(name)
        if record is None:
            raise KeyError(f"no agent {name!r} in run {self.name}; agents: {', '.join(self.records)}")
        if record.state not in ENDED:
            raise RuntimeError(f"agent {name!r} is {record.state}; only an ended agent can be resumed")
        if max_turns is not None and max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, not {max_turns}")
        history = read_transcript(record.transcript).messages
        self._start(record, prompt, history, max_turns or self._max_turns)
        return self

    def on_event(self, callback: Listener) -> None:
        """Call `callback(event)` for every event (on the agent loop's thread: keep it quick)."""
        self._listeners.append(callback)

    def on_end(self, callback: Callable[[AgentRecord], None]) -> None:
        """Call `callback(record)` whenever an agent ends (on the agent loop's thread)."""
        self._end_listeners.append(callback)

    async def events(self) -> AsyncIterator[AgentEvent]:
        """Every event from now until the run is done, on the caller's event loop."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[AgentEvent | None] = asyncio.Queue()
        entry = (loop, queue)
        with self._lock:
            self._queues.append(entry)
            if self.done:
                queue.put_nowait(None)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            with self._lock:
                self._queues.remove(entry)

    # ---- running (agent loop side)

    def _add(
        self, task: Task, *, depth: int = 0, parent: str | None = None, save: bool = True
    ) -> AgentRecord:
        agent_id = new_agent_id()
        spec = self.agents.get(task.agent) if task.agent else None
        record = AgentRecord(
            name=task.name,
            task=task,
            agent_id=agent_id,
            transcript=transcript_path(self.run_dir, self.session_id, agent_id),
            model=self._model(task, spec).name,
            depth=depth,
            parent=parent,
        )
        self.records[task.name] = record
        if save:  # run_parallel saves once for all its tasks: saving per task is quadratic
            self._write_manifest()
        return record

    def _start(
        self, record: AgentRecord, prompt: str | None, history: Sequence[Message], max_turns: int
    ) -> None:
        with self._lock:
            if self._active == 0:
                self._done = concurrent.futures.Future()
                # What the agents' shells see and what transcripts redact, read once per batch of
                # starts: reading the environment costs ~0.3 ms, which per agent added up.
                self._env, self._secrets = safe_env(), secret_values()
            self._active += 1
        record.state = "pending"
        record.error = None
        record.ended = None
        background.call_soon(self._launch, record, prompt, list(history), max_turns)

    def _launch(
        self, record: AgentRecord, prompt: str | None, history: list[Message], max_turns: int
    ) -> None:
        task = asyncio.get_running_loop().create_task(self._drive(record, prompt, history, max_turns))
        self._tasks[record.name] = task
        task.add_done_callback(lambda _: self._finished())

    def _finished(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active > 0:
                return
            self._done.set_result(None)
            for loop, queue in self._queues:
                loop.call_soon_threadsafe(queue.put_nowait, None)

    async def _drive(
        self, record: AgentRecord, prompt: str | None, history: list[Message], max_turns: int
    ) -> None:
        if self._slots is None and self._concurrency:
            self._slots = asyncio.Semaphore(self._concurrency)
        try:
            async with self._slots or contextlib.nullcontext():
                await self._run_record(record, prompt, history, max_turns)
        except asyncio.CancelledError:
            if record.state == "pending":  # cancelled before it started: no loop to say so
                ended = AgentEnded(
                    agent=record.name,
                    state="cancelled",
                    turns=0,
                    usage=Usage(),
                    result="",
                    error="cancelled before start",
                )
                self._dispatch(record, ended)
        except Exception as exc:  # never let one agent's harness failure reach its siblings
            log.exception("agent %s failed in the scheduler", record.name)
            ended = AgentEnded(
                agent=record.name, state="failed", turns=record.turns, usage=record.usage, result=record.text,
                error=repr(exc),
            )  # fmt: skip
            self._dispatch(record, ended)

    async def _run_record(
        self, record: AgentRecord, prompt: str | None, history: list[Message], max_turns: int
    ) -> AgentResult:
        spec = self.agents.get(record.task.agent) if record.task.agent else None
        model = self._model(record.task, spec)
        worktree = await self._worktree_for(record, spec)
        record.root = worktree.path if worktree is not None else self._parent_root(record)
        ctx = ToolContext(root=record.root, env=dict(self._env))
        permissions = (
            self.permissions.with_mode(spec.permission_mode)
            if spec and spec.permission_mode
            else self.permissions
        )
        max_turns = min(max_turns, spec.max_turns) if spec and spec.max_turns and not history else max_turns
        writer = self._writers.get(record.name)
        if writer is None:
            writer = self._writers[record.name] = TranscriptWriter(
                record.transcript, session_id=self.session_id, agent_id=record.agent_id, secrets=self._secrets
            )

        warmup = self._warmups.setdefault(model.name, Warmup()) if self._warm_cache else None
        rate_gate = RateGateHook(gate_for(f"{model.name}", self._rate_limits), self._max_tokens)
        request_hooks: list[RequestHook] = [rate_gate] if warmup is None else [warmup, rate_gate]
        check = functools.partial(self._authorize, record, permissions)
        tool_gates: list[ToolGate] = [HookGate(self.hooks), PermissionGate(check)]

        await self.hooks.started(record.name)
        result: AgentResult | None = None
        try:
            result = await run_agent(
                record.name,
                prompt if history else (prompt or self._first_message(record.task.prompt)),
                model=model,
                tools=self._tools_for(record, spec),
                ctx=ctx,
                system=self._system_for(spec, ctx),
                history=history,
                max_turns=max_turns,
                max_tokens=self._max_tokens,
                emit=functools.partial(self._dispatch, record),
                retry=self._retry,
                request_hooks=request_hooks,
                tool_gates=tool_gates,
                cache_system=self._warm_cache or self._shared_context is not None,
            )
        finally:
            writer.close()
            if warmup is not None:
                warmup.release_if(record.name)  # a leader cancelled or crashed mid-request says nothing
            if worktree is not None and result is None:
                # Cancelled or crashed: keep the worktree for inspection.  Synchronously, because
                # a cancelled task cannot await.
                self._finish_worktree(record, worktree, ok=False)
        try:
            await self.hooks.ended(record.name, result)  # before the commit: a hook may check the tree
        finally:
            if worktree is not None:
                # Commit what the agent left on its branch; one that did not finish keeps its tree.
                await asyncio.to_thread(self._finish_worktree, record, worktree, result.state == "done")
        return result

    def _first_message(self, prompt: str) -> str | Message:
        """The task's prompt, after the run's shared context (a cached prefix) when there is one."""
        if self._shared_context is None:
            return prompt
        return Message("user", (Text(self._shared_context, cache=True), Text(prompt)))

    def _parent_root(self, record: AgentRecord) -> Path:
        """Sub-agents work where their parent works; top-level agents in the run's folder."""
        parent = self.records.get(record.parent) if record.parent else None
        return parent.root if parent is not None and parent.root is not None else self.cwd

    async def _worktree_for(self, record: AgentRecord, spec: AgentSpec | None) -> Worktree | None:
        isolation: str | None = spec.isolation if spec is not None and spec.isolation else None
        if isolation is None and record.parent is None:
            isolation = self._isolation
        if isolation != "worktree":
            return None
        from agentbook.worktrees import Worktrees

        if self._worktrees is None:
            self._worktrees = Worktrees(self.cwd, self.name, base=self._base)
        if record.worktree is not None and record.branch is not None:
            if not record.worktree.is_dir():
                raise RuntimeError(
                    f"agent {record.name}'s worktree {record.worktree} is gone; its work is on "
                    f"branch {record.branch}"
                )
            return await asyncio.to_thread(self._worktrees.reopen, _branch_part(record.name))
        worktree = await asyncio.to_thread(self._worktrees.create, _branch_part(record.name))
        record.branch, record.worktree = worktree.branch, worktree.path
        return worktree

    def _finish_worktree(self, record: AgentRecord, worktree: Worktree, ok: bool) -> None:
        assert self._worktrees is not None
        message = f"agentbook: {record.task.name} ({record.state})\n\n{record.task.prompt[:2000]}"
        outcome = self._worktrees.finish(worktree, message=message, failed=not ok)
        record.commit = outcome.commit
        record.files_changed, record.insertions, record.deletions = (
            outcome.files_changed, outcome.insertions, outcome.deletions,
        )  # fmt: skip
        record.worktree = outcome.path if outcome.kept else None
        if outcome.commit is None and not outcome.kept:
            record.branch = None  # nothing to keep: the branch was deleted with its worktree

    def cache_report(self) -> dict[str, Any]:
        """What prompt caching did for this run: tokens written to and read from the cache, the
        dollars paid, and what a cold fan-out (each read paid as a write) would have paid."""
        from agentbook.costs import price_for

        paid = cold = 0.0
        for record in self.records.values():
            price = price_for(record.model)
            if price is None:
                continue
            paid += price.cost(record.usage)
            cold += price.cost(record.usage)
            cold += record.usage.cache_read_input_tokens * (price.cache_write_5m - price.cache_read) / 1e6
        usage = self.usage
        return {
            "cache_writes": usage.cache_creation_input_tokens,
            "cache_reads": usage.cache_read_input_tokens,
            "cost_usd": paid,
            "cold_cost_usd": cold,
            "saved_usd": cold - paid,
        }

    # ---- worktree integration

    def cleanup(self) -> list[Path]:
        """Remove the worktrees this run still has (failed agents keep theirs until now)."""
        if self._worktrees is None:
            return []
        removed = self._worktrees.cleanup()
        for record in self.records.values():
            if record.worktree in removed:
                record.worktree = None
        return removed

    def merge(self, into: str, names: Iterable[str] | None = None) -> MergeReport:
        """Merge the agents' branches that have commits (of the agents `names`, default all),
        one by one, into the branch `into` (made from the run's base if missing), stopping at the
        first conflict with a report.  The user's own checkout is never touched."""
        if self._worktrees is None:
            raise RuntimeError(f"run {self.name} used no worktrees: nothing to merge")
        chosen = set(self.records) if names is None else set(names)
        unknown = chosen - set(self.records)
        if unknown:
            raise KeyError(f"no agent(s) {sorted(unknown)} in run {self.name}")
        branches = [r.branch for r in self.records.values() if r.name in chosen and r.branch and r.commit]
        return self._worktrees.merge(branches, into)

    def publish(self) -> dict[str, str]:
        """Each committed branch as a pull request (`gh`, when it and a remote exist) or a patch file."""
        if self._worktrees is None:
            raise RuntimeError(f"run {self.name} used no worktrees: nothing to publish")
        return {
            r.name: self._worktrees.publish(r.branch, title=f"agentbook: {r.name}", body=r.text[:5000])
            for r in self.records.values()
            if r.branch and r.commit
        }

    def _dispatch(self, record: AgentRecord, event: AgentEvent) -> None:
        apply(record, event)
        writer = self._writers.get(record.name)
        if writer is not None:
            writer(event)
        if isinstance(event, AgentEnded) and event.state == "failed":
            self._log_failure(record)
        calls: list[Callable[[], None]] = [lambda f=f: f(event) for f in self._listeners]  # type: ignore[misc]
        if isinstance(event, AgentEnded):
            calls += [lambda f=f: f(record) for f in self._end_listeners]  # type: ignore[misc]
        for call in calls:
            try:
                call()
            except Exception:  # a subscriber's bug must not stop an agent
                log.exception("a callback failed on %s event of %s", event.kind, record.name)
        with self._lock:
            for loop, queue in self._queues:
                loop.call_soon_threadsafe(queue.put_nowait, event)

    async def _authorize(self, record: AgentRecord, permissions: Permissions, call: ToolUse) -> str | None:
        # Judged where the agent's tools work (its worktree, say), so that rules anchored at the
        # root and "inside the root" mean the files the call really touches.
        root = record.root or self.cwd
        try:
            verdict = permissions.decide(call.name, call.input, root)
        except Exception as exc:  # a bug in the rules engine must deny the call, not end the agent
            log.exception("agent %s: the permission check of %s failed", record.name, call.name)
            return f"Permission check failed ({type(exc).__name__}); denied."
        if verdict.decision == "allow":
            return None
        if verdict.decision == "deny":
            return f"Permission denied: {verdict.reason}"
        if not self._interactive:
            return f"Permission needed ({verdict.reason}); nobody can approve it in a headless run: denied."
        request = PermissionRequest(
            record.name, call, verdict.reason, asyncio.get_running_loop().create_future()
        )
        self.pending.append(request)
        self._dispatch(record, PermissionAsked(agent=record.name, call=call, reason=verdict.reason))
        try:
            answer = await request._future
        finally:
            self.pending.remove(request)
        self._dispatch(record, PermissionAnswered(agent=record.name, call=call, decision=answer))  # type: ignore[arg-type]
        if answer == "always":
            rule = permissions.allow_always(call.name, call.input, root)
            if permissions is not self.permissions:
                self.permissions.allow_always(call.name, call.input, root)
            log.info("agent %s: always allowing %s", record.name, rule)
        return "The user denied this tool call." if answer == "deny" else None

    def _model(self, task: Task, spec: AgentSpec | None) -> Model:
        key = task.model or (spec.model if spec else None)
        if key not in self._models:
            self._models[key] = get_model(key if key is not None else self._default_model)
        return self._models[key]

    def _tools_for(self, record: AgentRecord, spec: AgentSpec | None) -> list[Tool]:
        names = (
            spec.allowed_tools()
            if spec
            else (self._tools or ("Read", "Glob", "Grep", "Bash", "Edit", "Write", "Agent"))
        )
        # Sub-agents at the depth limit do not get the Agent tool at all (as in Claude Code).
        chosen: list[Tool] = tools_named([n for n in names if n != "Agent"])
        if "Agent" in names and record.depth < self._max_depth:
            types = {GENERAL_PURPOSE: "a general agent with every tool"} | {
                n: s.description for n, s in self.agents.items()
            }
            chosen.append(AgentTool(lambda req, ctx: self._spawn(record, req), types))
        return chosen

    def _system_for(self, spec: AgentSpec | None, ctx: ToolContext) -> str:
        system = spec.prompt if spec is not None and spec.prompt else (self._system or GENERAL_PURPOSE_SYSTEM)
        if spec is None or not spec.prompt:
            system = system.format(root=ctx.root)
        if self.max_result_tokens:
            system += RESULT_CAP.format(tokens=self.max_result_tokens)
        return system

    async def _spawn(self, parent: AgentRecord, request: SubagentRequest) -> str:
        if request.subagent_type != GENERAL_PURPOSE and request.subagent_type not in self.agents:
            known = ", ".join([GENERAL_PURPOSE, *self.agents])
            raise ToolError(f"unknown subagent_type {request.subagent_type!r}; available: {known}")
        number = sum(1 for r in self.records.values() if r.parent == parent.name) + 1
        slug = re.sub(r"[^\w.-]+", "-", request.description.strip().lower()).strip("-")[:40] or "agent"
        task = Task(
            name=f"{parent.name}/{number}-{slug}",
            prompt=request.prompt,
            agent=None if request.subagent_type == GENERAL_PURPOSE else request.subagent_type,
            model=request.model,
        )
        record = self._add(task, depth=parent.depth + 1, parent=parent.name)
        # Its own task, so `cancel(name)` can stop the sub-agent alone; cancelling the parent
        # cancels it too, because a cancelled await cancels the task it awaits.
        child = asyncio.get_running_loop().create_task(self._run_record(record, None, [], self._max_turns))
        self._tasks[record.name] = child
        try:
            result = await child
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            raise ToolError(f"sub-agent {record.name} was cancelled") from None
        record.result_tokens = estimate_tokens(result.text)
        if result.state != "done":
            raise ToolError(
                f"sub-agent {record.name} ended {result.state}: {result.error}; "
                f"last output: {result.text[:500]}"
            )
        return result.text

    def _log_failure(self, record: AgentRecord) -> None:
        with (self.run_dir / "failures.md").open("a", encoding="utf-8") as f:
            f.write(
                f"## {record.name}\n\n- error: {record.error}\n- API attempts: {api_attempts(record)}\n"
                f"- transcript: {record.transcript}\n\nLast output:\n\n```\n{record.text[-2000:]}\n```\n\n"
            )

    def _write_manifest(self) -> None:
        data = {
            "name": self.name,
            "session_id": self.session_id,
            "cwd": str(self.cwd),
            "model": self._default_model if isinstance(self._default_model, str) else None,
            "max_turns": self._max_turns,
            "agents": {
                r.name: {"agent_id": r.agent_id, "depth": r.depth, "parent": r.parent, "model": r.model,
                         "task": _task_json(r.task)}
                for r in list(self.records.values())
            },
        }  # fmt: skip
        tmp = self.run_dir / (MANIFEST + ".tmp")
        tmp.write_text(dumps(data) + "\n", encoding="utf-8")
        tmp.replace(self.run_dir / MANIFEST)


def _branch_part(name: str) -> str:
    """An agent name as a branch component (sub-agent names hold '/', and others may hold more)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:100] or "agent"


def _task_json(task: Task) -> dict[str, Any]:
    data = asdict(task)
    data["depends_on"] = list(task.depends_on)
    data["files"] = list(task.files)
    return data


def _kernel_shell() -> Any:
    """The IPython shell of the Jupyter kernel we run in, or `None` (never imports IPython)."""
    import sys

    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell if getattr(shell, "kernel", None) is not None else None


def in_kernel() -> bool:
    """Whether we run inside a Jupyter kernel (where someone can press an Approve button)."""
    return _kernel_shell() is not None


def run_parallel(
    tasks: Iterable[TaskInput] | Mapping[str, TaskInput],
    *,
    model: Model | str | None = None,
    cwd: str | Path = ".",
    concurrency: int | None = None,
    agents: Mapping[str, AgentSpec] | str | Path | None = None,
    tools: Sequence[str] | None = None,
    max_turns: int = DEFAULT_MAX_TURNS,
    max_tokens: int = 8192,
    permissions: Permissions | None = None,
    permission_mode: str | None = None,
    interactive: bool | None = None,
    hooks: Hooks | None = None,
    retry: RetryPolicy | None = None,
    rate_limits: RateLimits | None = None,
    max_depth: int = 1,
    system: str | None = None,
    run_dir: str | Path | None = None,
    name: str | None = None,
    isolation: str | None = None,
    base: str = "HEAD",
    shared_context: str | None = None,
    warm_cache: bool = False,
    max_result_tokens: int | None = None,
    on_event: Listener | None = None,
    on_end: Callable[[AgentRecord], None] | None = None,
) -> Run:
    """Start one agent per task and return their `Run` at once.

    Agents run on agentbook's background loop, `concurrency` at a time (default: all), sharing
    one rate-limit gate per model.  `agents` are agent definitions (or a folder of agent files)
    that tasks name with `agent`; `tools` limits the default tool set.  Tool calls go through
    `permissions` (default: mode `permission_mode` or `default`, no rules), and an `ask` waits for
    an answer when `interactive` (default: inside a Jupyter kernel), else it is denied.
    `max_depth` bounds sub-agents spawned with the Agent tool.  With `isolation="worktree"`
    (or an agent definition's `isolation: worktree`) each agent works in its own git worktree
    of `cwd` on a branch `agentbook/<run>/<task>` from `base`; see `Run.merge` and `Run.cleanup`.
    `shared_context` opens every agent's first message as a cached prefix (with the system prompt
    and tools); `warm_cache=True` sends one agent's first request alone and releases the others
    once its response has begun, so they read the cache instead of all writing it (see
    `Run.cache_report`).  `max_result_tokens` asks agents to keep their final answers under that
    many tokens (`agentbook.analysis.context.context_cost` measures whether they did).  Bad input raises
    before anything starts.
    """
    chosen = as_tasks(tasks)
    specs = load_agents(agents) if isinstance(agents, str | Path) else dict(agents or {})
    root = Path(cwd).expanduser().resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"cwd is not a folder: {root}")
    for task in chosen:
        if task.agent is not None and task.agent not in specs:
            raise ValueError(f"task {task.name!r} names agent {task.agent!r}, which is not defined; "
                             f"defined: {', '.join(specs) or 'none'}")  # fmt: skip
    if tools is not None:
        tools_named([t for t in tools if t != "Agent"])  # raises naming an unknown tool
    if isolation not in (None, "worktree"):
        raise ValueError(f"isolation must be None or 'worktree', not {isolation!r}")
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    if max_turns < 1:
        raise ValueError(f"max_turns must be at least 1, not {max_turns}")
    if permissions is None:
        permissions = Permissions(mode=permission_mode or "default")  # type: ignore[arg-type]
    elif permission_mode is not None:
        permissions = permissions.with_mode(permission_mode)  # type: ignore[arg-type]
    worktrees = isolation == "worktree" or any(s.isolation == "worktree" for s in specs.values())
    if worktrees:
        from agentbook.worktrees import Worktrees

        Worktrees(root, "check", base=base)  # raises for a folder that is not a repository, or a bad base
    resolved_model = get_model(model) if not isinstance(model, str | type(None)) else model
    folder = Path(run_dir) if run_dir is not None else new_run_dir()
    folder.mkdir(parents=True, exist_ok=True)
    run = Run(
        name=name or folder.name,
        run_dir=folder,
        session_id=new_session_id(),
        cwd=root,
        model=resolved_model,
        agents=specs,
        tools=tools,
        max_turns=max_turns,
        max_tokens=max_tokens,
        concurrency=concurrency,
        permissions=permissions,
        interactive=in_kernel() if interactive is None else interactive,
        hooks=hooks or Hooks(),
        retry=retry or RetryPolicy(),
        rate_limits=rate_limits,
        max_depth=max_depth,
        system=system,
        isolation=isolation,
        base=base,
        shared_context=shared_context,
        warm_cache=warm_cache,
        max_result_tokens=max_result_tokens,
    )
    if warm_cache or shared_context is not None:
        warn_if_uncacheable(
            run._model(Task("x", "x"), None).name, system or GENERAL_PURPOSE_SYSTEM, shared_context
        )
    if worktrees:
        run._worktrees = Worktrees(root, run.name, base=base)
    if on_event is not None:
        run.on_event(on_event)
    if on_end is not None:
        run.on_end(on_end)
    if (shell := _kernel_shell()) is not None:
        from agentbook.notebook import kernel

        kernel.install(shell)  # a kernel interrupt cancels the agents
    records = [run._add(task, save=False) for task in chosen]
    run._write_manifest()
    _write_main_transcript(run)
    for record in records:
        run._start(record, None, [], max_turns)
    return run


def _write_main_transcript(run: Run) -> None:
    writer = TranscriptWriter(transcript_path(run.run_dir, run.session_id), session_id=run.session_id)
    names = ", ".join(run.records)
    tasks = [_task_json(r.task) for r in run.records.values()]
    summary = f"run {run.name}: {names}"
    writer.write("system", utcnow(), subtype="agentbook_run", level="info", content=summary,
                 agentbook={"run": run.name, "tasks": tasks})  # fmt: skip
    writer.close()


def active_runs() -> list[Run]:
    """Every run of this process that still has agents working."""
    return [r for r in list(_runs.values()) if not r.done]


def all_runs() -> list[Run]:
    """Every run of this process still referenced, oldest first."""
    return list(_runs.values())
