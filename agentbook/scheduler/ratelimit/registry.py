"""The process-wide gates: one per model and endpoint, so every agent of a model shares one.

Used by `agentbook.scheduler.wiring` (`gate_for`) and by tests (`reset_gates`).  A gate outlives
runs on purpose: two runs on one API key share its limits, just as their requests do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from agentbook.scheduler.ratelimit.gate import RateGate
from agentbook.scheduler.ratelimit.limits import RateLimits

__all__ = ["gate_for", "make_gates_with", "reset_gates"]

GateFactory = Callable[[str, "RateLimits | None"], RateGate]

_gates: dict[str, RateGate] = {}
_gates_lock = threading.Lock()
_factory: list[GateFactory] = []  # none: a RateGate of this process


def gate_for(key: str, limits: RateLimits | None = None) -> RateGate:
    """The process's gate for `key` (e.g. model id and base URL), made on first use.

    Every agent of a model should share its gate; `limits` given for an existing gate replace
    its configured limits, `None` leaves them.
    """
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = _factory[-1](key, limits) if _factory else RateGate(limits)
            return gate
    if limits is not None:
        gate.configure(limits)
    return gate


def make_gates_with(factory: GateFactory) -> None:
    """Make the process's gates with `factory(key, limits)` from now on (a cluster worker's
    gates share one host's: `agentbook.scheduler.cluster.gate`); the gates made so far are
    forgotten, and keep working for whoever holds them."""
    with _gates_lock:
        _factory[:] = [factory]
        _gates.clear()


def reset_gates() -> None:
    """Forget every gate (for tests); gates already handed out keep working on their own."""
    with _gates_lock:
        _gates.clear()
