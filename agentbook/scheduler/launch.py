"""Starting runs: `run_parallel` (a new run) and `load_run` (a run rebuilt from its folder).

Both validate everything first, through `RunConfig` and `as_tasks`: bad input raises naming the
problem, and then nothing has started and no run folder has been created.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agentbook.agent.hooks import Hooks
from agentbook.budgets import Budget
from agentbook.events import Listener, utcnow
from agentbook.models import Model, get_model, is_configured
from agentbook.models.base import check_credentials
from agentbook.models.batch_lane import has_batches
from agentbook.models.lanes import Lane, is_batch
from agentbook.models.retry import RetryPolicy
from agentbook.scheduler import manifest, observers
from agentbook.scheduler.batching import lane_of
from agentbook.scheduler.claude_settings import apply_settings, bind_hooks
from agentbook.scheduler.cluster import cluster_client
from agentbook.scheduler.config import DEFAULT_MAX_TOKENS, RunConfig
from agentbook.scheduler.ratelimit import RateLimits
from agentbook.scheduler.records import AgentRecord
from agentbook.scheduler.run import Run
from agentbook.scheduler.sandboxing import check_sandbox
from agentbook.scheduler.transcripts import (
    TranscriptWriter,
    new_run_dir,
    new_session_id,
    transcript_path,
)
from agentbook.scheduler.warming import warn_if_uncacheable
from agentbook.scheduler.wiring import GENERAL_PURPOSE_SYSTEM
from agentbook.specs import DEFAULT_MAX_TURNS, AgentSpec, NetworkSetting, SandboxSetting, Task
from agentbook.tasks import TaskInput, as_tasks
from agentbook.tools.permissions import Permissions

__all__ = ["check_models", "run_parallel", "start"]

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
    compact_at_tokens: int | None = None,
    sandbox: SandboxSetting = "auto",
    network: NetworkSetting = "off",
    hidden_paths: Sequence[str] = (),
    settings: str | Path | None = None,
    budget: Budget | None = None,
    lane: Lane = "standard",
    cluster: Any = None,
    on_event: Listener | None = None,
    on_end: Callable[[AgentRecord], None] | None = None,
) -> Run:
    """Start one agent per task and return their `Run` at once.

    Each option is a `RunConfig` field, documented there.  Agents run on agentbook's background
    thread (or a Dask `cluster`'s workers), `concurrency` at a time (default: all), sharing one
    rate-limit gate per model.  With `isolation="worktree"` each agent works in its own git
    worktree of `cwd`, on a branch `agentbook/<run>/<task>` from `base` (see `Run.merge`), and
    may edit it without asking.  Every Bash call runs in a bubblewrap sandbox (`sandbox`,
    `network`, `hidden_paths`); in a worktree, it needs no approval either.  `on_event` and
    `on_end` subscribe before any agent starts.  Bad input raises before anything starts."""
    options = dict(locals())
    chosen, on_event, on_end = options.pop("tasks"), options.pop("on_event"), options.pop("on_end")
    command_hooks = apply_settings(options)
    prepare = None if command_hooks is None else functools.partial(bind_hooks, command_hooks)
    return start(chosen, RunConfig.of(**options), on_event=on_event, on_end=on_end, prepare=prepare)


def start(
    tasks: Iterable[TaskInput] | Mapping[str, TaskInput],
    config: RunConfig,
    *,
    on_event: Listener | None = None,
    on_end: Callable[[AgentRecord], None] | None = None,
    prepare: Callable[[Run], None] | None = None,
) -> Run:
    """Start one agent per task under `config` (already validated) and return the `Run`;
    `prepare(run)` runs once the run exists, before any agent starts."""
    chosen = _checked_tasks(tasks, config)
    if config.warm_cache or config.shared_context is not None:
        model = config.model if isinstance(config.model, str) else getattr(config.model, "name", None)
        warn_if_uncacheable(
            model or "offline", config.system or GENERAL_PURPOSE_SYSTEM, config.shared_context
        )
    client = cluster_client(config)
    folder = config.run_dir if config.run_dir is not None else new_run_dir()
    folder.mkdir(parents=True, exist_ok=True)
    run = Run(config, run_dir=folder, session_id=new_session_id(), interactive=_interactive(config))
    if client is not None:
        from agentbook.scheduler.cluster.remote import RemoteAgents

        run.remote = RemoteAgents(run, client)
    if on_event is not None:
        run.on_event(on_event)
    if on_end is not None:
        run.on_end(on_end)
    records = [run.add(task, save=False) for task in chosen]
    run.save()
    _write_main_transcript(run)
    if prepare is not None:
        prepare(run)
    run.start_all(records, config.max_turns)
    return run


def check_models(tasks: Sequence[Task], config: RunConfig) -> None:
    """The run's model and every model the tasks will use can sign their requests:
    `MissingCredentials` before anything starts, naming what to set."""
    for key in {None} | {t.model or (config.agents[t.agent].model if t.agent else None) for t in tasks}:
        if key is not None:
            check_credentials(get_model(key))
        else:
            check_credentials(config.model if isinstance(config.model, Model) else get_model(config.model))


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
    check_sandbox(config.sandbox, list(config.agents.values()))
    check_models(chosen, config)
    _check_batch_lane(config, chosen)
    if config.run_dir is not None and (config.run_dir / manifest.MANIFEST).exists():
        raise FileExistsError(f"{config.run_dir} holds a run already: continue it with ab.load_run, "
                              "or give another run_dir")  # fmt: skip
    if config.worktrees:
        from agentbook.worktrees import Worktrees

        # A folder that is not a repository, a bad base, a run name git refuses: before any folder.
        name = config.name or (config.run_dir.name if config.run_dir is not None else None)
        trees = Worktrees(config.cwd, name or "check", base=config.base)
        if trees.ignores(config.cwd):
            raise ValueError(f"cwd {config.cwd} is a folder git ignores: an agent's files there would "
                             "never be committed on its branch; give a folder git tracks")  # fmt: skip
        taken = trees.branches() if name is not None else []  # a new run folder's name is new
        if taken:
            raise ValueError(
                f"run name {name!r} is taken in {trees.repo}: {len(taken)} branch(es) of an earlier "
                f"run exist ({', '.join(taken[:3])}{', ...' if len(taken) > 3 else ''}); give another "
                "name, continue that run with ab.load_run, or delete its branches"
            )
    return chosen


def _check_batch_lane(config: RunConfig, tasks: list[Task]) -> None:
    """The batch lane needs the Anthropic API: say so before anything starts."""
    if not any(is_batch(lane_of(t, config.lane)) for t in tasks):
        return
    model = config.model
    if model is None and not is_configured():
        model = "offline"
    if isinstance(model, str) and model.strip().lower() == "offline":
        raise ValueError("lane='batch' needs the Anthropic API; the offline model has no Message Batches")
    if model is not None and not isinstance(model, str) and not has_batches(model):
        raise ValueError(f"lane='batch' needs the Anthropic API; {model.description} has no Message Batches")


def _interactive(config: RunConfig) -> bool:
    return observers.in_kernel() if config.interactive is None else config.interactive


def _write_main_transcript(run: Run) -> None:
    writer = TranscriptWriter(transcript_path(run.run_dir, run.session_id), session_id=run.session_id)
    tasks = [manifest.task_json(r.task) for r in run.records.values()]
    summary = f"run {run.name}: {', '.join(run.records)}"
    # The config as well: if run.json is lost, `load_run` rebuilds the run from here, isolation
    # and permissions included.
    writer.write("system", utcnow(), subtype="agentbook_run", level="info", content=summary,
                 agentbook={"run": run.name, "tasks": tasks, "config": run.config.to_json()})  # fmt: skip
    writer.close()
