"""`RemoteAgents`: the notebook's side of a run whose agents run on a Dask cluster.

`Run._launch` hands each agent to `drive`, which stands for the agent in the notebook's loop
until its end arrives: agents started together go out as one share per worker, to an
`AgentHost` actor there.  The shares' batches come back through the run's Dask topic and are
applied by the run's `Mirror` (`agentbook.scheduler.cluster.mirror`: the workers' transcript
lines into the run folder, each event as the agent's own).  Cancelling the stand-in cancels
the agent on its worker.  A worker lost mid-run is found by its share's call failing: its batches
still in the scheduler's event log are applied, then its unfinished agents go to the other
workers from their transcripts here, with interrupted tool calls settled, never run again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cloudpickle

from agentbook.agent.recovery import settle_interrupted
from agentbook.messages import Message
from agentbook.scheduler.cluster.bridge import awaited, loop_of
from agentbook.scheduler.cluster.gate import gate_host_for
from agentbook.scheduler.cluster.host import AgentHost
from agentbook.scheduler.cluster.mirror import Mirror
from agentbook.scheduler.cluster.orders import AgentOrder, ShareOrder
from agentbook.scheduler.cluster.shipping import Shipping
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.records import ENDED, AgentRecord
from agentbook.scheduler.transcript_reading import read_transcript

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["RemoteAgents", "check_shippable"]

log = logging.getLogger("agentbook")
MODEL_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "AGENTBOOK_MODEL")
SEND_WINDOW_S = 0.02
"""How long the first agent of a batch waits for the rest (a run's starts come one by one)."""
CANCEL_WAIT_S = 10.0
"""How long a cancelled agent's worker has to confirm before the notebook ends it itself."""
_shares = itertools.count(1)


class RemoteAgents:
    """The stand-ins of one run's agents on a cluster; see the module docstring."""

    def __init__(self, run: Run, client: Any) -> None:
        self.run, self.client = run, client
        self.topic = f"agentbook-{run.session_id}"
        self._dask_loop = loop_of(client)
        self._hosts: dict[str, Any] = {}  # worker address -> its AgentHost actor
        self._futures: list[Any] = []
        self._pending: list[tuple[AgentRecord, AgentOrder]] = []
        self._orders: dict[str, AgentOrder] = {}
        self._dead: set[str] = set()
        self._cancelled: set[str] = set()
        self._turns = itertools.count()
        self.gate_host: Any = None
        self._shipping = Shipping(run, client)
        self._watches: set[asyncio.Future[None]] = set()  # held: the loop keeps only weak references
        self.mirror = Mirror(run, client, self.topic)
        client.subscribe_topic(self.topic, self.mirror.message)

    async def drive(
        self, record: AgentRecord, prompt: str | None, history: list[Message], max_turns: int
    ) -> None:
        """Stand for `record`'s agent, sent to a worker, until it ends there."""
        writer = self.run._wiring.writer(record)  # the run folder's copy of its transcript
        ended = self.mirror.ends[record.name] = asyncio.get_running_loop().create_future()
        self._queue(record, AgentOrder(record.task, record.agent_id, max_turns, prompt, tuple(history)))
        try:
            await asyncio.shield(ended)
        except asyncio.CancelledError:
            await self._cancel(record, ended)
        finally:
            self.mirror.ends.pop(record.name, None)
            writer.close()

    # ---- sending

    def _queue(self, record: AgentRecord, order: AgentOrder) -> None:
        self._orders.setdefault(record.name, order)
        self.mirror.where[record.name] = ("", "")  # no share owes it an end until one is sent
        self._pending.append((record, order))
        if len(self._pending) == 1:  # the first of a batch: the rest of it comes in this tick
            self._watches.add(send := asyncio.ensure_future(self._send()))
            send.add_done_callback(self._watches.discard)

    async def _send(self) -> None:
        """One share per worker of what is pending, the agents dealt out in turn."""
        await asyncio.sleep(SEND_WINDOW_S)
        pending, self._pending = self._pending, []
        try:
            workers = await asyncio.to_thread(self._workers)
        except Exception as exc:  # every worker is gone, or the scheduler: nobody to send them to
            for record, _ in pending:
                self.run._wiring.end(record, "failed", f"not sent to the cluster: {exc}")
                self.mirror.let_go(record.name)
            return
        limits = _split(self.run.config.concurrency, workers)
        usable = [w for w in workers if limits[w] != 0]
        turn = next(self._turns) % len(usable)  # ties go round, so one-by-one starts spread too
        workers = sorted(usable[turn:] + usable[:turn], key=self._load)  # the idlest first
        for n, worker in enumerate(workers):
            chunk = pending[n :: len(workers)]
            if chunk:
                share = f"share-{next(_shares)}"
                for record, _ in chunk:
                    self.mirror.where[record.name] = (share, worker)
                order = ShareOrder(self.run.name, self.run.session_id, self.topic, share,
                                   RunConfig.of(self.run.config, cluster=None, concurrency=limits[worker]),
                                   tuple(o for _, o in chunk),
                                   env=_model_env(), gate=await self._gate())  # fmt: skip
                self._watches.add(watch := asyncio.ensure_future(self._watch(worker, order)))
                watch.add_done_callback(self._watches.discard)

    def _workers(self) -> list[str]:
        alive = [w for w in self.client.scheduler_info(n_workers=-1)["workers"] if w not in self._dead]
        if not alive:
            raise RuntimeError(f"the Dask cluster at {self.client.scheduler.address} has no workers left")
        return sorted(alive)

    def _load(self, worker: str) -> int:
        """How many agents sent to `worker` are still working."""
        records = self.run.records
        placed = self.mirror.where.items()
        return sum(1 for n, (_, w) in placed if w == worker and records[n].state not in ENDED)

    async def _gate(self) -> Any:
        self.gate_host = await asyncio.to_thread(gate_host_for, self.client, self._dead)
        return self.gate_host

    async def _host(self, worker: str) -> Any:
        if worker not in self._hosts:
            future = self.client.submit(
                AgentHost, actor=True, workers=[worker], allow_other_workers=False, pure=False
            )
            self._futures.append(future)  # kept, or the actor goes away with it
            self._hosts[worker] = await asyncio.to_thread(future.result)
        return self._hosts[worker]

    async def _watch(self, worker: str, order: ShareOrder) -> None:
        """Send `order` and wait for its agents to end; a lost worker's agents go elsewhere."""
        failure: BaseException | None = None
        try:
            order = dataclasses.replace(order, files=await self._shipping.files_for(worker))
            host = await self._host(worker)
            kept = tuple(a for a in order.agents if a.task.name not in self._cancelled)
            self.mirror.owed[order.share] = {a.task.name for a in kept}
            order = dataclasses.replace(order, agents=kept)
            with self.client.as_current():  # an actor call finds its client there
                call = host.start(cloudpickle.dumps(order))
            await awaited(call, self._dask_loop)
        except Exception as exc:  # the worker was lost, or the share failed there
            failure = exc
        if failure is not None or not await self.mirror.settled(order.share):
            await self.mirror.drain(order.share)
        # The agents it still owes an end: none came, and they were not sent elsewhere since.
        owed = self.mirror.owed.pop(order.share, {a.task.name for a in order.agents})
        owner = self.mirror.where
        left = [self.run.records[n] for n in sorted(owed) if owner.get(n, ("",))[0] == order.share]
        if failure is not None and left and _is_lost(failure):
            self._dead.add(worker)
            self.mirror.lost.add(order.share)
            log.warning("run %s: worker %s was lost; %d agent(s) go on elsewhere: %s",
                        self.run.name, worker, len(left), ", ".join(r.name for r in left))  # fmt: skip
            self._abandon_children(left)
            await self._new_gate_if_lost()
            for record in left:
                self._queue(record, order_again(record, self._orders[record.name]))
        else:
            for record in left:
                if record.state not in ENDED:
                    self.run._wiring.end(record, "failed", f"its share failed on worker {worker}: {failure}")
                self.mirror.let_go(record.name)

    async def _new_gate_if_lost(self) -> None:
        """The cluster's gate went with the lost worker: a new one, for every share running."""
        old = self.gate_host
        if old is None or (await self._gate()).key == old.key:
            return
        with self.client.as_current():
            for worker, host in self._hosts.items():
                if worker not in self._dead:
                    host.use_gate(self.gate_host)

    def _abandon_children(self, parents: Sequence[AgentRecord]) -> None:
        """Sub-agents of `parents` ended with their worker: their resumed parents start anew."""
        names = {p.name for p in parents}
        for record in list(self.run.records.values()):
            if (
                record.parent is not None
                and record.name.split("/", 1)[0] in names
                and record.state not in ENDED
            ):
                self.run._wiring.end(record, "failed", "its worker was lost")
                self.run._wiring.release(record)

    async def _cancel(self, record: AgentRecord, ended: asyncio.Future[None]) -> None:
        self._cancelled.add(record.name)  # a share not sent yet goes without it
        queued = [p for p in self._pending if p[0] is record]
        if queued:
            self._pending.remove(queued[0])
        share_worker = self.mirror.where.get(record.name)
        host = self._hosts.get(share_worker[1]) if share_worker and not queued else None
        if host is not None:
            with self.client.as_current():
                host.cancel(self.run.name, [record.name])  # the call goes without our waiting
            try:
                await asyncio.wait_for(asyncio.shield(ended), CANCEL_WAIT_S)
                return
            except TimeoutError:
                pass
        if record.state not in ENDED:
            self.run._wiring.end(
                record, "cancelled", "cancelled" if queued else "cancelled (no answer from its worker)"
            )


def order_again(record: AgentRecord, first: AgentOrder) -> AgentOrder:
    """The order that goes on with `record`'s agent (first sent as `first`) from its transcript
    in the run folder, its interrupted calls settled."""
    if not record.transcript.is_file():
        return first  # it had not started
    back = read_transcript(record.transcript)
    history = tuple(settle_interrupted(back.messages, back.started))
    return AgentOrder(record.task, record.agent_id, first.max_turns, None, history) if history else first


def _split(concurrency: int | None, workers: Sequence[str]) -> dict[str, int | None]:
    """Each worker's part of the run's `concurrency` (in all, exactly it; some may get none)."""
    if concurrency is None:
        return dict.fromkeys(workers)
    share, extra = divmod(concurrency, len(workers))
    return {w: share + (1 if i < extra else 0) for i, w in enumerate(workers)}


def check_shippable(config: RunConfig) -> None:
    """The run's options can travel to the workers (its hooks and model are pickled with
    cloudpickle): else `TypeError` before anything starts."""
    try:
        cloudpickle.dumps(dataclasses.replace(config, cluster=None))
    except Exception as exc:
        raise TypeError(
            f"cluster: the run's options go to the workers, and they cannot be pickled ({exc}); give "
            "hooks that are module-level functions, and a model by name or one that pickles"
        ) from None


def _is_lost(exc: BaseException) -> bool:
    """Whether `exc` says the share's worker went away (not that the share failed there)."""
    return isinstance(exc, OSError) or "lost" in str(exc).lower() or type(exc).__name__ == "CommClosedError"


def _model_env() -> dict[str, str | None]:
    """The variables a worker's models read, as they are here (`None`: not set here)."""
    return {name: os.environ.get(name) for name in MODEL_VARIABLES}
