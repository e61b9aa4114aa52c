"""Ending every agent when the process ends, so that nothing outlives it and nothing is lost.

Agents run on a daemon thread, which the interpreter would simply drop at exit: their Bash
commands orphaned, their transcripts without an end record.  So at interpreter exit (a script's
end, a kernel's shutdown) and on SIGTERM, every run still working is cancelled and given a few
seconds to write its end records; cancelling kills each Bash sandbox, and with it every process
in it (`setsid` and `nohup` ones included: they share its PID namespace).  A SIGTERM handler is
installed only in place of the default one, from the main thread; it then re-sends SIGTERM
to end the process as the signal would have.  Commands still running after the grace are killed
(`agentbook.tools.shell.kill_all`); a process killed outright takes its sandboxes with it
(bubblewrap's `--die-with-parent`).
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
import weakref
from types import FrameType
from typing import Protocol

from agentbook.tools.shell import kill_all

__all__ = ["STOP_GRACE_S", "stop_all", "track"]

STOP_GRACE_S = 5.0
"""How long the process waits at exit for cancelled agents to write their end records."""


class _Stoppable(Protocol):
    @property
    def done(self) -> bool: ...

    def cancel(self, name: str | None = None) -> None: ...


_runs: weakref.WeakSet[_Stoppable] = weakref.WeakSet()
_lock = threading.Lock()
_installed: set[str] = set()  # "atexit", "sigterm"


def track(run: _Stoppable) -> None:
    """Cancel `run` at interpreter exit or SIGTERM, if it is still working then."""
    _runs.add(run)
    _install()


def stop_all(grace_s: float = STOP_GRACE_S) -> None:
    """Cancel every tracked run still working and wait up to `grace_s` for them all to end."""
    working = [run for run in list(_runs) if not run.done]
    for run in working:
        run.cancel()
    deadline = time.monotonic() + grace_s
    while any(not run.done for run in working) and time.monotonic() < deadline:
        time.sleep(0.02)
    kill_all()  # whatever is still running (an agent that did not end in time) ends now


def _install() -> None:
    with _lock:
        if "atexit" not in _installed:
            _installed.add("atexit")
            atexit.register(stop_all)
        main = threading.current_thread() is threading.main_thread()  # signal.signal's own rule
        if main and "sigterm" not in _installed:
            _installed.add("sigterm")
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    stop_all()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
