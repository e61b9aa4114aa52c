"""The process-wide gates: one per model and endpoint, so every agent of a model shares one.

Used by `agentbook.scheduler.wiring` (`gate_for`) and by tests (`reset_gates`).  A gate outlives
runs on purpose: two runs on one API key share its limits, just as their requests do.
"""

from __future__ import annotations

import threading

from agentbook.scheduler.ratelimit.gate import RateGate
from agentbook.scheduler.ratelimit.limits import RateLimits

__all__ = ["gate_for", "reset_gates"]

_gates: dict[str, RateGate] = {}
_gates_lock = threading.Lock()


def gate_for(key: str, limits: RateLimits | None = None) -> RateGate:
    """The process's gate for `key` (e.g. model id and base URL), made on first use.

    Every agent of a model should share its gate; `limits` given for an existing gate replace
    its configured limits, `None` leaves them.
    """
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = RateGate(limits)
            return gate
    if limits is not None:
        gate.configure(limits)
    return gate


def reset_gates() -> None:
    """Forget every gate (for tests); gates already handed out keep working on their own."""
    with _gates_lock:
        _gates.clear()
