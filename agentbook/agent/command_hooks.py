"""Claude Code's command hooks (from `settings.json`, see `agentbook.settings`) as `Hooks`.

Each hook is a shell command run on the host, as Claude Code runs it (the user's own
configuration, not the agent's: no sandbox), in the project folder with `CLAUDE_PROJECT_DIR` set,
given Claude Code's JSON on stdin: `session_id`, `transcript_path`, `cwd`, `permission_mode`,
`hook_event_name`, and per event `tool_name`, `tool_input`, `tool_use_id` (`PreToolUse`), also
`tool_response` (`PostToolUse`), `stop_hook_active` (`Stop`, when an agent gives its final answer), or
`agent_id`, `agent_type` and, at its final answer, `agent_transcript_path` and
`stop_hook_active` (`SubagentStart`, `SubagentStop`, for an agent the Agent tool started), or
`message` (`Notification`, when a tool call waits for permission).

A `PreToolUse` hook that exits 2 blocks the call, and the model sees the hook's stderr as the
reason; one that exits 0 may print `{"hookSpecificOutput": {"permissionDecision": "deny",
"permissionDecisionReason": "..."}}` (or the older `{"decision": "block", "reason": "..."}`) to
the same effect; `"ask"` denies too (a hook cannot reach a person here yet), `"allow"` leaves the
call to the permission rules.  No `PostToolUse` hook runs for a blocked call (one still runs for a call the
permission rules denied: it sees the denial as an error result).  Any other exit, a timeout or a
command that cannot start is logged and does not block, as in Claude Code.  A hook's process group
ends with it: on a timeout, when its agent is cancelled, and whatever it left running.

A `PostToolUse` hook that exits 2 (its stderr), or prints `{"decision": "block", "reason": ...}`
or `{"hookSpecificOutput": {"additionalContext": ...}}`, gives the model feedback after the call's
result (the call has run).  A `Stop` (`SubagentStop`) hook that exits 2 (its stderr) or prints
`{"decision": "block", "reason": ...}` keeps the agent going with that reason as its next user
message, and runs again at its next final answer with `stop_hook_active: true`, as in Claude Code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agentbook.agent.hooks import Hooks
from agentbook.messages import ToolResult, ToolUse
from agentbook.redact import redact
from agentbook.settings import ClaudeSettings, HookCommand

__all__ = ["CommandHooks"]

log = logging.getLogger("agentbook")

Context = Callable[[str], Mapping[str, Any]]
"""An agent's name -> the payload fields every event shares (session, transcript, cwd, mode)."""
Subagent = Callable[[str], "Mapping[str, Any] | None"]
"""An agent's name -> its `agent_id`, `agent_type`, `agent_transcript_path`; `None` for an agent of
the run itself (not one the Agent tool started)."""

BLOCK = 2
OUTPUT_CAP = 10_000
"""Characters of what a hook says that are kept (Bash output has its own, larger cap)."""
PARSE_CAP = 1_000_000
"""Characters of a hook's stdout read to parse its JSON (what it says in it is then cut)."""


