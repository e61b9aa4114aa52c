"""How a run wires each agent before its turn loop starts: model, folder or worktree, tools,
system prompt, permissions, rate gate, cache warm-up, transcript and sub-agents.

Everything here reads the run's `RunConfig` and the agent's definition (`AgentSpec`) together,
so a resumed agent (in this process or after `load_run`) is wired exactly as it first was.
One agent's failure in the wiring ends that agent as `failed`; its siblings go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from agentbook.agent.gates import RequestHook, ToolGate
from agentbook.agent.loop import AgentResult, Steering, run_agent
from agentbook.events import AgentEnded, AgentEvent
from agentbook.messages import Message, Text
from agentbook.models import Model
from agentbook.models.lanes import is_batch
from agentbook.redact import redact
from agentbook.scheduler.asking import worktree_edits
from agentbook.scheduler.batching import BatchProgressHook, lane_model, lane_of
from agentbook.scheduler.forking import caller, is_fork
from agentbook.scheduler.gating import Ended, HookGate, PermissionGate, RateGateHook, around_requests
from agentbook.scheduler.ratelimit import gate_for
from agentbook.scheduler.records import ENDED, AgentRecord
from agentbook.scheduler.sandboxing import Sandboxing, sandbox_for, setting_of
from agentbook.scheduler.slots import Slots
from agentbook.scheduler.spawning import Spawner
from agentbook.scheduler.transcripts import TranscriptWriter
from agentbook.scheduler.warming import Warmup
from agentbook.specs import AGENTBOOK_TOOLS, AgentSpec, Task
from agentbook.tools import ToolContext, tools_named
from agentbook.tools.base import Tool
from agentbook.worktrees import Worktree

if TYPE_CHECKING:
    from agentbook.scheduler.config import RunConfig
    from agentbook.scheduler.run import Run

__all__ = ["GENERAL_PURPOSE_SYSTEM", "Wiring", "first_message", "system_prompt", "tool_names"]

log = logging.getLogger("agentbook")

GENERAL_PURPOSE_SYSTEM = """\
You are an agent working in {root}. Complete the task you are given with the tools you have, then
answer with a concise final message: it is all that the one who asked will see of your work."""
RESULT_CAP = """

