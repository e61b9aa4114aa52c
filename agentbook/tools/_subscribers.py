"""Callbacks told of every change of a shared store (the team's task list and mailbox): added and
removed from any thread, each called outside the store's lock, and one that fails is logged, never
allowed to undo or hide the change it was told of."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Subscribers"]

log = logging.getLogger("agentbook")
Change = TypeVar("Change")


class Subscribers(Generic[Change]):
    """The subscribers of one store; `what` names the store in a failing subscriber's log line."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[Change], None]] = []

    def add(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call `callback(change)` after every change; returns a function that stops it."""
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def notify(self, change: Change) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(change)
            except Exception:  # a board or wake-up failing must not undo or hide a made change
                log.exception("agentbook: a subscriber of %s failed", self.what)
