"""The permission modes as data: what a tool call gets when no rule decides it.

`policy.Permissions` reads `MODE_TABLE` through `by_mode` after its rules found nothing, and
`asking` whenever it would ask (dontAsk mode denies instead).  The table is the whole mode
semantics for unmatched calls; what the modes mean for users is in docs/permissions.md ("Modes").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

from agentbook.specs import EDIT_TOOLS, PermissionMode
from agentbook.tools.permissions.call import COORDINATION_TOOLS, READ_ONLY_TOOLS, Call
from agentbook.tools.permissions.paths import inside, protected
from agentbook.tools.permissions.rules import Rule

__all__ = ["MODE_TABLE", "Decision", "ToolKind", "Verdict", "asking", "by_mode", "tool_kind"]

Decision: TypeAlias = Literal["allow", "ask", "deny"]
ToolKind: TypeAlias = Literal["read", "edit", "run"]


@dataclass(frozen=True)
class Verdict:
    """The decision for one tool call, why it was taken, and the rule that took it (if a rule did)."""

    decision: Decision
    reason: str
    rule: Rule | None = None


# An outcome is a decision with its reason (formatted with the tool, the mode and a detail), or
# "edits": the path checks of `_auto_edit` (inside the root for acceptEdits, never protected).
_Fixed: TypeAlias = tuple[Decision, str]
_Outcome: TypeAlias = "_Fixed | Literal['edits']"
_ALLOWED: _Fixed = ("allow", "{tool} is allowed in every mode")
_ASKS: _Fixed = ("ask", "{tool} needs approval in {mode} mode{detail}")
_PLAN_DENIES: _Fixed = ("deny", "plan mode cannot modify files or run commands: {tool} denied{detail}")
_DONT_ASK_DENIES: _Fixed = ("deny", "dontAsk mode denies {tool}: it would need approval{detail}")
_BYPASS_ALLOWS: _Fixed = ("allow", "{tool} is allowed in bypassPermissions mode")

# mode x tool kind -> outcome.  "read": Read, Glob, Grep and Agent; "edit": Edit and Write;
# "run": Bash and every tool we do not know (its effects are unknown, so it is judged like Bash).
MODE_TABLE: Mapping[PermissionMode, Mapping[ToolKind, _Outcome]] = {
    "default":           {"read": _ALLOWED, "edit": _ASKS,            "run": _ASKS},
    "acceptEdits":       {"read": _ALLOWED, "edit": "edits",          "run": _ASKS},
    "plan":              {"read": _ALLOWED, "edit": _PLAN_DENIES,     "run": _PLAN_DENIES},
    "dontAsk":           {"read": _ALLOWED, "edit": _DONT_ASK_DENIES, "run": _DONT_ASK_DENIES},
    "bypassPermissions": {"read": _ALLOWED, "edit": "edits",          "run": _BYPASS_ALLOWS},
}  # fmt: skip


def tool_kind(tool: str) -> ToolKind:
    """The row of `MODE_TABLE` a tool's calls are read in."""
    if tool in READ_ONLY_TOOLS or tool in COORDINATION_TOOLS:
        return "read"
    return "edit" if tool in EDIT_TOOLS else "run"


def by_mode(call: Call, mode: PermissionMode, detail: str = "") -> Verdict:
    """The verdict for `call` when no rule matched it: `MODE_TABLE`'s entry."""
    outcome = MODE_TABLE[mode][tool_kind(call.tool)]
    if outcome == "edits":
        return _auto_edit(call, mode)
    decision, reason = outcome
    return Verdict(decision, reason.format(tool=call.tool, mode=mode, detail=detail))


def asking(mode: PermissionMode, reason: str, rule: Rule | None = None) -> Verdict:
    """An `ask` verdict -- or, in dontAsk mode, the `deny` it turns into."""
    if mode == "dontAsk":
        return Verdict("deny", f"{reason}, and dontAsk mode denies instead of asking", rule)
    return Verdict("ask", reason, rule)


def _auto_edit(call: Call, mode: PermissionMode) -> Verdict:
    """Edit/Write under acceptEdits or bypassPermissions, which approve most edits by themselves."""
    tool, target = call.tool, call.target
    if target is None:
        return Verdict("ask", f"{tool} without a file path needs approval")
    if protected(target.real, call.root):
        return Verdict("ask", f"{tool} of protected path {target.real} needs approval in {mode} mode")
    if mode == "acceptEdits" and not inside(target.real, call.root):
        return Verdict("ask", f"{tool} outside the root needs approval in acceptEdits mode")
    where = " inside the root" if mode == "acceptEdits" else ""
    return Verdict("allow", f"{tool} is allowed{where} in {mode} mode")