Your final answer goes into another agent's context, where every token costs: keep it under
{tokens} tokens, a concise summary of what was asked, without preamble."""


class Wiring:
    """The wiring of one run's agents; `drive` runs one agent from start to end."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.config = run.config
        self._models: dict[tuple[str | None, bool], Model] = {}  # (name, batch lane) -> model
        self._writers: dict[str, TranscriptWriter] = {}
        self._warmups: dict[str, Warmup] = {}
        self.slots = Slots(self.config.concurrency)
        self._spawner = Spawner(self)

    def spec(self, task: Task) -> AgentSpec | None:
        return self.config.agents.get(task.agent) if task.agent else None

    def model(self, task: Task) -> Model:
        """The task's model, else its agent definition's, else the run's (one object per name)."""
        spec = self.spec(task)
        key = task.model or (spec.model if spec else None)
        return lane_model(self._models, key, lane_of(task, self.config.lane), self.config.model)

    def claim(self, record: AgentRecord) -> None:
        """Hold `record`'s transcript from now until its agent ends (see `TranscriptWriter.hold`);
        `RuntimeError` when another process (or handle) holds it."""
        try:
            self.writer(record).hold()
        except RuntimeError:
            raise RuntimeError(
                f"agent {record.name!r} is running in another process: its transcript is locked"
            ) from None

    def release(self, record: AgentRecord) -> None:
        """Let go of `record`'s transcript (after a `claim` that started no agent)."""
        writer = self._writers.get(record.name)
        if writer is not None:
            writer.close()

    def write(self, record: AgentRecord, event: AgentEvent) -> None:
        """Append `event` to `record`'s transcript (once its agent has started)."""
        writer = self._writers.get(record.name)
        if writer is not None:
            writer(event)

    async def drive(
        self,
        record: AgentRecord,
        prompt: str | None,
        history: list[Message],
        max_turns: int,
        *,
        slot: bool = True,
    ) -> AgentResult | None:
        """Run `record`'s agent (within the run's concurrency, when `slot`: a sub-agent runs in its
        parent's slot); nothing it raises reaches a sibling or its parent.  `None` when it ended
        without a result: cancelled, or failed in the wiring or the harness (its record says why)."""
        try:
            async with self.slots.hold(record.name) if slot else contextlib.nullcontext():
                return await self.run_one(record, prompt, history, max_turns)
        except asyncio.CancelledError:
            if record.state == "pending":  # cancelled before it started: no loop to say so
                self.end(record, "cancelled", "cancelled before start")
        except Exception as exc:  # never let one agent's harness failure reach its siblings
            trace = redact("".join(traceback.format_exception(exc)), self.run.secrets or None)
            log.error("agent %s failed in the scheduler\n%s", record.name, trace)  # redacted: it quotes exc
            self.end(record, "failed", repr(exc))
        return None

    def end(self, record: AgentRecord, state: str, error: str) -> None:
        """End `record`'s agent as `state` from outside its loop (it failed in the wiring, or was
        cancelled before it started)."""
        # Into the transcript too, even before the agent's first line: a failure in the wiring
        # (its worktree could not be made) is what `load_run` must read back, not the end before.
        self.writer(record)
        # Redacted here, where it is made: it goes to the transcript, `record.error` and failures.md.
        ended = AgentEnded(agent=record.name, state=state, turns=record.turns, usage=record.usage,  # type: ignore[arg-type]
                           result=record.text, error=redact(error, self.run.secrets or None))  # fmt: skip
        self.run._dispatch(record, ended)

    async def run_one(
        self, record: AgentRecord, prompt: str | None, history: list[Message], max_turns: int
    ) -> AgentResult:
        """One agent's turn loop, wired; commits its worktree when it ends."""
        spec = self.spec(record.task)
        model = self.model(record.task)
        root, owner, tree = await self._worktree(record, spec)
        branch = self._worktree_branch(record)
        ctx, sandboxing = self._context(root, spec, branch)
        if spec and spec.max_turns and not history:
            max_turns = min(max_turns, spec.max_turns)
        writer = self.writer(record)
        request_hooks, requests_ended = self._request_hooks(record, model)

        await self.run.hooks.started(record.name)
        result: AgentResult | None = None
        try:
            result = await run_agent(
                record.name,
                prompt if history else first_message(record.task.prompt, self.config.shared_context, prompt),
                model=model,
                tools=self._tools(record, spec),
                ctx=ctx,
                system=self._system(spec, root),
                history=history,
                max_turns=max_turns,
                max_tokens=self.config.max_tokens,
                emit=functools.partial(self.run._dispatch, record),
                retry=self.config.retry,
                request_hooks=request_hooks,
                tool_gates=self._tool_gates(record, spec, isolated=branch is not None, sandboxing=sandboxing),
                cache_system=self.config.warm_cache or self.config.shared_context is not None,
                steering=self._steering(record),  # after tools=, which made its inbox
            )
        finally:
            self._spawner.ended(record)
            writer.close()
            requests_ended()
            if tree is not None and result is None:
                # Cancelled or crashed: keep the worktree for inspection.  Synchronously, because
                # a cancelled task cannot await.
                self._finish(owner, tree, ok=False)
        try:
            await self.run.hooks.ended(record.name, result)  # before the commit: a hook may check the tree
        finally:
            if tree is not None:  # a borrowed worktree stays kept, as its owner left it
                await asyncio.to_thread(self._finish, owner, tree, result.state == "done" and owner is record)
        return result

    def _steering(self, record: AgentRecord) -> Steering:
        hooks = self.run.hooks
        incoming = functools.partial(hooks.take_incoming, record.name) if hooks.incoming else None
        return Steering(self._spawner.inbox(record), hooks.stopping if hooks.before_stop else None,
                        self.config.compact_at_tokens, incoming)  # fmt: skip

    def _request_hooks(self, record: AgentRecord, model: Model) -> tuple[list[RequestHook], Ended]:
        """The budgets that cover the agent, the cache warm-up (when asked for), the rate gate
        (`agentbook.scheduler.gating.around_requests`) and the batch lane's progress reports."""
        warmup = self._warmups.setdefault(model.name, Warmup()) if self.config.warm_cache else None
        rate_gate = RateGateHook(gate_for(model.name, self.config.rate_limits), self.config.max_tokens)
        batch = is_batch(lane_of(record.task, self.config.lane))
        budget = self.run.budgets.hook(record, model.name, batch)
        hooks, ended = around_requests(record.name, budget, warmup, rate_gate)
        if batch:
            hooks.append(BatchProgressHook(functools.partial(self.run._dispatch, record)))
        return hooks, ended

    def _context(
        self, root: Path, spec: AgentSpec | None, branch: str | None
    ) -> tuple[ToolContext, Sandboxing]:
        """What the agent's tools may touch: its root, the environment, its sandbox."""
        sandbox, sandboxing = sandbox_for(
            setting_of(self.config.sandbox, spec), root,
            network=((spec.network if spec else None) or self.config.network) == "on",
            hidden=(*self.config.hidden_paths, *self._state_in(root)), branch=branch,
            top=self.run.isolation.top(root) if self.run.isolation is not None else None,
        )  # fmt: skip
        return ToolContext(root=root, env=dict(self.run.env), sandbox=sandbox), sandboxing

    def _state_in(self, root: Path) -> list[str]:
        """agentbook's own folders inside `root`, hidden from its agent like secrets: the
        checkout's `.agentbook` (other agents' worktrees, patches: the host runs git and writes
        there) and the run folder (its `run.json` names the settings whose hooks `load_run` runs)."""
        found = [root / ".agentbook", self.run.run_dir]
        if self.run.isolation is not None:
            found += [self.run.isolation.worktrees.repo / ".agentbook", self.run.isolation.worktrees.root]
        real, reals = Path(os.path.realpath(root)), {Path(os.path.realpath(f)) for f in found}
        return sorted(str(p) for p in reals if real in p.parents)

    def _worktree_branch(self, record: AgentRecord) -> str | None:
        """The branch of the worktree `record` works in (its own, or a sub-agent's parent's);
        `None` when it works in none."""
        while record.worktree is None and record.parent in self.run.records:
            record = self.run.records[record.parent]
        return (record.branch or "") if record.worktree is not None else None

    def writer(self, record: AgentRecord) -> TranscriptWriter:
        """`record`'s transcript writer: one per agent, kept across resumes (it appends)."""
        writer = self._writers.get(record.name)
        if writer is None:
            writer = self._writers[record.name] = TranscriptWriter(
                record.transcript,
                session_id=self.run.session_id,
                agent_id=record.agent_id,
                secrets=self.run.secrets or None,  # none read yet (a claim before the first start): now
            )
        return writer

    def _tool_gates(
        self, record: AgentRecord, spec: AgentSpec | None, *, isolated: bool, sandboxing: Sandboxing
    ) -> list[ToolGate]:
        """The user's hooks, then the agent's permissions (its definition's mode, if any)."""
        permissions = self.run.permissions
        if spec is not None and spec.permission_mode:
            permissions = permissions.with_mode(spec.permission_mode)
        edits = worktree_edits(permissions) if isolated else None
        check = functools.partial(
            self.run.asking.authorize, record, permissions, edits=edits, sandboxing=sandboxing
        )
        return [HookGate(self.run.hooks), PermissionGate(check)]

    async def _worktree(
        self, record: AgentRecord, spec: AgentSpec | None
    ) -> tuple[Path, AgentRecord, Worktree | None]:
        """The folder `record` works in (also set as `record.root`), and the worktree to open
        for it with its owner: its own, or an ended ancestor's kept one (a sub-agent resumed
        after its parent failed); none in a plain folder or a running ancestor's worktree."""
        isolation = spec.isolation if spec is not None and spec.isolation else None
        if isolation is None and record.parent is None:
            isolation = self.config.isolation
        root = record.root = self._parent_root(record)
        if self.run.isolation is None:
            if isolation == "worktree":  # never in the user's checkout instead
                raise RuntimeError(f"agent {record.name!r} needs a worktree, and the run has none")
            return root, record, None
        if isolation == "worktree":
            tree = await asyncio.to_thread(self.run.isolation.open, record)
            root = record.root = self.run.isolation.folder(tree)
            self.run.save()  # the manifest names the worktree and branch from now on
            return root, record, tree
        owner = self.run.isolation.owner(self.run.records, record)
        if owner is None or owner is record or owner.state not in ENDED:
            return root, record, None
        return root, owner, await asyncio.to_thread(self.run.isolation.open, owner)

    def _finish(self, record: AgentRecord, tree: Worktree, ok: bool) -> None:
        assert self.run.isolation is not None
        self.run.isolation.finish(record, tree, ok)

    def _parent_root(self, record: AgentRecord) -> Path:
        """Sub-agents work where their parent works; top-level agents in the run's folder."""
        parent = self.run.records.get(record.parent) if record.parent else None
        return parent.root if parent is not None and parent.root is not None else self.run.cwd

    def _tools(self, record: AgentRecord, spec: AgentSpec | None) -> list[Tool]:
        names = tool_names(self.config, spec)
        # Sub-agents at the depth limit do not get the Agent tool at all (as in Claude Code); a
        # fork keeps its caller's tools, the cache's prefix (its Agent tool refuses past the limit).
        chosen: list[Tool] = tools_named([n for n in names if n != "Agent"])
        if "Agent" in names and (record.depth < self.config.max_depth or is_fork(record.task)):
            chosen += self._spawner.tools(record)
        return chosen + self.run.hooks.tools_for(caller(record, self.run.records).name)

    def _system(self, spec: AgentSpec | None, root: Path) -> str:
        return system_prompt(self.config, spec, root)


