"""A run's manifest, `run.json`: written and read here, and nowhere else.

It holds what a restart needs to continue the run exactly as it was: the run's `RunConfig`
(without callables, model objects or secrets: `load_run` takes hooks, permissions and models
again), and per agent its task, agent definition, state, folder, worktree and branch.  It is
written when a run starts, when an agent is added (a sub-agent) or gets its worktree, and when
the run's agents have all ended; transcripts, flushed line by line, stay the truth about how
far each agent got.

`read` raises `FileNotFoundError` for a folder without one, and `ManifestError` naming the file
for a manifest that is not JSON or not a manifest (`load_run` then rebuilds what it can from
the transcripts).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbook.models.base import is_configured
from agentbook.redact import redact_data, secret_values
from agentbook.scheduler.config import spec_from_json, spec_json
from agentbook.scheduler.records import AgentRecord
from agentbook.scheduler.transcripts import dumps, transcript_path
from agentbook.specs import AgentSpec, Task

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["MANIFEST", "Manifest", "ManifestError", "entry_spec", "read", "record_from", "task_json", "write"]

MANIFEST = "run.json"
VERSION = 2
# What a record counts that its transcript does not say (or says only in part): kept here, so
# `run.df` after `load_run` shows the denials and diff stats it showed before.
_COUNTS = ("files_changed", "insertions", "deletions", "denials", "tools_run", "retries", "last_tool")


class ManifestError(ValueError):
    """A run folder's manifest cannot be read; the message names the file and the problem."""


@dataclass
class Manifest:
    """What `run.json` says: the run's name and session, its config as JSON, and its agents."""

    name: str
    session_id: str
    config: dict[str, Any]
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    api: str | None = None
    """Where its requests went (`api_endpoint`); `None`: no API, or a run from before it was kept."""


def api_endpoint(model: object) -> str | None:
    """Where the run's requests go: the model's base URL (an `AnthropicModel`'s own, else the
    SDK's `ANTHROPIC_BASE_URL`), `None` for a model that calls no API.  `agentbook costs` leaves
    runs against a local server (a test's fake API) out of its totals."""
    given = getattr(model, "base_url", None)
    if isinstance(given, str):
        return given
    if model == "offline" or (model is not None and not isinstance(model, str)):
        return None  # the offline, scripted and replay models, and other Model objects
    return os.environ.get("ANTHROPIC_BASE_URL") or ("https://api.anthropic.com" if is_configured() else None)


def write(run: Run) -> None:
    """Write `run`'s manifest atomically (a crash leaves the old one or the new one).

    Two handles (processes) may work on one run folder, each resuming other agents: under a lock
    on the folder, the entries of agents this handle did not touch (`run.ours`) are kept as the
    file has them, so that neither overwrites what the other wrote."""
    agents = {
        r.name: _entry(r, run.config.agents.get(r.task.agent or "")) for r in list(run.records.values())
    }
    folder = os.open(run.run_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        theirs = _entries(run.run_dir / MANIFEST)
        agents |= {name: entry for name, entry in theirs.items() if name not in run.ours}
        data = {"version": VERSION, "name": run.name, "session_id": run.session_id,
                "config": run.config.to_json(), "api": api_endpoint(run.config.model),
                "agents": agents}  # fmt: skip
        # Secret values are redacted, as in transcripts (`run.secrets` is empty until agents
        # start: the environment's then).  The trade-off: a prompt, system prompt or shared
        # context that holds a secret is restored by `load_run` with `[REDACTED]` in its place.
        data = redact_data(data, run.secrets or secret_values())
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=run.run_dir, prefix=".run.json.",
                                         delete=False) as tmp:  # fmt: skip
            tmp.write(dumps(data) + "\n")
        os.replace(tmp.name, run.run_dir / MANIFEST)
    finally:
        os.close(folder)  # and the lock with it


