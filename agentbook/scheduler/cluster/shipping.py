"""Which workers share the notebook's files, and the repository for those that do not.

A worker is asked once whether it reads a token the notebook has just written into the run
folder (`files.sees`); one that does not gets the run's repository as one git bundle, made once
for all such workers (`files.pack_repo`).  A run without worktrees cannot go to such a worker:
its agents would edit a copy nobody brings back, so that is an error naming both ways out.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from agentbook.scheduler.cluster.files import RepoBundle, pack_repo, sees

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["Shipping"]


class Shipping:
    """What each worker of one run needs to reach the run's files."""

    def __init__(self, run: Run, client: Any) -> None:
        self.run, self.client = run, client
        self._shares: dict[str, bool] = {}  # worker -> whether it sees the run's folder
        self._bundle: RepoBundle | None = None
        self._packing = asyncio.Lock()

    async def files_for(self, worker: str) -> RepoBundle | None:
        """`None` when `worker` sees the run's folder, else the repository as a bundle."""
        if worker not in self._shares:
            token = uuid.uuid4().hex
            probe = self.run.run_dir / f".cluster-probe-{token}"
            probe.write_text(token)
            seen = await asyncio.to_thread(self.client.run, sees, str(probe), token, workers=[worker])
            probe.unlink(missing_ok=True)
            self._shares[worker] = bool(seen.get(worker))
        if self._shares[worker]:
            return None
        if self.run.isolation is None:
            raise RuntimeError(
                f"worker {worker} does not see {self.run.cwd}: give the run isolation='worktree' "
                "(its repository then goes to the worker as a git bundle) or a shared filesystem"
            )
        async with self._packing:  # made once for all the workers that need it
            if self._bundle is None:
                trees = self.run.isolation.worktrees
                self._bundle = await asyncio.to_thread(pack_repo, trees.repo, trees.base, self.run.cwd)
        return self._bundle
