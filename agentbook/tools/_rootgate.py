"""Which Bash calls of one root may run at once: all of them, until the root is seen to hold what a
concurrent call could move out from under another call's masks.

A call's masks and read-only binds are paths, found by a walk before bwrap starts
(`agentbook.tools._hardlinks.LinkScan`): a hard link from outside masked at `d/hl`, a nested
repository's `.git` bound read-only at `vendor/.git`.  A concurrent call of the same root (one
response's calls run together; agents of one checkout share it) may rename `d` or `vendor`
between that walk and the mounts, or while the walk runs, and the moved file would be open in the
new box.  So once any walk of a root finds such a thing (sticky: a later walk may be fooled),
its calls take the root one at a time, and each looks again, alone, just before its bwrap starts:
a mask or bind that moved meanwhile fails the call's set-up (`Bash` launches it again).  Once
mounted, a mask follows its file wherever a later rename takes it.  Roots holding neither
(most) run their calls concurrently, as before.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import ClassVar

__all__ = ["Admission", "RootGate"]

_POLL_S = 0.01  # how often a waiting call looks again (a thread lock, polled: no worker thread held)


class RootGate:
    """The calls of one root (by real path): shared turns, or one at a time once `mark` was called."""

    _gates: ClassVar[dict[str, RootGate]] = {}
    _made: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self.guarded = False
        """Sticky: a walk found an outside hard link or a nested repository in this root."""
        self._state = threading.Lock()
        self._running = 0
        self._alone = False
        self._turns = 0  # how many turns were ever given: unchanged, no call ran in between

    @classmethod
    def of(cls, root: str | os.PathLike[str]) -> RootGate:
        """The one gate of the root at real path `root`, for every agent in this process."""
        with cls._made:
            return cls._gates.setdefault(os.fspath(root), cls())

    def quiet(self) -> int | None:
        """A mark of this moment when no call of the root runs (`None` when one does): before a
        walk, so that `Admission` may skip walking again when no call ran since."""
        with self._state:
            return None if self._running else self._turns

    def mark(self) -> None:
        """From now on this root's calls run one at a time."""
        self.guarded = True

    def _try_enter(self, alone: bool) -> bool:
        with self._state:
            if self._alone or (alone and self._running):
                return False
            self._running += 1
            self._alone = alone
            self._turns += 1
            return True

    def _leave(self) -> None:
        with self._state:
            self._running -= 1
            self._alone = False

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[tuple[bool, int]]:
        """Wait for this root's turn (alone when `guarded`); yields whether it runs alone, and how
        many turns were given before it."""
        alone = self.guarded
        while not self._try_enter(alone):
            await asyncio.sleep(_POLL_S)
        try:
            yield alone, self._turns - 1
        finally:
            self._leave()


@dataclass(frozen=True)
class Admission:
    """What a launch checks just before its bwrap starts: `gate`'s turn, and when alone that a walk
    now (`still`) finds the masks and `.git` binds the command line was built with, unless no call
    of the root ran since `quiet` (`RootGate.quiet` before the launch's walk): then nothing could
    move what that walk found."""

    gate: RootGate
    still: Callable[[], bool]
    quiet: int | None = None

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[bool]:
        """The root's turn for the whole call; yields `False` when the walk alone disagrees (the
        call must not start: its set-up is stale)."""
        async with self.gate.turn() as (alone, before):
            if not alone or (self.quiet is not None and before == self.quiet):
                yield True
            else:
                yield await _off_loop(self.still)


async def _off_loop(work: Callable[[], bool]) -> bool:
    """`work()` on a worker thread (a walk of the root); on this one at interpreter exit."""
    try:
        return await asyncio.to_thread(work)
    except RuntimeError as exc:
        if "cannot schedule new futures" not in str(exc):
            raise
        return work()
