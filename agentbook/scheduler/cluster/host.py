"""`AgentHost`: the Dask actor that runs a share of a run's agents in its worker's process.

Each share gets agentbook's own machinery as in-process (a `Run` of the worker's, its wiring,
tools, sandbox, model clients and rate gate), with the run folder in the worker's local
directory: the notebook's run folder gets the same transcript lines from the share's events.
The agents run on agentbook's background thread of the worker's process, not on the worker's
own loop: an agent's work between awaits (parsing a response, a tool) must not delay the
worker's heartbeats to the scheduler (dask/distributed#7495).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

import cloudpickle

from agentbook.agent.recovery import RERUNNABLE
from agentbook.events import AgentEnded, AgentEvent
from agentbook.messages import ToolUse
from agentbook.scheduler import background
from agentbook.scheduler.cluster.files import pack_branch, unpack_repo
from agentbook.scheduler.cluster.forwarding import Forwarder
from agentbook.scheduler.cluster.gate import use_cluster_gate
from agentbook.scheduler.cluster.orders import AgentOrder, ShareOrder
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.run import Run

__all__ = ["AgentHost"]


class AgentHost:
    """One per worker and run handle; `start` drives a share until its agents have ended."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self.forwarders: dict[str, Forwarder] = {}  # top-level agent -> its share's forwarder
        self.cancelled: set[str] = set()  # cancelled before their share came
        self.ending: dict[str, tuple[set[str], asyncio.Future[None]]] = {}  # agent -> its share's wait

    async def start(self, order_blob: bytes) -> int:
        """Run the share's agents to their ends and return how many there were; every event has
        reached the scheduler when it returns."""
        from distributed import get_worker

        order: ShareOrder = cloudpickle.loads(order_blob)
        worker = get_worker()
        for name, value in order.env.items():  # the notebook's credentials, for the models made here
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if order.gate is not None:
            use_cluster_gate(order.gate)
        forwarder = Forwarder(worker, order.topic, order.share)
        pump = asyncio.ensure_future(forwarder.pump())
        try:
            run = await asyncio.to_thread(self._run, order, Path(worker.local_directory))
            ended = asyncio.get_running_loop().create_future()
            # Those cancelled while their share was on its way do not start.
            agents = [a for a in order.agents if a.task.name not in self.cancelled]
            names = {a.task.name for a in agents}
            for agent in agents:
                self.forwarders[agent.task.name] = forwarder
            left = set(names)  # resolved by `_forward` once every one of them has ended
            self.ending.update(dict.fromkeys(names, (left, ended)))
            await asyncio.to_thread(_start, run, agents)  # off the worker's loop: its heartbeats go on
            if names:
                await ended
            # Their worktrees are committed after their ends: then where they left their work.
            await asyncio.wrap_future(background.submit(_settled(run, names)))
            for name in names:
                bundle = await asyncio.to_thread(_branch, run, order, name) if order.files else None
                forwarder.finish(run.records[name], bundle)
        finally:
            forwarder.close()
            await pump
        return len(order.agents)

    def use_gate(self, gate: Any) -> None:
        """Ask `gate` (a new `GateHost`, the last one lost) from now on."""
        use_cluster_gate(gate)

    async def cancel(self, run: str, names: list[str]) -> None:
        """Cancel `names` of `run` (they end `cancelled`, and say so through their share)."""
        handle = self.runs.get(run)
        for name in names:
            if handle is not None and name in handle.records:
                handle.cancel(name)
            else:
                self.cancelled.add(name)

    def _run(self, order: ShareOrder, local: Path) -> Run:
        """This worker's `Run` for the order's run: one per run handle, kept for its resumes;
        in a clone of the repository when the order brings one."""
        run = self.runs.get(order.run)
        if run is None:
            folder = local / "agentbook-runs" / order.run
            folder.mkdir(parents=True, exist_ok=True)
            config = order.config
            hooks = dataclasses.replace(
                config.hooks, on_tool_start=[*config.hooks.on_tool_start, self._durable]
            )
            cwd = (
                unpack_repo(order.files, local / "agentbook-repos" / order.run) if order.files else config.cwd
            )
            config = RunConfig.of(
                config, run_dir=folder, hooks=hooks, interactive=False, cluster=None, cwd=cwd
            )
            run = self.runs[order.run] = Run(
                config, run_dir=folder, session_id=order.session_id, interactive=False
            )
            run.on_event(lambda event: self._forward(run, event))
        return run

    def _forward(self, run: Run, event: AgentEvent) -> None:
        """The run's one listener: each event to its share, and each end to its share's wait."""
        forwarder = self.forwarders.get(event.agent.split("/", 1)[0])
        if forwarder is not None:
            forwarder.add(run.records[event.agent], event)
        if isinstance(event, AgentEnded) and event.agent in self.ending:
            left, ended = self.ending.pop(event.agent)
            left.discard(event.agent)
            if not left:
                ended.get_loop().call_soon_threadsafe(_resolve, ended)

    async def _durable(self, agent: str, call: ToolUse) -> None:
        """Before a call that may change something runs: its start is in the notebook's hands."""
        forwarder = self.forwarders.get(agent.split("/", 1)[0])
        if forwarder is not None and call.name not in RERUNNABLE:
            await forwarder.safe()


async def _settled(run: Run, names: set[str]) -> None:
    """(On agentbook's loop) until the agents `names` are through their wiring's last steps."""
    await asyncio.gather(*(run.tasks[n] for n in names if n in run.tasks), return_exceptions=True)


def _branch(run: Run, order: ShareOrder, name: str) -> bytes | None:
    """The agent's branch as a bundle, for a notebook that does not share this worker's files."""
    record = run.records[name]
    if order.files is None or record.branch is None or record.commit is None or run.isolation is None:
        return None
    return pack_branch(run.isolation.worktrees.repo, record.branch)


def _start(run: Run, agents: list[AgentOrder]) -> None:
    """Add the share's new agents (the manifest written once: once per agent is quadratic), then
    start them all."""
    records = [run.records.get(a.task.name) or run.add(a.task, agent_id=a.agent_id, save=False)
               for a in agents]  # fmt: skip
    run.save()
    for agent, record in zip(agents, records, strict=True):
        run.start_all([record], agent.max_turns, agent.prompt, list(agent.history))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
