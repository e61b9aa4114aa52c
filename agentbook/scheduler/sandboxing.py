"""A run's sandbox settings applied to each agent: its `Sandbox`, and what that does to Bash's verdicts.

* `sandbox="auto"` (the default): where bubblewrap works every Bash call is sandboxed; where it
  does not, Bash asks in every mode (headless: is denied), and a warning says why, once.
* `sandbox=True`: a run that cannot sandbox refuses to start (`RuntimeError`, nothing created).
* `sandbox=False`: the explicit opt-out; Bash runs behind the path guard only, as the mode says.

An agent definition's `sandbox` and `network` override the run's.  A sandboxed agent in a worktree
(its own or its parent's) runs Bash without asking, as Claude Code's sandbox auto-allows sandboxed
commands: the isolation is what pays for that autonomy.  Deny and ask rules still apply.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from agentbook.specs import AgentSpec, SandboxSetting
from agentbook.tools.permissions import Verdict
from agentbook.tools.permissions.decide import asking
from agentbook.tools.sandbox import Sandbox, unavailable_reason

__all__ = ["Sandboxing", "check_sandbox", "notice", "sandbox_for", "setting_of"]

log = logging.getLogger("agentbook")
_warned = threading.Event()


@dataclass(frozen=True)
class Sandboxing:
    """How the sandbox changes one agent's Bash verdicts: `auto_allow` turns the mode's `ask`
    into `allow`; `missing` (why there is no sandbox although none was opted out of) turns every
    `allow` into an `ask`."""

    auto_allow: bool = False
    missing: str | None = None

    def judge(self, verdict: Verdict, mode: str) -> Verdict:
        """`verdict` of a Bash call, as the sandbox changes it."""
        if self.missing is not None and verdict.decision == "allow":
            return asking(mode, f"Bash would run without the sandbox ({self.missing})")  # type: ignore[arg-type]
        if self.auto_allow and verdict.decision == "ask" and verdict.rule is None:
            return Verdict("allow", "sandboxed Bash is allowed in the agent's worktree")
        return verdict


def setting_of(default: SandboxSetting, spec: AgentSpec | None) -> SandboxSetting:
    """The agent's sandbox setting: its definition's, else the run's."""
    return spec.sandbox if spec is not None and spec.sandbox is not None else default


def check_sandbox(default: SandboxSetting, specs: list[AgentSpec]) -> None:
    """Before a run starts: `RuntimeError` if a required sandbox cannot run here; the warning
    (once a process) if `"auto"` falls back to asking."""
    settings = {default, *(setting_of(default, s) for s in specs)}
    reason = unavailable_reason() if settings - {False} else None
    if reason is None:
        return
    if True in settings:
        raise RuntimeError(f"sandbox=True, but the sandbox cannot run here: {reason}; nothing was started")
    if not _warned.is_set():
        _warned.set()
        log.warning("agentbook: Bash runs unsandboxed here, so every Bash call needs approval "
                    "(pass sandbox=False to opt out knowingly): %s", reason)  # fmt: skip


def sandbox_for(
    setting: SandboxSetting,
    root: Path,
    *,
    network: bool,
    hidden: tuple[str, ...],
    branch: str | None,
    top: Path | None = None,
) -> tuple[Sandbox | None, Sandboxing]:
    """The agent's `Sandbox` (`None` when opted out or impossible) and its effect on Bash;
    `branch` is its worktree's branch (`None`: it works in no worktree) and `top` that
    worktree's top folder when `root` is a subfolder of it (all of it is the agent's, and git
    there needs its `.git`)."""
    if setting is False:
        return None, Sandboxing()
    reason = unavailable_reason()
    if reason is not None:
        return None, Sandboxing(missing=reason)
    inside = None if top is None or top == root else root
    sandbox = Sandbox(top or root, network=network, hidden=hidden, branch=branch, cwd=inside)
    return sandbox, Sandboxing(auto_allow=branch is not None)


def notice(setting: SandboxSetting) -> str | None:
    """What a board says about a run's sandbox when it is not on: `None` when it is."""
    if setting is False:
        return "Bash runs without the sandbox (sandbox=False)"
    reason = unavailable_reason()
    return None if reason is None else f"Bash asks before every call: no sandbox here ({reason})"
