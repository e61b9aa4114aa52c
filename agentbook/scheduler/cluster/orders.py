"""What the notebook sends a worker (`ShareOrder`) and what comes back (`Item`s in batches).

Orders travel pickled by cloudpickle, so a run's hooks (functions of the notebook) travel with
them; items by pickle, in batches (`pack`/`unpack`) small enough for Dask's event log.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from typing import Any

from agentbook.events import AgentEvent
from agentbook.messages import Message
from agentbook.scheduler.cluster.files import RepoBundle
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.records import AgentRecord
from agentbook.specs import Task

__all__ = ["PLACEMENT", "AgentOrder", "Item", "ShareOrder", "pack", "placement", "unpack"]

PLACEMENT = ("root", "worktree", "branch", "commit", "files_changed", "insertions", "deletions")
"""The record fields the worker's wiring sets (not its events): where the agent works."""


@dataclass(frozen=True)
class AgentOrder:
    """One agent to start (`history` empty) or to go on from `history`."""

    task: Task
    agent_id: str
    max_turns: int
    prompt: str | None = None
    history: tuple[Message, ...] = ()


@dataclass(frozen=True)
class ShareOrder:
    """A worker's share of a run: its agents and everything to wire them as the notebook would."""

    run: str
    session_id: str
    topic: str
    share: str
    config: RunConfig
    agents: tuple[AgentOrder, ...]
    env: dict[str, str | None] = dataclasses.field(default_factory=dict)
    """The models' variables (`ANTHROPIC_*`, `AGENTBOOK_MODEL`) as the notebook has them
    (`None`: unset there, so unset on the worker too)."""
    gate: Any = None
    """The cluster's rate-gate actor (`agentbook.scheduler.cluster.gate.GateHost`), if any."""
    files: RepoBundle | None = None
    """The repository for a worker that does not share the notebook's files (`files.RepoBundle`);
    `None`: the worker works in the notebook's folders."""


@dataclass(frozen=True)
class Item:
    """One event of a share's agent, numbered within the share; `fields` when they changed:
    the agent's placement and, the first time, what the notebook needs to make its record."""

    seq: int
    agent: str
    event: AgentEvent | None
    fields: dict[str, Any] | None = None
    final: bool = False
    """The agent's last item: it has ended, its worktree is committed (`event` is `None`)."""


def placement(record: AgentRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in PLACEMENT}


def new_record_fields(record: AgentRecord) -> dict[str, Any]:
    return {"task": record.task, "agent_id": record.agent_id, "depth": record.depth,
            "parent": record.parent, "model": record.model, **placement(record)}  # fmt: skip


def pack(
    share: str, items: list[Item], lines: dict[str, str], secrets: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A batch: the share's items, and the transcript lines its agents' writers wrote since
    the last batch (by agent), as the worker wrote and redacted them.  `secrets` are masked in
    the pickled items (the scheduler keeps every batch in its event log): each by as many `*`,
    so the pickle's string lengths still hold."""
    data = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
    for secret in secrets:
        raw = secret.encode()
        if raw in data:
            data = data.replace(raw, b"*" * len(raw))
    return {"share": share, "items": data, "lines": lines}


def unpack(message: dict[str, Any]) -> tuple[str, list[Item], dict[str, str]]:
    return message["share"], pickle.loads(message["items"]), message.get("lines") or {}  # our workers'
