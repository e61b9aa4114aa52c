"""One rate gate per model for the whole cluster, so its workers slow down together.

`GateHost` (a Dask actor on one worker) keeps the real `RateGate`s, learned limits included;
each worker's `gate_for` makes `ClusterGate`s that ask it (`use_cluster_gate`).  Admission is one
actor call per request; settling and learning go without waiting.  If the host's worker is lost
the workers' gates carry on alone (a warning says so), so a lost gate never stops an agent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from agentbook.messages import Response
from agentbook.scheduler.cluster.bridge import awaited, loop_of
from agentbook.scheduler.ratelimit import GateStats, RateGate, RateLimits
from agentbook.scheduler.ratelimit.registry import make_gates_with

__all__ = ["ClusterGate", "GateHost", "use_cluster_gate"]

log = logging.getLogger("agentbook")
ASK_TIMEOUT_S = 5.0


class GateHost:
    """The cluster's gates, one per key (model and endpoint), in one worker."""

    def __init__(self) -> None:
        self.gates: dict[str, RateGate] = {}

    def _gate(self, key: str, limits: RateLimits | None = None) -> RateGate:
        gate = self.gates.get(key)
        if gate is None:
            gate = self.gates[key] = RateGate(limits)
        elif limits is not None:
            gate.configure(limits)
        return gate

    async def acquire(
        self, key: str, limits: RateLimits | None, input_tokens: int, output_tokens: int
    ) -> float:
        return await self._gate(key, limits).acquire(input_tokens, output_tokens)

    def settle(
        self, key: str, output: int, response: Response, input_tokens: int | None, at: float | None
    ) -> None:
        self._gate(key).settle(output, response, reserved_input_tokens=input_tokens, admitted_at=at)

    def learn(self, key: str, headers: Mapping[str, str]) -> None:
        self._gate(key).learn(headers)

    def pause(self, key: str, seconds: float) -> None:
        self._gate(key).pause(seconds)

    def pause_for(self, key: str, error: BaseException) -> bool:
        return self._gate(key).pause_for(error)

    def refused(self, key: str) -> bool:
        return self._gate(key).refused()

    def stats(self) -> dict[str, GateStats]:
        """Each gate's counters (how many requests it admitted, how long they waited)."""
        return {key: gate.stats for key, gate in self.gates.items()}


class ClusterGate(RateGate):
    """A worker's gate for `key` that asks the cluster's `GateHost` (the latest one this worker
    was given); alone (as a `RateGate` of its own) once a host cannot be reached."""

    def __init__(self, key: str, limits: RateLimits | None, worker: Any) -> None:
        super().__init__(limits)
        self._key, self._limits = key, limits
        self._loop: asyncio.AbstractEventLoop = loop_of(worker)
        self._failed: str | None = None  # the key of the host that could not be reached

    @property
    def _host(self) -> Any:
        return _hosts[-1]  # the latest: the notebook makes a new host when one is lost

    @property
    def _alone(self) -> bool:
        return bool(self._failed == self._host.key)

    async def acquire(self, input_tokens: int, output_tokens: int = 0) -> float:
        if not self._alone:
            try:
                call = self._host.acquire(self._key, self._limits, input_tokens, output_tokens)
                return float(await awaited(call, self._loop))
            except (OSError, RuntimeError) as exc:
                self._lost(exc)
        return await super().acquire(input_tokens, output_tokens)

    def settle(
        self, reserved_output_tokens: int, response: Response, *,
        reserved_input_tokens: int | None = None, admitted_at: float | None = None,
    ) -> None:  # fmt: skip
        if self._alone:
            super().settle(reserved_output_tokens, response,
                           reserved_input_tokens=reserved_input_tokens, admitted_at=admitted_at)  # fmt: skip
        else:
            self._host.settle(self._key, reserved_output_tokens, response, reserved_input_tokens, admitted_at)

    def learn(self, headers: Mapping[str, str]) -> None:
        super().learn(headers) if self._alone else self._host.learn(self._key, dict(headers))

    def pause(self, seconds: float) -> None:
        super().pause(seconds) if self._alone else self._host.pause(self._key, seconds)

    def pause_for(self, error: BaseException) -> bool:
        return self._ask("pause_for", error) if not self._alone else super().pause_for(error)

    def refused(self) -> bool:
        return self._ask("refused") if not self._alone else super().refused()

    def _ask(self, method: str, *args: Any) -> bool:
        """A host's answer, waited for (only after a 429: rare, and the agent waits anyway)."""
        try:
            return bool(getattr(self._host, method)(self._key, *args).result(ASK_TIMEOUT_S))
        except (OSError, RuntimeError, TimeoutError) as exc:
            self._lost(exc)
            return bool(getattr(super(), method)(*args))

    def _lost(self, exc: BaseException) -> None:
        if not self._alone:
            self._failed = self._host.key
            log.warning("the cluster's rate gate for %s cannot be reached (%s): this worker's "
                        "agents are gated on their own until it has a new one", self._key, exc)  # fmt: skip


_hosts: list[Any] = []  # the host this process's gates ask (one, once a share has come)


def use_cluster_gate(host: Any) -> None:
    """Make this worker process's gates ask `host` (a `GateHost` actor) from now on, the gates
    already made too (a new host replaces one that was lost)."""
    from distributed import Actor, get_worker

    if _hosts and _hosts[-1].key == host.key:
        return
    worker = get_worker()
    # Bound to this worker: its calls come from agentbook's thread, where Dask finds no worker.
    _hosts[:] = [Actor(GateHost, host._address, host.key, worker=worker)]  # type: ignore[no-untyped-call]
    make_gates_with(lambda key, limits: ClusterGate(key, limits, worker))
