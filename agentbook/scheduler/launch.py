"""Starting runs: `run_parallel` (a new run) and `load_run` (a run rebuilt from its folder).

Both validate everything first, through `RunConfig` and `as_tasks`: bad input raises naming the
problem, and then nothing has started and no run folder has been created.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from agentbook.agent.hooks import Hooks
from agentbook.events import Listener, utcnow
from agentbook.models import Model
from agentbook.models.retry import RetryPolicy
from agentbook.scheduler import manifest, observers
from agentbook.scheduler.config import DEFAULT_MAX_TOKENS, RunConfig
from agentbook.scheduler.ratelimit import RateLimits
from agentbook.scheduler.records import AgentRecord, ApiCall
from agentbook.scheduler.run import Run
from agentbook.scheduler.transcripts import (
    TranscriptWriter,
    new_run_dir,
    new_session_id,
    read_transcript,
    transcript_path,
)
from agentbook.scheduler.warming import warn_if_uncacheable
from agentbook.scheduler.wiring import GENERAL_PURPOSE_SYSTEM
from agentbook.specs import DEFAULT_MAX_TURNS, AgentSpec, Task
from agentbook.tasks import TaskInput, as_tasks
from agentbook.tools.permissions import Permissions

__all__ = ["load_run", "run_parallel", "start"]

log = logging.getLogger("agentbook")


def run_parallel(
    tasks: Iterable[TaskInput] | Mapping[str, TaskInput],
    *,
    model: Model | str | None = None,
    cwd: str | Path = ".",
    concurrency: int | None = None,
    agents: Mapping[str, AgentSpec] | str | Path | None = None,
    tools: Sequence[str] | None = None,
    max_turns: int = DEFAULT_MAX_TURNS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    permissions: Permissions | None = None,
    permission_mode: str | None = None,
    interactive: bool | None = None,
    hooks: Hooks | None = None,
    retry: RetryPolicy | None = None,
    rate_limits: RateLimits | None = None,
    max_depth: int = 1,
    system: str | None = None,
    run_dir: str | Path | None = None,
    name: str | None = None,
    isolation: str | None = None,
    base: str = "HEAD",
    shared_context: str | None = None,
    warm_cache: bool = False,
    max_result_tokens: int | None = None,
    on_event: Listener | None = None,
    on_end: Callable[[AgentRecord], None] | None = None,
) -> Run:
    """Start one agent per task and return their `Run` at once.

    Each option is a `RunConfig` field, documented there.  Agents run on agentbook's background
    thread, `concurrency` at a time (default: all), sharing one rate-limit gate per model.  With
    `isolation="worktree"` each agent works in its own git worktree of `cwd`, on a branch
    `agentbook/<run>/<task>` from `base` (see `Run.merge`, `Run.cleanup`), and may edit it
    without asking.  `on_event` and `on_end` subscribe before any agent starts.  Bad input raises
    naming the option before anything starts.
    """
    options = dict(locals())
    chosen, on_event, on_end = options.pop("tasks"), options.pop("on_event"), options.pop("on_end")
    return start(chosen, RunConfig.of(**options), on_event=on_event, on_end=on_end)


def start(
    tasks: Iterable[TaskInput] | Mapping[str, TaskInput],
    config: RunConfig,
    *,
    on_event: Listener | None = None,
    on_end: Callable[[AgentRecord], None] | None = None,
) -> Run:
    """Start one agent per task under `config` (already validated) and return the `Run`."""
    chosen = _checked_tasks(tasks, config)
    if config.warm_cache or config.shared_context is not None:
        model = config.model if isinstance(config.model, str) else getattr(config.model, "name", None)
        warn_if_uncacheable(
            model or "offline", config.system or GENERAL_PURPOSE_SYSTEM, config.shared_context
        )
    folder = config.run_dir if config.run_dir is not None else new_run_dir()
    folder.mkdir(parents=True, exist_ok=True)
    run = Run(config, run_dir=folder, session_id=new_session_id(), interactive=_interactive(config))
    if on_event is not None:
        run.on_event(on_event)
    if on_end is not None:
        run.on_end(on_end)
    records = [run.add(task, save=False) for task in chosen]
    run.save()
    _write_main_transcript(run)
    for record in records:
        run.start(record, None, [], config.max_turns)
    return run


def _checked_tasks(tasks: Iterable[TaskInput] | Mapping[str, TaskInput], config: RunConfig) -> list[Task]:
    chosen = as_tasks(tasks)
    names = {t.name for t in chosen}
    for task in chosen:
        if task.agent is not None and task.agent not in config.agents:
            raise ValueError(f"task {task.name!r} names agent {task.agent!r}, which is not defined; "
                             f"defined: {', '.join(config.agents) or 'none'}")  # fmt: skip
        if names & set(task.depends_on):  # a plan's later phases depend on earlier runs: that is fine
            raise ValueError(f"task {task.name!r} depends_on {sorted(names & set(task.depends_on))} of "
                             "the same run, which would start at once: use ab.Plan for them")  # fmt: skip
    if config.run_dir is not None and (config.run_dir / manifest.MANIFEST).exists():
        raise FileExistsError(f"{config.run_dir} holds a run already: continue it with ab.load_run, "
                              "or give another run_dir")  # fmt: skip
    if config.worktrees:
        from agentbook.worktrees import Worktrees

        # A folder that is not a repository, a bad base, a run name git refuses: before any folder.
        name = config.name or (config.run_dir.name if config.run_dir is not None else "check")
        Worktrees(config.cwd, name, base=config.base)
    return chosen


def _interactive(config: RunConfig) -> bool:
    return observers.in_kernel() if config.interactive is None else config.interactive


def _write_main_transcript(run: Run) -> None:
    writer = TranscriptWriter(transcript_path(run.run_dir, run.session_id), session_id=run.session_id)
    tasks = [manifest.task_json(r.task) for r in run.records.values()]
    summary = f"run {run.name}: {', '.join(run.records)}"
    writer.write("system", utcnow(), subtype="agentbook_run", level="info", content=summary,
                 agentbook={"run": run.name, "tasks": tasks})  # fmt: skip
    writer.close()


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
    (else its rules and mode as written), `hooks`; other `RunConfig` options may be overridden.
    An agent whose transcript has no end record (the process died under it) is `failed` with
    that reason; any ended agent can be resumed, in its own worktree.  A manifest that cannot
    be read is named in a warning and the run is rebuilt from its transcripts.
    """
    folder = Path(run_dir)
    given = {
        k: v for k, v in {"model": model, "permissions": permissions, "hooks": hooks}.items() if v is not None
    }
    try:
        found = manifest.read(folder)
    except manifest.ManifestError as exc:
        if not transcript_files(folder):
            raise
        warnings.warn(f"{exc}; the run is rebuilt from its transcripts", stacklevel=2)
        found = _from_transcripts(folder)
    config = RunConfig.from_json(
        {**found.config, "name": found.name, "run_dir": str(folder), "interactive": interactive},
        **given,
        **options,
    )
    run = Run(config, run_dir=folder, session_id=found.session_id, interactive=_interactive(config))
    for name, entry in found.agents.items():
        record = manifest.record_from(name, entry, folder, found.session_id)
        _restore(record)
        run.records[name] = record
    return run


