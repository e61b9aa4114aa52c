"""Where the edges attach to the scheduler, so that the scheduler never names them.

The scheduler (runs, plans, batches) calls these; the package root (`agentbook/__init__.py`, the
composition root) registers what the notebook and analysis edges provide:

* `created(handle)`: a `Run`, `Plan` or `Batch` was made (the notebook edge installs its IPython
  formatters and the kernel interrupt hook when it runs in a kernel);
* `waited(handle)`: `wait()` returned (the notebook edge re-publishes the final state from the
  waiting cell, so a notebook executed headless keeps the end of the run);
* `view(name)`: a provider of a derived view by name: `"frames"` is the module that turns a run
  into pandas frames (`run.df`).

Callbacks run on the caller's thread; one that raises is logged and does not stop the others.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["created", "in_kernel", "kernel_shell", "on_created", "on_waited", "provide", "view", "waited"]

log = logging.getLogger("agentbook")
_created: list[Callable[[Any], None]] = []
_waited: list[Callable[[Any], None]] = []
_views: dict[str, Callable[[], Any]] = {}


def on_created(callback: Callable[[Any], None]) -> None:
    """Call `callback(handle)` whenever a run, plan or batch is made."""
    _created.append(callback)


def on_waited(callback: Callable[[Any], None]) -> None:
    """Call `callback(handle)` whenever a `wait()` returns normally."""
    _waited.append(callback)


def provide(name: str, factory: Callable[[], Any]) -> None:
    """Make `view(name)` return `factory()` (called on each use; cheap after the first import)."""
    _views[name] = factory


def created(handle: Any) -> None:
    _notify(_created, handle)


def waited(handle: Any) -> None:
    _notify(_waited, handle)


def view(name: str) -> Any:
    """The provider registered under `name`; `RuntimeError` when no edge provides it."""
    factory = _views.get(name)
    if factory is None:
        raise RuntimeError(f"nothing provides {name!r}: import agentbook (the package root attaches it)")
    return factory()


def _notify(callbacks: list[Callable[[Any], None]], handle: Any) -> None:
    for callback in list(callbacks):
        try:
            callback(handle)
        except Exception:  # an edge's failure must not break the scheduler's caller
            log.exception("agentbook: an observer of %s failed", type(handle).__name__)


def kernel_shell() -> Any:
    """The IPython shell of the Jupyter kernel we run in, or `None` (never imports IPython)."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell if getattr(shell, "kernel", None) is not None else None


def in_kernel() -> bool:
    """Whether we run inside a Jupyter kernel (where someone can press an Approve button)."""
    return kernel_shell() is not None
