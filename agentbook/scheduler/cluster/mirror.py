"""The notebook's mirror of a cluster run: the workers' batches applied to the run here.

Each batch (`orders.pack`) holds a share's events and the transcript lines its worker wrote for
them.  The lines are appended to the run folder's transcripts as they are (the worker wrote and
redacted them: the notebook does not write them a second time), then each event is applied as
the agent's own (`Run._dispatch`, its transcript muted: the record, failures.md, the run's
listeners and the board), in order and once: a batch can arrive twice, by the topic and from
the scheduler's event log.  An agent's last item lets its stand-in (`RemoteAgents.drive`) go.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from agentbook.events import AgentEnded
from agentbook.scheduler.cluster.files import fetch_branch
from agentbook.scheduler.cluster.orders import PLACEMENT, Item, unpack
from agentbook.scheduler.records import AgentRecord
from agentbook.scheduler.transcripts import transcript_path

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["SETTLE_S", "Mirror"]

log = logging.getLogger("agentbook")
SETTLE_S = 2.0
"""How long a share's last items have to arrive by the topic before the event log is read."""


class Mirror:
    """The run's side of its shares' batches; see the module docstring."""

    def __init__(self, run: Run, client: Any, topic: str) -> None:
        self.run, self.client, self.topic = run, client, topic
        self.ends: dict[str, asyncio.Future[None]] = {}  # agent -> its stand-in's wait
        self.where: dict[str, tuple[str, str]] = {}  # agent -> (share, worker) owing its end
        self.owed: dict[str, set[str]] = {}  # share -> its agents whose last item has not come
        self.lost: set[str] = set()  # shares of lost workers: what they still send is stale
        self._seen: dict[str, int] = {}  # share -> the last item applied

    def message(self, event: tuple[float, Any]) -> None:
        """A batch from a worker (on the Dask client's thread): applied on the agents' loop."""
        from agentbook.scheduler import background

        background.call_soon(self._receive, event[1])

    def _receive(self, message: Any) -> None:
        if message["share"] not in self.lost:
            self.apply(message)

    async def settled(self, share: str) -> bool:
        """Whether every last item of `share` arrives by the topic within `SETTLE_S` (they are
        in the scheduler's hands when its call returns: they are on their way)."""
        deadline = time.monotonic() + SETTLE_S
        while self.owed.get(share) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return not self.owed.get(share)

    async def drain(self, share: str) -> None:
        """Apply what the scheduler's event log holds of `share` that has not arrived yet."""
        try:
            logged = await asyncio.to_thread(self.client.get_events, self.topic)
        except Exception as exc:  # the scheduler itself is gone: what arrived is all there is
            log.warning("run %s: the scheduler's event log cannot be read: %s", self.run.name, exc)
            return
        for _, message in logged:
            if message.get("share") == share:
                self.apply(message)

    def apply(self, message: dict[str, Any]) -> None:
        """One batch: its new items' lines into the transcripts, then their events."""
        share, items, lines = unpack(message)
        items = [i for i in items if i.seq > self._seen.get(share, 0)]  # not those already applied
        if not items:
            return
        self._seen[share] = items[-1].seq
        records = {i.agent: self._record(i) for i in items}
        for name, text in lines.items():
            if name in records or name in self.run.records:
                self.run._wiring.writer(records.get(name) or self.run.records[name]).append(text)
        for item in items:
            self._item(share, records[item.agent], item)

    def _item(self, share: str, record: AgentRecord, item: Item) -> None:
        if item.event is not None:
            writer = self.run._wiring.writer(record)
            writer.muted = True  # its lines came with the batch
            try:
                self.run._dispatch(record, item.event)
            finally:
                writer.muted = False
        if isinstance(item.event, AgentEnded) and record.name not in self.ends:
            self.run._wiring.release(record)  # a sub-agent's copy of its transcript
        if item.final:
            self._finish(record, item.fields or {})
            self.owed.get(share, set()).discard(record.name)
            if self.where.get(record.name, ("",))[0] == share:  # not a stale share's
                self.let_go(record.name)

    def let_go(self, name: str) -> None:
        """The agent's stand-in returns: all that will come of this start has come."""
        ended = self.ends.get(name)
        if ended is not None and not ended.done():
            ended.set_result(None)

    def _finish(self, record: AgentRecord, fields: dict[str, Any]) -> None:
        """`record`'s agent is through on its worker: its branch fetched here (from a worker
        that does not share our files)."""
        if "bundle" in fields and record.branch and self.run.isolation is not None:
            try:
                fetch_branch(self.run.isolation.worktrees.repo, record.branch, fields["bundle"])
                record.worktree = None  # the worker's, not ours
            except Exception as exc:  # a branch that cannot be fetched must not stop the run
                log.error("run %s: agent %s: its branch %s cannot be fetched: %s",
                          self.run.name, record.name, record.branch, exc)  # fmt: skip
                record.branch = record.commit = None

    def _record(self, item: Item) -> AgentRecord:
        record = self.run.records.get(item.agent)
        fields = item.fields or {}
        if record is None:  # a sub-agent its parent started on the worker
            record = self.run.records[item.agent] = AgentRecord(
                name=item.agent, task=fields["task"], agent_id=fields["agent_id"],
                transcript=transcript_path(self.run.run_dir, self.run.session_id, fields["agent_id"]),
                model=fields["model"], depth=fields["depth"], parent=fields["parent"],
            )  # fmt: skip
            self.run.ours.add(item.agent)
        for name in PLACEMENT:
            if name in fields:
                setattr(record, name, fields[name])
        return record