def transcript_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/subagents/agent-*.jsonl"))


def _from_transcripts(folder: Path) -> manifest.Manifest:
    """What the transcripts tell of a run whose manifest is lost: its agents and their tasks."""
    mains = sorted(folder.glob("*.jsonl"))
    prompts: dict[str, dict[str, Any]] = {}
    for main in mains:
        back = read_transcript(main)
        prompts.update(
            {t["name"]: t for t in back.run.get("tasks", []) if isinstance(t, dict) and "name" in t}
        )
    agents: dict[str, dict[str, Any]] = {}
    session = mains[0].stem if mains else ""
    cwd = str(folder)
    for path in transcript_files(folder):
        back = read_transcript(path)
        name = str(back.start.get("agent") or path.stem)
        session, cwd = back.session_id or session, back.cwd or cwd
        task = prompts.get(name, {"name": name, "prompt": "(the task's prompt was lost with run.json)"})
        agents[name] = {"agent_id": path.stem.removeprefix("agent-"), "task": task,
                        "model": back.start.get("model", ""), "depth": name.count("/")}  # fmt: skip
    return manifest.Manifest(folder.name, session, {"cwd": cwd}, agents)


def _restore(record: AgentRecord) -> None:
    if not record.transcript.is_file():
        record.state, record.error = "failed", "no transcript: the agent never started"
        return
    back = read_transcript(record.transcript)
    for problem in back.problems:
        warnings.warn(problem, stacklevel=3)
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
