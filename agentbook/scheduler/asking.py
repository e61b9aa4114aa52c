"""The permission check before each tool call, and the ask flow when a rule says "ask".

An `ask` verdict waits in `Run.pending` as a `PermissionRequest` until someone approves or denies
it (a notebook's buttons, or code) when the run is interactive; a headless run denies it at once
and says so.  A worktree agent in the `default` mode may edit its own worktree without asking:
the worktree is the boundary, and its branch is reviewed before merging (deny and ask rules
still apply; Bash keeps following the mode).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agentbook.events import AgentEvent, PermissionAnswered, PermissionAsked
from agentbook.messages import ToolUse
from agentbook.scheduler.records import AgentRecord
from agentbook.scheduler.sandboxing import Sandboxing
from agentbook.specs import EDIT_TOOLS
from agentbook.tools.permissions import Permissions, Verdict

__all__ = ["Asking", "PermissionRequest", "worktree_edits"]

log = logging.getLogger("agentbook")


@dataclass
class PermissionRequest:
    """A tool call waiting for an answer; `approve()`, `approve_always()` or `deny()` it."""

    agent: str
    call: ToolUse
    reason: str
    _future: asyncio.Future[str] = field(repr=False)

    def approve(self) -> None:
        self._answer("allow")

    def approve_always(self) -> None:
        self._answer("always")

    def deny(self) -> None:
        self._answer("deny")

    def _answer(self, decision: str) -> None:
        def settle() -> None:
            if not self._future.done():
                self._future.set_result(decision)

        self._future.get_loop().call_soon_threadsafe(settle)


def worktree_edits(permissions: Permissions) -> Permissions | None:
    """The permissions that judge a worktree agent's Edit and Write calls: acceptEdits inside
    its worktree when it runs in the `default` mode; `None` (its own permissions) otherwise."""
    return permissions.with_mode("acceptEdits") if permissions.mode == "default" else None


class Asking:
    """A run's permission checks: `authorize` judges one call and, for an `ask`, waits for an
    answer in `pending` when `interactive`."""

    def __init__(
        self,
        permissions: Permissions,
        interactive: bool,
        dispatch: Callable[[AgentRecord, AgentEvent], None],
    ) -> None:
        self.permissions = permissions
        self.interactive = interactive
        self.pending: list[PermissionRequest] = []
        self._dispatch = dispatch

    async def authorize(
        self,
        record: AgentRecord,
        permissions: Permissions,
        call: ToolUse,
        edits: Permissions | None = None,
        sandboxing: Sandboxing | None = None,
    ) -> str | None:
        """`None` to let `call` run, else the reason it is denied.  `edits` judges Edit and Write
        calls that `permissions` would ask about (see `worktree_edits`); `sandboxing` changes
        Bash verdicts as the agent's sandbox allows (see `agentbook.scheduler.sandboxing`)."""
        # Judged where the agent's tools work (its worktree, say), so that rules anchored at the
        # root and "inside the root" mean the files the call really touches.
        root = record.root or Path.cwd()
        try:
            verdict = _judge(permissions, call, root, edits)
            if sandboxing is not None and call.name == "Bash":
                verdict = sandboxing.judge(verdict, permissions.mode)
        except Exception as exc:  # a bug in the rules engine must deny the call, not end the agent
            log.exception("agent %s: the permission check of %s failed", record.name, call.name)
            return f"Permission check failed ({type(exc).__name__}); denied."
        if verdict.decision == "allow":
            return None
        if verdict.decision == "deny":
            return f"Permission denied: {verdict.reason}"
        if not self.interactive:
            return f"Permission needed ({verdict.reason}); nobody can approve it in a headless run: denied."
        answer = await self._ask(record, call, verdict.reason)
        if answer == "always":
            rule = permissions.allow_always(call.name, call.input, root)
            if permissions is not self.permissions:
                self.permissions.allow_always(call.name, call.input, root)
            log.info("agent %s: always allowing %s", record.name, rule)
        return "The user denied this tool call." if answer == "deny" else None

    async def _ask(self, record: AgentRecord, call: ToolUse, reason: str) -> str:
        request = PermissionRequest(record.name, call, reason, asyncio.get_running_loop().create_future())
        self.pending.append(request)
        self._dispatch(record, PermissionAsked(agent=record.name, call=call, reason=reason))
        try:
            answer = await request._future
        finally:
            self.pending.remove(request)
        self._dispatch(record, PermissionAnswered(agent=record.name, call=call, decision=answer))  # type: ignore[arg-type]
        return answer


def _judge(permissions: Permissions, call: ToolUse, root: Path, edits: Permissions | None) -> Verdict:
    verdict = permissions.decide(call.name, call.input, root)
    if verdict.decision == "ask" and edits is not None and call.name in EDIT_TOOLS:
        return edits.decide(call.name, call.input, root)
    return verdict
