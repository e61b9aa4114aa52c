"""What agentbook's own run folders add to a scan of transcripts: each agent's task name (the
transcripts know only its id), and which runs went to a local server (a test's fake Messages
API), whose "costs" nobody paid (`agentbook costs` leaves them out unless asked)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from agentbook.scheduler import manifest

__all__ = ["AgentbookRuns", "agentbook_runs", "is_local"]


@dataclass
class AgentbookRuns:
    """`names`: agent id -> task name; `local`: session ids of runs against a local server."""

    names: dict[str, str] = field(default_factory=dict)
    local: set[str] = field(default_factory=set)


def agentbook_runs(path: str | Path, limit: int = 10_000) -> AgentbookRuns:
    """The agentbook runs under `path` (their `run.json`), at most `limit`; folders that are not
    readable runs are left alone (the scan reports their lines as it does any others)."""
    root = Path(path).expanduser()
    found = AgentbookRuns()
    folders = [root] if (root / "run.json").is_file() else [m.parent for m in root.rglob("run.json")][:limit]
    for folder in folders if root.is_dir() else []:
        try:
            run = manifest.read(folder)
        except (OSError, ValueError):
            continue
        for name, entry in run.agents.items():
            if isinstance(entry, dict) and isinstance(entry.get("agent_id"), str):
                found.names[entry["agent_id"]] = name
        if is_local(run.api):
            found.local.add(run.session_id)
    return found


def is_local(url: object) -> bool:
    """Whether `url` names this machine (localhost, a loopback address)."""
    if not isinstance(url, str):
        return False
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
