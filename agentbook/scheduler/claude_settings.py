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
from agentbook.scheduler.records import AgentRecord
from agentbook.scheduler.run import Run
from agentbook.settings import SettingsError, read_settings
from agentbook.tools.agent import GENERAL_PURPOSE
from agentbook.tools.permissions import Permissions

__all__ = ["apply_settings", "bind_hooks"]

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


def apply_settings(options: dict[str, Any], source: str | Path | None) -> CommandHooks | None:
    """Claude Code's settings (`settings=`: a path, or "project") merged into `options`: their
    rules after the given ones, their `defaultMode` unless a mode or permissions were given, their
    command hooks after the given hooks (`agentbook.agent.command_hooks`)."""
    if source is None:
        return None
    cwd = Path(options["cwd"]).expanduser().resolve()
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
    mine, theirs = options["hooks"] or Hooks(), command_hooks.hooks()
    options["hooks"] = Hooks(
        pre_tool=[*mine.pre_tool, *theirs.pre_tool], post_tool=[*mine.post_tool, *theirs.post_tool],
        on_start=[*mine.on_start, *theirs.on_start], on_end=[*mine.on_end, *theirs.on_end],
    )  # fmt: skip
    return command_hooks
