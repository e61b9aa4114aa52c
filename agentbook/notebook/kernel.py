"""Kernel interrupts reach background agents.

Agents run on agentbook's own thread, so a kernel interrupt (the notebook's stop button,
`KeyboardInterrupt`) would not touch them by itself.  `install()` makes it do so, in both of a
kernel's states:

* while a cell runs, the interrupt raises `KeyboardInterrupt` in it; a `post_run_cell` callback
  sees that and cancels every active run (interrupting `run.wait()` does the same on its own);
* while the kernel is idle, ipykernel ignores SIGINT (it restores the handler it saved before each
  cell); we put our handler in that saved slot, so an idle interrupt cancels the runs too.

Only the notebook edge imports IPython; the scheduler calls `install()` when it finds itself in
a kernel.  Installing twice is harmless.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

__all__ = ["cancel_active_runs", "install"]

log = logging.getLogger("agentbook")
_installed: set[int] = set()


def cancel_active_runs(reason: str) -> int:
    """Cancel every run of the process that still has agents working; returns how many."""
    from agentbook.scheduler.run import active_runs

    active = active_runs()
    for run in active:
        run.cancel()
    if active:
        log.warning("agentbook: %s: cancelled %d run(s)", reason, len(active))
    return len(active)


def _on_idle_interrupt(signum: int, frame: FrameType | None) -> None:
    cancel_active_runs("kernel interrupted while idle")


def _after_cell(result: Any) -> None:
    if isinstance(getattr(result, "error_in_exec", None), KeyboardInterrupt):
        cancel_active_runs("kernel interrupted")


def install(shell: Any) -> None:
    """Make interrupts of `shell`'s kernel cancel agentbook's active runs."""
    if shell is None or id(shell) in _installed:
        return
    _installed.add(id(shell))
    shell.events.register("post_run_cell", _after_cell)
    kernel = getattr(shell, "kernel", None)
    # ipykernel restores this handler after each cell: the idle-time SIGINT handler.
    if kernel is not None and getattr(kernel, "saved_sigint_handler", None) in (signal.SIG_IGN, None):
        kernel.saved_sigint_handler = _on_idle_interrupt
