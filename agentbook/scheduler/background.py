"""agentbook's own event loop, on a daemon thread.

Agents must keep working while a notebook cell blocks (`time.sleep`, a long computation), and a
cell's loop is the kernel's: blocking it would freeze tasks created there.  So every agent of the
process runs on this one loop instead, and callers get thread-safe handles (`submit`).  One loop
for all runs also means one rate-limit gate and one set of HTTP clients per model.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["background_loop", "call_soon", "on_background_loop", "submit"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The event loop of the process's background thread, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=serve, name="agentbook-agents", daemon=True).start()
            ready.wait()
            _loop = loop
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule `coro` on the background thread; the returned future is safe to wait on from any thread."""
    return asyncio.run_coroutine_threadsafe(coro, background_loop())


def call_soon(callback: Any, *args: Any) -> None:
    """Run `callback(*args)` on the background thread, from any thread."""
    background_loop().call_soon_threadsafe(callback, *args)


def on_background_loop() -> bool:
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False
