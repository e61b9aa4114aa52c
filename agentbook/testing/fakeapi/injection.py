"""Fault injection: a handler wrapper that fails a seeded fraction of requests.

The faults are the ones parallel agents meet in production: 429 rate limits with
`retry-after`, 529 overloads, 500s, connection resets and streams cut mid-message.  The
fault-suite and retry tests wrap their handlers with `faults()` to check that every agent still
finishes and that a retried call is never counted twice.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from agentbook.testing.fakeapi.handlers import default_handler
from agentbook.testing.fakeapi.replies import ConnectionReset, ErrorReply, Handler, Reply, StreamCut
from agentbook.testing.fakeapi.request import FakeRequest

__all__ = ["ALL_FAULTS", "FaultInjector", "FaultKind", "InjectedFault", "faults"]


FaultKind: TypeAlias = Literal["rate_limit", "overloaded", "api_error", "reset", "stream_cut"]
ALL_FAULTS: Final[tuple[FaultKind, ...]] = ("rate_limit", "overloaded", "api_error", "reset", "stream_cut")


@dataclass(frozen=True)
class InjectedFault:
    """A fault `FaultInjector` sent instead of the base handler's reply."""

    index: int
    kind: FaultKind
    reply: Reply


class FaultInjector:
    """A handler that replaces some replies of `base` with faults; see `faults()`."""

    def __init__(
        self, base: Handler, *, rate: float, seed: int, kinds: Sequence[FaultKind], retry_after: float
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {rate}")
        if not kinds:
            raise ValueError("at least one fault kind is needed")
        unknown = set(kinds) - set(ALL_FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self.base = base
        self.rate = rate
        self.seed = seed
        self.kinds = tuple(kinds)
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._injected: list[InjectedFault] = []

    @property
    def injected(self) -> list[InjectedFault]:
        """The faults injected so far, in the order they were sent (a copy)."""
        with self._lock:
            return list(self._injected)

    def __call__(self, request: FakeRequest) -> Reply:
        # Seeding from (seed, request index) rather than drawing from one shared generator makes
        # each request's fate a pure function of its index: the same sequence of requests gets
        # the same faults however the server's threads interleave.
        rng = random.Random(f"fakeapi-faults:{self.seed}:{request.index}")
        if rng.random() >= self.rate:
            return self.base(request)
        kind = rng.choice(self.kinds)
        reply: Reply
        if kind == "rate_limit":
            reply = ErrorReply(429, retry_after=self.retry_after)
        elif kind == "overloaded":
            reply = ErrorReply(529)
        elif kind == "api_error":
            reply = ErrorReply(500)
        elif kind == "reset":
            reply = ConnectionReset()
        else:
            reply = StreamCut(after_deltas=rng.randint(0, 2))
        with self._lock:
            self._injected.append(InjectedFault(request.index, kind, reply))
        return reply


def faults(
    rate: float,
    seed: int,
    base: Handler | None = None,
    *,
    kinds: Sequence[FaultKind] = ALL_FAULTS,
    retry_after: float = 0.05,
) -> FaultInjector:
    """Wrap `base` (default: `default_handler`) to fail a fraction `rate` of requests.

    Whether a request fails, and how, depends only on `seed` and its `FakeRequest.index` (the
    server-wide arrival number, so a retry is a new draw).  A fault is drawn
    uniformly from `kinds`: "rate_limit" (429 with `retry-after: retry_after`), "overloaded"
    (529), "api_error" (500), "reset" (`ConnectionReset`) or "stream_cut" (`StreamCut` after
    0-2 deltas).  A faulted request never reaches `base`, so a `ScriptedHandler` underneath
    keeps its place and the client's retry gets the scripted reply.  `.injected` lists what
    was injected.
    """
    return FaultInjector(
        base if base is not None else default_handler,
        rate=rate,
        seed=seed,
        kinds=kinds,
        retry_after=retry_after,
    )
