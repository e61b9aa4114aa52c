"""Inline sidechains (Claude Code 1.x): which subagent each `isSidechain` line belongs to.

`scan.py` adds a main file's sidechain lines here, then names the agent of each sidechain call.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Sidechains"]


class Sidechains:
    """The inline sidechains of one main file, to name the agent each sidechain call belongs to.

    Each subagent's lines form a `parentUuid` chain from a root whose parent is not a sidechain
    line.  A chain is named by an `agentId` any of its lines carries, else `sidechain-<root uuid>`.
    """

    def __init__(self) -> None:
        self._parent: dict[str, Any] = {}
        self._agent_id: dict[str, str] = {}
        self._root: dict[str, str] = {}
        self._group_agent: dict[str, str] | None = None

    def add(self, record: dict[str, Any]) -> None:
        uuid = record.get("uuid")
        if isinstance(uuid, str):
            self._parent[uuid] = record.get("parentUuid")
            agent = record.get("agentId")
            if isinstance(agent, str) and agent:
                self._agent_id[uuid] = agent

    def agent_of(self, uuid: Any) -> str:
        """The agent of the sidechain line `uuid`; call once every line of the file is added."""
        if not isinstance(uuid, str) or uuid not in self._parent:
            return "sidechain"
        if self._group_agent is None:
            self._group_agent = {}
            for member, agent in self._agent_id.items():
                self._group_agent.setdefault(self._root_of(member), agent)
        root = self._root_of(uuid)
        return self._group_agent.get(root) or f"sidechain-{root[:8]}"

    def _root_of(self, uuid: str) -> str:
        path = []
        node = uuid
        while node not in self._root:
            parent = self._parent.get(node)
            if not isinstance(parent, str) or parent not in self._parent or parent in path:
                self._root[node] = node
                break
            path.append(node)
            node = parent
        root = self._root[node]
        for member in path:  # path compression: chains of hundreds of lines are walked once
            self._root[member] = root
        return root
