"""`load_run`: a run rebuilt from its folder after a restart, as far as its files allow.

The manifest (`agentbook.scheduler.manifest`) gives the run's configuration and its agents; each
agent's transcript gives how far it got.  Damage never stops the rest from loading: a manifest
that is missing, not JSON or holds values of the wrong kind is named in a warning and the run is
rebuilt from its transcripts; a transcript line that cannot be read is named in a warning and
skipped.  Options given to `load_run` are the caller's: a bad one raises, as in `run_parallel`.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

from agentbook.agent.hooks import Hooks
from agentbook.events import utcnow
from agentbook.models import Model
from agentbook.scheduler import manifest, observers
from agentbook.scheduler.claude_settings import bind_hooks, reread_hooks
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.records import AgentRecord, ApiCall
from agentbook.scheduler.run import Run
from agentbook.scheduler.transcript_locks import being_written
from agentbook.scheduler.transcripts import TranscriptCall, read_transcript
from agentbook.tools.permissions import Permissions

__all__ = ["load_run", "transcript_files"]


def load_run(
    run_dir: str | Path,
    *,
    model: Model | str | None = None,
    permissions: Permissions | None = None,
    hooks: Hooks | None = None,
    interactive: bool | None = None,
    **options: Any,
) -> Run:
    """Rebuild a `Run` from its folder (after a restart): its configuration, and each agent's
    state, results, usage, calls, folder, worktree and branch.

    What `run.json` cannot hold is given again: `model` (else the model it names), `permissions`
    (else its rules and mode as written), `hooks` (the command hooks of the Claude Code settings
    it read are read again from their file); other `RunConfig` options may be overridden.
    An agent whose transcript has no end record (the process died under it) is `failed` with
    that reason; any ended agent can be resumed, in its own worktree.  See the module docstring
    for damaged folders; a folder with neither a manifest nor transcripts is `FileNotFoundError`.
    """
    folder = Path(run_dir).expanduser()
    try:
        found = manifest.read(folder)
        config = _config(found, folder, options.get("cwd"))
        records = [_record(n, e, folder, found.session_id) for n, e in found.agents.items()]
    except (manifest.ManifestError, FileNotFoundError) as exc:
        if not transcript_files(folder):
            raise
        warnings.warn(f"{exc}; the run is rebuilt from its transcripts", stacklevel=2)
        found = _from_transcripts(folder)
        config = _config(found, folder, options.get("cwd"))
        records = [manifest.record_from(n, e, folder, found.session_id) for n, e in found.agents.items()]
    given = {
        k: v for k, v in {"model": model, "permissions": permissions, "hooks": hooks}.items() if v is not None
    }
    config = RunConfig.of(config, interactive=interactive, **given, **options)
    config, command_hooks = reread_hooks(config)
    interactive_now = observers.in_kernel() if config.interactive is None else config.interactive
    run = Run(config, run_dir=folder, session_id=found.session_id, interactive=interactive_now, restored=True)
    if command_hooks is not None:
        bind_hooks(command_hooks, run)
    if run.isolation is not None and config.isolation == "worktree":
        run.isolation.recover({r.name: r for r in records})
    for record in records:
        _restore(record)
        run.records[record.name] = record
    if config.cluster is not None:
        _reconnect(run)
    return run


def _reconnect(run: Run) -> None:
    """A cluster run's resumes go to the cluster its manifest names, if it can be reached."""
    from agentbook.scheduler.cluster import ClusterUnavailable, cluster_client
    from agentbook.scheduler.cluster.remote import RemoteAgents

    try:
        run.remote = RemoteAgents(run, cluster_client(run.config))
    except (ClusterUnavailable, TypeError) as exc:
        warnings.warn(
            f"run {run.name}: its cluster cannot be used ({exc}): its resumes run in this process",
            stacklevel=3,
        )


def _record(name: str, entry: dict[str, Any], folder: Path, session_id: str) -> AgentRecord:
    """The agent an entry of run.json describes; an entry with a bad value is named in a
    warning and read without its counts, folder and branch (the rest of the run loads whole)."""
    try:
        return manifest.record_from(name, entry, folder, session_id)
    except manifest.ManifestError as exc:
        warnings.warn(f"{exc}; its counts, folder and branch are read again from git", stacklevel=4)
        bare: dict[str, Any] = {
            k: entry[k] for k in ("agent_id", "task", "depth", "parent", "model") if k in entry
        }
        return manifest.record_from(name, bare, folder, session_id)


