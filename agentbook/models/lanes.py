"""Lanes: how a model's requests travel, `"standard"` (one Messages API call each) or `"batch"`.

The batch lane sends requests through the Message Batches API at half price (the price table's
`batch_*` rates), for fan-outs nobody watches live: requests of many agents that arrive within a
short window share one batch, which is polled until it has ended.  This module holds the lane's
options and the check every layer shares (`RunConfig`, `Task`); the lane itself is part of the
Anthropic adapter (`agentbook.models.anthropic_batches`), imported only when a batch lane is used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

__all__ = [
    "LANES",
    "BatchLane",
    "Lane",
    "batch_billed",
    "batch_progress",
    "check_lane",
    "is_batch",
]

LANES = ("standard", "batch")


@dataclass(frozen=True)
class BatchLane:
    """The batch lane, with its timings (`lane="batch"` is `BatchLane()`).

    Requests arriving within `window_s` of a batch's first one join it, up to `max_size` (the
    API takes 100,000); the batch is then polled `poll_s` after it was made, each wait
    `poll_factor` times the one before, at most `poll_max_s` apart, until it has ended (most end
    within an hour, all within 24 h).
    """

    window_s: float = 0.2
    max_size: int = 10_000
    poll_s: float = 5.0
    poll_factor: float = 1.5
    poll_max_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("window_s", "poll_s", "poll_max_s"):
            value = getattr(self, name)
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(
                    f"BatchLane.{name} must be a finite number of seconds, at least 0, not {value!r}"
                )
        factor = self.poll_factor
        if not isinstance(factor, int | float) or isinstance(factor, bool) or not 1 <= factor <= 100:
            raise ValueError(f"BatchLane.poll_factor must be a number from 1 to 100, not {factor!r}")
        size = self.max_size
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 100_000:
            raise ValueError(f"BatchLane.max_size must be a whole number from 1 to 100,000, not {size!r}")


Lane: TypeAlias = Literal["standard", "batch"] | BatchLane


def check_lane(where: str, lane: object, *, optional: bool = False) -> None:
    """`ValueError` (or `TypeError`) naming `where` unless `lane` is a lane (`None` too when
    `optional`)."""
    if (lane is None and optional) or isinstance(lane, BatchLane) or lane in LANES:
        return
    if isinstance(lane, str):
        raise ValueError(f"{where} must be 'standard' or 'batch', not {lane!r}")
    raise TypeError(f"{where} must be 'standard', 'batch' or a BatchLane, not {type(lane).__name__} {lane!r}")


def is_batch(lane: Lane | None) -> bool:
    return lane == "batch" or isinstance(lane, BatchLane)


BatchProgress: TypeAlias = Callable[[str, Mapping[str, int]], None]
batch_progress: ContextVar[BatchProgress | None] = ContextVar("agentbook_batch_progress", default=None)
"""Set (by a request hook's `before_request`) to be told, while this task's request waits in a
batch, the batch's id and its `request_counts` (processing, succeeded, errored, canceled,
expired) each time they are read."""
batch_billed: ContextVar[Callable[[Any], None] | None] = ContextVar("agentbook_batch_billed", default=None)
"""Set (by a budget's request hook) to be given the `Response` a batch still answered, and
billed, for a request whose agent stopped waiting (it was cancelled): what it costs is spent."""