class CommandHooks:
    """The command hooks of `settings`, run in `project`; `hooks()` gives them as `Hooks`, and
    `bind(context)` says, once the run exists, what each agent's payload carries."""

    def __init__(self, settings: ClaudeSettings, project: Path) -> None:
        self.settings = settings
        self.project = project
        self._context: Context = lambda agent: {"session_id": agent, "cwd": str(project)}
        self._subagent: Subagent = lambda agent: None
        self._blocked: set[tuple[str, str]] = set()  # (agent, call id) a PreToolUse hook blocked
        self._notifying: set[asyncio.Task[None]] = set()

    def bind(self, context: Context, subagent: Subagent) -> None:
        self._context, self._subagent = context, subagent

    def hooks(self) -> Hooks:
        """Empty lists for the events the settings have no hook for, so none costs a call."""
        has = self.settings.hooks
        return Hooks(
            pre_tool=[self._pre_tool] if has.get("PreToolUse") else [],
            post_tool=[self._post_tool] if has.get("PostToolUse") else [],
            on_start=[self._started] if has.get("SubagentStart") else [],
            before_stop=[self._stopping] if has.get("Stop") or has.get("SubagentStop") else [],
        )

    def notify(self, agent: str, message: str) -> None:
        """Run the `Notification` hooks in the background (called from an event listener, on the
        agents' loop: a hook must not hold up the agent that waits for an answer)."""
        if not self.settings.hooks.get("Notification"):
            return
        task = asyncio.get_running_loop().create_task(self._notification(agent, message))
        self._notifying.add(task)
        task.add_done_callback(self._notifying.discard)

    async def _notification(self, agent: str, message: str) -> None:
        for command in self._commands("Notification", None):
            await self._run(command, agent, "Notification", {"message": message})

    async def _pre_tool(self, agent: str, call: ToolUse) -> str | None:
        payload = {"tool_name": call.name, "tool_input": dict(call.input), "tool_use_id": call.id}
        for command in self._commands("PreToolUse", call.name):
            code, out, err = await self._run(command, agent, "PreToolUse", payload)
            denial = _denial(out) if code == 0 else None
            if code == BLOCK:
                denial = err.strip() or f"blocked by the PreToolUse hook {command.command!r}"
            if denial is not None:
                self._blocked.add((agent, call.id))
                return denial
        return None

    async def _post_tool(self, agent: str, call: ToolUse, result: ToolResult) -> str | None:
        if (agent, call.id) in self._blocked:
            self._blocked.discard((agent, call.id))
            return None
        payload = {"tool_name": call.name, "tool_input": dict(call.input), "tool_use_id": call.id,
                   "tool_response": {"content": result.content, "is_error": result.is_error}}  # fmt: skip
        said = [
            await self._said(command, agent, "PostToolUse", payload)
            for command in self._commands("PostToolUse", call.name)
        ]
        return "\n".join(s for s in said if s) or None

    async def _started(self, agent: str) -> None:
        sub = self._subagent(agent)
        if sub is not None:
            fields = {"agent_id": sub["agent_id"], "agent_type": sub["agent_type"]}
            for command in self._commands("SubagentStart", sub["agent_type"]):
                await self._run(command, agent, "SubagentStart", fields)

    async def _stopping(self, agent: str, text: str, active: bool) -> str | None:
        sub = self._subagent(agent)
        event = "Stop" if sub is None else "SubagentStop"
        fields: dict[str, Any] = {"stop_hook_active": active, **(sub or {})}
        for command in self._commands(event, None):
            reason = await self._said(command, agent, event, fields)
            if reason:
                return reason
        return None

    async def _said(
        self, command: HookCommand, agent: str, event: str, fields: Mapping[str, Any]
    ) -> str | None:
        """What a `PostToolUse` or `Stop` hook tells the model: its stderr when it exits 2, or its
        JSON output's block reason or additional context when it exits 0; else `None`."""
        code, out, err = await self._run(command, agent, event, fields)
        if code == BLOCK:
            return err.strip() or f"the {event} hook {command.command!r} blocked"
        return _feedback(out) if code == 0 else None

    def _commands(self, event: str, tool: str | None) -> list[HookCommand]:
        groups = self.settings.hooks.get(event, ())
        return [c for g in groups if tool is None or _matches(g.matcher, tool) for c in g.commands]

    async def _run(
        self, command: HookCommand, agent: str, event: str, fields: Mapping[str, Any]
    ) -> tuple[int | None, str, str]:
        """(exit code, stdout, stderr: each capped, stderr redacted); the code is `None` when it
        timed out or could not start.  Done when the hook exits, even if a child it left running
        still holds its output open."""
        payload = json.dumps({**self._context(agent), "hook_event_name": event, **fields}).encode()
        env = {**os.environ, "CLAUDE_PROJECT_DIR": str(self.project)}
        try:
            process = await asyncio.create_subprocess_exec(
                "bash", "-c", command.command, cwd=self.project, env=env, start_new_session=True,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except OSError as exc:
            log.warning("agent %s: the %s hook %r could not start: %s", agent, event, command.command, exc)
            return None, "", ""
        assert process.stdin and process.stdout and process.stderr
        readers = [asyncio.ensure_future(_read_capped(process.stdout, PARSE_CAP)),
                   asyncio.ensure_future(_read_capped(process.stderr, OUTPUT_CAP))]  # fmt: skip
        try:
            await asyncio.wait_for(_feed_and_wait(process, payload), command.timeout_s)
        except TimeoutError:
            log.warning("agent %s: the %s hook %r timed out after %g s", agent, event, command.command,
                        command.timeout_s)  # fmt: skip
            return None, "", ""
        finally:  # exited, timed out, or its agent was cancelled: what it left running goes too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            try:
                out, err = await asyncio.wait_for(asyncio.gather(*readers), 2.0)
            except TimeoutError:  # a child that left the hook's process group holds the pipes
                out, err = "", ""
        errors = redact(err)
        if process.returncode not in (0, BLOCK):
            log.warning("agent %s: the %s hook %r exited %s: %s", agent, event, command.command,
                        process.returncode, errors.strip()[:500])  # fmt: skip
        elif process.returncode == BLOCK and event != "PreToolUse":
            log.warning(
                "agent %s: the %s hook %r said: %s", agent, event, command.command, errors.strip()[:500]
            )
        return process.returncode, out, errors


async def _feed_and_wait(process: asyncio.subprocess.Process, payload: bytes) -> None:
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a hook need not read it
        process.stdin.write(payload)
        await process.stdin.drain()
        process.stdin.close()
    # Not `process.wait()`: asyncio's waits for the output pipes to close too, which a child the
    # hook left running keeps open; the exit code is known as soon as the hook itself exits.
    while process.returncode is None:
        await asyncio.sleep(0.01)


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> str:
    """What `stream` says, at most `cap` characters kept: the rest is read and dropped, so a
    flooding hook neither blocks nor fills memory."""
    kept = bytearray()
    while chunk := await stream.read(65536):
        kept += chunk[: max(0, cap - len(kept))]
    return _cut(kept.decode(errors="replace"), cap)


def _cut(text: str, cap: int = OUTPUT_CAP) -> str:
    return text if len(text) <= cap else text[:cap] + f"\n[... cut at {cap:,} characters]"


def _matches(matcher: str, tool: str) -> bool:
    """Claude Code's matcher: empty or `*` is every tool, else a regular expression on the name."""
    if matcher in ("", "*"):
        return True
    try:
        return re.fullmatch(matcher, tool) is not None
    except re.error:
        return matcher == tool


def _output(stdout: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A hook's JSON output and its `hookSpecificOutput` (`{}` when none); `None` when it printed
    no JSON object."""
    try:
        data = json.loads(stdout) if stdout.strip().startswith("{") else None
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    specific = data.get("hookSpecificOutput")
    return data, specific if isinstance(specific, dict) else {}


def _feedback(stdout: str) -> str | None:
    """A block reason or additional context in a hook's JSON output (redacted)."""
    parsed = _output(stdout)
    if parsed is None:
        return None
    data, specific = parsed
    context = specific.get("additionalContext")
    said = str(data.get("reason") or "") if data.get("decision") == "block" else ""
    return _cut(redact("\n".join(s for s in (said, str(context or "")) if s))) or None


def _denial(stdout: str) -> str | None:
    """The reason a hook's JSON output denies the call with, if it does."""
    parsed = _output(stdout)
    if parsed is None:
        return None
    data, specific = parsed
    decision, reason = specific.get("permissionDecision"), specific.get("permissionDecisionReason")
    if decision == "deny":
        return _cut(redact(str(reason or "denied by a PreToolUse hook")))
    if decision == "ask":  # safer refused than let through: a hook's ask reaches nobody here yet
        return _cut(redact(f"a PreToolUse hook asks for approval ({reason or 'no reason given'}); denied"))
    if data.get("decision") == "block":
        return _cut(redact(str(data.get("reason") or "blocked by a PreToolUse hook")))
    return None