def _config(found: manifest.Manifest, folder: Path, cwd: object) -> RunConfig:
    """The manifest's config (in `cwd` when given: the repository moved); `ManifestError` naming
    the file when its values do not make one."""
    data = {**found.config, "cwd": str(cwd)} if isinstance(cwd, str | Path) else found.config
    try:
        # Whether someone can answer is the new process's question, not the old one's.
        return RunConfig.from_json({**data, "name": found.name, "run_dir": str(folder), "interactive": None})
    except NotADirectoryError as exc:
        raise NotADirectoryError(
            f"{exc}: the run's folder moved or is gone; give load_run(..., cwd=...)"
        ) from None
    except (TypeError, ValueError, KeyError) as exc:
        raise manifest.ManifestError(
            f"{folder / manifest.MANIFEST}: its config is not usable ({exc})"
        ) from None


def transcript_files(folder: Path) -> list[Path]:
    """The agents' transcripts in a run folder."""
    return sorted(folder.glob("*/subagents/agent-*.jsonl"))


def _from_transcripts(folder: Path) -> manifest.Manifest:
    """What the transcripts tell of a run whose manifest is lost: its name, config (as it
    started), agents and their tasks."""
    mains = sorted(folder.glob("*.jsonl"))
    prompts: dict[str, dict[str, Any]] = {}
    started: dict[str, Any] = {}
    for main in mains:
        started = read_transcript(main).run or started
        tasks = started.get("tasks", [])
        prompts.update(
            {t["name"]: t for t in tasks if isinstance(t, dict) and isinstance(t.get("name"), str)}
        )
    agents: dict[str, dict[str, Any]] = {}
    session = mains[0].stem if mains else ""
    cwd = str(folder)
    for path in transcript_files(folder):
        back = read_transcript(path)
        name = str(back.start.get("agent") or path.stem)
        session, cwd = back.session_id or session, back.cwd or cwd
        task = prompts.get(name, {"name": name, "prompt": "(the task's prompt was lost with run.json)"})
        agents[name] = {"agent_id": path.stem.removeprefix("agent-"), "task": task, "root": back.cwd or None,
                        "model": str(back.start.get("model", "")), "depth": name.count("/")}  # fmt: skip
    for name, entry in agents.items():  # a sub-agent's parent is its name's prefix
        parent = name.rpartition("/")[0]
        entry["parent"] = parent if parent in agents else None
    config = started.get("config")
    if not isinstance(config, dict):  # a run from before its config was written there
        config = {"cwd": cwd if Path(cwd).is_dir() else str(folder)}
    return manifest.Manifest(str(started.get("run") or folder.name), session, config, agents)


def _restore(record: AgentRecord) -> None:
    """`record`'s progress from its transcript (its calls, usage, result and how it ended)."""
    if not record.transcript.is_file():
        record.state, record.error = "failed", "no transcript: the agent never started"
        return
    back = read_transcript(record.transcript)
    for problem in back.problems:
        warnings.warn(problem, stacklevel=3)
    for call in back.calls:
        if call.compacted is None:  # a compaction's call is paid for, but no turn (turn 0)
            record.turns += 1
        number = 0 if call.compacted is not None else record.turns
        at = _time(call, record.transcript)
        record.calls.append(ApiCall(number, at, 0.0, call.model, call.message_id, call.request_id, None,
                                    call.usage, call.compacted, call.service_tier))  # fmt: skip
        record.usage = record.usage + call.usage
    record.tools_run = max(record.tools_run, len(back.started))  # run.json may predate the last ones
    assistant = [m for m in back.messages if m.role == "assistant" and m.text]
    record.text = str(back.end.get("result") or (assistant[-1].text if assistant else ""))
    if record.calls:
        record.started = record.calls[0].at
    if being_written(record.transcript):  # held: resumed elsewhere, whatever its last end said
        record.state, record.error = "running", "running in another process (its transcript is locked)"
    elif back.end:
        record.state = back.end.get("state", "failed")
        record.error = back.end.get("error")
        record.ended = record.calls[-1].at if record.calls else None
    else:
        record.state, record.error = (
            "failed",
            "interrupted: the transcript has no end record (the process died)",
        )


def _time(call: TranscriptCall, path: Path) -> datetime:
    """When `call` was answered; now (with a warning naming the file) when its stamp is unreadable."""
    try:
        return datetime.fromisoformat(str(call.timestamp).replace("Z", "+00:00"))
    except ValueError:
        warnings.warn(
            f"{path}: call {call.message_id} has no readable timestamp ({call.timestamp!r})", stacklevel=4
        )
        return utcnow()