def tool_names(config: RunConfig, spec: AgentSpec | None) -> tuple[str, ...]:
    """The tools an agent of definition `spec` has (the run's, without one)."""
    default = AGENTBOOK_TOOLS if config.tools is None else config.tools
    return spec.allowed_tools() if spec else default


def system_prompt(config: RunConfig, spec: AgentSpec | None, root: Path) -> str:
    """An agent's system prompt: its definition's, else the run's with `{root}` its folder, and
    the cap on its answer when the run has one."""
    if spec is not None and spec.prompt:
        system = spec.prompt
    else:
        # `{root}` only: a prompt may show JSON or code with other braces.
        system = (config.system or GENERAL_PURPOSE_SYSTEM).replace("{root}", str(root))
    if config.max_result_tokens:
        system += RESULT_CAP.format(tokens=config.max_result_tokens)
    return system


def first_message(prompt: str, shared_context: str | None, then: str | None) -> str | Message:
    """A task's prompt, after the run's shared context (a cached prefix) when there is one, and
    before `then` (a resume's prompt, for an agent that never started)."""
    blocks = [Text(prompt)] if then is None else [Text(prompt), Text(then)]
    if shared_context is not None:
        blocks.insert(0, Text(shared_context, cache=True))
    return prompt if len(blocks) == 1 else Message("user", tuple(blocks))
