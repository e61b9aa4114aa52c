"""`load_run`: a run rebuilt from its folder (manifest and transcripts) after a restart."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from agentbook.agent.hooks import Hooks
from agentbook.agent.loop import DEFAULT_MAX_TURNS
from agentbook.events import utcnow
from agentbook.models import Model
from agentbook.models.retry import RetryPolicy
from agentbook.scheduler.records import AgentRecord, ApiCall
from agentbook.scheduler.runs import MANIFEST, Run, in_kernel
from agentbook.scheduler.transcripts import read_transcript, transcript_path
from agentbook.specs import Task
from agentbook.tools.permissions import Permissions


def load_run(
    run_dir: str | Path, *, model: Model | str | None = None, interactive: bool | None = None
) -> Run:
    """Rebuild a `Run` from its folder (after a kernel restart): states, results, usage, calls.

    An agent whose transcript has no end record (the process died under it) is `failed` with
    that reason; any ended agent can be resumed.
    """
    folder = Path(run_dir)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{folder} is not an agentbook run folder (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    run = Run(
        name=manifest["name"],
        run_dir=folder,
        session_id=manifest["session_id"],
        cwd=Path(manifest["cwd"]),
        model=model if model is not None else manifest.get("model"),
        agents={},
        tools=None,
        max_turns=manifest.get("max_turns", DEFAULT_MAX_TURNS),
        max_tokens=8192,
        concurrency=None,
        permissions=Permissions(),
        interactive=in_kernel() if interactive is None else interactive,
        hooks=Hooks(),
        retry=RetryPolicy(),
        rate_limits=None,
        max_depth=1,
        system=None,
    )
    for name, entry in manifest["agents"].items():
        task_data = entry["task"]
        task = Task(
            task_data["name"],
            task_data["prompt"],
            agent=task_data.get("agent"),
            depends_on=tuple(task_data.get("depends_on", ())),
            files=tuple(task_data.get("files", ())),
            model=task_data.get("model"),
        )
        record = AgentRecord(
            name=name,
            task=task,
            agent_id=entry["agent_id"],
            transcript=transcript_path(folder, run.session_id, entry["agent_id"]),
            model=entry.get("model", ""),
            depth=entry.get("depth", 0),
            parent=entry.get("parent"),
        )
        _restore(record)
        run.records[name] = record
    return run


def _restore(record: AgentRecord) -> None:
    if not record.transcript.is_file():
        record.state, record.error = "failed", "no transcript: the agent never started"
        return
    back = read_transcript(record.transcript)
    for number, call in enumerate(back.calls, start=1):
        at = datetime.fromisoformat(call.timestamp.replace("Z", "+00:00")) if call.timestamp else utcnow()
        record.calls.append(
            ApiCall(number, at, 0.0, call.model, call.message_id, call.request_id, None, call.usage)
        )
        record.usage = record.usage + call.usage
    record.turns = len(back.calls)
    assistant = [m for m in back.messages if m.role == "assistant" and m.text]
    record.text = back.end.get("result") or (assistant[-1].text if assistant else "")
    if record.calls:
        record.started = record.calls[0].at
    if back.end:
        record.state = back.end.get("state", "failed")
        record.error = back.end.get("error")
        record.ended = record.calls[-1].at if record.calls else None
    else:
        record.state, record.error = (
            "failed",
            "interrupted: the transcript has no end record (the process died)",
        )