def _entries(path: Path) -> dict[str, Any]:
    """The agents of the manifest at `path` as written; `{}` when it is missing or unreadable."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    agents = data.get("agents") if isinstance(data, dict) else None
    return agents if isinstance(agents, dict) else {}


def read(run_dir: Path) -> Manifest:
    """The manifest of `run_dir`; see the module docstring for its errors."""
    path = run_dir / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not an agentbook run folder (no {MANIFEST})")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path} is not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("agents"), dict) or "session_id" not in data:
        raise ManifestError(f"{path} is not an agentbook manifest (no session_id or agents)")
    config = data.get("config")
    if "config" not in data:  # version 1: a few options at the top level
        config = {k: data[k] for k in ("cwd", "model", "max_turns") if k in data}
    elif not isinstance(config, dict):
        raise ManifestError(f"{path}: its config is not a mapping")
    api = data.get("api") if isinstance(data.get("api"), str) else None
    return Manifest(
        str(data.get("name") or run_dir.name), str(data["session_id"]), config, data["agents"], api
    )


def task_json(task: Task) -> dict[str, Any]:
    """A task as JSON (for the manifest and the run's main transcript)."""
    data = asdict(task)
    data["depends_on"], data["files"] = list(task.depends_on), list(task.files)
    return data


def _entry(record: AgentRecord, spec: AgentSpec | None) -> dict[str, Any]:
    task = task_json(record.task)
    return {
        "agent_id": record.agent_id, "depth": record.depth, "parent": record.parent, "model": record.model,
        "task": task, "spec": spec_json(spec) if spec is not None else None, "state": record.state,
        "root": _str(record.root), "worktree": _str(record.worktree), "branch": record.branch,
        "commit": record.commit, "counts": {k: getattr(record, k) for k in _COUNTS},
    }  # fmt: skip


def record_from(name: str, entry: dict[str, Any], run_dir: Path, session_id: str) -> AgentRecord:
    """The agent record a manifest entry describes (its progress comes from its transcript);
    `ManifestError` naming the file and the agent when the entry is not one."""
    try:
        return _record(name, entry, run_dir, session_id)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ManifestError(f"{run_dir / MANIFEST}: agent {name!r} is not readable ({exc!r})") from None


def _record(name: str, entry: dict[str, Any], run_dir: Path, session_id: str) -> AgentRecord:
    if not isinstance(entry["agent_id"], str) or not isinstance(entry.get("depth", 0), int):
        raise ValueError("agent_id must be a string and depth a whole number")
    data = entry["task"]
    task = Task(
        data["name"],
        data["prompt"],
        agent=data.get("agent"),
        depends_on=tuple(data.get("depends_on", ())),
        files=tuple(data.get("files", ())),
        model=data.get("model"),
        budget=data.get("budget"),
    )
    counts = entry.get("counts") or {}
    if not isinstance(counts, dict) or not all(_count_ok(k, v) for k, v in counts.items()):
        raise ValueError(f"counts must map names to whole numbers (last_tool to a name), not {counts!r}")
    return AgentRecord(
        **{k: v for k, v in counts.items() if k in _COUNTS and v is not None},
        name=name,
        task=task,
        agent_id=entry["agent_id"],
        transcript=transcript_path(run_dir, session_id, entry["agent_id"]),
        model=entry.get("model", ""),
        depth=entry.get("depth", 0),
        parent=entry.get("parent"),
        root=_path(entry.get("root")),
        worktree=_path(entry.get("worktree")),
        branch=entry.get("branch"),
        commit=entry.get("commit"),
    )


def _count_ok(key: str, value: object) -> bool:
    if value is None:
        return True
    if key == "last_tool":
        return isinstance(value, str)
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def entry_spec(entry: dict[str, Any]) -> AgentSpec | None:
    """The agent definition a manifest entry recorded, if any."""
    spec = entry.get("spec")
    return spec_from_json(spec) if isinstance(spec, dict) else None


def _str(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def _path(text: object) -> Path | None:
    return Path(text) if isinstance(text, str) and text else None
