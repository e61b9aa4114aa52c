"""One rate gate per model for the whole cluster, so its workers slow down together.

`GateHost` (a Dask actor on one worker) keeps the real `RateGate`s, learned limits included;
each worker's `gate_for` makes `ClusterGate`s that ask it (`use_cluster_gate`).  Admission is one
actor call per request while a limit is known (`FREE_S` otherwise); settling and learning go
without waiting.  If the host's worker is lost
the workers' gates carry on alone (a warning says so), so a lost gate never stops an agent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
import weakref
from collections.abc import Collection, Mapping
from typing import Any

from agentbook.messages import Response
from agentbook.scheduler.cluster.bridge import awaited, loop_of
from agentbook.scheduler.ratelimit import GateStats, RateGate, RateLimits
from agentbook.scheduler.ratelimit.registry import make_gates_with

__all__ = ["ClusterGate", "GateHost", "use_cluster_gate"]

log = logging.getLogger("agentbook")
ASK_TIMEOUT_S = 5.0
FREE_S = 1.0
"""How long a worker admits requests on its own after the host said it knows no limit and holds
no pause: a fleet with nothing to gate asks once a second, not once a request.  A 429 elsewhere
reaches this worker's requests at most this late (its own 429s and any limit it learns end the
lease at once)."""


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
    ) -> tuple[float, bool]:
        """When the request was admitted, and whether the gate is unlimited now (see `FREE_S`)."""
        gate = self._gate(key, limits)
        admitted = await gate.acquire(input_tokens, output_tokens)
        stats, known = gate.stats, dataclasses.astuple(gate.limits)
        # Free: it knows no limit, has never paused (a 429 without headers) and nobody waits.
        return admitted, stats.pauses == 0 and stats.waiting == 0 and all(v is None for v in known)

    # The others are coroutines too: they run on the worker's loop, not through a thread.

    async def settle(
        self, key: str, output: int, response: Response, input_tokens: int | None, at: float | None
    ) -> None:
        self._gate(key).settle(output, response, reserved_input_tokens=input_tokens, admitted_at=at)

    async def learn(self, key: str, headers: Mapping[str, str]) -> None:
        self._gate(key).learn(headers)

    async def pause(self, key: str, seconds: float) -> None:
        self._gate(key).pause(seconds)

    async def pause_for(self, key: str, error: BaseException) -> bool:
        return self._gate(key).pause_for(error)

    async def refused(self, key: str) -> bool:
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
        self._free_until = 0.0  # until then the host said it limits nothing: admit here
        self._asking: asyncio.Event | None = None  # set when the host's answer in flight comes

    @property
    def _host(self) -> Any:
        return _hosts[-1]  # the latest: the notebook makes a new host when one is lost

    @property
    def _alone(self) -> bool:
        return bool(self._failed == self._host.key)

    async def acquire(self, input_tokens: int, output_tokens: int = 0) -> float:
        if not self._free() and self._asking is not None:
            await self._asking.wait()  # a thousand agents starting at once ask once, not each
        if self._free():
            return time.monotonic()
        if not self._alone:
            asking = self._asking = self._asking or asyncio.Event()
            try:
                call = self._host.acquire(self._key, self._limits, input_tokens, output_tokens)
                admitted, unlimited = await awaited(call, self._loop)
                self._free_until = time.monotonic() + FREE_S if unlimited else 0.0
                return float(admitted)
            except Exception as exc:  # the host is gone: whatever Dask says, carry on alone
                self._lost(exc)
            finally:
                if self._asking is asking:
                    self._asking = None
                    asking.set()
        return await super().acquire(input_tokens, output_tokens)

    def _free(self) -> bool:
        return not self._alone and time.monotonic() < self._free_until

    def settle(
        self, reserved_output_tokens: int, response: Response, *,
        reserved_input_tokens: int | None = None, admitted_at: float | None = None,
    ) -> None:  # fmt: skip
        if self._alone:
            super().settle(reserved_output_tokens, response,
                           reserved_input_tokens=reserved_input_tokens, admitted_at=admitted_at)  # fmt: skip
        elif response.rate_limits or not self._free():  # with nothing known and nothing to learn: no call
            self._free_until = 0.0 if response.rate_limits else self._free_until
            self._host.settle(self._key, reserved_output_tokens, response, reserved_input_tokens, admitted_at)

    def learn(self, headers: Mapping[str, str]) -> None:
        if self._alone:
            super().learn(headers)
        elif headers:
            self._free_until = 0.0
            self._host.learn(self._key, dict(headers))

    def pause(self, seconds: float) -> None:
        super().pause(seconds) if self._alone else self._host.pause(self._key, seconds)

    def pause_for(self, error: BaseException) -> bool:
        self._free_until = 0.0
        return self._ask("pause_for", error) if not self._alone else super().pause_for(error)

    def refused(self) -> bool:
        self._free_until = 0.0
        return self._ask("refused") if not self._alone else super().refused()

    def _ask(self, method: str, *args: Any) -> bool:
        """A host's answer, waited for (only after a 429: rare, and the agent waits anyway)."""
        try:
            return bool(getattr(self._host, method)(self._key, *args).result(ASK_TIMEOUT_S))
        except Exception as exc:  # the host is gone: whatever Dask says, carry on alone
            self._lost(exc)
            return bool(getattr(super(), method)(*args))

    def _lost(self, exc: BaseException) -> None:
        if not self._alone:
            self._failed = self._host.key
            log.warning("the cluster's rate gate for %s cannot be reached (%s): this worker's "
                        "agents are gated on their own until it has a new one", self._key, exc)  # fmt: skip


_hosted: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = weakref.WeakKeyDictionary()
_hosting = threading.Lock()


def gate_host_for(client: Any, dead: Collection[str]) -> Any:
    """(In the notebook; it blocks) the `GateHost` of `client`'s cluster: one per client, made on
    first use, and again when the worker holding it is among `dead`.  Its future is kept: the
    actor lives as long as someone holds it."""
    with _hosting:
        held = _hosted.get(client)
        if held is not None and held[0]._address in dead:
            _hosted.pop(client)[1].release()
            held = None
        if held is None:
            future = client.submit(GateHost, actor=True, pure=False)
            held = _hosted[client] = (future.result(), future)
    return held[0]


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
