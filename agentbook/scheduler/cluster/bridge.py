"""Waiting on Dask from agentbook's own loop without blocking it.

Dask's actor futures complete on the loop of the process's Dask client or worker; agentbook's
agents run on its background thread's loop.  `awaited` hands the wait to the Dask loop and
gives the caller an asyncio future, so a thousand agents waiting hold no thread each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["awaited", "loop_of"]

T = TypeVar("T")


def loop_of(dask_object: Any) -> asyncio.AbstractEventLoop:
    """The asyncio loop of a Dask `Client` or `Worker`."""
    return dask_object.loop.asyncio_loop  # type: ignore[no-any-return]


async def awaited(future: Awaitable[T], loop: asyncio.AbstractEventLoop) -> T:
    """`future` (an actor future, or any awaitable of `loop`) awaited on `loop`, from any loop."""

    async def wait() -> T:
        return await future

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(wait(), loop))
