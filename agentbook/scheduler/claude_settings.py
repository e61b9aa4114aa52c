"""Claude Code's settings on a run (`run_parallel(settings=...)`): their rules and mode merged into
the run's options, their command hooks (`agentbook.agent.command_hooks`) told what each agent's
payload says and notified of permission asks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agentbook.agent.command_hooks import CommandHooks
from agentbook.agent.hooks import Hooks
from agentbook.events import AgentEvent, PermissionAsked
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.records import AgentRecord
from agentbook.scheduler.run import Run
from agentbook.settings import SettingsError, read_settings
from agentbook.tools.agent import GENERAL_PURPOSE
from agentbook.tools.permissions import Permissions

__all__ = ["apply_settings", "bind_hooks", "reread_hooks"]

log = logging.getLogger("agentbook")


def bind_hooks(hooks: CommandHooks, run: Run) -> None:
    """Tell the command hooks what their payloads say of `run`'s agents (Claude Code's fields: a
    sub-agent's session and transcript are its top agent's), and notify them of permission asks."""

    def top(agent: str) -> AgentRecord | None:
        record = run.records.get(agent)
        while record is not None and record.parent is not None and record.parent in run.records:
            record = run.records[record.parent]
        return record

    def context(agent: str) -> dict[str, Any]:
        record, mine = top(agent), run.records.get(agent)
        return {
            "session_id": run.session_id,
            "transcript_path": str(record.transcript) if record is not None else "",
            "cwd": str(mine.root if mine is not None and mine.root else run.config.cwd),
            "permission_mode": run.config.permission_mode,
        }

    def subagent(agent: str) -> dict[str, Any] | None:
        record = run.records.get(agent)
        if record is None or record.parent is None:
            return None
        kind = record.task.agent or GENERAL_PURPOSE
        return {"agent_id": record.name, "agent_type": kind, "agent_transcript_path": str(record.transcript)}

    def asked(event: AgentEvent) -> None:
        if isinstance(event, PermissionAsked):
            hooks.notify(event.agent, f"Claude needs your permission to use {event.call.name}")

    hooks.bind(context, subagent)
    run.on_event(asked)


def apply_settings(options: dict[str, Any]) -> CommandHooks | None:
    """Claude Code's settings (`options["settings"]`: a path, or "project") merged into `options`:
    their rules after the given ones, their `defaultMode` unless a mode or permissions were given,
    their command hooks after the given hooks (`agentbook.agent.command_hooks`); the source kept
    as an absolute path, so that `load_run` finds it again (`reread_hooks`)."""
    source = options["settings"]
    if source is None:
        return None
    cwd = Path(options["cwd"]).expanduser().resolve()
    if source != "project":
        options["settings"] = str(Path(source).expanduser().resolve())
    read = read_settings(source, cwd)
    given: Permissions = options["permissions"] or Permissions()
    if options["permission_mode"] is None and options["permissions"] is None and read.default_mode:
        options["permission_mode"] = read.default_mode
    try:
        options["permissions"] = Permissions(
            allow=[*given.allow, *read.allow], ask=[*given.ask, *read.ask], deny=[*given.deny, *read.deny],
            mode=options["permission_mode"] or given.mode,
        )  # fmt: skip
    except ValueError as exc:
        raise SettingsError(f"{', '.join(map(str, read.sources))}: {exc}") from None
    if read.ignored:
        log.info("settings: hook events agentbook does not run yet: %s", ", ".join(read.ignored))
    command_hooks = CommandHooks(read, cwd)
    options["hooks"] = _joined(options["hooks"] or Hooks(), command_hooks.hooks())
    return command_hooks


def reread_hooks(config: RunConfig) -> tuple[RunConfig, CommandHooks | None]:
    """For `load_run`: the command hooks of the settings the run read (`config.settings`), read
    again and joined to `config.hooks` (their rules are in `config.permissions` already).
    `SettingsError` or `FileNotFoundError` naming the file when it cannot be read: a resumed
    agent must not run without the guard it had (`load_run(..., settings=None)` to go on without)."""
    if config.settings is None:
        return config, None
    command_hooks = CommandHooks(read_settings(config.settings, config.cwd), config.cwd)
    return RunConfig.of(config, hooks=_joined(config.hooks, command_hooks.hooks())), command_hooks


def _joined(mine: Hooks, theirs: Hooks) -> Hooks:
    return Hooks(
        pre_tool=[*mine.pre_tool, *theirs.pre_tool], post_tool=[*mine.post_tool, *theirs.post_tool],
        on_start=[*mine.on_start, *theirs.on_start], on_end=[*mine.on_end, *theirs.on_end],
        before_stop=[*mine.before_stop, *theirs.before_stop],
    )  # fmt: skip
